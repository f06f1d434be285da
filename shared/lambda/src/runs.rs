//! The scheduled runs as Lambdas, shared by the invoice runner and the payment runner.
//!
//! One function takes two triggers. Its EventBridge schedule starts a run: with a work queue
//! configured, it fixes the run's instant and sends one work item per shard of the due index to
//! the queue (fan-out); without one it runs every shard itself. The work queue (SQS) is the
//! function's other trigger: each message is one shard, run within the invocation's time
//! budget; a shard not finished when the budget runs out is sent back to the queue to carry on
//! in a fresh invocation. A shard that fails is reported in `batchItemFailures`, so SQS retries
//! it alone and, after the redrive policy's receive count, parks it in the DLQ. Every step is
//! safe to repeat (renewals and attempts are idempotent), so at-least-once delivery is enough.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billing_app::ports::WorkQueue;
use billing_app::runs::{
    DEFAULT_CONCURRENCY, RunKind, RunLimits, RunReport, ShardWork, run_every_shard, run_shard,
    shard_work,
};
use billing_app::{App, AppError};
use serde::{Deserialize, Serialize};

use crate::sqs::{BatchFailures, records};

/// Time kept back from the invocation's deadline: the renewals or attempts in flight when the
/// budget runs out finish, and the continuation is sent, within it.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

/// What invokes a runner: its work queue or its schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RunEvent {
    // SQS first: a schedule event has no `Records`, while a queue event lacks the schedule's
    // required `detail-type` and `source`.
    Work(SqsEvent),
    Schedule(EventBridgeEvent),
}

/// What a runner answers: a schedule's summary, or the queue batch's failures.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RunOutput {
    Started {
        #[serde(flatten)]
        report: RunReport,
        /// Shards sent to the work queue (fanned out, or left unfinished by this invocation).
        shards_queued: usize,
    },
    Work(SqsBatchResponse),
}

pub struct Runner {
    pub app: App,
    pub run: RunKind,
    /// The runner's own SQS queue; without one, every shard runs in the scheduled invocation
    /// and what is left when it times out waits for the next schedule.
    pub work_queue: Option<Arc<dyn WorkQueue>>,
    pub concurrency: usize,
}

impl Runner {
    pub fn new(app: App, run: RunKind, work_queue: Option<Arc<dyn WorkQueue>>) -> Self {
        Self {
            app,
            run,
            work_queue,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Handles one invocation; `deadline` is when this invocation must have answered.
    pub async fn handle(&self, event: RunEvent, deadline: Instant) -> Result<RunOutput, AppError> {
        let limits = RunLimits {
            concurrency: self.concurrency,
            deadline: Some(deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline)),
        };
        match event {
            RunEvent::Schedule(event) => self.start(&event, limits).await,
            RunEvent::Work(event) => Ok(RunOutput::Work(self.work(event, limits).await)),
        }
    }

    async fn start(
        &self,
        event: &EventBridgeEvent,
        limits: RunLimits,
    ) -> Result<RunOutput, AppError> {
        let now = self.app.clock.now().await?;
        tracing::info!(run = ?self.run, event_id = ?event.id, scheduled_for = ?event.time, %now, "run starting");
        if let Some(queue) = &self.work_queue {
            let work = shard_work(self.run, now);
            queue.send(&work).await?;
            tracing::info!(run = ?self.run, shards = work.len(), "run fanned out to the work queue");
            return Ok(RunOutput::Started {
                report: RunReport::default(),
                shards_queued: work.len(),
            });
        }
        let (report, unfinished) = run_every_shard(&self.app, self.run, now, limits).await?;
        if !unfinished.is_empty() {
            tracing::warn!(run = ?self.run, shards = unfinished.len(), "out of time: the next schedule finishes these shards");
        }
        tracing::info!(run = ?self.run, ?report, "run finished");
        Ok(RunOutput::Started {
            report,
            shards_queued: 0,
        })
    }

    async fn work(&self, event: SqsEvent, limits: RunLimits) -> SqsBatchResponse {
        let mut failures = BatchFailures::default();
        for record in records::<ShardWork>(event, "shard work") {
            let outcome = match record.body {
                Ok(work) => self.work_on(work, limits).await,
                Err(problem) => Err(problem),
            };
            if let Err(problem) = outcome {
                failures.retry(record.message_id, "shard work", &problem);
            }
        }
        failures.into_response()
    }

    async fn work_on(&self, work: ShardWork, limits: RunLimits) -> Result<(), String> {
        if work.run != self.run {
            return Err(format!(
                "{:?} work sent to the {:?} runner",
                work.run, self.run
            ));
        }
        let shard_run = run_shard(&self.app, &work, limits)
            .await
            .map_err(|error| error.to_string())?;
        tracing::info!(run = ?work.run, shard = work.shard, report = ?shard_run.report, finished = shard_run.finished, "shard run");
        if shard_run.finished {
            return Ok(());
        }
        let queue = self
            .work_queue
            .as_ref()
            .ok_or("the shard is unfinished and no work queue is configured")?;
        queue
            .send(&[work])
            .await
            .map_err(|error| format!("the continuation was not queued: {error}"))
    }
}

/// The instant of a Lambda context's deadline (epoch milliseconds), on the monotonic clock.
pub fn deadline_of(deadline_epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}

/// The whole life of a runner Lambda once `main` has named it and its run: the app on the
/// table of `BILLING_TABLE` with EMF metrics, the runner of `run` over it and the work queue
/// of `BILLING_RUN_QUEUE_URL`, then every invocation handled within the time Lambda gives it
/// and written as one EMF document.
pub async fn serve(function: &str, run: RunKind) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{Error, LambdaEvent, service_fn};
    crate::init_logs();
    let config = crate::LambdaConfig::from_env()?;
    let metrics = Arc::new(crate::emf::EmfMetrics::from_env(function));
    let app = config
        .app(
            config.table().await,
            Arc::new(billing_app::clock::SystemClock),
            metrics.clone(),
        )
        .await;
    let work_queue = crate::LambdaConfig::work_queue(config.run_queue_url.as_deref()).await;
    let runner = Runner::new(app, run, work_queue);
    let (runner, metrics) = (&runner, &metrics);
    lambda_runtime::run(service_fn(|event: LambdaEvent<RunEvent>| async move {
        crate::emf::instrument(
            metrics,
            runner.handle(event.payload, deadline_of(event.context.deadline)),
        )
        .await
        .map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
