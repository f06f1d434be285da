# The two commands of README's Quick start live here. Builds go outside the checkout so a fresh
# clone (CI clones afresh every run) reuses compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/billing/target
export CARGO_TERM_COLOR ?= never

.PHONY: test lint unit bench toolchain run

## Every test: formatting, lints, unit, property and integration tests; the store's conformance
## suite runs against the embedded backend and against DynamoDB Local (started and stopped here).
test: toolchain lint unit

toolchain:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs), then run make test again" >&2; exit 1; }
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit:
	infra/with-services.sh infra/cargo-test.sh --workspace --locked

## The whole system locally: billing-local on the embedded store (data in ./.billing-data),
## with the admin UI from web/dist when it has been built. Prints its address and admin token.
run: toolchain
	@if [ -f web/package.json ]; then (cd web && npm ci && npm run build); fi
	cargo run --release --locked --bin billing-local

## The benchmarks of BENCHMARKS.md (not part of `make test`: figures are not assertions).
bench:
	cargo bench -p billing-core --bench hot_paths
