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
# Later runs reuse the venv without network access. Only the path goes to stdout.
set -euo pipefail

readonly SAM_VERSION="1.170.0"
readonly CFN_LINT_VERSION="1.58.0"
readonly CARGO_LAMBDA_VERSION="1.9.2"
readonly ZIGLANG_VERSION="0.17.1"
readonly VENV_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/deploy-venv"
# Names every version, so changing a pin reinstalls.
readonly MARKER="$VENV_DIR/.complete-sam-$SAM_VERSION-cfnlint-$CFN_LINT_VERSION-cargolambda-$CARGO_LAMBDA_VERSION-zig-$ZIGLANG_VERSION"

die() { echo "deploy-tools: $*" >&2; exit 1; }

require_tools() {
  command -v python3 >/dev/null 2>&1 \
    || die "python3 not found; install with: apt-get install python3 python3-venv"
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "python3 cannot create virtual environments; install with: apt-get install python3-venv"
}

install() {
  echo "deploy-tools: installing aws-sam-cli, cfn-lint, cargo-lambda and ziglang into $VENV_DIR (about 2 minutes)" >&2
  # A half-made environment from an interrupted run is started over, not patched.
  rm -rf "$VENV_DIR"
  python3 -m venv "$VENV_DIR" >&2 || die "python3 -m venv $VENV_DIR failed"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION" >&2 \
    || die "pip could not install the deployment tools (is PyPI reachable?)"
  local tool
  for tool in sam cfn-lint cargo-lambda; do
    [[ -x "$VENV_DIR/bin/$tool" ]] || die "the install left no $VENV_DIR/bin/$tool"
  done
  touch "$MARKER"
}

if [[ ! -f "$MARKER" ]]; then
  require_tools
  install
fi
echo "$VENV_DIR/bin"
