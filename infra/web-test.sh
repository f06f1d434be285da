#!/usr/bin/env bash
# The admin UI's checks (make web, part of make test): Debian's chromium (installed with apt when
# missing), npm ci with npm's cache in ~/.cache/billing/npm, the typed client's drift check
# against billing-local's /openapi.json, prettier, eslint, tsc, vitest, vite build, then the
# Playwright end-to-end run with axe-core against a real billing-local. Every step runs even
# after one fails; the last line is "web: N passed, N failed" (each check counts one, the
# vitest and e2e runs count their tests).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$repo/web"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/billing/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/billing/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
passed=0
failed=0
failures=()
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

finish() {
  if [ "${#failures[@]}" -gt 0 ]; then echo "web: failed: ${failures[*]}"; fi
  echo "web: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# One check: its command's exit status is one pass or one failure.
check() {
  local name="$1"
  shift
  echo "== web: $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

# A vitest run: counts its tests from the JSON report (a run that reports nothing is one failure).
vitest_run() {
  local name="$1"
  shift
  local report="$results/$name.json"
  echo "== web: $name"
  (cd "$web" && npx --no-install vitest run --reporter=default --reporter=json --outputFile="$report" "$@")
  local status=$?
  if [ -s "$report" ]; then
    read -r p f < <(node -e 'const r=require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests + (r.numTotalTests === 0 ? 1 : 0))' "$report")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
      failures+=("$name")
    elif [ "$status" -ne 0 ]; then
      # Failed outside any test (a hook, a crash): one failure.
      failed=$((failed + 1))
      failures+=("$name")
    fi
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

# Chromium for playwright-core: Debian's package, never a browser download.
if [ ! -x /usr/bin/chromium ]; then
  echo "== web: /usr/bin/chromium is missing: installing Debian's chromium with apt-get"
  if ! { command -v apt-get >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; then
    echo "web: /usr/bin/chromium is missing and apt-get could not install it; install Debian's 'chromium' package (apt-get install chromium) and run again" >&2
  fi
fi
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "web: node and npm are missing: install Node.js 20 (with npm) and run again" >&2
  failed=$((failed + 1)); failures+=("node"); finish
}

check "npm ci" bash -c "cd '$web' && npm ci --no-audit --no-fund --prefer-offline"
[ -d "$web/node_modules" ] || finish

# The e2e run and the drift check need billing-local's debug binary (make test's unit step
# builds it); build it when it is not there.
if [ ! -x "$CARGO_TARGET_DIR/debug/billing-local" ]; then
  check "build billing-local" bash -c "cd '$repo' && cargo build --locked -p billing-local"
fi

check "client drift (scripts/generate-api.sh; git diff web/openapi.json web/src/api/schema.d.ts)" \
  bash -c "'$web/scripts/generate-api.sh' && cd '$repo' && git diff --exit-code -- web/openapi.json web/src/api/schema.d.ts"
check "prettier --check" bash -c "cd '$web' && npx --no-install prettier --check ."
check "eslint" bash -c "cd '$web' && npx --no-install eslint --max-warnings 0 ."
check "tsc --noEmit" bash -c "cd '$web' && npx --no-install tsc --noEmit -p tsconfig.json"
vitest_run vitest
check "vite build" bash -c "cd '$web' && npx --no-install vite build"
if [ -f "$web/dist/index.html" ] && [ -x /usr/bin/chromium ]; then
  # This run's pictures only: a failure picture left by an earlier run would read as this one's.
  rm -rf "$CARGO_TARGET_DIR/web-e2e"
  vitest_run e2e --config vitest.e2e.config.ts
  echo "web: screenshots of every page in $CARGO_TARGET_DIR/web-e2e/"
else
  echo "web: e2e not run: $([ -x /usr/bin/chromium ] || echo '/usr/bin/chromium missing; ')$([ -f "$web/dist/index.html" ] || echo 'no web/dist')" >&2
  failed=$((failed + 1))
  failures+=("e2e")
fi
finish
