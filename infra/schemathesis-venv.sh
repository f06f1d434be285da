#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI contract fuzzer infra/schemathesis.sh runs) from PyPI into
# a virtual environment in a cache directory, once, and prints the path of its `st`. Later
# runs reuse it without network access. Only the path goes to stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"

readonly SCHEMATHESIS_VERSION="4.32.5"
readonly VENV_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/schemathesis-venv"

# The marker names the version, so changing the pin reinstalls.
ensure_venv schemathesis "$VENV_DIR" ".complete-schemathesis-$SCHEMATHESIS_VERSION" \
  "schemathesis==${SCHEMATHESIS_VERSION}"
[[ -x "$VENV_DIR/bin/st" ]] || venv_die schemathesis "the install left no $VENV_DIR/bin/st"
echo "$VENV_DIR/bin/st"
