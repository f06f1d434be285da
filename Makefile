# The two commands of README's Quick start live here. Builds go outside the checkout so a fresh
# clone (CI clones afresh every run) reuses compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/billing/target
export CARGO_TERM_COLOR ?= never
# npm ci (make run, make web) keeps its cache beside the cargo target, so reruns are fast.
export npm_config_cache ?= $(HOME)/.cache/billing/npm

.PHONY: test lint unit contract web soak deploy-check bench toolchain run

## Every test: formatting, lints, unit, property and integration tests; the store's conformance
## suite runs against the embedded backend and against DynamoDB Local (started and stopped here);
## the OpenAPI contract against billing-local (schemathesis); the admin UI (web); the kill soak
## and load test (soak); then the deployment: template lint, sam build, the Lambda artifacts
## under the runtime emulator.
test: toolchain lint unit contract web soak deploy-check

toolchain:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs), then run make test again" >&2; exit 1; }
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# billing-deploy-tests needs the release artifacts: deploy-check builds them and runs it.
unit:
	infra/with-services.sh infra/cargo-test.sh --workspace --locked --exclude billing-deploy-tests

## The OpenAPI contract: schemathesis --checks all against billing-local (infra/schemathesis.sh;
## bounded, fixed seed; schemathesis from PyPI in a venv).
contract:
	infra/schemathesis.sh

## The admin UI: npm ci, the typed client's drift check against billing-local's /openapi.json,
## prettier, eslint, tsc, vitest, vite build, then Playwright + axe-core on Debian's chromium
## against a real billing-local (infra/web-test.sh; chromium installed with apt when missing).
## After unit, which builds billing-local's debug binary the e2e run starts.
web:
	infra/web-test.sh

## docs/RELIABILITY.md's suite, short: the real billing-local SIGKILLed and restarted under
## seeded mixed traffic, reconciled against what it accepted, on the embedded store and on
## DynamoDB Local; then 200 connections of usage with a kill mid-run. The long version:
## SOAK_SECONDS=600 SOAK_LOAD_SECONDS=60 make soak
soak:
	BILLING_SERVICES=dynamodb infra/with-services.sh infra/soak.sh

## template.yaml linted and built, every Lambda built with cargo-lambda and invoked under its
## Runtime API emulator (infra/deploy-check.sh; tools from PyPI via infra/deploy-tools.sh).
deploy-check:
	infra/deploy-check.sh

## The whole system locally: billing-local on the embedded store (data in ./.billing-data),
## with the admin UI from web/dist when it has been built. Prints its address and admin token.
run: toolchain
	@if [ -f web/package.json ]; then (cd web && npm ci && npm run build); fi
	cargo run --release --locked --bin billing-local

## The benchmarks of BENCHMARKS.md (not part of `make test`: figures are not assertions; the
## one check is that no accepted event is lost): ingest with wrk against billing-local and a
## no-store handler in the same run, aggregation, DynamoDB write units, the core's hot paths
## (infra/bench.sh; its report in $(CARGO_TARGET_DIR)/bench-report.md).
bench: toolchain
	infra/bench.sh
