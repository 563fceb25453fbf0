#!/usr/bin/env bash
# Sink benchmark (make bench): a throw-away cluster and the local Kusto
# emulator, measured in one run.
#   throughput  1M committed orders rows (one transaction) until Kusto has
#               acknowledged all of them, json and csv, streaming and queued
#               ingestion (queued: acknowledged = the status table says
#               Succeeded, through Azurite and the emulator's DM);
#               the peer is decoding the same rows with kusto_sink through
#               pg_logical_slot_peek_changes (the ceiling: no network, no Kusto)
#   latency     ~1000 rows/s for BENCH_LATENCY_S seconds with batch_interval_ms
#               20: commit-to-acknowledged p50/p99 from kusto_sink.status
#               (a streaming 200 means queryable)
#   primary     pgbench TPS with a sink on the pgbench tables vs. without
#   memory      the worker's peak RSS while it streams one 5M-row transaction,
#               and again with exactly once (queued, batches spilled while waiting)
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/bench_lib.sh"

ROWS=${BENCH_ROWS:-1000000}
BIG_ROWS=${BENCH_BIG_ROWS:-5000000}
LATENCY_S=${BENCH_LATENCY_S:-20}
PGBENCH_S=${BENCH_PGBENCH_S:-20}

bench_start

for t in OrdersJson OrdersCsv OrdersJsonQ OrdersCsvQ Latency; do
	kusto_mgmt ".create table $t (id:long, customer:string, amount:decimal, created_at:datetime, payload:dynamic,
		flag:bool, ref:guid, qty:int, score:real, $META)"
done
kusto_mgmt ".create table Big (id:long, v:string, $META)"
kusto_mgmt ".create table BigEo (id:long, v:string, $META)"
for t in Accounts Tellers Branches History; do
	kusto_mgmt ".create table $t (aid:long, bid:long, tid:long, abalance:long, bbalance:long, tbalance:long,
		delta:long, mtime:datetime, filler:string, $META)"
done
kusto_mgmt '.alter database Bench policy streamingingestion enable'

psql_q <<SQL > /dev/null
CREATE EXTENSION kusto_sink;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, amount numeric(12,2), created_at timestamptz,
	payload jsonb, flag bool, ref uuid, qty int, score float8);
CREATE TABLE big (id int PRIMARY KEY, v text);
SELECT kusto_sink.create_connection('emu', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SQL

wait_rows() {	# wait_rows SINK N: seconds until the sink's rows_sent reaches N
	local sink=$1 n=$2 t0=$3 sent
	while :; do
		sent=$(psql_q -c "SELECT coalesce(rows_sent, 0) FROM kusto_sink.status WHERE name = '$sink'")
		[ "${sent:-0}" -ge "$n" ] && break
		sleep 0.05
	done
	echo "$(now) - $t0" | bc
}

declare -A secs
for run in json csv json_queued csv_queued; do
	format=${run%_queued}
	method=streaming
	table=OrdersJson
	[ $format = csv ] && table=OrdersCsv
	if [ "$run" != "$format" ]; then
		method=queued
		table=${table}Q
	fi
	psql_q -c "SELECT kusto_sink.create_sink('thr_$run', 'emu', 'orders', 'Bench', '$table',
		'{\"snapshot\": false, \"ingestion_method\": \"$method\", \"format\": \"$format\", \"batch_interval_ms\": 200,
		  \"flush_immediately\": true, \"client_batch_size_limit\": 16}')" > /dev/null
	psql_q -c "TRUNCATE orders" > /dev/null
	[ $run = json ] && psql_q -c "SELECT 'x' FROM pg_create_logical_replication_slot('bench_peek', 'kusto_sink')" > /dev/null
	sleep 1
	base=$(psql_q -c "SELECT rows_sent FROM kusto_sink.status WHERE name = 'thr_$run'")
	psql_q -c "INSERT INTO orders (customer, amount, created_at, payload, flag, ref, qty, score)
		SELECT 'customer-' || (g % 5000), (g % 100000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second',
			   jsonb_build_object('sku', 'SKU-' || (g % 977), 'n', g % 13), g % 2 = 0,
			   md5(g::text)::uuid, g % 50, g / 7.0
		FROM generate_series(1, $ROWS) g" > /dev/null
	t0=$(now)
	secs[$run]=$(wait_rows "thr_$run" $((base + ROWS)) "$t0")
	echo "bench: sink $format $method: $ROWS rows acknowledged ${secs[$run]} s after the commit"
	if [ $run = json ]; then
		t0=$(now)
		psql_q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('bench_peek', NULL, NULL)" > /dev/null
		secs[decode]=$(echo "$(now) - $t0" | bc)
		psql_q -c "SELECT pg_drop_replication_slot('bench_peek')" > /dev/null
	fi
	psql_q -c "SELECT kusto_sink.drop_sink('thr_$run')" > /dev/null
	kusto_mgmt ".drop table $table"		# the emulator holds rows in memory
done

# latency at ~1000 rows/s
psql_q -c "SELECT kusto_sink.create_sink('lat', 'emu', 'orders', 'Bench', 'Latency',
	'{\"snapshot\": false, \"ingestion_method\": \"streaming\", \"batch_interval_ms\": 20}')" > /dev/null
sleep 1
end=$(( $(date +%s) + LATENCY_S ))
while [ "$(date +%s)" -lt "$end" ]; do
	psql_q -c "INSERT INTO orders (customer, amount, created_at) SELECT 'c', 1, now() FROM generate_series(1, 100)" > /dev/null
	sleep 0.1
done
sleep 1
read -r p50 p99 latrows < <(psql_q -F ' ' -c "SELECT round(latency_p50_ms), round(latency_p99_ms), rows_sent FROM kusto_sink.status WHERE name = 'lat'")
psql_q -c "SELECT kusto_sink.drop_sink('lat')" > /dev/null

# pgbench with and without a sink
as_test_user env PGHOST="$PGHOST" pgbench -q -i -s 10 postgres > /dev/null 2>&1
tps() { as_test_user env PGHOST="$PGHOST" pgbench -n -c 4 -j 2 -T "$PGBENCH_S" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
tps_without=$(tps)
psql_q -c "SELECT kusto_sink.create_sink('pgb', 'emu', 'pgbench_accounts, pgbench_tellers, pgbench_branches, pgbench_history',
	'Bench', 'History', '{\"tables\": {\"public.pgbench_accounts\": \"Accounts\", \"public.pgbench_tellers\": \"Tellers\",
	\"public.pgbench_branches\": \"Branches\"}, \"ingestion_method\": \"streaming\", \"batch_interval_ms\": 200, \"snapshot\": false}')" > /dev/null
sleep 1
tps_with=$(tps)
pgb_lag=$(psql_q -c "SELECT lag_bytes FROM kusto_sink.status WHERE name = 'pgb'")
psql_q -c "SELECT kusto_sink.drop_sink('pgb')" > /dev/null

# memory while streaming one big transaction
psql_q -c "SELECT kusto_sink.create_sink('mem', 'emu', 'big', 'Bench', 'Big',
	'{\"snapshot\": false, \"ingestion_method\": \"streaming\", \"batch_interval_ms\": 200}')" > /dev/null
sleep 1
wpid=$(psql_q -c "SELECT worker_pid FROM kusto_sink.status WHERE name = 'mem'")
psql_q -c "INSERT INTO big SELECT g, 'value ' || g FROM generate_series(1, $BIG_ROWS) g" > /dev/null
t0=$(now)
big_secs=$(wait_rows mem "$BIG_ROWS" "$t0")
rss_kb=$(proc_kb "$wpid" VmHWM)
psql_q -c "SELECT kusto_sink.drop_sink('mem')" > /dev/null

# the same with exactly once (queued; batches wait for their progress row, on disk)
psql_q -c "SELECT kusto_sink.create_sink('mem_eo', 'emu', 'big', 'Bench', 'BigEo',
	'{\"snapshot\": false, \"delivery_guarantee\": \"exactly_once\", \"ingestion_method\": \"queued\", \"flush_immediately\": true,
	  \"batch_interval_ms\": 200, \"client_batch_size_limit\": 16}')" > /dev/null
sleep 1
wpid=$(psql_q -c "SELECT worker_pid FROM kusto_sink.status WHERE name = 'mem_eo'")
psql_q -c "INSERT INTO big SELECT g, 'value ' || g FROM generate_series($BIG_ROWS + 1, 2 * $BIG_ROWS) g" > /dev/null
t0=$(now)
big_eo_secs=$(wait_rows mem_eo "$BIG_ROWS" "$t0")
rss_eo_kb=$(proc_kb "$wpid" VmHWM)

echo
printf '%-44s %12s %14s\n' "measure" "value" "ratio"
awk -v r="$ROWS" -v j="${secs[json]}" -v c="${secs[csv]}" -v d="${secs[decode]}" \
	-v jq="${secs[json_queued]}" -v cq="${secs[csv_queued]}" 'BEGIN {
	printf "%-44s %10.0f/s %13.2fx\n", "decode only (peek_changes, kusto_sink json)", r / d, 1
	printf "%-44s %10.0f/s %13.2fx\n", "sink json -> emulator, streaming", r / j, (r / j) / (r / d)
	printf "%-44s %10.0f/s %13.2fx\n", "sink csv  -> emulator, streaming", r / c, (r / c) / (r / d)
	printf "%-44s %10.0f/s %13.2fx\n", "sink json -> emulator, queued (Succeeded)", r / jq, (r / jq) / (r / d)
	printf "%-44s %10.0f/s %13.2fx\n", "sink csv  -> emulator, queued (Succeeded)", r / cq, (r / cq) / (r / d)
}'
printf '%-44s %9s ms %14s\n' "latency p50 at ~1000 rows/s ($latrows rows)" "$p50" ""
printf '%-44s %9s ms %14s\n' "latency p99 at ~1000 rows/s" "$p99" ""
awk -v a="$tps_without" -v b="$tps_with" 'BEGIN {
	printf "%-44s %12.0f %14s\n", "pgbench TPS without a sink", a, ""
	printf "%-44s %12.0f %13.2fx\n", "pgbench TPS with a sink on its tables", b, b / a
}'
printf '%-44s %9s MB %14s\n' "worker peak RSS, one ${BIG_ROWS}-row transaction" "$((rss_kb / 1024))" ""
printf '%-44s %10s s %14s\n' "  (all its rows acknowledged after)" "$big_secs" ""
printf '%-44s %9s MB %14s\n' "  the same, exactly once (queued)" "$((rss_eo_kb / 1024))" ""
printf '%-44s %10s s %14s\n' "  (all its rows Succeeded after)" "$big_eo_secs" ""
echo "(ratios: throughput vs. decoding alone; TPS with vs. without; pgbench sink lag at the end: $pgb_lag bytes)"
