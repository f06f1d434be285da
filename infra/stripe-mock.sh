#!/usr/bin/env bash
# Fetches stripe-mock (Stripe's own API mock) with `go install` into a cache directory, once, and
# prints the binary's path. Later runs reuse it without network access.
#
#   infra/stripe-mock.sh     # -> ${BILLING_CACHE_DIR:-$HOME/.cache/billing}/go-bin/stripe-mock
#   "$(infra/stripe-mock.sh)" -http-addr 127.0.0.1:12111
#
# Messages go to stderr; stdout carries only the path.
set -euo pipefail

# A version the Go module proxy serves; stripe-mock validates against the OpenAPI description of
# Stripe API 2026-08-26.dahlia, the version shared/stripe pins.
readonly STRIPE_MOCK_VERSION="v0.203.0"
readonly MODULE="github.com/stripe/stripe-mock"
# stripe-mock's go.mod asks for Go 1.22.
readonly GO_MINOR_MIN=22
readonly GO_BIN_DIR="${BILLING_CACHE_DIR:-$HOME/.cache/billing}/go-bin"
readonly BINARY="$GO_BIN_DIR/stripe-mock"

die() { echo "stripe-mock: $*" >&2; exit 1; }

# The version a binary was built from, as Go records it ("mod <module> <version> <sum>").
installed_version() {
  go version -m "$BINARY" 2>/dev/null | awk -v module="$MODULE" '$1 == "mod" && $2 == module { print $3 }'
}

up_to_date() {
  [[ -x "$BINARY" ]] || return 1
  # Without go the recorded version cannot be read; a binary that is there is used as it is.
  command -v go >/dev/null 2>&1 || return 0
  [[ "$(installed_version)" == "$STRIPE_MOCK_VERSION" ]]
}

require_go() {
  local install="install Go 1.${GO_MINOR_MIN} or newer from https://go.dev/dl/ (Debian bookworm's golang-go is 1.19, too old) and put its bin/ on PATH"
  command -v go >/dev/null 2>&1 || die "go not found, needed once to fetch stripe-mock ${STRIPE_MOCK_VERSION}: ${install}"
  local version minor
  version="$(go env GOVERSION)"
  minor="$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$version")"
  if ! [[ "$minor" =~ ^[0-9]+$ ]] || ((minor < GO_MINOR_MIN)); then
    die "${version} is too old to build stripe-mock ${STRIPE_MOCK_VERSION}: ${install}"
  fi
}

fetch() {
  require_go
  echo "stripe-mock: installing ${MODULE}@${STRIPE_MOCK_VERSION} into ${GO_BIN_DIR}" >&2
  mkdir -p "$GO_BIN_DIR"
  GOBIN="$GO_BIN_DIR" go install "${MODULE}@${STRIPE_MOCK_VERSION}" >&2 \
    || die "go install ${MODULE}@${STRIPE_MOCK_VERSION} failed (is the Go module proxy reachable?)"
  [[ -x "$BINARY" ]] || die "go install succeeded but ${BINARY} is missing"
}

up_to_date || fetch
echo "$BINARY"
