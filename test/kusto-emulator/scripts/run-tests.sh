#!/usr/bin/env bash
# run-tests.sh [node --test options]: the emulator's tests. Makes a throw-away
# CA for them and trusts it process-wide (NODE_EXTRA_CA_CERTS, read by node at
# start), so that the official SDKs' storage clients, which refuse plain HTTP
# for the status table, talk to an HTTPS emulator as they would to Azure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
"$here/scripts/make-certs.sh" "$certs"
export KUSTO_EMULATOR_CERTS=$certs NODE_EXTRA_CA_CERTS=$certs/ca.pem
cd "$here"
if [ $# -gt 0 ] && [ -e "${@: -1}" ]; then node --test --test-concurrency=1 "$@"; else node --test --test-concurrency=1 "$@" test/; fi
