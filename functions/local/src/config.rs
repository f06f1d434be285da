//! The local runner's configuration (API.md "Local runner"), read once from the environment;
//! every error names its variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use billing_core::payment::DunningSchedule;

use std::sync::Arc;

use billing_api::ApiConfig;
use billing_app::ports::PaymentGateway;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    Embedded { data_dir: PathBuf },
    DynamoDb { table: String },
}

pub struct LocalConfig {
    pub addr: SocketAddr,
    pub store: StoreChoice,
    /// `BILLING_PAYMENT_GATEWAY`: the simulated gateway of BILLING.md, or Stripe.
    pub gateway: Arc<dyn PaymentGateway>,
    /// `BILLING_PAYMENT_RETRY_SCHEDULE`: when failed payments are retried.
    pub dunning: DunningSchedule,
    pub api: ApiConfig,
    /// True when no `BILLING_ADMIN_TOKEN` was given and one was generated (it is printed).
    pub admin_token_generated: bool,
    /// `BILLING_PAYMENT_LEASE_SECONDS`: how long a payment attempt holds its invoice (default
    /// 120 s). After a kill, a dead attempt's lease keeps its invoice from being collected
    /// until it expires; the kill soak shortens it so it can check collection within a minute.
    pub payment_lease_seconds: i64,
    /// `None`: the timer is off.
    pub invoice_run_every: Option<Duration>,
    pub payment_run_every: Option<Duration>,
    /// How often the usage aggregator drains the durable queue.
    pub aggregate_every: Duration,
    /// How often the outbox is swept into the event sink.
    pub publish_every: Duration,
    /// `web/dist`, served at `/` when it exists.
    pub web_dist: PathBuf,
}

/// A setting that does not hold; the message starts with the variable's name, and an error of
/// the crate that read it is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
    /// The API's settings (`BILLING_ADMIN_TOKEN`, `BILLING_TEST_CLOCK`, …).
    #[error(transparent)]
    Api(#[from] billing_api::config::ConfigError),
    /// `BILLING_PAYMENT_GATEWAY` and the Stripe settings.
    #[error(transparent)]
    Gateway(#[from] billing_stripe::StripeError),
    /// `BILLING_PAYMENT_RETRY_SCHEDULE`.
    #[error(transparent)]
    Dunning(billing_app::AppError),
}

fn invalid(variable: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { variable, problem }
}

impl LocalConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let addr = lookup("BILLING_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr = addr
            .parse()
            .map_err(|_| invalid("BILLING_ADDR", format!("expected host:port, got {addr:?}")))?;
        let store = match lookup("BILLING_STORE").as_deref() {
            None | Some("") | Some("embedded") => StoreChoice::Embedded {
                data_dir: PathBuf::from(
                    lookup("BILLING_DATA_DIR").unwrap_or_else(|| "./.billing-data".into()),
                ),
            },
            Some("dynamodb") => StoreChoice::DynamoDb {
                table: lookup("BILLING_TABLE").unwrap_or_else(|| "billing".into()),
            },
            Some(other) => {
                return Err(invalid(
                    "BILLING_STORE",
                    format!("expected embedded or dynamodb, got {other:?}"),
                ));
            }
        };
        let generated = lookup("BILLING_ADMIN_TOKEN")
            .filter(|t| !t.is_empty())
            .is_none();
        let admin_token = if generated {
            billing_app::ids::new_secret()
        } else {
            String::new()
        };
        let api = ApiConfig::from_lookup(|name| {
            if name == "BILLING_ADMIN_TOKEN" && generated {
                Some(admin_token.clone())
            } else {
                lookup(name)
            }
        })?;
        let gateway = billing_stripe::gateway_from_lookup(&lookup)?;
        let dunning =
            billing_app::config::dunning_from_lookup(&lookup).map_err(ConfigError::Dunning)?;
        Ok(Self {
            addr,
            store,
            gateway,
            dunning,
            api,
            admin_token_generated: generated,
            payment_lease_seconds: payment_lease_seconds(&lookup)?,
            invoice_run_every: period(&lookup, "BILLING_INVOICE_RUN_EVERY")?,
            payment_run_every: period(&lookup, "BILLING_PAYMENT_RUN_EVERY")?,
            aggregate_every: Duration::from_millis(200),
            publish_every: Duration::from_secs(1),
            web_dist: PathBuf::from(
                lookup("BILLING_WEB_DIST").unwrap_or_else(|| "web/dist".into()),
            ),
        })
    }
}

/// Whole seconds, at least 1; unset: the app's default.
fn payment_lease_seconds(lookup: &impl Fn(&str) -> Option<String>) -> Result<i64, ConfigError> {
    const VARIABLE: &str = "BILLING_PAYMENT_LEASE_SECONDS";
    match lookup(VARIABLE).filter(|t| !t.trim().is_empty()) {
        None => Ok(billing_app::context::PAYMENT_LEASE_SECONDS),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| {
                invalid(
                    VARIABLE,
                    format!("expected a whole number of seconds ≥ 1, got {text:?}"),
                )
            }),
    }
}

/// `60s`, `5m`, `1h`, `250ms` or a number of seconds; `0` turns the timer off. Default 60 s.
fn period(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = lookup(variable).filter(|t| !t.trim().is_empty()) else {
        return Ok(Some(Duration::from_secs(60)));
    };
    let text = text.trim();
    let refused = || {
        invalid(
            variable,
            format!("expected a duration such as 60s, 5m or 0 (off), got {text:?}"),
        )
    };
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = digits.parse().map_err(|_| refused())?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(value),
        "ms" => Duration::from_millis(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(refused()),
    };
    Ok((!duration.is_zero()).then_some(duration))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<LocalConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        LocalConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_follow_api_md() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            c.store,
            StoreChoice::Embedded {
                data_dir: "./.billing-data".into()
            }
        );
        assert!(c.admin_token_generated);
        assert!(c.api.admin_token.expose().starts_with("sk_"));
        assert!(!c.api.test_clock_enabled);
        assert_eq!(c.invoice_run_every, Some(Duration::from_secs(60)));
        assert_eq!(c.gateway.name(), "simulated");
    }

    #[test]
    fn the_stripe_gateway_is_chosen_with_its_key() {
        let c = config(&[
            ("BILLING_PAYMENT_GATEWAY", "stripe"),
            ("STRIPE_API_KEY", "sk_test_123"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ])
        .unwrap();
        assert_eq!(c.gateway.name(), "stripe");
        let missing = config(&[("BILLING_PAYMENT_GATEWAY", "stripe")])
            .err()
            .unwrap();
        assert!(
            missing.to_string().starts_with("STRIPE_API_KEY"),
            "{missing}"
        );
        assert!(
            matches!(missing, ConfigError::Gateway(_)),
            "the source is kept"
        );
    }

    #[test]
    fn timers_take_durations_and_zero_turns_them_off() {
        let c = config(&[
            ("BILLING_INVOICE_RUN_EVERY", "0"),
            ("BILLING_PAYMENT_RUN_EVERY", "5m"),
            ("BILLING_ADMIN_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(
            (c.invoice_run_every, c.payment_run_every),
            (None, Some(Duration::from_secs(300)))
        );
        assert!(!c.admin_token_generated);
    }

    #[test]
    fn the_payment_lease_defaults_to_the_apps_and_can_be_shortened() {
        let default = config(&[("BILLING_ADMIN_TOKEN", "t")]).unwrap();
        assert_eq!(
            default.payment_lease_seconds,
            billing_app::context::PAYMENT_LEASE_SECONDS
        );
        let short = config(&[
            ("BILLING_ADMIN_TOKEN", "t"),
            ("BILLING_PAYMENT_LEASE_SECONDS", "5"),
        ])
        .unwrap();
        assert_eq!(short.payment_lease_seconds, 5);
    }

    #[test]
    fn every_error_names_its_variable() {
        for (name, value) in [
            ("BILLING_ADDR", "nowhere"),
            ("BILLING_STORE", "postgres"),
            ("BILLING_INVOICE_RUN_EVERY", "soon"),
            ("BILLING_PAYMENT_RETRY_SCHEDULE", "3d,1d"),
            ("BILLING_PAYMENT_GATEWAY", "paypal"),
            ("BILLING_TEST_CLOCK", "yes"),
            ("BILLING_PAYMENT_LEASE_SECONDS", "0"),
        ] {
            let error = config(&[(name, value)]).err().unwrap();
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }
}
