#!/usr/bin/env bash
# Proves the deployment without an AWS account, as part of `make test`:
#
#   1. cfn-lint and `sam validate --lint` on template.yaml;
#   2. `cargo lambda build --release` of every deployed function and of the do-nothing
#      baseline, each as a bootstrap and a bootstrap.zip, exactly as `sam build` calls it;
#   3. `sam build` of the template (x86_64, so it reuses step 2's artifacts instead of
#      cross-compiling everything again for arm64);
#   4. infra/deploy-tests: the template checked against the code, then every artifact run
#      under cargo-lambda's Runtime API emulator against DynamoDB Local and moto, invoked
#      with real events, its cold start measured beside the baseline.
#
# Tools come from infra/deploy-tools.sh (PyPI, in a venv). Builds go to $CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/billing/target}"
export SAM_CLI_TELEMETRY=0
PATH="$(infra/deploy-tools.sh):$PATH"
export PATH

# crate directory and binary of each Lambda (the template's CodeUri and Binary).
readonly FUNCTIONS=(
  "functions/api billing-api"
  "functions/usage-aggregator usage-aggregator"
  "functions/invoice-runner invoice-runner"
  "functions/payment-runner payment-runner"
  "functions/events-publisher events-publisher"
  "infra/baseline-lambda baseline-lambda"
)

step() { echo "deploy-check: $*" >&2; }

step "cfn-lint template.yaml"
cfn-lint template.yaml
step "sam validate --lint"
sam validate --lint --template template.yaml

step "cargo lambda build --release (x86_64)"
for function in "${FUNCTIONS[@]}"; do
  read -r dir bin <<<"$function"
  # The same command, in the same directory, as sam build's rust-cargolambda builder.
  (cd "$dir" && cargo lambda build --release --bin "$bin" && cargo lambda build --release --bin "$bin" --output-format zip)
done

step "sam build (x86_64)"
sam_dir="$CARGO_TARGET_DIR/sam"
rm -rf "$sam_dir/build"
sam build --beta-features --template template.yaml \
  --build-dir "$sam_dir/build" --cache-dir "$sam_dir/cache" \
  --parameter-overrides Architecture=x86_64
for logical_id in ApiFunction UsageAggregatorFunction InvoiceRunnerFunction PaymentRunnerFunction EventsPublisherFunction; do
  [[ -x "$sam_dir/build/$logical_id/bootstrap" ]] \
    || { echo "deploy-check: sam build left no $sam_dir/build/$logical_id/bootstrap" >&2; exit 1; }
done

step "template checks and the artifacts under the Lambda runtime emulator"
export BILLING_LAMBDA_DIR="$CARGO_TARGET_DIR/lambda"
figures="$BILLING_LAMBDA_DIR/figures.md"
# Each artifact test adds its row (zip size, init, peak RSS) below this header.
printf '| artifact | zip | init (start → first /next) | peak RSS |\n| --- | ---: | ---: | ---: |\n' >"$figures"
# One test at a time: cold starts measured on an otherwise idle machine.
BILLING_SERVICES="dynamodb moto" infra/with-services.sh \
  infra/cargo-test.sh -p billing-deploy-tests --locked -- --test-threads=1
step "cold-start figures of this run ($figures):"
cat "$figures" >&2
