# What the benchmarks share (sourced by test/bench/*_bench.sh after
# test/scripts/common.sh): one throw-away cluster and emulator per run, and
# the small helpers every benchmark uses.

# bench_start: the run's directory ($dir, removed on exit), the emulator
# ($url) and a cluster sized for bulk loads ($PGHOST)
bench_start() {
	dir=$(make_test_dir)
	cleanup_on_exit "$dir"
	start_emulator "$dir"
	url=$KS_EMU_URL
	start_cluster "$dir" "max_wal_size = '4GB'" "shared_buffers = '256MB'"
}

psql_q() { as_test_user env PGHOST="$PGHOST" "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
kusto_mgmt() { kusto_cmd Bench mgmt "$1" > /dev/null; }

# proc_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM, RssAnon), 0 when gone
proc_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# the Kusto columns of the default metadata (the decoder's option "metadata")
META='_op:string, _lsn:long, _commit_lsn:long, _commit_time:datetime, _xid:long, _schema:string, _table:string, _unchanged_toast:dynamic'
