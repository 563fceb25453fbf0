#!/usr/bin/env bash
# The Debian packages, as a DBA would use them: builds them (test/scripts/deb.sh:
# postgresql-15-kusto-sink, and postgresql-18-kusto-sink where pg18.sh has
# installed PostgreSQL 18's Debian packages), and for each one installs it with
# apt-get into the system's PostgreSQL of that major and tries it on a
# throw-away cluster of that server: CREATE EXTENSION (1.1, and 1.0 updated
# to 1.1), a connection and a sink into the local Kusto emulator, every row
# in Kusto. Then removes the package and installs the tree's build again, so
# the machine is left as it was. Needs root (dpkg). Ends with
# "N passed, N failed".
set -uo pipefail
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

majors=(15)
if [ "${KS_PG18:-1}" != 0 ]; then
	majors+=(18)
fi
debs=$(bash "$KS_ROOT/test/scripts/deb.sh")

# try_package MAJOR: the package of that major, installed, used and removed
try_package() {
	local major=$1 pkg=postgresql-$1-kusto-sink deb dir in_kusto deadline out
	export PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config
	# PG_BINDIR and the cluster helpers for this server
	source "$KS_ROOT/test/scripts/common.sh"
	deb=$(grep "/$pkg"'_.*\.deb$' <<<"$debs")
	check "make deb builds $pkg" test -f "$deb"
	[ -f "$deb" ] || return

	# (set first: an install cut short is removed too)
	cur_pkg=$pkg
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null 2>&1
	check "apt-get install ./$(basename "$deb")" \
		sh -c "dpkg-query -W -f='\${Status}' $pkg | grep -q 'install ok installed'"
	check "$pkg owns the library and both SQL scripts" sh -c "dpkg -L $pkg |
		grep -c -e '/$major/lib/kusto_sink.so$' -e '/$major/extension/kusto_sink--1.0.sql$' \
			-e '/$major/extension/kusto_sink--1.0--1.1.sql$' -e '/$major/extension/kusto_sink.control$' |
		grep -qx 4"
	check "$pkg depends on postgresql-$major" sh -c "dpkg-query -W -f='\${Depends}' $pkg | grep -q 'postgresql-$major'"

	dir=$(make_test_dir)
	cur_dir=$dir
	start_emulator "$dir"
	start_cluster "$dir"
	psql_q() { as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@" 2>&1; }
	check "PostgreSQL $major: the server is the system's ($PG_BINDIR)" \
		test "$(psql_q -c 'SHOW server_version_num' | cut -c1-2)" = "$major"
	check "PostgreSQL $major: CREATE EXTENSION kusto_sink installs version 1.1" \
		test "$(psql_q -c "CREATE EXTENSION kusto_sink" -c "SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'")" = 1.1
	psql_q -c "CREATE DATABASE older" >/dev/null
	check "PostgreSQL $major: version 1.0 is updated to 1.1 by ALTER EXTENSION kusto_sink UPDATE" \
		test "$(psql_q -d older -c "CREATE EXTENSION kusto_sink VERSION '1.0'" -c 'ALTER EXTENSION kusto_sink UPDATE' \
			-c "SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'")" = 1.1

	kusto_cmd "Pkg$major" mgmt '.create table Rows (id:long, note:string)' >/dev/null
	kusto_cmd "Pkg$major" mgmt '.alter table Rows policy streamingingestion enable' >/dev/null
	out=$(psql_q <<SQL
CREATE TABLE rows (id int PRIMARY KEY, note text);
SELECT kusto_sink.create_connection('emu', '$KS_EMU_URL', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('pkg', 'emu', 'rows', 'Pkg$major', 'Rows',
	'{"ingestion_method": "streaming", "batch_interval_ms": 100}');
INSERT INTO rows SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
SQL
)
	check "PostgreSQL $major: a connection and a sink are created" test $? = 0 || echo "$out"
	in_kusto=0
	deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		in_kusto=$(kusto_cmd "Pkg$major" query 'Rows | summarize count(), dcount(id)' 2>/dev/null)
		[ "$in_kusto" = "1000 | 1000" ] && break
		sleep 0.2
	done
	check "PostgreSQL $major: every committed row is in Kusto once (got: $in_kusto)" test "$in_kusto" = "1000 | 1000"
	check "PostgreSQL $major: the sink is running" \
		test "$(psql_q -c "SELECT state FROM kusto_sink.status WHERE name = 'pkg'")" = running

	stop_cluster "$dir"
	stop_emulator
	rm -rf "$dir"
	cur_dir=
	remove_package
	check "apt-get remove $pkg removes its files" test ! -e "/usr/lib/postgresql/$major/lib/kusto_sink.so"
	if restore_tree_build; then
		check "PostgreSQL $major: the tree's build is installed again" test -f "/usr/lib/postgresql/$major/lib/kusto_sink.so"
	fi
}

# remove_package: removes the package being tried (cur_pkg), if any
remove_package() {
	[ -n "$cur_pkg" ] || return 0
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$cur_pkg" >/dev/null 2>&1
	cur_pkg=
}

# restore_tree_build: installs the tree's own build (when there is one) for
# PG_CONFIG's server in the package's place, for whatever runs next; fails
# when there is none
restore_tree_build() {
	[ -f "$KS_ROOT/kusto_sink.so" ] || return 1
	make -C "$KS_ROOT" -s -j"$(nproc)" install PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1
	return 0
}

cur_dir= cur_pkg=
trap '[ -n "$cur_dir" ] && { stop_cluster "$cur_dir"; rm -rf "$cur_dir"; }; stop_emulator; wait 2>/dev/null; [ -n "$cur_pkg" ] && { remove_package; restore_tree_build; }' EXIT
for major in "${majors[@]}"; do
	try_package "$major"
done
finish
