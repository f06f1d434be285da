#!/usr/bin/env bash
# Installs moto's server (a local stand-in for SQS and EventBridge) from PyPI into a virtual
# environment in a cache directory, once, and prints the path of its `moto_server`. Later runs
# reuse it without network access.
#
#   infra/moto.sh                       # -> ${BILLING_CACHE_DIR:-$HOME/.cache/billing}/moto-venv/bin/moto_server
#   "$(infra/moto.sh)" -H 127.0.0.1 -p 5000
#
# Only the path goes to stdout; every message goes to stderr.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"

readonly MOTO_VERSION="5.2.5"
readonly VENV_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/moto-venv"

# The marker names the version, so changing the pin reinstalls.
ensure_venv moto "$VENV_DIR" ".complete-moto-$MOTO_VERSION" "moto[server]==${MOTO_VERSION}"
[[ -x "$VENV_DIR/bin/moto_server" ]] || venv_die moto "the install left no $VENV_DIR/bin/moto_server"
echo "$VENV_DIR/bin/moto_server"
