#!/usr/bin/env bash
# make tap: runs the TAP tests test/t/*.pl (PostgreSQL::Test::Cluster from
# PGXS) with prove, as the unprivileged test user when invoked as root. Each
# test creates its own clusters (with the configuration in common.sh's
# server_conf, passed as TEMP_CONFIG) and, where it needs one, its own Kusto
# emulator. Arguments select test files (default: all). Two test files run
# at once (KS_PROVE_OPTS, default -j2, replaces prove's options; empty: one
# at a time): they wait on their servers far more than they compute (about
# 0.4 CPU seconds per second of one file alone), every port is the kernel's
# choice and every directory the test's own, so they cannot meet.
set -uo pipefail
source "$(dirname "$0")/common.sh"

tmp=$(make_test_dir)
keep=${KS_KEEP_TMP:-}
trap '[ -n "$keep" ] || rm -rf "$tmp"' EXIT
cp -r "$KS_ROOT/test/t" "$tmp/t"
# extra test files (make soak)
[ -n "${KS_TAP_ADD:-}" ] && cp $KS_TAP_ADD "$tmp/t/"
server_conf > "$tmp/temp.conf"
[ "$(id -u)" = 0 ] && chown -R "$KS_TEST_USER" "$tmp"

tests=("$@")
if [ ${#tests[@]} = 0 ]; then
	tests=("$tmp"/t/*.pl)
else
	tests=("${tests[@]/#/$tmp/t/}")
fi

cd "$tmp"
as_test_user env \
	PATH="$PG_BINDIR:$PATH" \
	TESTDIR="$tmp" TESTDATADIR="$tmp/tmp_check" TESTLOGDIR="$tmp/tmp_check/log" \
	TEMP_CONFIG="$tmp/temp.conf" \
	PG_REGRESS="$PG_REGRESS" \
	KS_ROOT="$KS_ROOT" \
	SOAK_CHANGES="${SOAK_CHANGES:-}" SOAK_SEED="${SOAK_SEED:-}" SOAK_METHOD="${SOAK_METHOD:-}" SOAK_BIG_ROWS="${SOAK_BIG_ROWS:-}" \
	KS_TEST_LIVE="${KS_TEST_LIVE:-}" KS_KUSTO_CLI="${KS_KUSTO_CLI:-}" PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-180}" \
	KUSTO_LIVE_CLUSTER="${KUSTO_LIVE_CLUSTER:-}" KUSTO_LIVE_DATABASE="${KUSTO_LIVE_DATABASE:-}" \
	KUSTO_LIVE_TENANT="${KUSTO_LIVE_TENANT:-}" KUSTO_LIVE_APP_ID="${KUSTO_LIVE_APP_ID:-}" KUSTO_LIVE_APP_KEY="${KUSTO_LIVE_APP_KEY:-}" \
	prove ${KS_PROVE_OPTS--j2} -I "$PGXS_DIR/src/test/perl" -I "$tmp/t" "${tests[@]}"
rc=$?
if [ $rc != 0 ]; then
	echo "--- test logs are in $tmp/tmp_check/log (kept) ---"
	keep=1
fi
exit $rc
