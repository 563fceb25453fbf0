#!/usr/bin/env bash
# make emulator-test: the Kusto emulator's own tests and the official SDKs'
# conformance tests, with node's built-in test runner.
set -uo pipefail
source "$(dirname "$0")/common.sh"
bash "$KS_ROOT/test/scripts/deps.sh" --npm-only >/dev/null
cd "$KS_ROOT"
exec test/kusto-emulator/scripts/run-tests.sh --test-reporter=tap
