//! The app's integration tests as one binary (one link instead of two): the flows of every use
//! case and the fault-injection suite, each on every backend (`flows::embedded::…`,
//! `faults::dynamodb::…`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod faults;
mod flows;
