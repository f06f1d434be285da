//! billing-stripe's integration tests, one binary (one link) for all of them: the wire format
//! against a local listener, the gateway against stripe-mock, and the webhook fuzz target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The app's fixtures (a plan, a user, a subscription, the clock), shared with its own suites.
#[path = "../../../app/tests/app/common/mod.rs"]
mod common;

mod fuzz;
mod stripe_mock;
mod wire;
