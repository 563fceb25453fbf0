#!/usr/bin/env bash
# make deb: builds the Debian package postgresql-<major>-kusto-sink the way
# PostgreSQL extension packages are built (debian/, pg_buildext, dh with
# pgxs_loop), once for every PostgreSQL major of debian/pgversions whose
# postgresql-server-dev package is installed here. The build runs in a copy
# of the source tree (tracked and new files, no build products); the .deb
# files end up in build/deb/ (or DEB_OUT). Prints their paths.
set -euo pipefail
source "$(dirname "$0")/common.sh"

# one package per installed postgresql-server-dev-N (pg_buildext's default is
# the versions the distribution supports, which sid's postgresql-common, the
# one pg18.sh installs, takes to be 18 alone)
export PG_SUPPORTED_VERSIONS=installed

out=${DEB_OUT:-$KS_ROOT/build/deb}
work=$(mktemp -d "${TMPDIR:-/tmp}/kusto_sink-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/kusto-sink" "$out"
(cd "$KS_ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^build/' |
	tar --null -T - -cf -) | tar -C "$work/kusto-sink" -xf -
cd "$work/kusto-sink"
# debian/control for the server versions this machine can build for
pg_buildext updatecontrol >/dev/null
if ! dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log" >&2
	echo "deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
rm -f "$out"/postgresql-*-kusto-sink*.deb
for deb in "$work"/postgresql-*-kusto-sink_*.deb; do
	cp "$deb" "$out/"
	echo "$out/$(basename "$deb")"
done
