#!/usr/bin/env bash
# make unit: the ingest core's C tests (test/unit/run.sh builds and runs
# them and prints "N passed, N failed").
set -uo pipefail
source "$(dirname "$0")/common.sh"
exec bash "$KS_ROOT/test/unit/run.sh" "$@"
