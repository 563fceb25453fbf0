#!/usr/bin/env bash
# The Debian package, as a DBA would use it: builds it (test/scripts/deb.sh),
# installs it with apt-get into the system's PostgreSQL 15, and tries it on a
# throw-away cluster of that server: CREATE EXTENSION (1.1, and 1.0 updated
# to 1.1), a connection and a sink into the local Kusto emulator, every row
# in Kusto. Then removes the package and installs the tree's build again, so
# the machine is left as it was. Needs root (dpkg). Ends with
# "N passed, N failed".
set -uo pipefail
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
source "$(dirname "$0")/common.sh"

passed=0
failed=0
check() {
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1)); echo "ok - $what"
	else
		failed=$((failed + 1)); echo "not ok - $what"
	fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

if [ "$(id -u)" != 0 ]; then
	echo "package-test: dpkg needs root: run it as root (make test does, in CI)"
	failed=1
	finish
fi

# one version everywhere: the control file, PGXN's META.json, debian/changelog
version=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$KS_ROOT/kusto_sink.control")
check "META.json and debian/changelog give the control file's version $version" python3 - "$KS_ROOT" "$version" <<'PY'
import json, re, sys
root, version = sys.argv[1], sys.argv[2]
meta = json.load(open(root + "/META.json"))
changelog = open(root + "/debian/changelog").readline()
ok = (meta["version"] == version + ".0" and meta["provides"]["kusto_sink"]["version"] == version + ".0"
      and re.match(r"kusto-sink \(" + re.escape(version) + r"-\d+\)", changelog) is not None)
sys.exit(0 if ok else 1)
PY

pkg=postgresql-15-kusto-sink
deb=$(bash "$KS_ROOT/test/scripts/deb.sh" | grep "/$pkg"'_.*\.deb$')
check "make deb builds $pkg" test -f "$deb"
[ -f "$deb" ] || finish

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null 2>&1
check "apt-get install ./$(basename "$deb")" \
	sh -c "dpkg-query -W -f='\${Status}' $pkg | grep -q 'install ok installed'"
check "the package owns the library and both SQL scripts" sh -c "dpkg -L $pkg |
	grep -c -e '/15/lib/kusto_sink.so$' -e '/kusto_sink--1.0.sql$' -e '/kusto_sink--1.0--1.1.sql$' -e '/kusto_sink.control$' |
	grep -qx 4"

dir=$(make_test_dir)
trap 'stop_cluster "$dir"; stop_emulator; wait 2>/dev/null; rm -rf "$dir"' EXIT
start_emulator "$dir"
start_cluster "$dir"
psql_q() { as_test_user env PGHOST="$PGHOST" psql -X -q -At -v ON_ERROR_STOP=1 "$@" 2>&1; }

check "CREATE EXTENSION kusto_sink installs version 1.1" \
	sh -c "[ \"\$(echo \"CREATE EXTENSION kusto_sink; SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'\" |
		env PGHOST=$PGHOST runuser -u $KS_TEST_USER -- psql -X -q -At -v ON_ERROR_STOP=1 2>&1)\" = 1.1 ]"
psql_q -c "CREATE DATABASE older" >/dev/null
check "version 1.0 is updated to 1.1 by ALTER EXTENSION kusto_sink UPDATE" \
	sh -c "[ \"\$(printf '%s\n' \"CREATE EXTENSION kusto_sink VERSION '1.0';\" 'ALTER EXTENSION kusto_sink UPDATE;' \
		\"SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'\" |
		env PGHOST=$PGHOST runuser -u $KS_TEST_USER -- psql -X -q -At -v ON_ERROR_STOP=1 -d older 2>&1)\" = 1.1 ]"

kusto_cmd Pkg mgmt '.create table Rows (id:long, note:string)' >/dev/null
kusto_cmd Pkg mgmt '.alter table Rows policy streamingingestion enable' >/dev/null
out=$(psql_q <<SQL
CREATE TABLE rows (id int PRIMARY KEY, note text);
SELECT kusto_sink.create_connection('emu', '$KS_EMU_URL', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('pkg', 'emu', 'rows', 'Pkg', 'Rows',
	'{"ingestion_method": "streaming", "batch_interval_ms": 100}');
INSERT INTO rows SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
SQL
)
check "a connection and a sink are created" test $? = 0 || echo "$out"
in_kusto=0
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
	in_kusto=$(kusto_cmd Pkg query 'Rows | summarize count(), dcount(id)' 2>/dev/null)
	[ "$in_kusto" = "1000 | 1000" ] && break
	sleep 0.2
done
check "every committed row is in Kusto once (got: $in_kusto)" test "$in_kusto" = "1000 | 1000"
check "the sink is running" test "$(psql_q -c "SELECT state FROM kusto_sink.status WHERE name = 'pkg'")" = running

stop_cluster "$dir"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$pkg" >/dev/null 2>&1
check "apt-get remove $pkg removes its files" test ! -e /usr/lib/postgresql/15/lib/kusto_sink.so
# the tree's own build back in place for whatever runs next
if [ -f "$KS_ROOT/kusto_sink.so" ]; then
	make -C "$KS_ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
fi
finish
