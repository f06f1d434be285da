//! The invoice run as a Lambda: it renews every subscription whose period has ended.
//!
//! The function has two triggers, handled by `billing_lambda::runs::Runner`: its EventBridge
//! schedule starts a run (fanning the 16 shards of the due index out to its SQS work queue
//! when `BILLING_RUN_QUEUE_URL` is set, or running them itself), and its work queue delivers
//! one shard per message, run within the invocation's time budget and continued through the
//! queue when unfinished. docs/scaling.md has the design and its arithmetic.

use billing_app::runs::RunKind;

/// The run this function makes; everything else is `billing_lambda::runs`, shared with the
/// payment runner.
pub const RUN: RunKind = RunKind::Invoice;
