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

readonly MOTO_VERSION="5.2.5"
readonly VENV_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/moto-venv"
# Names the version, so changing the pin reinstalls.
readonly MARKER="$VENV_DIR/.complete-moto-$MOTO_VERSION"

die() { echo "moto: $*" >&2; exit 1; }

require_tools() {
  command -v python3 >/dev/null 2>&1 \
    || die "python3 not found; install with: apt-get install python3 python3-venv"
  # Debian splits venv (and the pip it bootstraps) out of python3.
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "python3 cannot create virtual environments; install with: apt-get install python3-venv"
}

install() {
  echo "moto: installing moto[server]==${MOTO_VERSION} into $VENV_DIR" >&2
  # A half-made environment from an interrupted run is started over, not patched.
  rm -rf "$VENV_DIR"
  python3 -m venv "$VENV_DIR" >&2 || die "python3 -m venv $VENV_DIR failed"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==${MOTO_VERSION}" >&2 \
    || die "pip could not install moto[server]==${MOTO_VERSION} (is PyPI reachable?)"
  [[ -x "$VENV_DIR/bin/moto_server" ]] || die "the install left no $VENV_DIR/bin/moto_server"
  touch "$MARKER"
}

if [[ ! -f "$MARKER" || ! -x "$VENV_DIR/bin/moto_server" ]]; then
  require_tools
  install
fi
echo "$VENV_DIR/bin/moto_server"
