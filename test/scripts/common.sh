# Shared helpers of kusto_sink's test, benchmark and demo scripts (sourced, not run).
#
# Contract: after sourcing, KS_ROOT is the repository root, PG_BINDIR/PGXS_DIR/PG_REGRESS
# point at the PostgreSQL selected by PG_CONFIG (empty when that pg_config is not
# installed yet: deps.sh installs it), and
#   as_test_user CMD...   runs CMD as the unprivileged test user when invoked as root
#                         (PostgreSQL refuses to run as root), else as the caller
#   make_test_dir         prints a fresh temporary directory that the test user owns
#   server_conf           prints the postgresql.conf lines every kusto_sink test cluster needs
#   free_port             prints a free TCP port on 127.0.0.1
#   pg18_prefix, pg18_config: where pg18.sh installs PostgreSQL 18 (Debian's
#                         layout, /usr/lib/postgresql/18), and its pg_config
#   start_cluster, stop_cluster, start_emulator, stop_emulator, kusto_cmd:
#                         see their comments below

KS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# the distribution's PostgreSQL (PG_MAJOR, 15, as deps.sh installs it) unless
# PG_CONFIG says otherwise: Debian's /usr/bin/pg_config is the newest
# postgresql-server-dev installed, which is 18 once pg18.sh has run (the
# Makefile's default is the same)
PG_CONFIG=${PG_CONFIG:-$(ls "/usr/lib/postgresql/${PG_MAJOR:-15}/bin/pg_config" 2>/dev/null || echo pg_config)}
PG_BINDIR= PGXS_DIR= PG_REGRESS=
if PG_BINDIR=$("$PG_CONFIG" --bindir 2>/dev/null); then
	PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
	PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
fi
KS_TEST_USER=${KS_TEST_USER:-kusto_sink_test}
KS_PG18_CACHE=${KS_PG18_CACHE:-/var/cache/kusto_sink}

pg18_prefix() {
	echo /usr/lib/postgresql/18
}

pg18_config() {
	echo "$(pg18_prefix)/bin/pg_config"
}

ensure_test_user() {
	if ! id -u "$KS_TEST_USER" >/dev/null 2>&1; then
		useradd --system --create-home --home-dir "/var/lib/$KS_TEST_USER" \
			--shell /bin/bash "$KS_TEST_USER"
	fi
}

as_test_user() {
	if [ "$(id -u)" = 0 ]; then
		ensure_test_user
		runuser -u "$KS_TEST_USER" -- "$@"
	else
		"$@"
	fi
}

make_test_dir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/kusto_sink.XXXXXX")
	chmod 755 "$d"
	if [ "$(id -u)" = 0 ]; then
		ensure_test_user
		chown "$KS_TEST_USER" "$d"
	fi
	echo "$d"
}

# PostgreSQL 15.19+ (and the other minor releases of that date) only accept
# output plugins named in output_plugin_libraries; older servers do not know
# the parameter and would refuse to start with it.
server_supports_output_plugin_libraries() {
	local described
	described=$("$PG_BINDIR/postgres" --describe-config 2>/dev/null)
	grep -q '^output_plugin_libraries' <<<"$described"
}

server_conf() {
	cat <<CONF
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
max_worker_processes = 16
shared_preload_libraries = 'kusto_sink'
CONF
	if server_supports_output_plugin_libraries; then
		echo "output_plugin_libraries = 'pgoutput, test_decoding, kusto_sink'"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_cluster DIR [CONF-LINE...]: initdb + start a throw-away cluster in DIR
# (owned by the test user), listening only on a Unix socket in DIR; prints
# nothing; sets PGHOST/PGPORT/PGUSER for the caller. stop_cluster DIR stops it.
start_cluster() {
	local dir=$1 line
	shift
	as_test_user "$PG_BINDIR/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
	{
		server_conf
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		for line in "$@"; do echo "$line"; done
	} | as_test_user tee -a "$dir/data/postgresql.conf" >/dev/null
	as_test_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	export PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
}

stop_cluster() {
	as_test_user "$PG_BINDIR/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_emulator DIR: starts the Kusto emulator on a free loopback port
# (log in DIR/emulator.log); sets KS_EMU_URL and KS_EMU_PID. stop_emulator
# stops it. kusto_cmd DB mgmt|query CSL prints the first result table's rows,
# one per line, fields separated by " | " (as the development principal).
start_emulator() {
	local log=$1/emulator.log
	# the emulator keeps every row in memory: benchmarks need more than node's default heap
	NODE_OPTIONS="--max-old-space-size=${KS_EMU_HEAP_MB:-8192}" \
		"$KS_ROOT/test/kusto-emulator/kusto-emulator" --port 0 > "$log" 2>&1 &
	KS_EMU_PID=$!
	for _ in $(seq 1 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
	KS_EMU_URL=$(sed -n 's/^kusto-emulator listening on //p' "$log")
	if [ -z "$KS_EMU_URL" ]; then
		echo "the Kusto emulator did not start:" >&2
		cat "$log" >&2
		return 1
	fi
	KS_EMU_TOKEN=$(curl -s -d 'grant_type=client_credentials&client_id=kusto-sink-dev&client_secret=dev-secret&scope=x' \
		"$KS_EMU_URL/emulator/oauth2/v2.0/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

stop_emulator() {
	[ -n "${KS_EMU_PID:-}" ] && kill "$KS_EMU_PID" 2>/dev/null
	KS_EMU_PID=
}

kusto_cmd() {
	curl -s -H "Authorization: Bearer $KS_EMU_TOKEN" -H 'Content-Type: application/json' \
		-d "$(python3 -c 'import json,sys; print(json.dumps({"db": sys.argv[1], "csl": sys.argv[2]}))' "$1" "$3")" \
		"$KS_EMU_URL/v1/rest/$2" |
		python3 -c 'import json,sys; t=json.load(sys.stdin)["Tables"][0]; print("\n".join(" | ".join(map(str, r)) for r in t["Rows"]))'
}

# cleanup_on_exit DIR: at exit, stop the cluster in DIR and the emulator, and
# remove DIR.
cleanup_on_exit() {
	KS_CLEANUP_DIR=$1
	trap 'stop_cluster "$KS_CLEANUP_DIR"; stop_emulator; wait 2>/dev/null || true; rm -rf "$KS_CLEANUP_DIR"' EXIT
}
