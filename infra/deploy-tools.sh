#!/usr/bin/env bash
# Installs the deployment tools from PyPI into a virtual environment in a cache directory, once,
# and prints the venv's bin directory (put it first on PATH):
#
#   aws-sam-cli   `sam validate --lint`, `sam build` (its rust-cargolambda builder)
#   cfn-lint      the CloudFormation linter
#   cargo-lambda  `cargo lambda build` (Lambda zips) and `cargo lambda watch` (the Lambda
#                 Runtime API emulator); ziglang is its linker for cross-compiling to arm64
#
#   PATH="$(infra/deploy-tools.sh):$PATH" sam validate --lint
#
# The first install takes about 2 minutes; later runs reuse the venv without network access.
# Only the path goes to stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"

readonly SAM_VERSION="1.170.0"
readonly CFN_LINT_VERSION="1.58.0"
readonly CARGO_LAMBDA_VERSION="1.9.2"
readonly ZIGLANG_VERSION="0.17.1"
readonly VENV_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/deploy-venv"

# The marker names every pin, so changing one reinstalls.
ensure_venv deploy-tools "$VENV_DIR" \
  ".complete-sam-$SAM_VERSION-cfnlint-$CFN_LINT_VERSION-cargolambda-$CARGO_LAMBDA_VERSION-zig-$ZIGLANG_VERSION" \
  "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
  "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
for tool in sam cfn-lint cargo-lambda; do
  [[ -x "$VENV_DIR/bin/$tool" ]] || venv_die deploy-tools "the install left no $VENV_DIR/bin/$tool"
done
echo "$VENV_DIR/bin"
