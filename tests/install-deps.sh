#!/usr/bin/env bash
# Installs the Debian packages that building and testing urbis need, if any is missing:
# one shared SQLite (libsqlite3-dev), GDAL (libgdal-dev for the `gdal` feature, gdal-bin for the
# tests that read our files with GDAL), QGIS (python3-qgis: a test opens the demo city in it
# headless), PostgreSQL 15 with PostGIS for the PostGIS store, and pgRouting (the coverage tests' oracle);
# for the map: the DejaVu fonts its labels' glyphs are rendered from, Chromium (the map's end-to-end
# test), Node.js and npm when missing, and web/'s pinned npm packages (MapLibre GL JS, the style
# validator, playwright-core) with `npm ci`.
set -euo pipefail
packages=(pkg-config libsqlite3-dev libgdal-dev gdal-bin python3-gdal python3-qgis postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting fonts-dejavu-core chromium)
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# Python clients the tests run against urbis, pinned, installed quietly when missing:
# mapbox-vector-tile (the independent MVT decoder of tests/decode_mvt.py), OWSLib with shapely
# (tests/owslib_client.py), schemathesis (fuzzes the API from /api).
python_packages=(mapbox-vector-tile==2.1.0 OWSLib==0.32.1 shapely==2.0.6 schemathesis==4.32.5)
python_missing=()
for spec in "${python_packages[@]}"; do
    if ! python3 -c 'import importlib.metadata as m, sys; n, v = sys.argv[1].split("=="); sys.exit(m.version(n) != v)' \
        "$spec" 2>/dev/null; then
        python_missing+=("$spec")
    fi
done
if ((${#python_missing[@]})); then
    python3 -m pip install --quiet --disable-pip-version-check "${python_missing[@]}" >&2 || {
        echo "tests/install-deps.sh: cannot install ${python_missing[*]} with pip; the client tests need them" >&2
        exit 1
    }
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "tests/install-deps.sh: missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "tests/install-deps.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# web/'s npm packages, exactly as package-lock.json pins them, when one the tests use is missing.
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
for m in maplibre-gl/dist/maplibre-gl.mjs playwright-core/package.json @maplibre/maplibre-gl-style-spec/package.json; do
    if [[ ! -e "$web/node_modules/$m" ]]; then
        echo "tests/install-deps.sh: npm ci in $web" >&2
        (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) >&2 || {
            echo "tests/install-deps.sh: npm ci failed in $web; the map's tests need its packages" >&2
            exit 1
        }
        break
    fi
done
