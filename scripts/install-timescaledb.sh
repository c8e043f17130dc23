#!/usr/bin/env bash
# Build and install the TimescaleDB extension (Apache-2 edition) for the local PostgreSQL.
#
# Debian bookworm ships no timescaledb package, trixie does (2.19.x). We take trixie's *source*
# package from the same mirror the machine already uses (no host name is written here), build it
# against the installed PostgreSQL server headers and `make install` it. Idempotent: it does
# nothing when the extension is already installed for this PostgreSQL.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1)}
[ -x "$PG_CONFIG" ] || { echo "install-timescaledb: no pg_config found" >&2; exit 1; }
SHAREDIR=$("$PG_CONFIG" --sharedir)
PGMAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
if [ -f "$SHAREDIR/extension/timescaledb.control" ]; then
  echo "install-timescaledb: already installed in $SHAREDIR"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# The mirror URI of the machine's existing Debian entry, whatever format the sources use.
mirror=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
fi
[ -n "$mirror" ] || { echo "install-timescaledb: cannot read the Debian mirror from apt sources" >&2; exit 1; }

cat > /etc/apt/sources.list.d/wqmon-trixie-src.sources <<SRC
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  "postgresql-server-dev-$PGMAJOR" cmake dpkg-dev build-essential libssl-dev libkrb5-dev >/dev/null

work=$(mktemp -d /tmp/timescaledb-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -qq --download-only timescaledb >/dev/null
dpkg-source -x --no-check ./timescaledb_*.dsc src >/dev/null
cd src
./bootstrap -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
  -DWARNINGS_AS_ERRORS=OFF -DUSE_TELEMETRY=OFF >/dev/null
make -C build -j"$(nproc)" install >/dev/null
echo "install-timescaledb: installed $(grep default_version "$SHAREDIR/extension/timescaledb.control")"
