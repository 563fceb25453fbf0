#!/usr/bin/env bash
# Installs PostgreSQL 18 on Debian 12 as Debian packages built here from
# Debian's own source package (suite sid), the way apt.postgresql.org builds
# it for Debian 12: the server in Debian's layout (/usr/lib/postgresql/18,
# pg_config in /usr/lib/postgresql/18/bin, see pg18_config in common.sh)
# next to the distribution's 15, with postgresql-server-dev-18 for PGXS and
# pg_buildext (make deb builds postgresql-18-kusto-sink with it). Called by
# deps.sh; idempotent: with the packages installed it only checks them and
# prints nothing (no network, no root needed).
#
#   KS_PG18_CACHE   cache directory (default /var/cache/kusto_sink): the
#                   source package is kept in src/, the packages built from it
#                   in debs/, so that a reinstall needs no build
#
# Debian 12 packages neither PostgreSQL 18 nor a postgresql-common that knows
# it; sid's postgresql-common (architecture "all": plain Perl and shell) is
# taken as it is. Its default version is 18 (supported-versions), so
# pg_buildext builds for 18 alone unless PG_SUPPORTED_VERSIONS says otherwise
# (deb.sh: installed), and it calls Debian 12's 15 obsolete. apt's own
# client downloads both with a private configuration (its own sources, lists
# and cache: the machine's apt sources are never changed) and checks every
# file against the archive's signed index. The build uses Debian's rules
# with the profiles nocheck (PostgreSQL's own test suite: make test runs
# ours), nodoc and pkg.postgresql.nollvm (no JIT package); everything else
# (TAP support, contrib, ICU, lz4, zstd, ...) is as Debian ships it. It
# installs libpq5 and libpq-dev of 18 in place of Debian 12's (libpq is
# compatible with every older server; Debian 12's libpq updates no longer
# apply over them), postgresql-18, postgresql-client-18 and
# postgresql-server-dev-18, and starts no server: no cluster is left behind.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cache=$KS_PG18_CACHE
debs=$cache/debs
profiles="nocheck nodoc pkg.postgresql.nollvm"
# what the stamp records: a change here rebuilds
recipe="dpkg-buildpackage -B; profiles $profiles"
# the sid packages installed as they are, and the ones built here
common_pkgs=(postgresql-common postgresql-client-common postgresql-common-dev postgresql-server-dev-all)
built_pkgs=(libpq5 libpq-dev postgresql-client-18 postgresql-18 postgresql-server-dev-18)

installed() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
	done
}
ready() {
	[ -f "$debs/.kusto_sink-build" ] && [ "$(sed -n 2p "$debs/.kusto_sink-build")" = "$recipe" ] &&
		installed "${built_pkgs[@]}" postgresql-common-dev &&
		[ "$(dpkg-query -W -f='${Version}' postgresql-18)" = "$(sed -n 3p "$debs/.kusto_sink-build")" ] &&
		[ -x "$(pg18_config)" ]
}

ready && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "pg18: PostgreSQL 18 is not installed; run 'make deps' as root" >&2
	exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/pg18.lock"
flock 9
# another run may have installed it while this one waited for the lock
ready && exit 0

# apt_private KIND ARGS...: apt-get on sid in a private configuration (KIND:
# deb or deb-src)
apt_private() {
	local kind=$1 dir=$cache/apt-$1
	shift
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	echo "$kind [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
		>"$dir/sources.list"
	apt-get -o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=- \
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o Dir::State::status=/dev/null \
		-o APT::Sandbox::User=root -qq "$@"
}

# apt_install DEB...: installs local packages (and what they need from the
# machine's own sources) without starting a service: postgresql-common's
# maintainer scripts would start every cluster of the machine. --reinstall:
# a package rebuilt at the same version replaces the installed one (apt
# would keep it as "already the newest version"). The policy-rc.d it writes
# is removed however the script ends (a leftover one of a killed run too).
policy=/usr/sbin/policy-rc.d
policy_mark='# pg18.sh: no service starts while it installs'
own_policy() {
	[ -f "$policy" ] && grep -qxF "$policy_mark" "$policy"
}
drop_policy() {
	own_policy && rm -f "$policy"
	return 0
}
trap drop_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
apt_install() {
	if [ ! -e "$policy" ] || own_policy; then
		printf '#!/bin/sh\n%s\nexit 101\n' "$policy_mark" >"$policy"
		chmod 755 "$policy"
	fi
	logged "$cache/install.log" "apt-get install" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends --reinstall \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
	drop_policy
}

# logged LOG WHAT CMD...: runs CMD with its output appended to LOG; on a
# failure prints WHAT and LOG's last lines, and stops
logged() {
	local log=$1 what=$2
	shift 2
	"$@" >>"$log" 2>&1 || {
		echo "pg18: $what failed; last lines of $log:" >&2
		tail -n 40 "$log" >&2
		exit 1
	}
}

# sid's postgresql-common and the source package, each downloaded once into
# a directory of its own that is moved into place only when the download is
# whole (apt checks every file against the archive's signed index), so that
# an interrupted download is started again, not taken for the cache
# download DIR KIND ARGS...: apt_private KIND ARGS... run in DIR
download() {
	local dir=$1 kind=$2
	shift 2
	rm -rf "$dir.part"
	mkdir -p "$dir.part"
	logged "$cache/download.log" "downloading into $dir" apt_private "$kind" update
	(cd "$dir.part" && logged "$cache/download.log" "downloading into $dir" apt_private "$kind" "$@")
	rm -rf "$dir"
	mv "$dir.part" "$dir"
}
: >"$cache/download.log"
common_whole() {
	local p
	for p in "${common_pkgs[@]}"; do
		ls "$cache/common/${p}"_*_all.deb >/dev/null 2>&1 || return 1
	done
}
if ! common_whole; then
	echo "pg18: downloading sid's postgresql-common"
	download "$cache/common" deb download "${common_pkgs[@]}"
fi
common_debs=()
for p in "${common_pkgs[@]}"; do
	common_debs+=("$(ls "$cache/common/${p}"_*_all.deb | tail -n 1)")
done

src=$cache/src
if ! ls "$src"/postgresql-18_*.dsc >/dev/null 2>&1; then
	echo "pg18: downloading Debian's source package postgresql-18"
	download "$src" deb-src source --download-only postgresql-18
fi
dsc=$(ls "$src"/postgresql-18_*.dsc | tail -n 1)
version=$(basename "$dsc" .dsc)
version=${version#postgresql-18_}

: >"$cache/install.log"
# postgresql-common first: the build needs its postgresql-common-dev
# (postgresql-server-dev-all waits for postgresql-server-dev-18)
apt_install "${common_debs[@]:0:3}"

if ! [ -f "$debs/.kusto_sink-build" ] || [ "$(sed -n 2p "$debs/.kusto_sink-build")" != "$recipe" ] ||
	[ "$(sed -n 3p "$debs/.kusto_sink-build")" != "$version" ]; then
	echo "pg18: building PostgreSQL 18 (Debian $version) as Debian packages"
	build=$cache/build
	log=$cache/build.log
	rm -rf "$build" "$debs" "$cache/pg18"
	mkdir -p "$build" "$debs"
	: >"$log"
	logged "$log" "unpacking $dsc" dpkg-source -x "$dsc" "$build/postgresql-18"
	cd "$build/postgresql-18"
	# its build dependencies from the machine's own sources (Debian 12)
	logged "$log" "apt-get update" apt-get update -qq
	logged "$log" "installing the build dependencies" env DEBIAN_FRONTEND=noninteractive \
		apt-get build-dep -y -qq --no-install-recommends -P "${profiles// /,}" ./
	# a build of its own, not a sub-make of `make test`: PostgreSQL's
	# makefiles generate their headers first only at MAKELEVEL 0
	unset MAKELEVEL MAKEFLAGS MFLAGS
	logged "$log" "the build" env DEB_BUILD_PROFILES="$profiles" \
		DEB_BUILD_OPTIONS="$profiles noautodbgsym parallel=$(nproc)" dpkg-buildpackage -us -uc -B
	cd /
	for p in "${built_pkgs[@]}"; do
		mv "$build/${p}_${version}_"*.deb "$debs/"
	done
	rm -rf "$build"
	printf '%s\n%s\n%s\n' "PostgreSQL 18 (Debian source package $version)" "$recipe" "$version" \
		>"$debs/.kusto_sink-build"
fi

# install them; postgresql-18's postinst creates a cluster 18/main when the
# machine has none: it is dropped again
had_main=$([ -e /etc/postgresql/18/main ] && echo 1 || true)
built_debs=()
for p in "${built_pkgs[@]}"; do
	built_debs+=("$(ls "$debs/${p}_${version}_"*.deb)")
done
apt_install "${built_debs[@]}" "${common_debs[3]}"
if [ -z "$had_main" ] && [ -e /etc/postgresql/18/main ]; then
	pg_dropcluster --stop 18 main
fi
ready || {
	echo "pg18: PostgreSQL 18 did not install as expected (see $cache/install.log)" >&2
	exit 1
}
echo "pg18: PostgreSQL $(dpkg-query -W -f='${Version}' postgresql-18) installed in $(pg18_prefix)"
