//! The API tests: one binary, each test with its own store, port and clock (`spawn_app`).
#![allow(clippy::unwrap_used)]

mod admin_ui;
mod auth;
mod emf;
mod errors;
mod helpers;
mod idempotency;
mod meta;
mod pagination;
mod rate_limit;
mod resources;
mod test_clock;
mod usage_queue;
