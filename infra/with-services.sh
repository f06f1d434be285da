#!/usr/bin/env bash
# Runs a command against fresh local stand-ins for AWS and Stripe, and exits with the
# command's status. Each stand-in is the real thing, fetched once by its own script:
#
#   dynamodb     DynamoDB Local (infra/dynamodb-local.sh, Maven Central), in memory
#   moto         moto's server for SQS and EventBridge (infra/moto.sh, PyPI, in a venv)
#   stripe-mock  Stripe's API mock (infra/stripe-mock.sh, the Go module proxy)
#
#   infra/with-services.sh cargo test --workspace
#   BILLING_SERVICES="dynamodb" infra/with-services.sh cargo test -p billing-store
#
# The command sees the endpoints (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS,
# AWS_ENDPOINT_URL_EVENTBRIDGE, STRIPE_API_BASE), dummy AWS credentials, AWS_REGION=us-east-1,
# STRIPE_API_KEY=sk_test_123, and BILLING_REQUIRE_<SERVICE>=1 for moto and stripe-mock when
# started, so the tests that need one fail instead of skipping. (The DynamoDB tests fail
# without their endpoint anyway, unless BILLING_SKIP_DYNAMODB=1 says to skip them.) Every service is stopped when the command ends,
# fails, or the script is interrupted.
set -euo pipefail

readonly STARTUP_WAIT_SECONDS_MAX="${BILLING_SERVICES_STARTUP_WAIT_SECONDS:-60}"
readonly DYNAMODB_MAIN_CLASS="software.amazon.dynamodb.services.local.main.ServerRunner"
read -r -a services <<<"${BILLING_SERVICES:-dynamodb moto stripe-mock}"

die() { echo "with-services: $*" >&2; exit 1; }

(($# > 0)) || die "usage: $0 COMMAND [ARGS...]"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

server_pids=()
logs=()

stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    # Give each a moment to exit, then make sure it is gone.
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -f "${logs[@]}"
}
trap stop_servers EXIT
# Until the command runs, an interrupt just ends the script (the EXIT trap stops the servers).
trap 'exit 130' INT
trap 'exit 143' TERM

# Any HTTP answer means the server is up (DynamoDB answers an unsigned request with an error).
answers() {
  curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null | grep -qv '^000$'
}

# start NAME URL COMMAND... : starts COMMAND in the background and waits until URL answers.
start() {
  local name="$1" url="$2" log pid deadline
  shift 2
  log="$(mktemp "${TMPDIR:-/tmp}/$name.XXXXXX.log")"
  logs+=("$log")
  "$@" >"$log" 2>&1 &
  pid=$!
  server_pids+=("$pid")
  deadline=$((SECONDS + STARTUP_WAIT_SECONDS_MAX))
  until answers "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "with-services: $name exited during startup; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "with-services: $name did not answer at $url within ${STARTUP_WAIT_SECONDS_MAX}s; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "with-services: $name is up at $url" >&2
}

start_dynamodb() {
  local install_dir port
  install_dir="$("$script_dir/dynamodb-local.sh")"
  port="$(free_port)"
  start "DynamoDB Local" "http://127.0.0.1:$port/" \
    bash -c "cd '$install_dir' && exec java -Djava.library.path=native -cp 'lib/*' $DYNAMODB_MAIN_CLASS -inMemory -port $port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
}

start_moto() {
  local moto_server port
  moto_server="$("$script_dir/moto.sh")"
  port="$(free_port)"
  start "moto" "http://127.0.0.1:$port/moto-api/" "$moto_server" -H 127.0.0.1 -p "$port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$port"
  export BILLING_REQUIRE_MOTO=1
}

start_stripe_mock() {
  local stripe_mock port
  stripe_mock="$("$script_dir/stripe-mock.sh")"
  port="$(free_port)"
  # Given only an HTTP address, stripe-mock also listens for HTTPS on the fixed port 12112, so
  # two runs at once (two checkouts, CI beside a developer) collide: let the system pick it.
  start "stripe-mock" "http://127.0.0.1:$port/v1/customers" "$stripe_mock" \
    -http-addr "127.0.0.1:$port" -https-addr "127.0.0.1:"
  export STRIPE_API_BASE="http://127.0.0.1:$port"
  export STRIPE_API_KEY="sk_test_123"
  export BILLING_REQUIRE_STRIPE_MOCK=1
}

command -v curl >/dev/null 2>&1 || die "curl not found; install with: apt-get install curl"
command -v python3 >/dev/null 2>&1 || die "python3 not found; install with: apt-get install python3"
for service in "${services[@]}"; do
  case "$service" in
    dynamodb) start_dynamodb ;;
    moto) start_moto ;;
    stripe-mock) start_stripe_mock ;;
    *) die "BILLING_SERVICES: unknown service $service (expected dynamodb, moto, stripe-mock)" ;;
  esac
done
export AWS_ACCESS_KEY_ID="dummy"
export AWS_SECRET_ACCESS_KEY="dummy"
export AWS_REGION="us-east-1"

# The command runs in its own process group, in the background, so that a signal to this
# script is handled at once (bash defers traps while a foreground child runs) and reaches the
# command's children too (cargo test and its test binaries).
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
