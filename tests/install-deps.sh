#!/usr/bin/env bash
# Installs the Debian packages that building and testing urbis need, if any is missing:
# one shared SQLite (libsqlite3-dev), GDAL (libgdal-dev for the `gdal` feature, gdal-bin for the
# tests that read our files with GDAL), QGIS (python3-qgis: a test opens the demo city in it
# headless), and PostgreSQL 15 with PostGIS for the PostGIS store.
set -euo pipefail
packages=(pkg-config libsqlite3-dev libgdal-dev gdal-bin python3-gdal python3-qgis postgresql-15 postgresql-15-postgis-3)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "tests/install-deps.sh: missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "tests/install-deps.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
