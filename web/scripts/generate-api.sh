#!/usr/bin/env bash
# Regenerates the UI's typed client from the API's own document: starts billing-local (test
# clock on, throwaway data dir, free port), saves /openapi.json as web/openapi.json, runs
# openapi-typescript into web/src/api/schema.d.ts, stops billing-local. Both files are checked
# in; infra/web-test.sh fails when running this changes them (the API moved without the UI).
set -euo pipefail
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$web/.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/billing/target}"
bin="$target/debug/billing-local"
if [ ! -x "$bin" ]; then
  echo "generate-api: building billing-local (debug) into $target" >&2
  (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --locked -p billing-local)
fi
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
data="$(mktemp -d)"
log="$data/billing-local.log"
BILLING_ADDR="127.0.0.1:$port" BILLING_DATA_DIR="$data/store" BILLING_TEST_CLOCK=true \
  BILLING_ADMIN_TOKEN=generate-api BILLING_INVOICE_RUN_EVERY=0 BILLING_PAYMENT_RUN_EVERY=0 \
  BILLING_WEB_DIST="$data/no-ui" "$bin" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "generate-api: billing-local exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
# Pretty-printed with sorted keys so the checked-in file diffs line by line.
curl -sf "http://127.0.0.1:$port/openapi.json" >"$data/openapi.json"
node -e '
const fs = require("fs");
const sort = (v) => Array.isArray(v) ? v.map(sort) : v && typeof v === "object"
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
fs.writeFileSync(process.argv[2], JSON.stringify(sort(JSON.parse(fs.readFileSync(process.argv[1], "utf8"))), null, 2) + "\n");
' "$data/openapi.json" "$web/openapi.json"
(cd "$web" && npx --no-install openapi-typescript openapi.json -o src/api/schema.d.ts >/dev/null)
echo "generate-api: web/openapi.json and web/src/api/schema.d.ts from billing-local's /openapi.json"
