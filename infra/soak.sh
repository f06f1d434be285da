#!/usr/bin/env bash
# The reliability suite of docs/RELIABILITY.md against the real billing-local binary: the kill
# soak on the embedded store and on DynamoDB Local, then the load test (200 connections of
# usage, one kill mid-run). Run under infra/with-services.sh (it needs DynamoDB Local):
#
#   BILLING_SERVICES=dynamodb infra/with-services.sh infra/soak.sh            # make soak: ~3 min
#   SOAK_SECONDS=600 SOAK_LOAD_SECONDS=60 BILLING_SERVICES=dynamodb infra/with-services.sh infra/soak.sh
#
# SOAK_SECONDS: each kill soak's traffic (default 60); SOAK_LOAD_SECONDS: the load test's
# (default 20; 60 is the full version); SOAK_LOAD_PAUSE_MS: each connection's pause between
# requests (default 1000 for the short version, 0 for the full); SOAK_SEED replays a failed
# run (its seed is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --locked -p billing-local -p billing-soak
soak="$target/debug/billing-soak"
export BILLING_LOCAL_BIN="$target/debug/billing-local"
kill_seconds="${SOAK_SECONDS:-60}"
load_seconds="${SOAK_LOAD_SECONDS:-20}"
# The short load test paces each connection (1 request a second) so the aggregator of a
# debug build catches up within seconds; the long one (SOAK_LOAD_SECONDS=60) does not pause.
if [[ -z "${SOAK_LOAD_PAUSE_MS:-}" ]]; then
  if ((load_seconds >= 60)); then export SOAK_LOAD_PAUSE_MS=0; else export SOAK_LOAD_PAUSE_MS=1000; fi
fi
status=0
"$soak" kill --seconds "$kill_seconds" --store embedded || status=1
"$soak" kill --seconds "$kill_seconds" --store dynamodb || status=1
"$soak" load --seconds "$load_seconds" --connections 200 --store embedded || status=1
exit "$status"
