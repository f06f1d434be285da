//! The scheduled runs: renew every due subscription, attempt every due payment. Both walk the
//! sharded time indexes, are safe to run twice at once, and finish the work of a run that died.

use billing_core::Timestamp;
use billing_core::payment::PaymentStatus;
use billing_ledger::keys::DUE_SHARDS;
use serde::Serialize;

use crate::context::{Actor, App};
use crate::error::{AppError, ErrorKind};
use crate::invoices::attempt_payment;
use crate::subscriptions::renew_due;

/// Due items read per index query.
const DUE_PAGE: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceRunReport {
    pub subscriptions_renewed: u64,
    pub invoices_created: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRunReport {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// Renews every subscription whose period ended at or before `now`.
pub async fn invoice_run(app: &App, now: Timestamp) -> Result<InvoiceRunReport, AppError> {
    let actor = Actor::system("invoice-run");
    let mut report = InvoiceRunReport::default();
    for shard in 0..DUE_SHARDS {
        // Renewing moves a subscription out of the due range, so re-reading the first page
        // until it is empty visits each due subscription; a bound stops a run that cannot
        // make progress (every renewal of the page refused) from spinning.
        let mut stuck_pages = 0;
        loop {
            let (due, _) = app.ledger.due_renewals(shard, now, DUE_PAGE, None).await?;
            if due.is_empty() || stuck_pages > 2 {
                break;
            }
            let mut progressed = false;
            for id in &due {
                match renew_due(app, id, now, &actor).await {
                    Ok(invoices) => {
                        progressed = true;
                        report.subscriptions_renewed += 1;
                        report.invoices_created += u64::try_from(invoices.len()).unwrap_or(0);
                    }
                    Err(error)
                        if error.kind() != ErrorKind::Internal
                            && error.kind() != ErrorKind::Unavailable =>
                    {
                        tracing::warn!(subscription_id = %id, code = error.code(), "renewal refused: {error}");
                    }
                    Err(error) => return Err(error),
                }
            }
            stuck_pages = if progressed { 0 } else { stuck_pages + 1 };
        }
    }
    Ok(report)
}

/// Attempts every open invoice whose next payment attempt is at or before `now`.
pub async fn payment_run(app: &App, now: Timestamp) -> Result<PaymentRunReport, AppError> {
    let actor = Actor::system("payment-run");
    let mut report = PaymentRunReport::default();
    for shard in 0..DUE_SHARDS {
        let mut cursor = None;
        loop {
            let (due, next) = app
                .ledger
                .due_payments(shard, now, DUE_PAGE, cursor)
                .await?;
            for id in &due {
                match attempt_payment(app, id, now, &actor).await {
                    Ok(result) => {
                        report.attempted += 1;
                        match result.payment.status {
                            PaymentStatus::Succeeded => report.succeeded += 1,
                            PaymentStatus::Failed => report.failed += 1,
                        }
                    }
                    // Another runner holds it, or it stopped being open: not ours to charge.
                    Err(error) if error.kind() == ErrorKind::Conflict => {
                        tracing::info!(invoice_id = %id, code = error.code(), "payment skipped");
                    }
                    Err(error) => return Err(error),
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(report)
}
