//! The scheduled invoice run: an EventBridge schedule invokes it; it renews every subscription whose period has ended
//! through `billing_app::runs::invoice_run`, which is safe to run twice at once and finishes the
//! work of a run that died (a rerun of the schedule completes it). A failure is returned to
//! Lambda, so the schedule's retry policy runs it again.
//!
//! One invocation walks all 16 shards of the due index in turn; fanning the shards out over a
//! work queue for runs that outgrow one invocation is issue #5's next step.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use billing_app::runs::{InvoiceRunReport, invoice_run};
use billing_app::{App, AppError};

pub async fn handle(app: &App, event: EventBridgeEvent) -> Result<InvoiceRunReport, AppError> {
    let now = app.clock.now().await?;
    tracing::info!(event_id = ?event.id, scheduled_for = ?event.time, %now, "invoice run starting");
    let report = invoice_run(app, now).await?;
    tracing::info!(?report, "invoice run finished");
    Ok(report)
}
