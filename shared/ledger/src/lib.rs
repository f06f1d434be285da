//! The billing ledger: every entity of BILLING.md and API.md stored as items of the single
//! table (`billing-store`), with the keys and conditions that make duplicates impossible
//! rather than unlikely. docs/data-model.md lists each item and access pattern.
//!
//! Reads go through [`Ledger`]; writes are collected in a [`Change`] and committed at once, so
//! a state change, its audit entry and its outbox event are one atomic write.

mod audit;
mod change;
pub mod dashboard;
mod error;
mod health;
mod idempotency;
mod invoices;
pub mod keys;
mod ledger;
mod plans;
mod rate_limit;
mod record;
mod runs;
mod subscriptions;
mod test_clock;
mod token;
mod usage;
mod users;
mod webhooks;

pub use audit::{AuditEntry, AuditFilter};
pub use change::Change;
pub use dashboard::DashboardCounters;
pub use error::{Conflict, LedgerError, Result};
pub use idempotency::{IdempotencyStart, StoredResponse};
pub use invoices::{InvoiceFilter, NumberingTurn};
pub use ledger::{Ledger, Listing, PAGE_LIMIT_MAX, PageRequest};
pub use record::Versioned;
pub use runs::{RUN_TTL_SECONDS, RunRecord};
pub use token::{Token, hash_secret};
pub use usage::{LateUsage, QueuedUsage, Seal, UsageClaim};

/// The clock leases, TTLs and rate-limit windows are stamped in (epoch seconds), so callers
/// pass the same instants the store expires items by.
pub use billing_store::now_epoch_seconds;
