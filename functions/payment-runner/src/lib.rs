//! The payment run as a Lambda: it makes every due first attempt and dunning retry.
//!
//! The function has two triggers, handled by `billing_lambda::runs::Runner`: its EventBridge
//! schedule starts a run (fanning the 16 shards of the due index out to its SQS work queue
//! when `BILLING_RUN_QUEUE_URL` is set, or running them itself), and its work queue delivers
//! one shard per message, run within the invocation's time budget and continued through the
//! queue when unfinished. docs/scaling.md has the design and its arithmetic.

use std::sync::Arc;

use billing_app::App;
use billing_app::ports::WorkQueue;
use billing_app::runs::RunKind;
use billing_lambda::runs::Runner;

pub fn runner(app: App, work_queue: Option<Arc<dyn WorkQueue>>) -> Runner {
    Runner::new(app, RunKind::Payment, work_queue)
}
