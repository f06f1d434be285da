# Sourced by the scripts that install Python tools from PyPI (moto.sh, deploy-tools.sh):
#
#   ensure_venv NAME VENV_DIR MARKER_NAME PACKAGE...
#
# makes VENV_DIR a virtual environment holding PACKAGE... (pinned by the caller) unless
# VENV_DIR/MARKER_NAME says a complete install of these pins is there. Messages go to stderr,
# prefixed with NAME; a missing python3 or venv module is reported with what to install.

venv_die() { echo "$1: $2" >&2; exit 1; }

ensure_venv() {
  local name="$1" venv_dir="$2" marker="$2/$3"
  shift 3
  [[ -f "$marker" ]] && return 0
  command -v python3 >/dev/null 2>&1 \
    || venv_die "$name" "python3 not found; install with: apt-get install python3 python3-venv"
  # Debian splits venv (and the pip it bootstraps) out of python3.
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || venv_die "$name" "python3 cannot create virtual environments; install with: apt-get install python3-venv"
  echo "$name: installing $* into $venv_dir" >&2
  # A half-made environment from an interrupted run is started over, not patched.
  rm -rf "$venv_dir"
  python3 -m venv "$venv_dir" >&2 || venv_die "$name" "python3 -m venv $venv_dir failed"
  "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2 \
    || venv_die "$name" "pip could not install $* (is PyPI reachable?)"
  touch "$marker"
}
