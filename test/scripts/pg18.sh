#!/usr/bin/env bash
# Builds PostgreSQL 18 from Debian's source package (suite sid) into a cache
# directory that later runs reuse, for testing kusto_sink on 18 next to the
# distribution's 15. Called by deps.sh; idempotent: with the build in place it
# only checks its stamp and prints nothing (no network, no root needed).
#
#   KS_PG18_CACHE   cache directory (default /var/cache/kusto_sink); the server
#                   is installed in $KS_PG18_CACHE/pg18 (see pg18_config in
#                   common.sh), the downloaded source package is kept in
#                   $KS_PG18_CACHE/src
#
# apt's own client downloads the source package with a private configuration
# (a deb-src line for sid, its own lists and cache): the machine's apt sources
# are never changed. apt checks the files against the archive's signed index.
# The build (as root) configures TAP support and installs the server, the
# PGXS files, the TAP modules and the contrib modules the tests use.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cache=$KS_PG18_CACHE
prefix=$(pg18_prefix)
# what the stamp records: a change here rebuilds
configure_flags=(--enable-tap-tests --with-libxml --without-icu --without-zstd --without-lz4)
contrib_modules=(test_decoding hstore)
recipe="configure ${configure_flags[*]}; contrib ${contrib_modules[*]}"

if [ -f "$prefix/.kusto_sink-build" ] && [ "$(sed -n 2p "$prefix/.kusto_sink-build")" = "$recipe" ] &&
	[ -x "$prefix/bin/pg_config" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "pg18: PostgreSQL 18 is not built in $prefix; run 'make deps' as root" >&2
	exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/pg18.lock"
flock 9
# another run may have built it while this one waited for the lock
if [ -f "$prefix/.kusto_sink-build" ] && [ "$(sed -n 2p "$prefix/.kusto_sink-build")" = "$recipe" ]; then
	exit 0
fi

# the source package, downloaded once
src=$cache/src
mkdir -p "$src"
dsc=$(ls "$src"/postgresql-18_*.dsc 2>/dev/null | tail -n 1 || true)
if [ -z "$dsc" ]; then
	apt=$cache/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
		>"$apt/sources.list"
	apt_opts=(
		-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o APT::Sandbox::User=root -qq
	)
	echo "pg18: downloading Debian's source package postgresql-18"
	apt-get "${apt_opts[@]}" update
	(cd "$src" && apt-get "${apt_opts[@]}" source --download-only postgresql-18 >/dev/null)
	dsc=$(ls "$src"/postgresql-18_*.dsc | tail -n 1)
fi
version=$(basename "$dsc" .dsc)
version=${version#postgresql-18_}
upstream=${version%-*}
orig=$src/postgresql-18_$upstream.orig.tar.bz2

echo "pg18: building PostgreSQL $upstream (Debian $version) into $prefix"
build=$cache/build
rm -rf "$build" "$prefix"
mkdir -p "$build"
tar -xjf "$orig" -C "$build"
cd "$build/postgresql-$upstream"
log=$cache/build.log
# a build of its own, not a sub-make of `make test`: PostgreSQL's makefiles
# generate their headers first only at MAKELEVEL 0 (else a parallel build
# fails on utils/errcodes.h)
unset MAKELEVEL MAKEFLAGS MFLAGS
{
	./configure --prefix="$prefix" "${configure_flags[@]}" &&
		make -j"$(nproc)" &&
		make install &&
		for m in "${contrib_modules[@]}"; do
			make -C "contrib/$m" install || exit 1
		done
} >"$log" 2>&1 || {
	echo "pg18: the build failed; last lines of $log:" >&2
	tail -n 40 "$log" >&2
	exit 1
}
cd /
rm -rf "$build"
chmod -R a+rX "$prefix"
printf '%s\n%s\n' "PostgreSQL $upstream (Debian source package $version)" "$recipe" >"$prefix/.kusto_sink-build"
echo "pg18: PostgreSQL $upstream installed in $prefix"
