#!/usr/bin/env bash
# make installcheck: runs the pg_regress tests named on the command line
# (sql/<name>.sql against expected/<name>.out) on a throw-away instance that
# pg_regress creates, configured for kusto_sink (logical decoding, preload,
# output_plugin_libraries). Needs no running server; runs the server as an
# unprivileged user when invoked as root. Leaves results/ and, on failure,
# regression.diffs in the repository root.
set -uo pipefail
source "$(dirname "$0")/common.sh"

tmp=$(make_test_dir)
trap 'rm -rf "$tmp"' EXIT
cp -r "$KS_ROOT/sql" "$KS_ROOT/expected" "$tmp/"
{ server_conf; echo "kusto_sink.database = 'contrib_regression'"; } > "$tmp/regress.conf"
chmod -R a+rX "$tmp"
[ "$(id -u)" = 0 ] && chown -R "$KS_TEST_USER" "$tmp"

cd "$tmp"
as_test_user "$PG_REGRESS" \
	--temp-instance="$tmp/instance" \
	--temp-config="$tmp/regress.conf" \
	--port="$(free_port)" \
	--bindir="$PG_BINDIR" \
	--inputdir="$tmp" --outputdir="$tmp" \
	--dbname=contrib_regression \
	"$@"
rc=$?

rm -rf "$KS_ROOT/results" "$KS_ROOT/regression.diffs" "$KS_ROOT/regression.out"
cp -r "$tmp/results" "$KS_ROOT/" 2>/dev/null
for f in regression.diffs regression.out; do
	[ -f "$tmp/$f" ] && cp "$tmp/$f" "$KS_ROOT/"
done
if [ $rc != 0 ] && [ -f "$KS_ROOT/regression.diffs" ]; then
	echo "--- first lines of regression.diffs ---"
	head -n 60 "$KS_ROOT/regression.diffs"
	if [ -f "$tmp/instance/log/postmaster.log" ]; then
		echo "--- last lines of the server log ---"
		tail -n 30 "$tmp/instance/log/postmaster.log"
	fi
fi
exit $rc
