#!/usr/bin/env bash
# make test-live: the end-to-end TAP test (test/t/025_end_to_end.pl:
# streaming, queued and managed sinks, exactly once across a restart,
# create_table, a schema change, the latest state) against a real Azure Data
# Explorer cluster, named by the environment:
#   KUSTO_LIVE_CLUSTER   https://<cluster>.<region>.kusto.windows.net
#   KUSTO_LIVE_DATABASE  a database the principal may create tables in
#   KUSTO_LIVE_TENANT, KUSTO_LIVE_APP_ID, KUSTO_LIVE_APP_KEY
#                        an Entra ID application (client credentials)
# Without them it prints "skipped" and succeeds: nothing contacts any address.
# The test makes its tables with a unique prefix (kssink<8 hex digits>_) and
# drops them at the end. Queued ingestion waits for the database's batching
# policy (5 min by default): the test timeout is 15 min unless
# PG_TEST_TIMEOUT_DEFAULT says otherwise.
set -uo pipefail
source "$(dirname "$0")/common.sh"

missing=
for v in KUSTO_LIVE_CLUSTER KUSTO_LIVE_DATABASE KUSTO_LIVE_TENANT KUSTO_LIVE_APP_ID KUSTO_LIVE_APP_KEY; do
	[ -n "${!v:-}" ] || missing="$missing $v"
done
if [ -n "$missing" ]; then
	echo "test-live: skipped (not set:$missing)"
	exit 0
fi
make -s -C "$KS_ROOT" kusto-cli || exit 1
export KS_TEST_LIVE=1 KS_KUSTO_CLI="$KS_ROOT/kusto-cli"
export PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-900}
exec bash "$KS_ROOT/test/scripts/tap.sh" 025_end_to_end.pl
