#!/usr/bin/env bash
# The ingest core's C tests: builds every test_*.c against src/kusto/*.c,
# starts the Kusto emulator for them (KUSTO_EMULATOR_URL), runs them (under
# valgrind with VALGRIND=1) and ends with one "N passed, N failed" line.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$here/build
mkdir -p "$build"
CFLAGS="-std=gnu99 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wpointer-arith
 -Wdeclaration-after-statement -Werror=vla -Wendif-labels -Wimplicit-fallthrough=3 -Wformat-security
 -fno-strict-aliasing -fwrapv"
LIBS="-lcurl -ljansson -lssl -lcrypto -lz"

passed=0
failed=0
emu_pid=
tls_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
	[ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

out=$(mktemp)
certs=$build/certs
bash "$root/test/kusto-emulator/scripts/make-certs.sh" "$certs"
bash "$root/test/kusto-emulator/scripts/make-certs.sh" "$certs/other"
export KUSTO_CERT_DIR=$certs
"$root/test/kusto-emulator/kusto-emulator" --port 0 --client-certificate "$certs/client.pem" \
	--ingestion-delay-ms 100 > "$out" 2>/dev/null &
emu_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$out" && break; sleep 0.1; done
export KUSTO_EMULATOR_URL=$(sed -n 's/^kusto-emulator listening on //p' "$out")
"$root/test/kusto-emulator/kusto-emulator" --port 0 --tls-cert "$certs/server.pem" \
	--tls-key "$certs/server-key.pem" > "$out.tls" 2>/dev/null &
tls_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$out.tls" && break; sleep 0.1; done
export KUSTO_EMULATOR_TLS_URL=$(sed -n 's/^kusto-emulator listening on //p' "$out.tls")
rm -f "$out" "$out.tls"

for src in "$here"/test_*.c; do
	name=$(basename "$src" .c)
	if ! gcc $CFLAGS -o "$build/$name" "$src" "$root"/src/kusto/*.c $LIBS; then
		echo "not ok - $name does not build"
		failed=$((failed + 1))
		continue
	fi
	echo "# $name"
	if [ "${VALGRIND:-}" = 1 ]; then
		log=$(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=99 --quiet "$build/$name" 2>&1)
	else
		log=$("$build/$name" 2>&1)
	fi
	rc=$?
	echo "$log" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
	line=$(echo "$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	p=$(echo "$line" | awk '{print $1}')
	f=$(echo "$line" | awk '{print $3}')
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "not ok - $name exited with $rc (valgrind errors or a crash)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

# kusto-cli: a file ingested through the core alone, then counted
check() {
	if [ "$1" = "$2" ]; then
		passed=$((passed + 1)); echo "ok - $3"
	else
		failed=$((failed + 1)); echo "not ok - $3 # got '$1', expected '$2'"
	fi
}
echo "# kusto-cli"
if gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -o "$build/kusto-cli" \
	"$root/src/kusto/cli/kusto_cli.c" "$root"/src/kusto/*.c $LIBS; then
	cli() { KUSTO_APP_KEY=dev-secret "$build/kusto-cli" --cluster "$KUSTO_EMULATOR_URL" \
		--tenant emulator --app-id kusto-sink-dev "$@"; }
	seq 1 500 | sed 's/$/,cli/' > "$build/cli.csv"
	cli query clidb '.create table C (id:long, src:string)' >/dev/null
	st=$(cli ingest clidb C "$build/cli.csv" --method queued --tag ingest-by:f1 --ingest-if-not-exists f1 --wait | cut -f2)
	check "$st" Succeeded "kusto-cli ingest --method queued --wait: Succeeded"
	st=$(cli ingest clidb C "$build/cli.csv" --method queued --tag ingest-by:f1 --ingest-if-not-exists f1 --wait | cut -f2)
	check "$st" AlreadyIngested "kusto-cli: the same file again under its ingest-by tag is not ingested twice"
	n=$(cli query clidb 'C | count' | sed -n 's/.*"Rows":\[\[\([0-9]*\)\].*/\1/p')
	check "$n" 500 "kusto-cli query: the 500 rows of the file, once"
	err=$(KUSTO_APP_KEY=wrong "$build/kusto-cli" --cluster "$KUSTO_EMULATOR_URL" --tenant emulator \
		--app-id kusto-sink-dev query clidb 'C | count' 2>&1 >/dev/null)
	check "$(echo "$err" | grep -c 'AADSTS7000215')" 1 "kusto-cli: a wrong secret is reported with Entra ID's error"
else
	failed=$((failed + 1)); echo "not ok - kusto-cli does not build"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
