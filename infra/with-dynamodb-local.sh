#!/usr/bin/env bash
# Runs a command against a fresh in-memory DynamoDB Local only (see infra/with-services.sh,
# which starts it and the other local stand-ins):
#
#   infra/with-dynamodb-local.sh cargo run -p billing-ledger --example write_cost
set -euo pipefail
BILLING_SERVICES=dynamodb exec "$(dirname "${BASH_SOURCE[0]}")/with-services.sh" "$@"
