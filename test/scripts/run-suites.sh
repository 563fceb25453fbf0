#!/usr/bin/env bash
# make test's driver: runs every suite (pg_regress, the core's C unit tests,
# the emulator's node tests, TAP), shows each one's output, and ends with one
# line "N passed, N failed" summing all of them. Exits non-zero when any test
# failed or any suite ended abnormally (a suite that exits non-zero without a
# failure it could count is counted as one failure). Arguments: the pg_regress
# test names.
#
# With --all-versions (make test) the suites that run a server (pg_regress,
# TAP) run on each PostgreSQL: the one PG_CONFIG selects (the distribution's
# 15 by default) and 18 (test/scripts/pg18.sh; not with KS_PG18=0), each
# after building and installing the extension for it (a failed build counts
# as one failure); the others (the core's unit tests, the emulator's) run
# once, as they use no server. Without it: every suite once, on the
# PostgreSQL of PG_CONFIG, with the extension already installed.
set -uo pipefail
source "$(dirname "$0")/common.sh"

all_versions=
if [ "${1:-}" = --all-versions ]; then
	all_versions=1
	shift
fi

total_pass=0
total_fail=0
summary=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/kusto_sink-suites.XXXXXX")

# count_<parser> LOG -> prints "PASSED FAILED"
count_regress() {
	local log=$1 n f
	if n=$(grep -oE 'All [0-9]+ tests passed' "$log" | grep -oE '[0-9]+'); then
		echo "$n 0"
	elif grep -qE '[0-9]+ of [0-9]+ tests failed' "$log"; then
		f=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$log" | awk '{print $1}')
		n=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$log" | awk '{print $3}')
		echo "$((n - f)) $f"
	else
		echo "0 0"
	fi
}

count_plain() {
	local line
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -n "$line" ]; then
		echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/'
	else
		echo "0 0"
	fi
}

count_node() {
	local p f
	p=$(grep -E '^# pass [0-9]+' "$1" | tail -n 1 | awk '{print $3}')
	f=$(grep -E '^# fail [0-9]+' "$1" | tail -n 1 | awk '{print $3}')
	echo "${p:-0} ${f:-0}"
}

count_prove() {
	local log=$1 tests failed
	tests=$(grep -oE 'Files=[0-9]+, Tests=[0-9]+' "$log" | tail -n 1 | sed -E 's/.*Tests=//')
	failed=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$log" | awk -F'[ /]' '{s += $2} END {print s + 0}')
	# a script that died before finishing its plan counts once
	failed=$((failed + $(grep -cE 'Bad plan|No plan found|Non-zero exit status' "$log")))
	tests=${tests:-0}
	if [ "$failed" -gt "$tests" ]; then tests=$failed; fi
	echo "$((tests - failed > 0 ? tests - failed : 0)) $failed"
}

run_suite() {
	local name=$1 parser=$2 log rc p f
	shift 2
	log=$logdir/$name.log
	echo
	echo "=== suite: $name ==="
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r p f < <("count_$parser" "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "suite $name exited with status $rc without a countable failure: counted as one failure"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary+=("$(printf '%-14s %6d passed %4d failed' "$name" "$p" "$f")")
}

count_build() {
	if grep -q '^build ok$' "$1"; then echo "0 0"; else echo "0 1"; fi
}

# build_for PG_CONFIG: builds and installs the extension for that server
build_for() {
	local log
	log=$(mktemp)
	if make -C "$KS_ROOT" -j"$(nproc)" PG_CONFIG="$1" all >"$log" 2>&1 &&
		make -C "$KS_ROOT" PG_CONFIG="$1" install >>"$log" 2>&1; then
		echo "build ok"
	else
		tail -n 40 "$log"
		echo "build failed"
	fi
	rm -f "$log"
}

# server_suites LABEL: the suites that run a server, on the PostgreSQL of PG_CONFIG
server_suites() {
	local label=$1
	shift
	run_suite "regress$label" regress bash "$KS_ROOT/test/scripts/regress.sh" "$@"
	if compgen -G "$KS_ROOT/test/t/*.pl" >/dev/null; then
		run_suite "tap$label" prove bash "$KS_ROOT/test/scripts/tap.sh"
	fi
}

if [ -n "$all_versions" ]; then
	versions=("$PG_CONFIG")
	[ "${KS_PG18:-1}" != 0 ] && versions+=("$(pg18_config)")
	# (the scripts of the suites select their server by PG_CONFIG)
	default_pg_config=$PG_CONFIG
	for pgc in "${versions[@]}"; do
		major=$("$pgc" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
		export PG_CONFIG=$pgc
		run_suite "build-$major" build build_for "$pgc"
		server_suites "-$major" "$@"
	done
	export PG_CONFIG=$default_pg_config
else
	server_suites "" "$@"
fi
if [ -f "$KS_ROOT/test/unit/run.sh" ]; then
	run_suite unit plain bash "$KS_ROOT/test/scripts/unit.sh"
	run_suite unit-valgrind plain env VALGRIND=1 bash "$KS_ROOT/test/scripts/unit.sh"
fi
if compgen -G "$KS_ROOT/test/kusto-emulator/test/*.test.js" >/dev/null; then
	run_suite emulator node bash "$KS_ROOT/test/scripts/emulator-test.sh"
fi
# last: it installs the Debian packages into the system's PostgreSQL 15 and
# 18 and puts the tree's build back afterwards
run_suite package plain bash "$KS_ROOT/test/scripts/package-test.sh"
rm -rf "$logdir"

echo
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
