//! The admin dashboard: figures read from the counters the ledger keeps in the same atomic
//! write as every change they count (`billing_ledger::dashboard`), never by listing invoices
//! or subscriptions.

use billing_core::invoice::InvoiceStatus;
use billing_core::{FieldError, Timestamp};
use billing_ledger::dashboard::{day_of, month_of};
use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use crate::context::App;
use crate::error::AppError;

/// Calendar months in `revenue_by_month`, ending with the current one.
pub const REVENUE_MONTHS: u32 = 12;
/// UTC days in `usage_by_day`, ending with today.
pub const USAGE_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthRevenue {
    /// `2027-01`.
    pub month: String,
    /// Amount due of the invoices finalized in the month.
    pub invoiced_cents: i64,
    /// Amount of the invoices paid in the month.
    pub paid_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusTotal {
    /// `open`, `paid`, `void` or `uncollectible`.
    pub status: String,
    pub count: i64,
    pub amount_due_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Failing {
    pub count: i64,
    pub amount_due_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayUsage {
    /// `2027-01-31` (UTC).
    pub day: String,
    pub metric: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dashboard {
    pub currency: String,
    /// The billing clock's now.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub as_of: Timestamp,
    /// Monthly fees of the active and past-due subscriptions (yearly ones as a twelfth).
    pub mrr_cents: i64,
    /// MRR now less MRR at the start of the current UTC calendar month.
    pub mrr_change_cents: i64,
    pub active_subscriptions: i64,
    pub trialing_subscriptions: i64,
    pub past_due_subscriptions: i64,
    /// The last 12 calendar months ending with the current one, oldest first, zero-filled.
    pub revenue_by_month: Vec<MonthRevenue>,
    /// Open, paid, void and uncollectible, always all four, in that order.
    pub invoices_by_status: Vec<StatusTotal>,
    /// Open invoices with at least one failed payment attempt.
    pub failing_invoices: Failing,
    /// The last 30 UTC days ending today, per metric, all users; only days and metrics with
    /// usage; oldest first.
    pub usage_by_day: Vec<DayUsage>,
}

/// `currency`: three lowercase letters (default `usd`).
fn parse_currency(currency: Option<&str>) -> Result<String, FieldError> {
    let currency = currency.unwrap_or("usd");
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(currency.to_owned())
    } else {
        Err(FieldError::new(
            "currency",
            "invalid_currency",
            "must be three lowercase letters, like usd",
        ))
    }
}

/// The `REVENUE_MONTHS` calendar months ending with the month of `now`, oldest first.
fn last_months(now: Timestamp) -> Vec<String> {
    let current = i64::from(now.year()) * 12 + i64::from(now.month0());
    (0..i64::from(REVENUE_MONTHS))
        .rev()
        .map(|back| {
            let index = current - back;
            format!(
                "{:04}-{:02}",
                index.div_euclid(12),
                index.rem_euclid(12) + 1
            )
        })
        .collect()
}

pub async fn dashboard(app: &App, currency: Option<&str>) -> Result<Dashboard, AppError> {
    let currency = parse_currency(currency)?;
    let now = app.clock.now().await?;
    let today = now.date_naive();
    let first_day = today - Duration::days(USAGE_DAYS - 1);
    let end_day = today + Duration::days(1);
    let counters = app
        .ledger
        .dashboard(&currency, &naive_day(first_day), &naive_day(end_day))
        .await?;
    let of = |map: &std::collections::BTreeMap<String, i64>, name: &str| {
        map.get(name).copied().unwrap_or(0)
    };
    let month = |month: &str, name: &str| {
        counters
            .months
            .get(month)
            .map_or(0, |counts| of(counts, name))
    };
    let revenue_by_month = last_months(now)
        .into_iter()
        .map(|m| MonthRevenue {
            invoiced_cents: month(&m, "invoiced_cents"),
            paid_cents: month(&m, "paid_cents"),
            month: m,
        })
        .collect();
    let invoices_by_status = [
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
        InvoiceStatus::Uncollectible,
    ]
    .into_iter()
    .map(|status| StatusTotal {
        status: status.as_str().to_owned(),
        count: of(&counters.invoices, &format!("{}_count", status.as_str())),
        amount_due_cents: of(
            &counters.invoices,
            &format!("{}_amount_due_cents", status.as_str()),
        ),
    })
    .collect();
    let usage_by_day = counters
        .usage
        .iter()
        .filter(|(_, quantity)| **quantity != 0)
        .map(|((day, metric), quantity)| DayUsage {
            day: day.clone(),
            metric: metric.clone(),
            quantity: *quantity,
        })
        .collect();
    Ok(Dashboard {
        as_of: now,
        mrr_cents: of(&counters.subscriptions, "mrr_cents"),
        mrr_change_cents: month(&month_of(now), "mrr_change_cents"),
        active_subscriptions: of(&counters.subscriptions, "active"),
        trialing_subscriptions: of(&counters.subscriptions, "trialing"),
        past_due_subscriptions: of(&counters.subscriptions, "past_due"),
        revenue_by_month,
        invoices_by_status,
        failing_invoices: Failing {
            count: of(&counters.invoices, "failing_count"),
            amount_due_cents: of(&counters.invoices, "failing_amount_due_cents"),
        },
        usage_by_day,
        currency,
    })
}

fn naive_day(day: NaiveDate) -> String {
    day_of(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}
