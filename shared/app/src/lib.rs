//! The use cases of the billing system. Every entry point — the HTTP API, the SQS aggregator,
//! the scheduled runs, the local runner — calls these; none re-implements a rule. Each use case
//! reads through the ledger, lets `billing-core` decide, and commits one atomic `Change` with
//! its audit entries.

pub mod audit;
pub mod clock;
pub mod config;
pub mod context;
pub mod counters;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod ids;
pub mod invoices;
pub mod plans;
pub mod ports;
pub mod queue;
pub mod runs;
pub mod subscriptions;
mod support;
pub mod test_clock;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod webhooks;

pub use context::{Actor, App};
pub use error::{AppError, ErrorKind};
