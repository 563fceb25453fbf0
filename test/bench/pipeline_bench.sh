#!/usr/bin/env bash
# Queued pipeline benchmark (make bench-pipeline, and the last part of make
# bench; issue 20): a throw-away cluster and the local Kusto emulator,
# measured in one run.  Queued ingestion with status polling, at least once
# (al) and exactly once (eo) side by side, against Kusto tables whose
# IngestionBatching policy holds every blob for the batching time
# (BENCH_PIPE_BATCHING_S, 30 s: the emulator's DM follows the policy).
#   (a) one transaction   BENCH_PIPE_ROWS (1M) rows committed at once: seconds
#                         until every row is confirmed (the status table says
#                         Succeeded), at the batching time and again at 1 s
#                         (the ratio); target: the 1 s time + the batching time
#                         + 2 s (a blob's batch seals at most the batching time
#                         after the blob, and a Succeeded status is read at most
#                         2 s late: KS_POLL_MAX_MS, src/worker/in_doubt.c)
#   (b) steady load       BENCH_PIPE_RATE (2,000) rows/s for BENCH_PIPE_STEADY_S
#                         (120 s), from pgbench -R (BENCH_PIPE_TX_ROWS, 10,
#                         rows per transaction): rows/s confirmed vs. the rate
#                         committed (target: equal), the highest lag_seconds
#                         sampled from kusto_sink.status every second (target:
#                         the batching time + 10 s), the worker's private
#                         memory (RssAnon: palloc'd and malloc'd, not the
#                         shared buffers and WAL buffers it touches, which
#                         VmRSS counts as they are first written) at the start,
#                         middle and end of the load (target: flat, the end
#                         within 10% of the middle, once caches are warm);
#                         VmRSS at the end for comparison
#   (c) snapshot          the initial snapshot of a BENCH_PIPE_SNAPSHOT_ROWS
#                         (2M) row table, queued at the batching time vs. the
#                         same streaming (target: within the batching time +
#                         2x the streaming snapshot)
# Targets are printed, never asserted.  A smoke run:
#   BENCH_PIPE_ROWS=20000 BENCH_PIPE_STEADY_S=15 BENCH_PIPE_SNAPSHOT_ROWS=20000 \
#   BENCH_PIPE_BATCHING_S=10 bash test/bench/pipeline_bench.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
source "$(dirname "$0")/bench_lib.sh"

ROWS=${BENCH_PIPE_ROWS:-1000000}
# the status-read backoff cap (KS_POLL_MAX_MS, src/worker/in_doubt.c): a status is seen at most this late
STATUS_READ_CAP_S=2
RATE=${BENCH_PIPE_RATE:-2000}
TX_ROWS=${BENCH_PIPE_TX_ROWS:-10}
STEADY_S=${BENCH_PIPE_STEADY_S:-120}
SNAP_ROWS=${BENCH_PIPE_SNAPSHOT_ROWS:-2000000}
BATCHING_S=${BENCH_PIPE_BATCHING_S:-30}
TIMEOUT_S=${BENCH_PIPE_TIMEOUT_S:-1800}	# give up waiting for a row after this

bench_start
hms() { printf '%02d:%02d:%02d' $(($1 / 3600)) $(($1 / 60 % 60)) $(($1 % 60)); }

# new_table NAME BATCHING_S: a Kusto table whose queued blobs complete after BATCHING_S
new_table() {
	kusto_mgmt ".create table $1 (id:long, customer:string, amount:decimal, created_at:datetime, note:string, $META)"
	kusto_mgmt ".alter table $1 policy ingestionbatching '{\"MaximumBatchingTimeSpan\": \"$(hms "$2")\"}'"
}
kusto_mgmt '.alter database Bench policy streamingingestion enable'

psql_q <<SQL > /dev/null
CREATE EXTENSION kusto_sink;
CREATE TABLE tx (id bigserial PRIMARY KEY, customer text, amount numeric(12,2), created_at timestamptz, note text);
CREATE TABLE steady (id bigserial PRIMARY KEY, customer text, amount numeric(12,2), created_at timestamptz, note text);
CREATE TABLE snap (id bigint PRIMARY KEY, customer text, amount numeric(12,2), created_at timestamptz, note text);
INSERT INTO snap SELECT g, 'customer-' || (g % 5000), (g % 100000) / 100.0,
	'2024-01-01'::timestamptz + g * interval '1 second', 'note ' || g FROM generate_series(1, $SNAP_ROWS) g;
VACUUM ANALYZE snap;
SELECT kusto_sink.create_connection('emu', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SQL

# sink NAME SOURCE KUSTO_TABLE GUARANTEE METHOD [SNAPSHOT]
sink() {
	psql_q -c "SELECT kusto_sink.create_sink('$1', 'emu', '$2', 'Bench', '$3',
		'{\"snapshot\": ${6:-false}, \"delivery_guarantee\": \"$4\", \"ingestion_method\": \"$5\"}')" > /dev/null
}
drop_sink() { psql_q -c "SELECT kusto_sink.drop_sink('$1')" > /dev/null; }
sent() { psql_q -c "SELECT coalesce(rows_sent, 0) FROM kusto_sink.status WHERE name = '$1'"; }
wait_running() {
	local i
	for i in $(seq 1 300); do
		[ "$(psql_q -c "SELECT state FROM kusto_sink.status WHERE name = '$1'")" = running ] && return 0
		sleep 0.1
	done
	echo "bench: sink $1 did not start" >&2
	return 1
}
# wait_sent T0 SINK=N...: seconds after T0 until each sink's rows_sent reaches
# its N, as "SINK=SECONDS ..."
wait_sent() {
	local t0=$1 s out='' left deadline
	shift
	left=("$@")
	deadline=$(( $(date +%s) + TIMEOUT_S ))
	while [ ${#left[@]} -gt 0 ]; do
		local still=()
		for s in "${left[@]}"; do
			if [ "$(sent "${s%=*}")" -ge "${s#*=}" ]; then
				out="$out ${s%=*}=$(echo "$(now) - $t0" | bc)"
			else
				still+=("$s")
			fi
		done
		left=("${still[@]+"${still[@]}"}")
		[ ${#left[@]} -eq 0 ] && break
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "bench: gave up waiting for ${left[*]}" >&2
			for s in "${left[@]}"; do out="$out ${s%=*}=nan"; done
			break
		fi
		sleep 0.1
	done
	echo "$out"
}
pick() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# the emulator's storage request counts: "table queue" (status-table requests: an
# entity written per batch and the status reads; queue messages: one per batch)
storage_counts() {
	curl -s "$KS_EMU_URL/admin/stats" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(r.get("table", 0), r.get("queue", 0))'
}
rss_kb() { proc_kb "$1" RssAnon; }
vmrss_kb() { proc_kb "$1" VmRSS; }

declare -A V	# measured values by key

# (a) one transaction of ROWS rows, at the batching time and at 1 s
for bt in "$BATCHING_S" 1; do
	new_table "TxAl$bt" "$bt"
	new_table "TxEo$bt" "$bt"
	sink "tx_al$bt" tx "TxAl$bt" at_least_once queued
	sink "tx_eo$bt" tx "TxEo$bt" exactly_once queued
	wait_running "tx_al$bt"
	wait_running "tx_eo$bt"
	psql_q -c "INSERT INTO tx (customer, amount, created_at, note)
		SELECT 'customer-' || (g % 5000), (g % 100000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second', 'note ' || g
		FROM generate_series(1, $ROWS) g" > /dev/null
	t0=$(now)
	r=$(wait_sent "$t0" "tx_al$bt=$ROWS" "tx_eo$bt=$ROWS")
	V[a_al$bt]=$(pick "$r" "tx_al$bt")
	V[a_eo$bt]=$(pick "$r" "tx_eo$bt")
	echo "bench: (a) $ROWS rows in one transaction, batching ${bt} s: confirmed after ${V[a_al$bt]} s (at least once), ${V[a_eo$bt]} s (exactly once)"
	# what could have cost a batching window more (a batch sent again, a worker restarted): said, to tell a slow run apart
	for s in "tx_al$bt" "tx_eo$bt"; do
		echo "bench: (a) $s: $(psql_q -c "SELECT 'retries ' || coalesce(retries, 0) || ', ingestion failures ' || coalesce(ingestion_failures, 0) || ', last error: ' || coalesce(last_error, 'none') FROM kusto_sink.status WHERE name = '$s'")"
	done
	drop_sink "tx_al$bt"
	drop_sink "tx_eo$bt"
	kusto_mgmt ".drop table TxAl$bt"		# the emulator holds rows in memory
	kusto_mgmt ".drop table TxEo$bt"
	psql_q -c "TRUNCATE tx" > /dev/null
done

# (b) steady load
new_table SteadyAl "$BATCHING_S"
new_table SteadyEo "$BATCHING_S"
sink st_al steady SteadyAl at_least_once queued
sink st_eo steady SteadyEo exactly_once queued
wait_running st_al
wait_running st_eo
cat > "$dir/steady.sql" <<SQL
INSERT INTO steady (customer, amount, created_at, note)
	SELECT 'customer-' || g, g / 100.0, now(), 'note ' || g FROM generate_series(1, $TX_ROWS) g;
SQL
chmod 644 "$dir/steady.sql"
tps=$(( (RATE + TX_ROWS - 1) / TX_ROWS ))
pid_al=$(psql_q -c "SELECT worker_pid FROM kusto_sink.status WHERE name = 'st_al'")
pid_eo=$(psql_q -c "SELECT worker_pid FROM kusto_sink.status WHERE name = 'st_eo'")
V[rss0_al]=$(rss_kb "$pid_al")
V[rss0_eo]=$(rss_kb "$pid_eo")
V[vmrss0_al]=$(vmrss_kb "$pid_al")
V[vmrss0_eo]=$(vmrss_kb "$pid_eo")
read -r table0 queue0 < <(storage_counts)
as_test_user env PGHOST="$PGHOST" pgbench -n -c 2 -j 2 -R "$tps" -T "$STEADY_S" -f "$dir/steady.sql" postgres \
	> "$dir/pgbench.out" 2>&1 &
pgbench_pid=$!
t0=$(now)
lag_al=0 lag_eo=0 wait_al=0 wait_eo=0
for i in $(seq 1 "$STEADY_S"); do
	read -r la le wa we < <(psql_q -F ' ' -c "SELECT max(coalesce(lag_seconds, 0)) FILTER (WHERE name = 'st_al'),
		max(coalesce(lag_seconds, 0)) FILTER (WHERE name = 'st_eo'),
		max(coalesce(batches_awaiting_status, 0)) FILTER (WHERE name = 'st_al'),
		max(coalesce(batches_awaiting_status, 0)) FILTER (WHERE name = 'st_eo') FROM kusto_sink.status")
	lag_al=$(echo "if ($la > $lag_al) $la else $lag_al" | bc)
	lag_eo=$(echo "if ($le > $lag_eo) $le else $lag_eo" | bc)
	[ "$wa" -gt "$wait_al" ] && wait_al=$wa
	[ "$we" -gt "$wait_eo" ] && wait_eo=$we
	if [ "$i" -eq $((STEADY_S / 2)) ]; then
		V[rss1_al]=$(rss_kb "$pid_al")
		V[rss1_eo]=$(rss_kb "$pid_eo")
	fi
	kill -0 "$pgbench_pid" 2>/dev/null || break
	sleep "$(echo "$t0 + $i - $(now)" | bc | awk '{print ($1 > 0 ? $1 : 0)}')"
done
wait "$pgbench_pid" || true
t_end=$(now)
V[rss2_al]=$(rss_kb "$pid_al")
V[rss2_eo]=$(rss_kb "$pid_eo")
V[vmrss2_al]=$(vmrss_kb "$pid_al")
V[vmrss2_eo]=$(vmrss_kb "$pid_eo")
load_secs=$(echo "$t_end - $t0" | bc)

committed=$(psql_q -c "SELECT count(*) FROM steady")
# confirmed over the load, and until the last committed row is confirmed
V[b_al_during]=$(sent st_al)
V[b_eo_during]=$(sent st_eo)
r=$(wait_sent "$t0" "st_al=$committed" "st_eo=$committed")
V[b_al_all]=$(pick "$r" st_al)
V[b_eo_all]=$(pick "$r" st_eo)
read -r table1 queue1 < <(storage_counts)
V[b_table_rps]=$(echo "scale=1; ($table1 - $table0) / ${V[b_al_all]}" | bc)
V[b_reads_per_batch]=$(echo "scale=2; ($table1 - $table0 - ($queue1 - $queue0)) / ($queue1 - $queue0)" | bc)
echo "bench: (b) $committed rows committed in $load_secs s; confirmed meanwhile ${V[b_al_during]} (at least once), ${V[b_eo_during]} (exactly once); all after ${V[b_al_all]} s, ${V[b_eo_all]} s; at most $wait_al, $wait_eo batches waiting for their status"
V[b_lag_al]=$lag_al
V[b_lag_eo]=$lag_eo
V[b_committed]=$committed
V[b_secs]=$load_secs
drop_sink st_al
drop_sink st_eo
kusto_mgmt ".drop table SteadyAl"
kusto_mgmt ".drop table SteadyEo"

# (c) the initial snapshot: streaming, then queued at the batching time
snapshot_run() {	# snapshot_run SINK TABLE GUARANTEE METHOD BATCHING_S: seconds until done
	local t0 state
	new_table "$2" "$5"
	sink "$1" snap "$2" "$3" "$4" true
	t0=$(now)
	while :; do
		state=$(psql_q -c "SELECT coalesce(snapshot_state, '') FROM kusto_sink.status WHERE name = '$1'")
		[ "$state" = done ] && break
		if [ "$(echo "$(now) - $t0 > $TIMEOUT_S" | bc)" = 1 ]; then
			echo nan
			return
		fi
		sleep 0.2
	done
	echo "$(now) - $t0" | bc
}
for run in "sn_str Snap exactly_once streaming 1" "sn_al SnapAl at_least_once queued $BATCHING_S" \
	"sn_eo SnapEo exactly_once queued $BATCHING_S"; do
	read -r name table guarantee method bt <<<"$run"
	V[c_$name]=$(snapshot_run "$name" "$table" "$guarantee" "$method" "$bt")
	in_kusto=$(kusto_cmd Bench query "$table | where _op == 'snapshot' | summarize dcount(id)")
	echo "bench: (c) snapshot of $SNAP_ROWS rows, $guarantee $method: ${V[c_$name]} s, $in_kusto distinct ids in Kusto"
	drop_sink "$name"
	kusto_mgmt ".drop table $table"
done

echo
echo "queued pipeline (issue 20): Kusto's batching time ${BATCHING_S} s (IngestionBatching policy), status polling on"
printf '%-52s %12s %14s %5s %8s\n' "measure" "value" "target" "met" "ratio"
row() {	# row LABEL VALUE UNIT TARGET CMP RATIO: CMP le|ge95|none
	local met=-
	if [ "$2" = nan ]; then
		met=no
	elif [ "$5" != none ]; then
		# le: at most the target; ge95: at least 95% of it (a rate measured over seconds)
		met=$(awk -v v="$2" -v t="$4" -v c="$5" 'BEGIN { print ((c == "le" ? v <= t : v >= 0.95 * t) ? "yes" : "no") }')
	fi
	if [ "$4" = - ]; then
		printf '%-52s %10.1f %-3s %10s %-3s %5s %8s\n' "$1" "$2" "$3" - "" "$met" "$6"
	else
		printf '%-52s %10.1f %-3s %10.1f %-3s %5s %8s\n' "$1" "$2" "$3" "$4" "$3" "$met" "$6"
	fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2fx", a / b; else print "-" }'; }
for g in al eo; do
	gname="at least once"
	[ $g = eo ] && gname="exactly once"
	row "(a) ${ROWS} rows, one tx, $gname: batching 1 s" "${V[a_${g}1]}" s "${V[a_${g}1]}" none "1.00x"
	row "    the same at batching ${BATCHING_S} s" "${V[a_${g}$BATCHING_S]}" s \
		"$(echo "${V[a_${g}1]} + $BATCHING_S + $STATUS_READ_CAP_S" | bc)" le "$(ratio "${V[a_${g}$BATCHING_S]}" "${V[a_${g}1]}")"
done
rate=$(echo "scale=1; ${V[b_committed]} / ${V[b_secs]}" | bc)
row "(b) steady load: rows/s committed" "$rate" /s "$RATE" none "1.00x"
for g in al eo; do
	gname="at least once"
	[ $g = eo ] && gname="exactly once"
	# Kusto confirms a batching time's blobs at once: the rows over the time
	# to confirm them all, less the batching time, is the rate kept up
	conf=$(echo "scale=1; ${V[b_committed]} / (${V[b_${g}_all]} - $BATCHING_S)" | bc)
	row "    $gname: rows/s confirmed" "$conf" /s "$rate" ge95 "$(ratio "$conf" "$rate")"
	row "    $gname: max lag_seconds" "${V[b_lag_$g]}" s "$((BATCHING_S + 10))" le \
		"$(ratio "${V[b_lag_$g]}" "$BATCHING_S")"
	row "    $gname: all confirmed (s from the start)" "${V[b_${g}_all]}" s \
		"$(echo "${V[b_secs]} + $BATCHING_S + 10" | bc)" le "$(ratio "${V[b_${g}_all]}" "${V[b_secs]}")"
	row "    $gname: worker private memory, start" "$(echo "scale=1; ${V[rss0_$g]} / 1024" | bc)" MB - none "-"
	row "    $gname: worker private memory, middle" "$(echo "scale=1; ${V[rss1_$g]} / 1024" | bc)" MB - none \
		"$(ratio "${V[rss1_$g]}" "${V[rss0_$g]}")"
	row "    $gname: worker private memory, end" "$(echo "scale=1; ${V[rss2_$g]} / 1024" | bc)" MB \
		"$(echo "scale=1; ${V[rss1_$g]} * 1.10 / 1024" | bc)" le "$(ratio "${V[rss2_$g]}" "${V[rss1_$g]}")"
	row "    $gname: worker VmRSS start / end (shared pages too)" "$(echo "scale=1; ${V[vmrss2_$g]} / 1024" | bc)" MB - none \
		"$(ratio "${V[vmrss2_$g]}" "${V[vmrss0_$g]}")"
done
row "(b) both sinks: status-table requests/s" "${V[b_table_rps]}" /s - none "-"
row "    status-table reads per batch sent" "${V[b_reads_per_batch]}" "" - none "-"
row "(c) snapshot of ${SNAP_ROWS} rows, streaming (exactly once)" "${V[c_sn_str]}" s "${V[c_sn_str]}" none "1.00x"
for g in al eo; do
	gname="at least once"
	[ $g = eo ] && gname="exactly once"
	row "    queued, batching ${BATCHING_S} s, $gname" "${V[c_sn_$g]}" s \
		"$(echo "$BATCHING_S + 2 * ${V[c_sn_str]}" | bc)" le "$(ratio "${V[c_sn_$g]}" "${V[c_sn_str]}")"
done
echo "(targets: (a) the 1 s time + the batching time + the status-read cap (${STATUS_READ_CAP_S} s); (b) the committed rate (met at 95%; confirmed: the rows over"
echo " the time until all are confirmed less the batching time), lag <= batching + 10 s,"
echo " every row confirmed by the load's end + batching + 10 s, private memory at the end within 10% of the middle; (c) batching + 2x"
echo " streaming; ratios against the row's peer: the 1 s run, the committed rate, the batching time, the load's"
echo " length, the middle's private memory (start: VmRSS's), the streaming snapshot)"
