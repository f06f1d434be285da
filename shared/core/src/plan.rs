//! Plans and their usage charges, validated once at the edge so an invalid plan cannot exist.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Result};
use crate::money::{Cents, Currency, MAX_AMOUNT_CENTS, UnitPrice};
use crate::period::{Interval, Timestamp};

/// Limits: every list and number a client sends is bounded.
pub const MAX_CODE_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_TRIAL_DAYS: u32 = 730;
pub const MAX_USAGE_CHARGES: usize = 50;
pub const MAX_TIERS: usize = 20;

/// How tiers turn a quantity into money (BILLING.md "Tier pricing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TierMode {
    /// Each unit is priced by the tier it falls in; one line per tier with units.
    Graduated,
    /// All units are priced by the tier the total falls in; one line.
    Volume,
}

impl TierMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "graduated" => Some(Self::Graduated),
            "volume" => Some(Self::Volume),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tier {
    /// Inclusive upper bound of the tier; `None` is infinity (the last tier).
    pub up_to: Option<u64>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub unit_amount_decimal: UnitPrice,
    pub flat_amount_cents: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageCharge {
    pub metric: String,
    pub mode: TierMode,
    pub tiers: Vec<Tier>,
}

/// A validated plan. Its prices never change; archiving only stops new subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub amount_cents: Cents,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub currency: Currency,
    pub interval: Interval,
    pub trial_days: u32,
    pub usage_charges: Vec<UsageCharge>,
    pub archived: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

impl Plan {
    pub fn charge_for(&self, metric: &str) -> Option<&UsageCharge> {
        self.usage_charges.iter().find(|c| c.metric == metric)
    }

    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        self.usage_charges.iter().map(|c| c.metric.as_str())
    }

    /// The fixed fee per month, what one subscription adds to MRR: a yearly fee is divided by
    /// 12 and rounded half away from zero, exactly (per subscription, as Stripe normalizes).
    pub fn monthly_fee_cents(&self) -> Cents {
        match self.interval {
            Interval::Month => self.amount_cents,
            Interval::Year => {
                let twelfths =
                    self.amount_cents.abs() / 12 + i64::from(self.amount_cents.abs() % 12 >= 6);
                twelfths * self.amount_cents.signum()
            }
        }
    }

    /// Archiving is idempotent: `true` when this call changed the plan.
    pub fn archive(&mut self) -> bool {
        !std::mem::replace(&mut self.archived, true)
    }
}

/// A plan as a client sends it. Fields keep their wire types so validation, not the JSON
/// decoder, says what is wrong and names the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanDraft {
    pub code: String,
    pub name: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub currency: Option<String>,
    pub interval: String,
    #[serde(default)]
    pub trial_days: Option<i64>,
    #[serde(default)]
    pub usage_charges: Vec<UsageChargeDraft>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageChargeDraft {
    pub metric: String,
    pub mode: String,
    pub tiers: Vec<TierDraft>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierDraft {
    #[serde(default)]
    pub up_to: Option<i64>,
    pub unit_amount_decimal: String,
    #[serde(default)]
    pub flat_amount_cents: Option<i64>,
}

impl PlanDraft {
    /// Checks every rule of BILLING.md "Plans"; the error names the first offending field.
    pub fn validate(self, now: Timestamp) -> Result<Plan, FieldError> {
        validate_code(&self.code, "code")?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
            return Err(FieldError::new(
                "name",
                "invalid_length",
                format!("must be 1 to {MAX_NAME_LEN} characters"),
            ));
        }
        let amount_cents = validate_amount(self.amount_cents, "amount_cents")?;
        let currency = match &self.currency {
            Some(text) => Currency::parse(text)?,
            None => Currency::USD,
        };
        let interval = Interval::parse(&self.interval).ok_or_else(|| {
            FieldError::new("interval", "invalid_value", "must be \"month\" or \"year\"")
        })?;
        let trial_days = match self.trial_days {
            None => 0,
            Some(days) => validate_trial_days(days, "trial_days")?,
        };
        if self.usage_charges.len() > MAX_USAGE_CHARGES {
            return Err(FieldError::new(
                "usage_charges",
                "too_many",
                format!("at most {MAX_USAGE_CHARGES} usage charges"),
            ));
        }
        let mut usage_charges: Vec<UsageCharge> = Vec::with_capacity(self.usage_charges.len());
        for (index, draft) in self.usage_charges.into_iter().enumerate() {
            let charge = draft
                .validate()
                .map_err(|e| e.within(&format!("usage_charges[{index}]")))?;
            if usage_charges.iter().any(|c| c.metric == charge.metric) {
                return Err(FieldError::new(
                    format!("usage_charges[{index}].metric"),
                    "duplicate_metric",
                    format!("metric {:?} is already priced by this plan", charge.metric),
                ));
            }
            usage_charges.push(charge);
        }
        Ok(Plan {
            code: self.code,
            name: name.to_owned(),
            amount_cents,
            currency,
            interval,
            trial_days,
            usage_charges,
            archived: false,
            created_at: now,
        })
    }
}

impl UsageChargeDraft {
    fn validate(self) -> Result<UsageCharge, FieldError> {
        validate_metric(&self.metric, "metric")?;
        let mode = TierMode::parse(&self.mode).ok_or_else(|| {
            FieldError::new(
                "mode",
                "invalid_value",
                "must be \"graduated\" or \"volume\"",
            )
        })?;
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            return Err(FieldError::new(
                "tiers",
                "invalid_length",
                format!("must have 1 to {MAX_TIERS} tiers"),
            ));
        }
        let last = self.tiers.len() - 1;
        let mut previous_up_to: u64 = 0;
        let mut tiers = Vec::with_capacity(self.tiers.len());
        for (index, tier) in self.tiers.into_iter().enumerate() {
            let at = |field: &str| format!("tiers[{index}].{field}");
            let up_to = match (tier.up_to, index == last) {
                (None, true) => None,
                (Some(_), true) => {
                    return Err(FieldError::new(
                        at("up_to"),
                        "last_tier_bounded",
                        "the last tier must have up_to: null (unbounded)",
                    ));
                }
                (None, false) => {
                    return Err(FieldError::new(
                        at("up_to"),
                        "unbounded_tier_not_last",
                        "only the last tier may have up_to: null",
                    ));
                }
                (Some(up_to), false) => {
                    let up_to = u64::try_from(up_to).unwrap_or(0);
                    if up_to <= previous_up_to {
                        return Err(FieldError::new(
                            at("up_to"),
                            "tiers_not_ascending",
                            "up_to must be positive and greater than the previous tier's",
                        ));
                    }
                    previous_up_to = up_to;
                    Some(up_to)
                }
            };
            let unit_amount_decimal = UnitPrice::parse(&tier.unit_amount_decimal)
                .map_err(|e| e.within(&at("unit_amount_decimal")))?;
            let flat_amount_cents = match tier.flat_amount_cents {
                None => 0,
                Some(flat) => validate_amount(flat, &at("flat_amount_cents"))?,
            };
            tiers.push(Tier {
                up_to,
                unit_amount_decimal,
                flat_amount_cents,
            });
        }
        Ok(UsageCharge {
            metric: self.metric,
            mode,
            tiers,
        })
    }
}

fn validate_amount(amount: i64, param: &str) -> Result<Cents, FieldError> {
    if !(0..=MAX_AMOUNT_CENTS).contains(&amount) {
        return Err(FieldError::new(
            param,
            "out_of_range",
            format!("must be between 0 and {MAX_AMOUNT_CENTS} cents"),
        ));
    }
    Ok(amount)
}

/// Trial days: 0 to [`MAX_TRIAL_DAYS`]. Shared by plans and the subscription override.
pub fn validate_trial_days(days: i64, param: &str) -> Result<u32, FieldError> {
    u32::try_from(days)
        .ok()
        .filter(|d| *d <= MAX_TRIAL_DAYS)
        .ok_or_else(|| {
            FieldError::new(
                param,
                "out_of_range",
                format!("must be between 0 and {MAX_TRIAL_DAYS}"),
            )
        })
}

fn is_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Plan codes: 1–64 of `A–Z a–z 0–9 _ - .`, so they are safe in URLs and keys.
pub fn validate_code(code: &str, param: &str) -> Result<(), FieldError> {
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.chars().all(is_code_char) {
        return Err(FieldError::new(
            param,
            "invalid_code",
            format!("must be 1 to {MAX_CODE_LEN} of letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// Metric names: like codes, plus `:` and `/` (`api:requests`).
pub fn validate_metric(metric: &str, param: &str) -> Result<(), FieldError> {
    let valid = !metric.is_empty()
        && metric.len() <= MAX_CODE_LEN
        && metric
            .chars()
            .all(|c| is_code_char(c) || matches!(c, ':' | '/'));
    if !valid {
        return Err(FieldError::new(
            param,
            "invalid_metric",
            format!("must be 1 to {MAX_CODE_LEN} of letters, digits, '_', '-', '.', ':' and '/'"),
        ));
    }
    Ok(())
}

/// A metric is priced by at most one live subscription of a user (BILLING.md "Usage").
/// `live_plans` are the plans of the user's other non-canceled subscriptions.
pub fn ensure_metrics_unclaimed<'a>(
    plan: &Plan,
    live_plans: impl IntoIterator<Item = &'a Plan>,
) -> Result<(), crate::BillingError> {
    for other in live_plans {
        if let Some(metric) = plan.metrics().find(|m| other.charge_for(m).is_some()) {
            return Err(crate::BillingError::MetricAlreadyPriced {
                metric: metric.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> Timestamp {
        "2027-01-01T00:00:00Z".parse().unwrap()
    }

    fn tier(up_to: Option<i64>, unit: &str) -> TierDraft {
        TierDraft {
            up_to,
            unit_amount_decimal: unit.into(),
            flat_amount_cents: None,
        }
    }

    fn draft(tiers: Vec<TierDraft>) -> PlanDraft {
        PlanDraft {
            code: "pro".into(),
            name: "Pro".into(),
            amount_cents: 2900,
            currency: None,
            interval: "month".into(),
            trial_days: None,
            usage_charges: vec![UsageChargeDraft {
                metric: "api_calls".into(),
                mode: "graduated".into(),
                tiers,
            }],
        }
    }

    #[test]
    fn a_yearly_fee_is_a_twelfth_a_month_rounded_half_away_from_zero() {
        let fee = |amount_cents, interval: &str| {
            PlanDraft {
                amount_cents,
                interval: interval.into(),
                usage_charges: vec![],
                ..draft(vec![])
            }
            .validate(now())
            .unwrap()
            .monthly_fee_cents()
        };
        assert_eq!(fee(2900, "month"), 2900);
        assert_eq!(fee(12_000, "year"), 1000);
        assert_eq!(fee(29_000, "year"), 2417, "2416.67");
        assert_eq!(fee(30, "year"), 3, "2.5 rounds up");
        assert_eq!(fee(29, "year"), 2, "2.42");
        assert_eq!(fee(0, "year"), 0);
    }

    fn param_of(draft: PlanDraft) -> (String, &'static str) {
        let error = draft.validate(now()).unwrap_err();
        (error.param, error.code)
    }

    #[test]
    fn a_valid_plan_defaults_to_usd_and_no_trial() {
        let plan = draft(vec![tier(Some(100), "0"), tier(None, "0.05")])
            .validate(now())
            .unwrap();
        assert_eq!(plan.currency, Currency::USD);
        assert_eq!(plan.trial_days, 0);
        assert_eq!(plan.usage_charges[0].tiers[1].up_to, None);
    }

    #[test]
    fn tiers_must_ascend() {
        let bad = draft(vec![
            tier(Some(100), "0"),
            tier(Some(100), "1"),
            tier(None, "2"),
        ]);
        assert_eq!(
            param_of(bad),
            (
                "usage_charges[0].tiers[1].up_to".into(),
                "tiers_not_ascending"
            )
        );
    }

    #[test]
    fn the_last_tier_must_be_unbounded_and_only_the_last() {
        let bounded_last = draft(vec![tier(Some(100), "0"), tier(Some(200), "1")]);
        assert_eq!(
            param_of(bounded_last),
            (
                "usage_charges[0].tiers[1].up_to".into(),
                "last_tier_bounded"
            )
        );
        let unbounded_first = draft(vec![tier(None, "0"), tier(None, "1")]);
        assert_eq!(
            param_of(unbounded_first),
            (
                "usage_charges[0].tiers[0].up_to".into(),
                "unbounded_tier_not_last"
            )
        );
    }

    #[test]
    fn prices_must_be_non_negative() {
        let negative_unit = draft(vec![tier(None, "-1")]);
        assert_eq!(
            param_of(negative_unit),
            (
                "usage_charges[0].tiers[0].unit_amount_decimal".into(),
                "invalid_decimal"
            )
        );
        let mut negative_flat = draft(vec![tier(None, "1")]);
        negative_flat.usage_charges[0].tiers[0].flat_amount_cents = Some(-1);
        assert_eq!(
            param_of(negative_flat),
            (
                "usage_charges[0].tiers[0].flat_amount_cents".into(),
                "out_of_range"
            )
        );
        let mut negative_fee = draft(vec![tier(None, "1")]);
        negative_fee.amount_cents = -1;
        assert_eq!(
            param_of(negative_fee),
            ("amount_cents".into(), "out_of_range")
        );
    }

    #[test]
    fn one_charge_per_metric() {
        let mut twice = draft(vec![tier(None, "1")]);
        twice.usage_charges.push(twice.usage_charges[0].clone());
        assert_eq!(
            param_of(twice),
            ("usage_charges[1].metric".into(), "duplicate_metric")
        );
    }

    #[test]
    fn each_top_level_field_is_named_when_wrong() {
        type Mutation = fn(&mut PlanDraft);
        let cases: Vec<(Mutation, &str)> = vec![
            (|d| d.code = "has space".into(), "code"),
            (|d| d.code = String::new(), "code"),
            (|d| d.name = "  ".into(), "name"),
            (|d| d.interval = "week".into(), "interval"),
            (|d| d.currency = Some("dollars".into()), "currency"),
            (|d| d.trial_days = Some(-1), "trial_days"),
            (|d| d.trial_days = Some(10_000), "trial_days"),
            (
                |d| d.usage_charges[0].metric = String::new(),
                "usage_charges[0].metric",
            ),
            (
                |d| d.usage_charges[0].mode = "stairstep".into(),
                "usage_charges[0].mode",
            ),
            (
                |d| d.usage_charges[0].tiers.clear(),
                "usage_charges[0].tiers",
            ),
        ];
        for (mutate, param) in cases {
            let mut plan = draft(vec![tier(None, "1")]);
            mutate(&mut plan);
            assert_eq!(plan.validate(now()).unwrap_err().param, param);
        }
    }

    #[test]
    fn a_metric_priced_by_another_live_subscription_is_refused() {
        let plan = draft(vec![tier(None, "1")]).validate(now()).unwrap();
        let mut other = plan.clone();
        other.code = "other".into();
        assert_eq!(
            ensure_metrics_unclaimed(&plan, [&other])
                .unwrap_err()
                .code(),
            "metric_already_priced"
        );
        other.usage_charges[0].metric = "storage_gb".into();
        assert!(ensure_metrics_unclaimed(&plan, [&other]).is_ok());
    }

    #[test]
    fn archiving_is_idempotent() {
        let mut plan = draft(vec![tier(None, "1")]).validate(now()).unwrap();
        assert!(plan.archive());
        assert!(!plan.archive());
        assert!(plan.archived);
    }
}
