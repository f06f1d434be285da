//! The billing domain of BILLING.md: money, plans, tiers, periods, subscriptions, proration,
//! invoices, dunning. Pure: no I/O, no async, no clock of its own, no AWS types. Every
//! function takes "now" from its caller and returns what changed; the storage layer writes it.
//!
//! Where to start:
//! - [`plan::PlanDraft::validate`] turns a client's plan into a [`plan::Plan`];
//! - [`subscription::Subscription`] has one method per command (create, renew, change plan,
//!   cancel, past due / recover), each returning a [`subscription::Transition`];
//! - [`invoice::InvoiceDraft::finalize`] computes totals against the credit balance;
//! - [`payment`] holds the dunning schedule, attempt outcomes and the simulated gateway.

pub mod audit;
pub mod error;
pub mod invoice;
pub mod money;
pub mod payment;
pub mod period;
pub mod plan;
pub mod pricing;
pub mod subscription;
mod text;
pub mod usage;
pub mod user;

pub use error::{BillingError, FieldError};
pub use money::{Cents, Currency, UnitPrice};
pub use period::{Interval, Period, Timestamp};
