#!/usr/bin/env bash
# Runs a command against a fresh in-memory DynamoDB Local and exits with the command's status.
#
#   infra/with-dynamodb-local.sh cargo test -p billing-store
#
# The command sees AWS_ENDPOINT_URL_DYNAMODB, dummy credentials, AWS_REGION=us-east-1 and
# BILLING_REQUIRE_DYNAMODB=1 (so DynamoDB tests fail instead of skipping). DynamoDB Local is
# stopped when the command ends, fails, or the script is interrupted.
set -euo pipefail

readonly STARTUP_WAIT_SECONDS_MAX="${DYNAMODB_LOCAL_STARTUP_WAIT_SECONDS:-60}"
readonly MAIN_CLASS="software.amazon.dynamodb.services.local.main.ServerRunner"

die() { echo "with-dynamodb-local: $*" >&2; exit 1; }

(($# > 0)) || die "usage: $0 COMMAND [ARGS...]"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
install_dir="$("$script_dir/dynamodb-local.sh")"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port="$(free_port)"
log="$(mktemp "${TMPDIR:-/tmp}/dynamodb-local.XXXXXX.log")"
server_pid=""

stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    # Give the JVM a moment to exit, then make sure it is gone.
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap stop_server EXIT
# Until the command runs, an interrupt just ends the script (the EXIT trap stops the server).
trap 'exit 130' INT
trap 'exit 143' TERM

(
  cd "$install_dir"
  exec java -Djava.library.path=native -cp 'lib/*' "$MAIN_CLASS" -inMemory -port "$port"
) >"$log" 2>&1 &
server_pid=$!

# DynamoDB answers an unsigned request with an HTTP error status; any HTTP answer means the
# server is up.
answers() {
  curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null | grep -qv '^000$'
}

deadline=$((SECONDS + STARTUP_WAIT_SECONDS_MAX))
until answers; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "with-dynamodb-local: DynamoDB Local exited during startup; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "with-dynamodb-local: DynamoDB Local did not answer on port $port within ${STARTUP_WAIT_SECONDS_MAX}s; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "with-dynamodb-local: DynamoDB Local is up at http://127.0.0.1:$port" >&2

# The command runs in its own process group, in the background, so that a signal to this
# script is handled at once (bash defers traps while a foreground child runs) and reaches the
# command's children too (cargo test and its test binaries).
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="dummy"
export AWS_SECRET_ACCESS_KEY="dummy"
export AWS_REGION="us-east-1"
export BILLING_REQUIRE_DYNAMODB=1
setsid "$@" &
command_pid=$!

stop_command() {
  kill -TERM -- "-$command_pid" 2>/dev/null || true
  wait "$command_pid" 2>/dev/null || true
  exit "$1"
}
trap 'stop_command 130' INT
trap 'stop_command 143' TERM

status=0
wait "$command_pid" || status=$?
exit "$status"
