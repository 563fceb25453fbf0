#!/usr/bin/env bash
# make demo: a throw-away PostgreSQL cluster streaming into the local Kusto
# emulator. Creates a table with 500 rows, a connection and a sink (whose
# initial snapshot sends those rows), runs a short mixed
# workload while a live line shows the rows arriving in Kusto, then prints a
# KQL query of the result and the sink's kusto_sink.status row. Leaves
# nothing running.
set -euo pipefail
source "$(dirname "$0")/common.sh"

ROUNDS=${DEMO_ROUNDS:-20}
dir=$(make_test_dir)
cleanup_on_exit "$dir"

echo "demo: starting the Kusto emulator and a throw-away PostgreSQL cluster"
start_emulator "$dir"
url=$KS_EMU_URL
start_cluster "$dir"
psql_q() { as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
kusto() { kusto_cmd Shop "$@"; }

echo "demo: creating the Kusto table Orders (streaming ingestion on)"
kusto mgmt ".create table Orders (id:long, customer:string, amount:decimal, status:string, created_at:datetime,
	_op:string, _lsn:long, _commit_lsn:long, _commit_time:datetime, _xid:long, _schema:string, _table:string,
	_unchanged_toast:dynamic)" > /dev/null
kusto mgmt '.alter table Orders policy streamingingestion enable' > /dev/null

echo "demo: a table with 500 orders, CREATE EXTENSION, a connection and a sink (its snapshot sends the 500)"
psql_q > /dev/null <<SQL
CREATE EXTENSION kusto_sink;
CREATE TABLE orders (id serial PRIMARY KEY, customer text, amount numeric(12,2),
	status text DEFAULT 'new', created_at timestamptz DEFAULT now());
INSERT INTO orders (customer, amount) SELECT 'early customer ' || g, g FROM generate_series(1, 500) g;
SELECT kusto_sink.create_connection('emulator', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('shop', 'emulator', 'orders', 'Shop', 'Orders',
	'{"ingestion_method": "streaming", "batch_interval_ms": 200}');
SQL

# the snapshot is the table at a point of the stream, so rows committed
# before that point arrive as their changes and as snapshot rows: the
# workload starts once the snapshot is done, so that each change is one row
for _ in $(seq 1 300); do
	[ "$(psql_q -c "SELECT snapshot_state FROM kusto_sink.status WHERE name = 'shop'")" = done ] && break
	sleep 0.1
done
echo "demo: $ROUNDS rounds of inserts, updates and deletes"
# the changes committed: the 500 rows of the snapshot, then the rows each
# statement's command tag counts (INSERT 0 200, UPDATE n, DELETE 5); the
# statistics views lag behind a session that has just ended
committed=500
for round in $(seq 1 "$ROUNDS"); do
	tags=$(as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -At -v ON_ERROR_STOP=1 \
		-c "INSERT INTO orders (customer, amount) SELECT 'customer ' || g, (random() * 1000)::numeric(12,2)
			FROM generate_series(1, 200) g" \
		-c "UPDATE orders SET status = 'paid' WHERE id % 7 = $((round % 7)) AND status = 'new'" \
		-c "DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY random() LIMIT 5)")
	committed=$((committed + $(awk '/^(INSERT|UPDATE|DELETE) / {n += $NF} END {print n + 0}' <<<"$tags")))
	in_kusto=$(kusto query 'Orders | count')
	printf '\rdemo: round %2d/%d  changes committed %6s  rows in Kusto %6s ' "$round" "$ROUNDS" "$committed" "$in_kusto"
	sleep 0.2
done
for _ in $(seq 1 100); do
	in_kusto=$(kusto query 'Orders | count')
	printf '\rdemo: waiting for the last batch  changes committed %6s  rows in Kusto %6s ' "$committed" "$in_kusto"
	[ "$in_kusto" -ge "$committed" ] && break
	sleep 0.1
done
echo

echo
echo "KQL> Orders | summarize rows = count() by _op | order by _op asc"
kusto query 'Orders | summarize rows = count() by _op | order by _op asc'
echo
echo "KQL> Orders | where _op == 'update' | project id, customer, amount, status, _commit_time | take 3"
kusto query "Orders | where _op == 'update' | project id, customer, amount, status, _commit_time | take 3"
echo
echo "SQL> SELECT * FROM kusto_sink.status"
as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -x -c "SELECT name, state, worker_pid, confirmed_lsn, lag_bytes, lag_seconds,
	rows_sent, batches_sent, raw_bytes, compressed_bytes, ingestion_failures, last_error,
	snapshot_state, snapshot_rows_delivered,
	round(latency_p50_ms) AS latency_p50_ms, round(latency_p99_ms) AS latency_p99_ms FROM kusto_sink.status"
if [ "$in_kusto" -ne "$committed" ]; then
	echo "demo: FAILED: $committed changes committed, $in_kusto rows in Kusto"
	exit 1
fi
echo "demo: all $committed committed changes are in Kusto; stopping everything"
