//! The core's tests as one binary (one link instead of five): BILLING.md's worked examples, the
//! edge cases, the property tests, the subscription lifecycle and the parsers' fuzz targets
//! (their corpora in `__fuzz__/fuzz__<target>`).
#![allow(clippy::unwrap_used)]

mod billing_md_examples;
mod common;
mod edge_cases;
mod fuzz;
mod properties;
mod subscription_lifecycle;
