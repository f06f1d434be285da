//! The scheduled runs: renew every due subscription, attempt every due payment.
//!
//! Both walk the due indexes, which are sharded [`DUE_SHARDS`] ways so that no index partition
//! is hot. A shard is the unit of work: one shard can be run alone (the invoice runner fans the
//! shards out over a work queue when one invocation cannot finish them all), inside a time
//! budget (it stops between items when the budget runs out and reports that work is left), and
//! with a bounded number of items in flight. Runs are safe to run twice at once — renewals and
//! attempts are conditional writes under deterministic ids and per-invoice leases — and a run
//! that died is finished by the next one, because the work left is exactly what the due index
//! still holds.

use std::time::Instant;

use billing_core::Timestamp;
use billing_core::payment::PaymentStatus;
use billing_ledger::keys::DUE_SHARDS;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::context::{Actor, App};
use crate::error::{AppError, ErrorKind};
use crate::invoices::attempt_payment;
use crate::subscriptions::renew_due;

/// Due items read per index query.
const DUE_PAGE: usize = 100;

/// Items of one shard in flight at once by default: enough to hide the store's latency
/// (a renewal is a few reads and one transaction, ~20–40 ms in DynamoDB) without letting one
/// invocation's burst throttle a partition of the table.
pub const DEFAULT_CONCURRENCY: usize = 4;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceRunReport {
    pub subscriptions_renewed: u64,
    pub invoices_created: u64,
}

impl InvoiceRunReport {
    fn add(&mut self, other: Self) {
        self.subscriptions_renewed += other.subscriptions_renewed;
        self.invoices_created += other.invoices_created;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRunReport {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
}

impl PaymentRunReport {
    fn add(&mut self, other: Self) {
        self.attempted += other.attempted;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

/// How a run may spend its time: items in flight per shard, and when to stop starting new
/// ones (a Lambda's deadline less a margin for the items in flight to finish).
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub concurrency: usize,
    pub deadline: Option<Instant>,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            deadline: None,
        }
    }
}

impl RunLimits {
    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// What one shard's run did, and whether it got to the end of the shard's due items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRun<R> {
    pub report: R,
    /// False when the time budget ran out first: the rest of the shard is still due.
    pub finished: bool,
}

/// Renews every subscription whose period ended at or before `now`: every shard, the shards
/// side by side, each with [`DEFAULT_CONCURRENCY`] renewals in flight.
pub async fn invoice_run(app: &App, now: Timestamp) -> Result<InvoiceRunReport, AppError> {
    let (report, _) = run_every_shard(app, RunKind::Invoice, now, RunLimits::default()).await?;
    Ok(report.invoice.unwrap_or_default())
}

/// Renews the due subscriptions of one shard of the due index, within `limits`.
pub async fn invoice_run_shard(
    app: &App,
    shard: u32,
    now: Timestamp,
    limits: RunLimits,
) -> Result<ShardRun<InvoiceRunReport>, AppError> {
    let actor = Actor::system("invoice-run");
    let mut report = InvoiceRunReport::default();
    // Renewing moves a subscription out of the due range, so re-reading the first page until
    // it is empty visits each due subscription; a bound stops a run that cannot make progress
    // (every renewal of the page refused) from spinning.
    let mut stuck_pages = 0;
    loop {
        if limits.out_of_time() {
            return Ok(ShardRun {
                report,
                finished: false,
            });
        }
        let (mut due, _) = app.ledger.due_renewals(shard, now, DUE_PAGE, None).await?;
        // A subscription is in the index once for itself and once per late usage item
        // waiting for it: renew it once.
        let mut seen = std::collections::HashSet::with_capacity(due.len());
        due.retain(|id| seen.insert(id.clone()));
        if due.is_empty() || stuck_pages > 2 {
            return Ok(ShardRun {
                report,
                finished: true,
            });
        }
        let outcomes = in_flight(app, due, limits, |app, id| {
            let actor = actor.clone();
            async move {
                let renewed = renew_due(&app, &id, now, &actor).await;
                (id, renewed)
            }
        })
        .await?;
        let mut progressed = false;
        for (id, renewed) in outcomes {
            match renewed {
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

/// Attempts every open invoice whose next payment attempt is at or before `now`: every shard,
/// side by side.
pub async fn payment_run(app: &App, now: Timestamp) -> Result<PaymentRunReport, AppError> {
    let (report, _) = run_every_shard(app, RunKind::Payment, now, RunLimits::default()).await?;
    Ok(report.payment.unwrap_or_default())
}

/// Attempts the due invoices of one shard of the payment index, within `limits`.
pub async fn payment_run_shard(
    app: &App,
    shard: u32,
    now: Timestamp,
    limits: RunLimits,
) -> Result<ShardRun<PaymentRunReport>, AppError> {
    let actor = Actor::system("payment-run");
    let mut report = PaymentRunReport::default();
    let mut cursor = None;
    loop {
        if limits.out_of_time() {
            return Ok(ShardRun {
                report,
                finished: false,
            });
        }
        let (due, next) = app
            .ledger
            .due_payments(shard, now, DUE_PAGE, cursor)
            .await?;
        let outcomes = in_flight(app, due, limits, |app, id| {
            let actor = actor.clone();
            async move {
                let attempted = attempt_payment(&app, &id, now, &actor).await;
                (id, attempted)
            }
        })
        .await?;
        for (id, attempted) in outcomes {
            match attempted {
                Ok(result) => {
                    report.attempted += 1;
                    match result.payment.status {
                        PaymentStatus::Succeeded => report.succeeded += 1,
                        PaymentStatus::Failed => report.failed += 1,
                    }
                }
                // Another runner holds it, it stopped being open, or the gateway is still
                // deciding: not ours to charge now.
                Err(error) if error.kind() == ErrorKind::Conflict => {
                    tracing::info!(invoice_id = %id, code = error.code(), "payment skipped");
                }
                Err(error) => return Err(error),
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => {
                return Ok(ShardRun {
                    report,
                    finished: true,
                });
            }
        }
    }
}

/// Runs `work` on every id with at most `limits.concurrency` in flight; returns every
/// outcome. Items not started when the deadline passes are left for the next run.
async fn in_flight<F, Fut, T>(
    app: &App,
    ids: Vec<String>,
    limits: RunLimits,
    work: F,
) -> Result<Vec<T>, AppError>
where
    F: Fn(App, String) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        if limits.out_of_time() {
            break;
        }
        while tasks.len() >= limits.concurrency.max(1) {
            if let Some(done) = tasks.join_next().await {
                outcomes.push(joined(done)?);
            }
        }
        tasks.spawn(work(app.clone(), id));
    }
    while let Some(done) = tasks.join_next().await {
        outcomes.push(joined(done)?);
    }
    Ok(outcomes)
}

/// A finished task's value; a task that panicked is an internal error of the run (the
/// panic's message is logged, not returned).
fn joined<T>(done: Result<T, tokio::task::JoinError>) -> Result<T, AppError> {
    done.map_err(|error| {
        tracing::error!(%error, "a run task failed");
        AppError::Internal("a run task failed".into())
    })
}

/// The two scheduled runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Invoice,
    Payment,
}

/// One shard of one run at one instant: the unit of work a runner fans out (the message of
/// its work queue). `now` is fixed when the run starts, so every shard bills the same instant
/// however late its message is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardWork {
    pub run: RunKind,
    pub shard: u32,
    pub now: Timestamp,
}

/// The work of a whole run at `now`: one item per shard of the due index.
pub fn shard_work(run: RunKind, now: Timestamp) -> Vec<ShardWork> {
    (0..DUE_SHARDS)
        .map(|shard| ShardWork { run, shard, now })
        .collect()
}

/// What a run (or part of one) did; the report of the other kind is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceRunReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRunReport>,
}

impl RunReport {
    fn add(&mut self, other: Self) {
        if let Some(other) = other.invoice {
            self.invoice.get_or_insert_default().add(other);
        }
        if let Some(other) = other.payment {
            self.payment.get_or_insert_default().add(other);
        }
    }
}

/// Runs one shard of one run within `limits`.
pub async fn run_shard(
    app: &App,
    work: ShardWork,
    limits: RunLimits,
) -> Result<ShardRun<RunReport>, AppError> {
    Ok(match work.run {
        RunKind::Invoice => {
            let run = invoice_run_shard(app, work.shard, work.now, limits).await?;
            ShardRun {
                report: RunReport {
                    invoice: Some(run.report),
                    payment: None,
                },
                finished: run.finished,
            }
        }
        RunKind::Payment => {
            let run = payment_run_shard(app, work.shard, work.now, limits).await?;
            ShardRun {
                report: RunReport {
                    invoice: None,
                    payment: Some(run.report),
                },
                finished: run.finished,
            }
        }
    })
}

/// Runs every shard of `run` at `now` in this process, side by side, within `limits`; returns
/// the report and the shards left unfinished when the deadline came.
pub async fn run_every_shard(
    app: &App,
    run: RunKind,
    now: Timestamp,
    limits: RunLimits,
) -> Result<(RunReport, Vec<ShardWork>), AppError> {
    let mut shards = JoinSet::new();
    for work in shard_work(run, now) {
        let app = app.clone();
        shards.spawn(async move { (work, run_shard(&app, work, limits).await) });
    }
    let mut report = RunReport::default();
    let mut unfinished = Vec::new();
    while let Some(done) = shards.join_next().await {
        let (work, shard_run) = joined(done)?;
        let shard_run = shard_run?;
        report.add(shard_run.report);
        if !shard_run.finished {
            unfinished.push(work);
        }
    }
    Ok((report, unfinished))
}
