#!/usr/bin/env bash
# `make bench` (BENCHMARKS.md): every figure of the benchmark suite, on 127.0.0.1 only, each
# bounded in time. Not part of `make test`: figures are measurements, not assertions; the one
# assertion is that no accepted event is lost (the ingest and aggregation runs fail if one is).
#
#   BENCH_SECONDS (30) and BENCH_CONNECTIONS (200): the wrk runs; BENCH_OUT: where the report
#   goes (default target/bench-report.md under CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/billing/target}"
export CARGO_TARGET_DIR
SECONDS_PER_RUN="${BENCH_SECONDS:-30}"
CONNECTIONS="${BENCH_CONNECTIONS:-200}"
OUT="${BENCH_OUT:-$CARGO_TARGET_DIR/bench-report.md}"
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench: installing wrk (Debian)" >&2; apt-get install -y wrk >/dev/null; }

log() { echo "$*" | tee -a "$OUT"; }
: > "$OUT"
log "# Benchmark run"
log ""
log "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "- command: make bench (infra/bench.sh), wrk ${SECONDS_PER_RUN}s × ${CONNECTIONS} connections"
log ""

echo "bench: building (profile bench: release with line tables)" >&2
cargo build --locked --profile bench -p billing-local --bin billing-local --example no_store
cargo build --locked --profile bench -p billing-app --example aggregation_throughput --example run_throughput

# ---- ingest: billing-local and the no-store handler, same bodies, same run
ADMIN=bench-admin-token
BILLING_ADDR=127.0.0.1:18080 BILLING_DATA_DIR="$WORK/data" BILLING_ADMIN_TOKEN=$ADMIN \
  BILLING_USAGE_RATE_LIMIT=1000000000 RUST_LOG=warn "$BIN/billing-local" >"$WORK/local.log" 2>&1 &
PIDS+=($!)
"$BIN/examples/no_store" 127.0.0.1:18081 >"$WORK/no_store.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:18080/healthz && curl -s -o /dev/null http://127.0.0.1:18081/ && break
  sleep 0.2
done
USER_ID=$(curl -sf -X POST http://127.0.0.1:18080/v1/users -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' -d '{"email":"bench@example.com"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
FROM=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)

# wrk's Lua: unique event ids per thread and request, the current second as the timestamp;
# 202s counted per thread and summed in done().
cat > "$WORK/usage.lua" <<LUA
counter, thread_id, accepted = 0, 0, 0
local threads = {}
function setup(thread) thread:set("id", #threads) table.insert(threads, thread) end
function init(args) thread_id = id; per_request = tonumber(args[1]) end
function request()
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local events = {}
  for i = 1, per_request do
    counter = counter + 1
    events[i] = string.format('{"id":"t%d-%d","user_id":"$USER_ID","metric":"api_calls","quantity":1,"timestamp":"%s"}', thread_id, counter, now)
  end
  return wrk.format("POST", "/v1/usage", {["Content-Type"]="application/json", ["Authorization"]="Bearer $ADMIN"}, '{"events":[' .. table.concat(events, ",") .. ']}')
end
function response(status) if status == 202 then accepted = accepted + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("accepted") end
  io.write(string.format("ACCEPTED_REQUESTS %d\nRPS %.0f\nP99_MS %.1f\n", total, summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000))
end
LUA

ingest() { # target port, events per request -> "rps p99 accepted_requests"
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/usage.lua" "http://127.0.0.1:$1" -- "$2" >"$WORK/wrk.out" 2>&1
  awk '/^RPS/{r=$2} /^P99_MS/{p=$2} /^ACCEPTED_REQUESTS/{a=$2} END{print r, p, a}' "$WORK/wrk.out"
}
summary() {
  curl -sf "http://127.0.0.1:18080/v1/usage/summary?user_id=$USER_ID&metric=api_calls&from=$FROM&to=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" \
    -H "Authorization: Bearer $ADMIN" | sed -E 's/.*"quantity":([0-9]+).*/\1/'
}
log "## Ingest (POST /v1/usage)"
log ""
log "| events per request | billing-local req/s, p99 | no-store handler req/s, p99 | ratio | events accepted → counted, backlog drained in |"
log "| --- | --- | --- | --- | --- |"
# wrk counts the 202s it saw; requests in flight when it stops may be accepted unseen, so the
# count afterwards lies between the 202s seen and those plus one request per connection.
baseline=0
for per in 1 100; do
  read -r base_rps base_p99 _ < <(ingest 18081 "$per")
  read -r rps p99 accepted < <(ingest 18080 "$per")
  expected=$((baseline + accepted * per))
  ceiling=$((expected + CONNECTIONS * per))
  started=$(date +%s)
  deadline=$((started + 600))
  counted=$(summary)
  while [ "$counted" -lt "$expected" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; counted=$(summary); done
  sleep 2; counted=$(summary)
  drained=$(( $(date +%s) - started ))
  ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN{printf "%.0f%%", 100*a/b}')
  log "| $per | $rps, ${p99} ms | $base_rps, ${base_p99} ms | $ratio | $((accepted * per)) seen accepted → $((counted - baseline)) counted, drained within ${drained} s |"
  if [ "$counted" -lt "$expected" ] || [ "$counted" -gt "$ceiling" ]; then
    log ""; log "**FAILED: $((expected - baseline)) to $((ceiling - baseline)) events expected, $((counted - baseline)) counted**"; exit 1
  fi
  baseline=$counted
done
log ""

# ---- aggregation on the embedded store
log "## Aggregation (embedded store, drain_usage_queue)"
log ""
log "| queued | enqueue | aggregation | counted |"
log "| --- | --- | --- | --- |"
"$BIN/examples/aggregation_throughput" 100000 1 | tee -a "$OUT"
"$BIN/examples/aggregation_throughput" 1000 100 | tee -a "$OUT"
log ""

# ---- invoice and payment runs on the embedded store (BENCH_RUN_SUBSCRIPTIONS, 100,000)
log "## Invoice and payment runs (embedded store, invoice_run then payment_run)"
log ""
log "| store, subscriptions | seeding | invoice run | payment run | checked |"
log "| --- | --- | --- | --- | --- |"
"$BIN/examples/run_throughput" "${BENCH_RUN_SUBSCRIPTIONS:-100000}" embedded | tee -a "$OUT"
infra/with-dynamodb-local.sh "$BIN/examples/run_throughput" "${BENCH_RUN_SUBSCRIPTIONS_DYNAMODB:-2000}" dynamodb | tee -a "$OUT"
log ""

# ---- write units on DynamoDB Local, and the core's hot paths
log "## DynamoDB write units (DynamoDB Local, AWS's rules)"
log ""
infra/with-dynamodb-local.sh cargo run --locked -q -p billing-ledger --example write_cost | tee -a "$OUT"
log ""
cargo bench --locked -p billing-core --bench hot_paths 2>&1 | grep -E "time:|^[a-z_ /]+$" | tee -a "$OUT"
echo "bench: report in $OUT" >&2
