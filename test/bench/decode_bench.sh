#!/usr/bin/env bash
# Decoder benchmark (make bench): one million rows of an orders table written
# in one transaction, then the same WAL decoded by kusto_sink (json and csv),
# wal2json (format-version 2), pgoutput (binary protocol 1) and
# test_decoding, each through pg_logical_slot_peek_*changes in the same run
# on the same throw-away cluster. Prints rows/s per plugin and ratios; the
# best of BENCH_RUNS (default 3) runs counts. Where the server has no
# wal2json (the PostgreSQL 18 that pg18.sh builds), it is left out and its
# ratio column shows "-".
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}

dir=$(make_test_dir)
cleanup_on_exit "$dir"
wal2json_conf=""
if server_supports_output_plugin_libraries; then
	wal2json_conf="output_plugin_libraries = 'pgoutput, test_decoding, kusto_sink, wal2json'"
fi
start_cluster "$dir" "max_wal_size = '4GB'" "shared_buffers = '256MB'" "$wal2json_conf"
psql_q() { as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

psql_q "CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, amount numeric(12,2),
	created_at timestamptz, payload jsonb, flag bool, ref uuid, qty int, score float8)"
psql_q "CREATE PUBLICATION bench_pub FOR TABLE orders"
plugins=("ks kusto_sink" "pgo pgoutput" "td test_decoding")
names=("kusto_sink json" "kusto_sink csv" "pgoutput" "test_decoding")
have_wal2json=
if [ -f "$("$PG_CONFIG" --pkglibdir)/wal2json.so" ]; then
	have_wal2json=1
	plugins+=("w2j wal2json")
	names=("kusto_sink json" "kusto_sink csv" "wal2json v2" "pgoutput" "test_decoding")
fi
echo "bench: $("$PG_BINDIR/postgres" --version)"
for s in "${plugins[@]}"; do
	set -- $s
	psql_q "SELECT pg_create_logical_replication_slot('$1', '$2')" >/dev/null
done
echo "bench: writing $ROWS rows in one transaction"
psql_q "INSERT INTO orders (customer, amount, created_at, payload, flag, ref, qty, score)
	SELECT 'customer-' || (g % 5000), (g % 100000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second',
		   jsonb_build_object('sku', 'SKU-' || (g % 977), 'n', g % 13), g % 2 = 0,
		   md5(g::text)::uuid, g % 50, g / 7.0
	FROM generate_series(1, $ROWS) g"

# time_peek NAME SQL -> best seconds over RUNS, checking the row count
declare -A best
time_peek() {
	local name=$1 sql=$2 run out secs count
	for run in $(seq "$RUNS"); do
		out=$(as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 <<SQL
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS n FROM ($sql) s \gset
SELECT :n, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
SQL
)
		count=${out%%|*}
		secs=${out##*|}
		if [ -z "${best[$name]:-}" ] || awk "BEGIN{exit !($secs < ${best[$name]})}"; then
			best[$name]=$secs
		fi
	done
	echo "bench: $name: $count output rows, best ${best[$name]} s of $RUNS"
}

time_peek "kusto_sink json" "SELECT data FROM pg_logical_slot_peek_changes('ks', NULL, NULL, 'format', 'json')"
time_peek "kusto_sink csv" "SELECT data FROM pg_logical_slot_peek_changes('ks', NULL, NULL, 'format', 'csv')"
[ -n "$have_wal2json" ] && time_peek "wal2json v2" "SELECT data FROM pg_logical_slot_peek_changes('w2j', NULL, NULL, 'format-version', '2')"
time_peek "pgoutput" "SELECT data FROM pg_logical_slot_peek_binary_changes('pgo', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_pub')"
time_peek "test_decoding" "SELECT data FROM pg_logical_slot_peek_changes('td', NULL, NULL)"

echo
printf '%-18s %10s %12s %14s %16s\n' plugin seconds rows/s "vs wal2json" "time/pgoutput"
for name in "${names[@]}"; do
	awk -v n="$name" -v s="${best[$name]}" -v rows="$ROWS" -v w="${best[wal2json v2]:-}" -v p="${best[pgoutput]}" \
		'BEGIN { printf "%-18s %10.2f %12.0f %13s %15.2fx\n", n, s, rows / s, w == "" ? "-" : sprintf("%.2fx", w / s), s / p }'
done
echo
echo "(vs wal2json: rows/s ratio, higher is better; time/pgoutput: lower is better; $ROWS rows, $(nproc) cores)"
