#!/usr/bin/env bash
# make soak: test/soak/soak.pl through the TAP runner (PostgreSQL::Test::Cluster,
# the unprivileged test user); SOAK_CHANGES and SOAK_SEED size and replay it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KS_TAP_ADD="$here/soak.pl" exec bash "$here/../scripts/tap.sh" soak.pl
