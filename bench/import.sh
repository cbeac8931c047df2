#!/usr/bin/env bash
# Benchmark: `urbis import` against `ogr2ogr` (GDAL) writing the same data into the same kind of
# store, in the same run on the same machine. Cambridge parcels (TopoJSON, 13,116 polygons) and the
# Porto road network (OSM PBF, ~51,000 highway ways), into a GeoPackage and into PostGIS.
#
#   bash bench/import.sh            # 3 runs each, medians and ratios printed as a table
#   RUNS=5 bash bench/import.sh
#   URBIS_BIN=/path/to/urbis URBIS_BEFORE=/path/to/older/urbis bash bench/import.sh
#                                   # a given binary instead of building one, and another build
#                                   # measured in the same run (an extra column: before/after)
#
# Besides the wall times and their ratio, the table shows each side's CPU time (user + system of
# the client process) and the footer the load average before and after: the machine may be shared,
# and a busy machine slows the side that runs on more threads more.
#
# Not a test: it asserts nothing and is never run by CI. PostGIS is a throwaway cluster, as in the
# test command. What each side does: urbis reads, maps, validates every feature and applies the
# unambiguous repairs (ring orientation, duplicate vertices), computes parcel areas, and writes in
# one transaction (COPY on PostGIS) into its schema with its indexes (the spatial index, the unique
# id, code B-trees) and the change feed; ogr2ogr translates without validation (its default; -makevalid in the repairing row), with COPY on PostGIS, into a
# table it creates with one spatial index.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${URBIS_DATA:-$repo/../shared/data}"
runs="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"

bash "$repo/tests/install-deps.sh"
if [[ -n "${URBIS_BIN:-}" ]]; then
    urbis="$URBIS_BIN"
else
    cargo build --release -p urbis --manifest-path "$repo/Cargo.toml" >&2
    urbis="$CARGO_TARGET_DIR/release/urbis"
fi
before="${URBIS_BEFORE:-}"
command -v ogr2ogr >/dev/null || { echo "ogr2ogr (gdal-bin) is needed" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (Debian package time) is needed" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/urbis-bench.XXXXXX")"
chmod 755 "$work" # the cluster inside is owned by the postgres user
# shellcheck source=../tests/pg-ephemeral.sh
source "$repo/tests/pg-ephemeral.sh"
trap 'pg_ephemeral_stop; rm -rf "$work"' EXIT
pg_ephemeral_start "$work/pg"
pg_url="postgres://postgres@127.0.0.1:$PG_PORT"
psql_q() { "${PG_PSQL[@]}" "$@"; }

parcels="$data/cambridge/ASSESSING_ParcelsFY2014.topojson"
porto="$data/osm/porto_portugal.osm.pbf"
printf '[fields]\ncode = "ML"\n' >"$work/parcels.toml"

# Median wall time in seconds of running "$@" $runs times, with $prepare run before each. The
# median CPU time (user + system) of the command itself (not of the PostgreSQL server) goes to
# "$work/cpu" as well: on a shared machine, wall times move with the other work, CPU times less.
median() {
    local prepare="$1"
    shift
    local times=() cpus=()
    for _ in $(seq "$runs"); do
        eval "$prepare"
        local t0 t1
        t0=$(date +%s.%N)
        /usr/bin/time -f "%U %S" -o "$work/time" "$@" >"$work/last.log" 2>&1 ||
            { cat "$work/last.log" >&2; echo "failed: $*" >&2; exit 1; }
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc)")
        cpus+=("$(awk '{ print $1 + $2 }' "$work/time")")
    done
    printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p" >"$work/cpu"
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

fresh_db() {
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $1" >/dev/null
    psql_q -d postgres -c "CREATE DATABASE $1 TEMPLATE urbis_template" >/dev/null
}

declare -a rows
# The CPU seconds of the last urbis and ogr2ogr measured (see median).
ucpu=0
ocpu=0
bench() { # name, urbis seconds, ogr2ogr seconds[, seconds of the "before" build]
    local row
    row="$(printf '| %-34s | %8.2f s | %8.2f s | %6.2f× | %6.2f s | %6.2f s |' "$1" "$2" "$3" \
        "$(echo "$3 / $2" | bc -l)" "$ucpu" "$ocpu")"
    if [[ -n "${4:-}" ]]; then
        row+="$(printf ' %8.2f s | %6.2f× |' "$4" "$(echo "$3 / $4" | bc -l)")"
    fi
    rows+=("$row")
}
# The same import with the "before" build, if one is given (else nothing).
measure_before() { # prepare, then the import's arguments
    [[ -n "$before" ]] || return 0
    local prepare="$1"
    shift
    median "$prepare" "$before" "$@"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "measuring ($runs runs each; load average $load_before) …" >&2
# GeoPackage
args=(import --report-dir "$work" --store "$work/u.gpkg" --layer parcels --map "$work/parcels.toml" --skip-invalid "$parcels")
u=$(median "rm -f $work/u.gpkg" "$urbis" "${args[@]}")
ucpu=$(cat "$work/cpu")
b=$(measure_before "rm -f $work/u.gpkg" "${args[@]}")
o=$(median "rm -f $work/o.gpkg" ogr2ogr -f GPKG "$work/o.gpkg" "$parcels" -nln parcels)
ocpu=$(cat "$work/cpu")
bench "parcels → GeoPackage" "$u" "$o" "$b"
# Also repairing the 37 self-intersecting parcels, on both sides: urbis --make-valid rebuilds
# them (geo's make-valid) and checks the result; ogr2ogr -makevalid runs GEOS's MakeValid on
# every feature (without it, ogr2ogr copies them as they are).
args+=(--make-valid)
u=$(median "rm -f $work/u.gpkg" "$urbis" "${args[@]}")
ucpu=$(cat "$work/cpu")
b=$(measure_before "rm -f $work/u.gpkg" "${args[@]}")
o=$(median "rm -f $work/o.gpkg" ogr2ogr -f GPKG "$work/o.gpkg" "$parcels" -nln parcels -makevalid)
ocpu=$(cat "$work/cpu")
bench "parcels → GPKG, -make-valid / -makevalid" "$u" "$o" "$b"
args=(import --report-dir "$work" --store "$work/u.gpkg" --layer roads --skip-invalid "$porto")
u=$(median "rm -f $work/u.gpkg" "$urbis" "${args[@]}")
ucpu=$(cat "$work/cpu")
b=$(measure_before "rm -f $work/u.gpkg" "${args[@]}")
o=$(median "rm -f $work/o.gpkg" ogr2ogr -f GPKG "$work/o.gpkg" "$porto" lines -where "highway IS NOT NULL" -nln roads)
ocpu=$(cat "$work/cpu")
bench "Porto roads → GeoPackage" "$u" "$o" "$b"

# PostGIS (urbis into its migrated schema; ogr2ogr creating its own table, as it does)
"$urbis" migrate --store "$pg_url/u" >/dev/null 2>&1 || { fresh_db u; "$urbis" migrate --store "$pg_url/u" >/dev/null; }
fresh_db u
"$urbis" migrate --store "$pg_url/u" >/dev/null
args=(import --report-dir "$work" --store "$pg_url/u" --layer parcels --map "$work/parcels.toml" --skip-invalid --replace
    "$parcels")
u=$(median "" "$urbis" "${args[@]}")
ucpu=$(cat "$work/cpu")
b=$(measure_before "" "${args[@]}")
o=$(median "fresh_db o" ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=o" "$parcels" \
    -nln parcels)
ocpu=$(cat "$work/cpu")
bench "parcels → PostGIS" "$u" "$o" "$b"
args=(import --report-dir "$work" --store "$pg_url/u" --layer roads --skip-invalid --replace "$porto")
u=$(median "" "$urbis" "${args[@]}")
ucpu=$(cat "$work/cpu")
b=$(measure_before "" "${args[@]}")
o=$(median "fresh_db o" ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=o" "$porto" lines \
    -where "highway IS NOT NULL" -nln roads)
ocpu=$(cat "$work/cpu")
bench "Porto roads → PostGIS" "$u" "$o" "$b"

echo
head='| import                             |    urbis   |  ogr2ogr   | ogr2ogr time / urbis time | urbis CPU | ogr2ogr CPU |'
rule='|------------------------------------|------------|------------|--------|----------|----------|'
if [[ -n "$before" ]]; then
    echo "$head urbis before | ogr2ogr / before |"
    echo "$rule------------|--------|"
else
    echo "$head"
    echo "$rule"
fi
printf '%s\n' "${rows[@]}"
echo
echo "$(nproc) cores; $(ogr2ogr --version); urbis $("$urbis" --version | cut -d' ' -f2); median of $runs runs"
echo "load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU: user + system seconds of the client process (the PostgreSQL server's work is not in it)"
