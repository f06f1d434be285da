//! `billing-local`: every function of the billing system in one process (API.md "Local
//! runner"), on the embedded store by default, so the whole system runs and is tested on a
//! laptop without an AWS account.

pub mod config;
pub mod events;
pub mod metrics;
pub mod runner;
