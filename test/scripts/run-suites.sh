#!/usr/bin/env bash
# make test's driver: runs every suite (pg_regress, the core's C unit tests,
# the emulator's node tests, TAP), shows each one's output, and ends with one
# line "N passed, N failed" summing all of them. Exits non-zero when any test
# failed or any suite ended abnormally (a suite that exits non-zero without a
# failure it could count is counted as one failure). Arguments: the pg_regress
# test names.
set -uo pipefail
source "$(dirname "$0")/common.sh"

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

run_suite regress regress bash "$KS_ROOT/test/scripts/regress.sh" "$@"
if [ -f "$KS_ROOT/test/unit/run.sh" ]; then
	run_suite unit plain bash "$KS_ROOT/test/scripts/unit.sh"
	run_suite unit-valgrind plain env VALGRIND=1 bash "$KS_ROOT/test/scripts/unit.sh"
fi
if compgen -G "$KS_ROOT/test/kusto-emulator/test/*.test.js" >/dev/null; then
	run_suite emulator node bash "$KS_ROOT/test/scripts/emulator-test.sh"
fi
if compgen -G "$KS_ROOT/test/t/*.pl" >/dev/null; then
	run_suite tap prove bash "$KS_ROOT/test/scripts/tap.sh"
fi
# last: it installs the Debian package into the system's PostgreSQL 15 and
# puts the tree's build back afterwards
run_suite package plain bash "$KS_ROOT/test/scripts/package-test.sh"
rm -rf "$logdir"

echo
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
