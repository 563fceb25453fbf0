#!/usr/bin/env bash
# Initial snapshot benchmark (make bench-snapshot, and part of make bench): a
# throw-away cluster and the local Kusto emulator, measured in one run.
#   peer        COPY of the table to /dev/null: reading it in one transaction
#               (the ceiling: no rendering, no Kusto), and how long that
#               transaction stays open
#   snapshot    a sink created on the populated table (exactly once,
#               streaming): seconds until every row is in Kusto, the longest
#               chunk transaction and SHARE lock (kusto_sink.snapshots), and
#               the worker's memory: its peak private RSS (RssAnon, sampled),
#               and its peak RSS with the shared buffers it read (VmHWM)
#   writers     pgbench updating random rows of the table (4 clients) alone,
#               then while the snapshot runs: TPS and average latency
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/bench_lib.sh"

ROWS=${BENCH_SNAPSHOT_ROWS:-10000000}
WRITE_S=${BENCH_SNAPSHOT_WRITE_S:-20}

bench_start

kusto_cmd Bench mgmt '.alter database Bench policy streamingingestion enable' > /dev/null
psql_q <<SQL > /dev/null
CREATE EXTENSION kusto_sink;
CREATE TABLE snap (id int PRIMARY KEY, customer text, amount numeric(12,2), n int, created_at timestamptz);
INSERT INTO snap SELECT g, 'customer-' || (g % 5000), (g % 100000) / 100.0, 0,
	'2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE snap;
SELECT kusto_sink.create_connection('emu', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SQL
cat > "$dir/update.sql" <<SQL
\set id random(1, $ROWS)
UPDATE snap SET n = n + 1 WHERE id = :id;
SQL
chmod 644 "$dir/update.sql"
pgbench_run() {	# prints "tps latency_ms"
	as_test_user env PGHOST="$PGHOST" pgbench -n -c 4 -j 2 -T "$WRITE_S" -f "$dir/update.sql" postgres 2>/dev/null |
		awk '/^latency average/ {lat = $4} /^tps = / {tps = $3} END {print tps, lat}'
}

# peer: one transaction reads the table
t0=$(now)
psql_q -c "COPY snap TO '/dev/null'" > /dev/null
copy_secs=$(echo "$(now) - $t0" | bc)
echo "bench: COPY of $ROWS rows: $copy_secs s"

# writers alone
read -r tps_alone lat_alone < <(pgbench_run)

# the snapshot, with the writers going on for its first WRITE_S seconds
psql_q -c "SELECT kusto_sink.create_sink('snap', 'emu', 'snap', 'Bench', 'Snap',
	'{\"create_table\": true, \"delivery_guarantee\": \"exactly_once\", \"ingestion_method\": \"streaming\",
	  \"batch_interval_ms\": 200}')" > /dev/null
t0=$(now)
read -r tps_snap lat_snap < <(pgbench_run)
wpid=$(psql_q -c "SELECT worker_pid FROM kusto_sink.status WHERE name = 'snap'")
anon_kb=0
while [ "$(psql_q -c "SELECT coalesce(snapshot_state, '') FROM kusto_sink.status WHERE name = 'snap'")" != done ]; do
	a=$(proc_kb "$wpid" RssAnon)
	[ "${a:-0}" -gt "$anon_kb" ] && anon_kb=$a
	sleep 0.2
done
snap_secs=$(echo "$(now) - $t0" | bc)
rss_kb=$(proc_kb "$wpid" VmHWM)
read -r chunks chunk_ms lock_ms delivered < <(psql_q -F ' ' -c "SELECT chunks, round(longest_chunk_ms::numeric, 1),
	round(longest_lock_ms::numeric, 3), rows_delivered FROM kusto_sink.snapshots WHERE sink = 'snap'")
in_kusto=$(kusto_cmd Bench query "Snap | where _op == 'snapshot' | summarize dcount(id)")
echo "bench: snapshot of $ROWS rows: $snap_secs s, $chunks chunks, $delivered rows delivered, $in_kusto distinct ids in Kusto"

echo
echo "initial snapshot of a ${ROWS}-row table (id, customer, amount, n, created_at)"
printf '%-52s %14s %14s\n' "measure" "value" "ratio"
awk -v r="$ROWS" -v c="$copy_secs" -v s="$snap_secs" 'BEGIN {
	printf "%-52s %12.0f/s %13.2fx\n", "COPY snap TO /dev/null (one transaction)", r / c, 1
	printf "%-52s %12.0f/s %13.2fx\n", "snapshot into the emulator (exactly once, streaming)", r / s, (r / s) / (r / c)
	printf "%-52s %12.1f s %14s\n", "longest transaction: COPY", c, ""
}'
printf '%-52s %11s ms %14s\n' "longest transaction: a snapshot chunk" "$chunk_ms" ""
printf '%-52s %11s ms %14s\n' "longest SHARE lock of the table: a snapshot chunk" "$lock_ms" ""
printf '%-52s %11s MB %14s\n' "worker peak private memory (RssAnon)" "$((anon_kb / 1024))" ""
printf '%-52s %11s MB %14s\n' "worker peak RSS, with the shared buffers it read" "$((rss_kb / 1024))" ""
awk -v a="$tps_alone" -v b="$tps_snap" -v la="$lat_alone" -v lb="$lat_snap" 'BEGIN {
	printf "%-52s %14.0f %14s\n", "pgbench updates of the table, TPS alone", a, ""
	printf "%-52s %14.0f %13.2fx\n", "  while the snapshot runs", b, b / a
	printf "%-52s %11.2f ms %14s\n", "  average latency alone", la, ""
	printf "%-52s %11.2f ms %13.2fx\n", "  while the snapshot runs", lb, lb / la
}'
echo "(ratios: rows/s vs. COPY; pgbench while the snapshot runs vs. alone; $chunks chunks, $in_kusto distinct ids in Kusto)"
