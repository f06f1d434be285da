//! The store's integration tests, one binary (one link) for all of them: the conformance suite
//! on every backend, the embedded backend's own properties and its durability under SIGKILL,
//! and the query-cursor fuzz target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod durability;
mod embedded;
mod fuzz;
