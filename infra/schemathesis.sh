#!/usr/bin/env bash
# The OpenAPI contract checked against the server: starts the debug billing-local (built if
# missing or older than a source file) on a temporary embedded store, a free port, the test clock on and a known admin
# token, runs schemathesis (infra/schemathesis-venv.sh, PyPI) with every check against its
# /openapi.json, stops billing-local, and exits non-zero on any failure.
#
#   infra/schemathesis.sh                                  # bounded (150 cases per operation,
#                                                          # about 2 minutes): part of `make test`
#   SCHEMATHESIS_MAX_EXAMPLES=2000 infra/schemathesis.sh   # the longer run
#   SCHEMATHESIS_SEED=7 infra/schemathesis.sh              # another fixed seed
#
# The seed is fixed, so a failure replays with the same command. Extra arguments go to `st run`
# (e.g. `--include-path /v1/usage`).
set -euo pipefail

readonly MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
readonly SEED="${SCHEMATHESIS_SEED:-20270101}"
readonly ADMIN_TOKEN="sk_schemathesis_admin"
readonly STARTUP_WAIT_SECONDS_MAX=60

die() { echo "schemathesis: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/billing/target}"
binary="$target_dir/debug/billing-local"
st="$("$root/infra/schemathesis-venv.sh")"

# A binary older than the sources would check yesterday's server against nothing of today's.
if [[ ! -x "$binary" ]] || [[ -n "$(find "$root/functions" "$root/shared" -name '*.rs' -newer "$binary" -print -quit)" ]]; then
  echo "schemathesis: building billing-local" >&2
  (cd "$root" && cargo build --locked -p billing-local --bin billing-local) >&2
fi

work_dir="$(mktemp -d)"
server_pid=""
stop() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap stop EXIT INT TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
BILLING_ADDR="127.0.0.1:$port" \
  BILLING_DATA_DIR="$work_dir/data" \
  BILLING_ADMIN_TOKEN="$ADMIN_TOKEN" \
  BILLING_TEST_CLOCK=true \
  "$binary" >"$work_dir/billing-local.log" 2>&1 &
server_pid=$!

for ((waited = 0; ; waited++)); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null || ((waited >= STARTUP_WAIT_SECONDS_MAX * 5)); then
    cat "$work_dir/billing-local.log" >&2
    die "billing-local did not start on $base"
  fi
  sleep 0.2
done

# Every check runs (`--checks all`): what the server does that a naive check would trip on
# (the rate limiter's 429, the test clock's 409 when moved backwards, Idempotency-Key's 409 and
# 422, 405 with Allow) is documented in the schema instead. One check is excluded, because it
# cannot hold for this API whatever the schema says: positive_data_acceptance requires every
# schema-valid request to succeed, but API.md refuses some schema-valid requests on the state
# of the ledger, not their shape — a body naming a user that does not exist (400
# `unknown_user`), tiers not ascending (400 `tiers_not_ascending`), a credit note over the
# invoice's remaining amount (422), the same Idempotency-Key with another body (422
# `key_reused`), a cursor this list never handed out (400 `invalid_cursor`). Every bound that
# JSON Schema can state is in the document (lengths, patterns, enums, ranges, item counts), and
# negative_data_rejection checks that the server refuses whatever breaks one.
status=0
(cd "$work_dir" && "$st" run "$base/openapi.json" \
  --header "Authorization: Bearer $ADMIN_TOKEN" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --workers 1 \
  --request-timeout 10 \
  --no-color \
  "$@") || status=$?
if ((status != 0)); then
  echo "schemathesis: failures above (seed $SEED); billing-local's log:" >&2
  tail -n 50 "$work_dir/billing-local.log" >&2
fi
exit "$status"
