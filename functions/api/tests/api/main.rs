//! The API tests: one binary, each test with its own store, port and clock (`spawn_app`).
#![allow(clippy::unwrap_used)]

mod access;
mod admin_ui;
mod auth;
mod contract;
mod corruption;
mod emf;
mod errors;
mod fuzz;
mod helpers;
mod idempotency;
mod meta;
mod pagination;
mod rate_limit;
mod resources;
mod runs;
mod test_clock;
mod usage_queue;
