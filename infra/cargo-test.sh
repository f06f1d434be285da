#!/usr/bin/env bash
# Runs `cargo test` with the given arguments and ends with one line totalling every test
# binary's result ("tests: N passed, N failed"), so a reader — or CI — sees the whole count
# rather than the last binary's (often the doc-tests').
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
