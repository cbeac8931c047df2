#!/usr/bin/env bash
# Benchmark of the HTTP API, in one run on this machine:
#  1. urbis against pygeoapi (PyPI, its PostgreSQL provider) serving the same PostGIS table of the
#     Cambridge parcels: `items?bbox=…&limit=1000` and a CQL2 attribute filter, the same requests
#     at the same concurrency; throughput (requests/s) and latency, and the ratio urbis / pygeoapi.
#  2. The parcel report on the demo city (`urbis demo`'s GeoPackage) under 32 concurrent
#     clients, each asking for random parcels: p50 and p99.
#
#   bash bench/api.sh                 # DURATION=15 (seconds per measurement), CONNECTIONS=16
#
# Not a test: it asserts nothing and CI never runs it. pygeoapi is installed into a virtualenv
# outside the repository ($HOME/.cache/urbis/bench-venv); no code of it is kept here. Both servers
# get the machine's cores: pygeoapi under gunicorn with one worker per core, urbis as it runs.
# The load generator (wrk, Debian) runs on the same machine and takes its share of the CPU.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=common.sh
source "$repo/bench/common.sh"
data="${URBIS_DATA:-$repo/../shared/data}"
duration="${DURATION:-15}"
connections="${CONNECTIONS:-16}"
venv="${URBIS_BENCH_VENV:-$HOME/.cache/urbis/bench-venv}"

bench_deps
if [[ ! -x "$venv/bin/gunicorn" ]] || ! "$venv/bin/python" -c 'import pygeoapi' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check pygeoapi gunicorn psycopg2-binary SQLAlchemy GeoAlchemy2 \
        "pygeofilter[backend-sqlalchemy]"
fi
bench_urbis

bench_work api
bench_city_db
printf '[fields]\ncode = "ML"\n' >"$work/parcels.toml"
"$urbis" import --report-dir "$work" --store "$pg_url/city" --layer parcels --map "$work/parcels.toml" --skip-invalid \
    --make-valid "$data/cambridge/ASSESSING_ParcelsFY2014.topojson" >&2
"${PG_PSQL[@]}" -d city -c "ANALYZE" >/dev/null

# --- urbis ---------------------------------------------------------------------------------
u_port=$(free_port)
URBIS_LOG=warn "$urbis" serve --store "$pg_url/city" --bind "127.0.0.1:$u_port" >"$work/urbis.log" 2>&1 &
pids+=($!)
# --- pygeoapi (gunicorn, one worker per core) ----------------------------------------------
p_port=$(free_port)
cat >"$work/pygeoapi.yml" <<EOF
server:
  bind: {host: 127.0.0.1, port: $p_port}
  url: http://127.0.0.1:$p_port
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {default_items: 100, max_items: 10000}
  map: {url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", attribution: OSM}
logging: {level: ERROR}
metadata:
  identification: {title: bench, description: bench, keywords: [bench], keywords_type: theme, terms_of_service: none, url: http://example.org}
  license: {name: CC-BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}
  provider: {name: bench, url: http://example.org}
  contact: {name: bench, position: bench, address: x, city: x, stateorprovince: x, postalcode: x, country: x, phone: x, fax: x, email: x@example.org, url: http://example.org, hours: x, instructions: x, role: pointOfContact}
resources:
  parcels:
    type: collection
    title: parcels
    description: Cambridge parcels
    keywords: [parcels]
    links: []
    extents:
      spatial: {bbox: [-71.17, 42.35, -71.06, 42.41], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}
    providers:
      - type: feature
        name: PostgreSQL
        data: {host: 127.0.0.1, port: $PG_PORT, dbname: city, user: postgres, password: "", search_path: [public]}
        id_field: id
        table: parcels
        geom_field: geom
EOF
PYGEOAPI_CONFIG="$work/pygeoapi.yml" "$venv/bin/pygeoapi" openapi generate "$work/pygeoapi.yml" \
    --output-file "$work/openapi.yml" >/dev/null 2>&1 ||
    PYGEOAPI_CONFIG="$work/pygeoapi.yml" "$venv/bin/pygeoapi" openapi generate "$work/pygeoapi.yml" >"$work/openapi.yml"
(cd "$work" && PYGEOAPI_CONFIG="$work/pygeoapi.yml" PYGEOAPI_OPENAPI="$work/openapi.yml" \
    exec "$venv/bin/gunicorn" -w "$(nproc)" -b "127.0.0.1:$p_port" pygeoapi.flask_app:APP >"$work/pygeoapi.log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$u_port/health"
wait_for "http://127.0.0.1:$p_port/collections/parcels/items?limit=1"

bbox="-71.115,42.365,-71.100,42.375"
filter="code%20LIKE%20%27100-%25%27"
declare -A path=(
    [bbox]="/collections/parcels/items?bbox=$bbox&limit=1000"
    [cql2]="/collections/parcels/items?filter=$filter&limit=100"
)
# Both servers must give the same answer before their speed means anything.
for q in bbox cql2; do
    u_n=$(curl -fsS "http://127.0.0.1:$u_port${path[$q]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["features"]))')
    p_n=$(curl -fsS "http://127.0.0.1:$p_port${path[$q]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["features"]))')
    echo "$q: urbis returns $u_n features, pygeoapi $p_n" >&2
    [[ "$u_n" == "$p_n" && "$u_n" -gt 0 ]] || { echo "the two servers disagree on $q: not comparable" >&2; exit 1; }
done

# Requests per second and latency percentiles of one wrk run: "rps p50_ms p99_ms".
measure() { # url connections [lua script]
    local script=()
    [[ -n "${3:-}" ]] && script=(-s "$3")
    wrk -t 2 -c "$2" -d "${duration}s" --latency --timeout 30s "${script[@]}" "$1" >"$work/wrk.txt"
    python3 - "$work/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"{errors.group(1)} failed requests:\n{text}")
print(f"{rps:.1f} {ms('50%'):.1f} {ms('99%'):.1f}")
PY
}

echo "measuring ($duration s each, $connections connections) …" >&2
rows=()
for q in bbox cql2; do
    read -r u_rps u_p50 u_p99 < <(measure "http://127.0.0.1:$u_port${path[$q]}" "$connections")
    read -r p_rps p_p50 p_p99 < <(measure "http://127.0.0.1:$p_port${path[$q]}" "$connections")
    rows+=("$(printf '| %-44s | %8s | %6s | %6s | %8s | %6s | %6s | %6.1f× |' "$q: ${path[$q]:0:44}" \
        "$u_rps" "$u_p50" "$u_p99" "$p_rps" "$p_p50" "$p_p99" "$(echo "$u_rps / $p_rps" | bc -l)")")
    echo "${rows[-1]}" >&2
done

# --- the parcel report on the demo city, 32 clients ------------------------------------------
"$urbis" demo --no-serve --store "$work/demo.gpkg" --data-samples "$repo/data-samples" >&2
python3 - "$work/demo.gpkg" >"$work/codes.lua" <<'PY'
import sqlite3, sys, urllib.parse
rows = sqlite3.connect(sys.argv[1]).execute("SELECT id FROM parcels ORDER BY random() LIMIT 2000")
codes = [urllib.parse.quote(r[0], safe="") for r in rows]
print("codes = {" + ",".join(f'"{c}"' for c in codes) + "}")
print('math.randomseed(20261123)\nrequest = function() return wrk.format("GET", "/parcels/" .. codes[math.random(#codes)] .. "/report") end')
PY
report_rows=()
for store in "$work/demo.gpkg"; do
    port=$(free_port)
    URBIS_LOG=warn "$urbis" serve --store "$store" --bind "127.0.0.1:$port" >"$work/report.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_for "http://127.0.0.1:$port/health"
    read -r rps p50 p99 < <(measure "http://127.0.0.1:$port" 32 "$work/codes.lua")
    kind=GeoPackage
    [[ "$store" == postgres* ]] && kind=PostGIS
    report_rows+=("$(printf '| %-10s | %8s | %6s | %6s |' "$kind" "$rps" "$p50" "$p99")")
    echo "${report_rows[-1]}" >&2
    kill "$pid"
done

echo
echo "OGC API Features on the Cambridge parcels in PostGIS, $connections connections, ${duration} s each"
echo "| request                                      | urbis req/s | p50 ms | p99 ms | pygeoapi req/s | p50 ms | p99 ms | urbis / pygeoapi |"
echo "|----------------------------------------------|----------|--------|--------|----------|--------|--------|--------|"
printf '%s\n' "${rows[@]}"
echo
echo "Parcel report on the demo city, 32 connections, random parcels, ${duration} s each"
echo "| store      | req/s    | p50 ms | p99 ms |"
echo "|------------|----------|--------|--------|"
printf '%s\n' "${report_rows[@]}"
echo
echo "$(nproc) cores; pygeoapi $("$venv/bin/python" -c 'import pygeoapi; print(pygeoapi.__version__)') under gunicorn ($(nproc) workers); urbis $("$urbis" --version | cut -d' ' -f2)"
