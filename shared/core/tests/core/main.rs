//! The core's tests as one binary (one link instead of four): BILLING.md's worked examples, the
//! edge cases, the property tests and the subscription lifecycle. The fuzz targets stay their
//! own binary (`--test fuzz`), where bolero finds their corpus.
#![allow(clippy::unwrap_used)]

mod billing_md_examples;
mod common;
mod edge_cases;
mod properties;
mod subscription_lifecycle;
