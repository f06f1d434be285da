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
use billing_ledger::{Change, Conflict, RunRecord};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::context::{Actor, App};
use crate::error::{AppError, ErrorKind};
use crate::invoices::attempt_payment;
use crate::ports::WorkQueue;
use crate::subscriptions::renew_due;

/// Due items read per index query.
const DUE_PAGE: usize = 100;

/// Items of one shard in flight at once by default: enough to hide the store's latency
/// (a renewal is a few reads and one transaction, ~20–40 ms in DynamoDB) without letting one
/// invocation's burst throttle a partition of the table.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Items of one shard in flight at once on the embedded store (`App::run_concurrency` of the
/// local runner): its writer folds the renewals in flight into one fsync'd commit, and their
/// invoice numbers are queued one behind the other, so more in flight means fewer commits
/// (issue 18: 5,000 renewals in 70 commits at 16, against 181 at 4).
pub const EMBEDDED_CONCURRENCY: usize = 16;

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
    /// No deadline, `app.run_concurrency` in flight per shard: a run within this process.
    pub fn of(app: &App) -> Self {
        Self {
            concurrency: app.run_concurrency,
            deadline: None,
        }
    }

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
/// side by side, each with `app.run_concurrency` renewals in flight.
pub async fn invoice_run(app: &App, now: Timestamp) -> Result<InvoiceRunReport, AppError> {
    let (report, _) = run_every_shard(app, RunKind::Invoice, now, RunLimits::of(app)).await?;
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
    let (report, _) = run_every_shard(app, RunKind::Payment, now, RunLimits::of(app)).await?;
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
        AppError::bug("a run task failed")
    })
}

/// The two scheduled runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Invoice,
    Payment,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Payment => "payment",
        }
    }
}

/// One shard of one run at one instant: the unit of work a runner fans out (the message of
/// its work queue). `now` is fixed when the run starts, so every shard bills the same instant
/// however late its message is handled. A run started from the API names its `run_id`, and
/// the shard reports its progress there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardWork {
    pub run: RunKind,
    pub shard: u32,
    pub now: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The work of a whole run at `now`: one item per shard of the due index.
pub fn shard_work(run: RunKind, now: Timestamp) -> Vec<ShardWork> {
    (0..DUE_SHARDS)
        .map(|shard| ShardWork {
            run,
            shard,
            now,
            run_id: None,
        })
        .collect()
}

/// What a run (or part of one) did; the report of the other kind is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceRunReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRunReport>,
}

impl RunReport {
    /// The report as counters, as a run's progress stores them.
    fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut counts = Vec::new();
        if let Some(invoice) = self.invoice {
            counts.push(("subscriptions_renewed", invoice.subscriptions_renewed));
            counts.push(("invoices_created", invoice.invoices_created));
        }
        if let Some(payment) = self.payment {
            counts.push(("attempted", payment.attempted));
            counts.push(("succeeded", payment.succeeded));
            counts.push(("failed", payment.failed));
        }
        counts
    }

    /// The report of a `run` kind from stored counters.
    fn from_counts(run: RunKind, counts: &std::collections::BTreeMap<String, u64>) -> Self {
        let count = |name: &str| counts.get(name).copied().unwrap_or(0);
        match run {
            RunKind::Invoice => Self {
                invoice: Some(InvoiceRunReport {
                    subscriptions_renewed: count("subscriptions_renewed"),
                    invoices_created: count("invoices_created"),
                }),
                payment: None,
            },
            RunKind::Payment => Self {
                invoice: None,
                payment: Some(PaymentRunReport {
                    attempted: count("attempted"),
                    succeeded: count("succeeded"),
                    failed: count("failed"),
                }),
            },
        }
    }

    fn add(&mut self, other: Self) {
        if let Some(other) = other.invoice {
            self.invoice.get_or_insert_default().add(other);
        }
        if let Some(other) = other.payment {
            self.payment.get_or_insert_default().add(other);
        }
    }
}

/// Runs one shard of one run within `limits`; a shard of a run started from the API reports
/// what it did to the run's progress.
pub async fn run_shard(
    app: &App,
    work: &ShardWork,
    limits: RunLimits,
) -> Result<ShardRun<RunReport>, AppError> {
    let shard_run = run_shard_alone(app, work, limits).await?;
    if let Some(run_id) = &work.run_id {
        record_progress(app, run_id, work.shard, &shard_run).await?;
    }
    Ok(shard_run)
}

async fn record_progress(
    app: &App,
    run_id: &str,
    shard: u32,
    shard_run: &ShardRun<RunReport>,
) -> Result<(), AppError> {
    let mut change = Change::new();
    change.record_run_shard(
        run_id,
        shard,
        &shard_run.report.counts(),
        shard_run.finished,
        billing_ledger::now_epoch_seconds(),
    )?;
    match app.ledger.commit(change).await {
        Ok(()) => Ok(()),
        // Counted done by an earlier delivery of this shard; this one found nothing left.
        Err(error) if error.has_conflict(|c| matches!(c, Conflict::RunShardDone { .. })) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn run_shard_alone(
    app: &App,
    work: &ShardWork,
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
    run_shards(app, shard_work(run, now), limits).await
}

/// Runs `work` (shards) in this process, side by side, within `limits`; returns the report and
/// the shards left unfinished when the deadline came.
async fn run_shards(
    app: &App,
    work: Vec<ShardWork>,
    limits: RunLimits,
) -> Result<(RunReport, Vec<ShardWork>), AppError> {
    let mut shards = JoinSet::new();
    for work in work {
        let app = app.clone();
        shards.spawn(async move {
            let shard_run = run_shard(&app, &work, limits).await;
            (work, shard_run)
        });
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

/// How runs started from the API are run: within the request when there is no budget or no
/// work queue (billing-local), else for at most `budget`, with the rest handed to the runner's
/// work queue (AWS, where API Gateway waits 29 s at most).
#[derive(Clone, Default)]
pub struct RunDispatch {
    pub budget: Option<std::time::Duration>,
    pub invoice_queue: Option<std::sync::Arc<dyn WorkQueue>>,
    pub payment_queue: Option<std::sync::Arc<dyn WorkQueue>>,
}

impl RunDispatch {
    fn queue(&self, run: RunKind) -> Option<&std::sync::Arc<dyn WorkQueue>> {
        match run {
            RunKind::Invoice => self.invoice_queue.as_ref(),
            RunKind::Payment => self.payment_queue.as_ref(),
        }
    }
}

/// A run started from the API: done, or going on over the work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStarted {
    Finished(RunReport),
    Continuing { run_id: String },
}

/// Where a run started from the API stands (`GET /v1/invoice-runs/{run_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunProgress {
    pub run_id: String,
    /// `running` until every shard is done, then `finished`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "running"))]
    pub status: &'static str,
    /// The instant the run bills.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub now: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    pub shards_total: u32,
    pub shards_done: u32,
    /// What the run did so far.
    #[serde(flatten)]
    pub report: RunReport,
}

/// Runs `run` now for the API: within `dispatch.budget`, when it has one and a work queue to
/// hand the rest to. A run that does not finish in time is recorded (`run_id`), its
/// unfinished shards are sent to the runner's work queue with that id, and each reports its
/// progress there when it runs.
pub async fn start_run(
    app: &App,
    run: RunKind,
    dispatch: &RunDispatch,
) -> Result<RunStarted, AppError> {
    let now = app.clock.now().await?;
    let (Some(budget), Some(queue)) = (dispatch.budget, dispatch.queue(run)) else {
        let (report, _) = run_every_shard(app, run, now, RunLimits::of(app)).await?;
        return Ok(RunStarted::Finished(report));
    };
    let deadline = Instant::now() + budget;
    let run_id = crate::ids::new_id(crate::ids::RUN);
    let record = RunRecord {
        run_id: run_id.clone(),
        kind: run.as_str().to_owned(),
        now,
        started_at: chrono::Utc::now(),
        shards_total: DUE_SHARDS,
        shards_done: 0,
        counts: std::collections::BTreeMap::new(),
    };
    app.ledger
        .create_run(&record, billing_ledger::now_epoch_seconds())
        .await?;
    let work = shard_work(run, now)
        .into_iter()
        .map(|work| ShardWork {
            run_id: Some(run_id.clone()),
            ..work
        })
        .collect();
    let limits = RunLimits {
        deadline: Some(deadline),
        ..RunLimits::of(app)
    };
    let (report, unfinished) = run_shards(app, work, limits).await?;
    if unfinished.is_empty() {
        return Ok(RunStarted::Finished(report));
    }
    queue.send(&unfinished).await?;
    tracing::info!(%run_id, run = run.as_str(), shards = unfinished.len(), "run continues on the work queue");
    Ok(RunStarted::Continuing { run_id })
}

/// The progress of run `run_id` of kind `run`.
pub async fn run_progress(app: &App, run: RunKind, run_id: &str) -> Result<RunProgress, AppError> {
    let record = app
        .ledger
        .run(run_id)
        .await?
        .filter(|record| record.kind == run.as_str())
        .ok_or_else(|| AppError::not_found("run", run_id))?;
    Ok(RunProgress {
        run_id: record.run_id,
        status: if record.shards_done >= record.shards_total {
            "finished"
        } else {
            "running"
        },
        now: record.now,
        started_at: record.started_at,
        shards_total: record.shards_total,
        shards_done: record.shards_done,
        report: RunReport::from_counts(run, &record.counts),
    })
}
