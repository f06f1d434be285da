//! The ingest benchmark's baseline (BENCHMARKS.md, `make bench`): an axum handler for
//! `POST /v1/usage` that parses the same body as billing-local (the same `IngestUsage` type,
//! strict JSON) and answers 202 with the count, storing nothing. The ratio of billing-local's
//! rate to this one, measured in the same run, is the figure that travels between machines.
//!
//!     cargo run --profile bench -p billing-local --example no_store -- 127.0.0.1:18081
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use billing_app::usage::IngestUsage;

async fn ingest(body: axum::body::Bytes) -> (StatusCode, String) {
    match serde_json::from_slice::<IngestUsage>(&body) {
        Ok(request) => (
            StatusCode::ACCEPTED,
            format!("{{\"accepted\":{}}}", request.events.len()),
        ),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    println!("no-store handler on http://{addr}");
    axum::serve(listener, Router::new().route("/v1/usage", post(ingest)))
        .await
        .unwrap();
}
