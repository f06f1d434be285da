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
//!
//! BILLING.md's worked example of a plan change, end to end:
//!
//! ```
//! use billing_core::plan::PlanDraft;
//! use billing_core::subscription::{NoUsage, Subscription};
//!
//! let plan = |code: &str, amount_cents| PlanDraft {
//!     code: code.into(),
//!     name: code.into(),
//!     amount_cents,
//!     interval: "month".into(),
//!     ..PlanDraft::default()
//! };
//! let jan_1 = "2027-01-01T00:00:00Z".parse()?;
//! let jan_11 = "2027-01-11T00:00:00Z".parse()?;
//! let basic = plan("basic", 1000).validate(jan_1)?;
//! let pro = plan("pro", 2900).validate(jan_1)?;
//!
//! let created = Subscription::create("sub_1".into(), "usr_1".into(), &basic, None, jan_1)?;
//! let changed = created.subscription.change_plan_now(&basic, &pro, &NoUsage, jan_11)?;
//! let amounts: Vec<i64> = changed.invoice.iter().flat_map(|i| &i.lines).map(|l| l.amount_cents).collect();
//! assert_eq!(amounts, [-677, 2900]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod audit;
pub mod backoff;
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
