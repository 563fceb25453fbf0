#!/usr/bin/env bash
# Installs what kusto_sink's build, tests, benchmarks and demo need and this
# machine lacks: Debian packages through apt-get, and the Kusto emulator's npm
# packages (from test/kusto-emulator/package-lock.json), and PostgreSQL 18's
# Debian packages, built here from Debian's source package (see pg18.sh).
# Idempotent: prints one line and changes nothing when everything is there.
# Installing needs root.
#
#   deps.sh            everything (PostgreSQL 18 too, unless KS_PG18=0)
#   deps.sh --npm-only only the emulator's npm packages
set -euo pipefail
source "$(dirname "$0")/common.sh"

PG_MAJOR=${PG_MAJOR:-15}
APT_PACKAGES=(
	make gcc libc6-dev
	"postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-$PG_MAJOR-wal2json"
	postgresql-contrib
	libcurl4-openssl-dev libssl-dev zlib1g-dev libjansson-dev
	libipc-run-perl perl openssl valgrind python3 procps ca-certificates curl bc
	debhelper dpkg-dev fakeroot
)
if [ "${KS_PG18:-1}" != 0 ]; then
	# PostgreSQL 18's Debian packages (pg18.sh; it installs their build
	# dependencies, and sid's postgresql-common with its postgresql-server-dev-all)
	APT_PACKAGES+=(bzip2 xz-utils)
else
	# pg_buildext for make deb
	APT_PACKAGES+=(postgresql-server-dev-all)
fi

missing_apt() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing: $*" >&2
		echo "deps: run 'make deps' as root (or install them yourself)" >&2
		exit 1
	fi
}

install_apt() {
	local missing
	missing=$(missing_apt "${APT_PACKAGES[@]}")
	# Node.js 20+ may come from outside Debian; only install Debian's when none is there.
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		missing="$missing nodejs npm"
	fi
	missing=$(echo $missing)
	[ -z "$missing" ] && return 0
	need_root "$missing"
	echo "deps: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

install_npm() {
	local dir=$KS_ROOT/test/kusto-emulator stamp
	stamp=$dir/node_modules/.kusto-sink-lock
	[ -f "$dir/package-lock.json" ] || return 0
	if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
		return 0
	fi
	echo "deps: installing the Kusto emulator's npm packages"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	cp "$dir/package-lock.json" "$stamp"
}

if [ "${1:-}" != --npm-only ]; then
	install_apt
	if [ "${KS_PG18:-1}" != 0 ]; then
		bash "$KS_ROOT/test/scripts/pg18.sh"
	fi
fi
install_npm
echo "deps: all dependencies present"
