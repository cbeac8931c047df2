#!/usr/bin/env bash
# Vector tiles: urbis against Martin (issue 6, part 9), in one run on this machine, both serving the
# same PostGIS tables of the demo city (parcels, zoning districts, zoning overlays, roads).
#
#   bash bench/tiles.sh     # CONNECTIONS=16 THREADS=2; URBIS_DEMO=<demo.gpkg> reuses a demo city,
#                           # URBIS_BIN=<urbis> a release binary already built
#
# The tile list: every tile over the demo city's parcels at z12–z16 (each zoom's tiles that meet
# their extent), each asked for five ways (each layer alone from its minimum zoom, and the four in one tile: urbis
# `/tiles/a,b,c,d/z/x/y.mvt`, Martin's composite `/a,b,c,d/z/x/y`), shuffled in a fixed order.
# Martin serves each table with urbis' zoom range, buffer and extent, and the properties urbis
# writes at its deepest zoom (tiles/*.toml); below a layer's minimum zoom both leave it out.
#  - uncached: each server gets the list once (wrk, one request per URL, no URL twice), urbis with
#    its tile cache off (--tile-cache-mb 0), Martin with its cache off (cache size 0);
#  - cached: both with their caches on, the list once to fill them, then again CACHED_PASSES
#    times (default 100), measured.
# Reported: tiles/s, p50 and p99 (ms), the ratio urbis / Martin, the machine's load before each
# run; and before measuring, that both servers answer the same URLs with tiles holding features
# (a sample decoded with mapbox-vector-tile, feature counts compared).
#
# Not a test: it asserts nothing about speed and CI never runs it. Martin 1.14.0 is installed from
# crates.io outside the repository ($HOME/.cache/urbis/martin) when missing (about 20 minutes).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=common.sh
source "$repo/bench/common.sh"
connections="${CONNECTIONS:-16}"
threads="${THREADS:-2}"
passes="${CACHED_PASSES:-100}"
martin_root="${URBIS_MARTIN_ROOT:-$HOME/.cache/urbis/martin}"
martin="$martin_root/bin/martin"

bench_deps
if [[ ! -x "$martin" ]]; then
    echo "installing Martin 1.14.0 into $martin_root (about 20 minutes) …" >&2
    cargo install martin --version 1.14.0 --locked --no-default-features --features postgres,mbtiles,pmtiles \
        --root "$martin_root" >&2
fi
bench_urbis

bench_work tiles

# --- the demo city in PostGIS ----------------------------------------------------------------
demo="${URBIS_DEMO:-}"
if [[ -z "$demo" ]]; then
    demo="$work/demo.gpkg"
    "$urbis" demo --no-serve --store "$demo" --data-samples "$repo/data-samples" >&2
fi
bench_city_db
layers=(parcels zoning_districts zoning_overlays roads)
for layer in "${layers[@]}"; do
    printf 'id = "id"\nsource_layer = "%s"\n' "$layer" >"$work/$layer.toml"
    "$urbis" import --store "$pg_url/city" --layer "$layer" --map "$work/$layer.toml" --report-dir "$work" "$demo" >&2
done
"${PG_PSQL[@]}" -d city -c "VACUUM ANALYZE" >/dev/null

# --- Martin's configuration from tiles/*.toml and the tables' column types --------------------
"${PG_PSQL[@]}" -d city -At -F '|' -c "SELECT table_name, column_name, udt_name FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name IN ('parcels', 'zoning_districts', 'zoning_overlays', 'roads')" \
    >"$work/columns.txt"
martin_config() { # port cache_mb
    python3 - "$repo/tiles" "$work/columns.txt" "$pg_url/city" "$1" "$2" <<'PY'
import sys, tomllib
tiles, columns, url, port, cache = sys.argv[1:]
types = {}
for line in open(columns):
    table, column, udt = line.strip().split("|")
    types.setdefault(table, {})[column] = udt
out = [f"listen_addresses: 127.0.0.1:{port}", f"cache_size_mb: {cache}", "postgres:",
       f"  connection_string: {url}", "  pool_size: 10", "  auto_publish: false", "  tables:"]
for layer in ["parcels", "zoning_districts", "zoning_overlays", "roads"]:
    d = tomllib.load(open(f"{tiles}/{layer}.toml", "rb"))
    extent = d.get("extent", 4096)
    buffer = int(d.get("buffer_px", 4) * extent / 256)
    fields = ["id"] + [f for f in d["zoom"][-1]["fields"]]
    out += [f"    {layer}:", "      schema: public", f"      table: {layer}", "      srid: 4326",
            "      geometry_column: geom", f"      minzoom: {d['minzoom']}", "      maxzoom: 24",
            f"      extent: {extent}", f"      buffer: {buffer}", "      clip_geom: true", "      properties:"]
    out += [f"        {f}: {types[layer][f]}" for f in fields]
print("\n".join(out))
PY
}

# --- the tile list ----------------------------------------------------------------------------
read -r x0 y0 x1 y1 < <("${PG_PSQL[@]}" -d city -At -F ' ' -c \
    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM parcels) s")
python3 - "$x0" "$y0" "$x1" "$y1" "$work" "$repo/tiles" <<'PY'
import math, random, sys, tomllib
x0, y0, x1, y1 = map(float, sys.argv[1:5])
work = sys.argv[5]
minzoom = {l: tomllib.load(open(f"{sys.argv[6]}/{l}.toml", "rb"))["minzoom"]
           for l in ["parcels", "zoning_districts", "zoning_overlays", "roads"]}
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y
tiles = []
for z in range(12, 17):
    (ax, ay), (bx, by) = tile(x0, y1, z), tile(x1, y0, z)
    tiles += [(z, x, y) for x in range(ax, bx + 1) for y in range(ay, by + 1)]
sets = ["parcels", "zoning_districts", "zoning_overlays", "roads", "parcels,zoning_districts,zoning_overlays,roads"]
# A layer alone below its minimum zoom is no tile (Martin answers 404, urbis 204): left out.
paths = [(s, z, x, y) for (z, x, y) in tiles for s in sets if "," in s or z >= minzoom[s]]
random.Random(20261123).shuffle(paths)
with open(f"{work}/urbis.txt", "w") as u, open(f"{work}/martin.txt", "w") as m:
    for s, z, x, y in paths:
        u.write(f"/tiles/{s}/{z}/{x}/{y}.mvt\n")
        m.write(f"/{s}/{z}/{x}/{y}\n")
by_zoom = {z: sum(1 for t in tiles if t[0] == z) for z in range(12, 17)}
print(f"{len(tiles)} tiles ({', '.join(f'z{z}: {n}' for z, n in by_zoom.items())}), {len(paths)} URLs", file=sys.stderr)
PY
n_urls=$(wc -l <"$work/urbis.txt")
# The cached phase measures the list PASSES times over (one pass takes a few hundredths of a
# second: 100 passes make a measurement of seconds, not a blip).
for s in urbis martin; do
    for _ in $(seq "$passes"); do cat "$work/$s.txt"; done >"$work/$s-cached.txt"
done

# wrk: each thread takes every THREADS-th URL of the list from its own offset; when its share is
# answered it leaves a mark, and once every thread has, wrk is stopped (SIGINT: it prints its
# figures over the time it ran). Connections that ask again before the stop take URLs from the
# start of the list again (at most CONNECTIONS repeats in a run). Answers other than 200 and 204
# fail the run.
cat >"$work/list.lua" <<'EOF'
local counter = 0
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end
function init(args)
    urls = {}
    for line in io.lines(args[1]) do urls[#urls + 1] = line end
    step = tonumber(args[2])
    mark = args[3] .. "-" .. id
    next_i = id + 1
    share = 0
    for i = id + 1, #urls, step do share = share + 1 end
    answered = 0
end
function request()
    local i = (next_i - 1) % #urls + 1
    next_i = next_i + step
    return wrk.format("GET", urls[i])
end
function response(status, headers, body)
    answered = answered + 1
    if answered == share then
        local f = io.open(mark, "w")
        f:write("done")
        f:close()
    end
end
EOF

run_list() { # base list_file label -> "tiles/s p50 p99 requests load"
    local load mark="$work/mark-$3"
    load=$(cut -d' ' -f1 /proc/loadavg)
    wrk -t "$threads" -c "$connections" -d 600s --latency --timeout 30s -s "$work/list.lua" "$1" -- "$2" "$threads" \
        "$mark" >"$work/wrk-$3.txt" &
    local wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null && (($(find "$work" -maxdepth 1 -name "mark-$3-*" | wc -l) < threads)); do
        sleep 0.02
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || true
    python3 - "$work/wrk-$3.txt" "$load" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"{errors.group(1)} failed requests:\n{text}")
print(f"{rps:.1f} {ms('50%'):.1f} {ms('99%'):.1f} {n} {sys.argv[2]}")
PY
}

start_urbis() { # cache_mb
    u_port=$(free_port)
    URBIS_LOG=warn "$urbis" serve --store "$pg_url/city" --bind "127.0.0.1:$u_port" --tile-cache-mb "$1" \
        >"$work/urbis-$1.log" 2>&1 &
    u_pid=$!
    pids+=("$u_pid")
    wait_for "http://127.0.0.1:$u_port/health"
}
start_martin() { # cache_mb
    m_port=$(free_port)
    martin_config "$m_port" "$1" >"$work/martin-$1.yaml"
    RUST_LOG=warn "$martin" --config "$work/martin-$1.yaml" >"$work/martin-$1.log" 2>&1 &
    m_pid=$!
    pids+=("$m_pid")
    wait_for "http://127.0.0.1:$m_port/health"
}
stop() { kill "$1" && wait "$1" 2>/dev/null || true; }

# --- both servers hold the same tiles -----------------------------------------------------------
start_urbis 0
start_martin 0
python3 - "$work" "$u_port" "$m_port" "$repo/tests/decode_mvt.py" <<'PY'
import json, subprocess, sys, urllib.request
work, u_port, m_port, decoder = sys.argv[1:]
u_paths = open(f"{work}/urbis.txt").read().split()
m_paths = open(f"{work}/martin.txt").read().split()
def get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()
# Like with like: wrk sends no Accept-Encoding, so neither server may compress what it sends.
encodings = {}
for name, port, path in (("urbis", u_port, u_paths[0]), ("Martin", m_port, m_paths[0])):
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept-Encoding": "identity"})) as r:
        encodings[name] = r.headers.get("Content-Encoding") or "none"
print(f"Content-Encoding without Accept-Encoding (as wrk asks): urbis {encodings['urbis']}, Martin {encodings['Martin']}",
      file=sys.stderr)
if set(encodings.values()) != {"none"}:
    sys.exit("a server compresses tiles that were asked for uncompressed: not comparable")
u_full = m_full = both = 0
files = []
for i, (u, m) in enumerate(zip(u_paths, m_paths)):
    a, b = get(f"http://127.0.0.1:{u_port}{u}"), get(f"http://127.0.0.1:{m_port}{m}")
    u_full += len(a) > 0
    m_full += len(b) > 0
    both += len(a) > 0 and len(b) > 0
    if i % 25 == 0 and a and b:
        for tag, data in (("u", a), ("m", b)):
            open(f"{work}/{tag}{i}.mvt", "wb").write(data)
        files.append(i)
print(f"non-empty tiles: urbis {u_full}, Martin {m_full}, both {both} of {len(u_paths)} URLs", file=sys.stderr)
if both < 0.9 * max(u_full, m_full):
    sys.exit("the servers disagree on which tiles hold features: not comparable")
out = json.loads(subprocess.check_output(["python3", decoder] + [f"{work}/{t}{i}.mvt" for i in files for t in "um"]))
ratios = []
for i in files:
    du, dm = out[f"{work}/u{i}.mvt"], out[f"{work}/m{i}.mvt"]
    if sorted(du) != sorted(dm):
        sys.exit(f"{u_paths[i]}: layers differ: urbis {sorted(du)}, Martin {sorted(dm)}")
    for layer in du:
        nu, nm = len(du[layer]["features"]), len(dm[layer]["features"])
        ratios.append(nu / nm if nm else 1.0)
ratios.sort()
print(f"{len(files)} tiles decoded ({len(ratios)} layers): features urbis / Martin median "
      f"{ratios[len(ratios) // 2]:.2f}, min {ratios[0]:.2f}, max {ratios[-1]:.2f} (urbis drops sub-pixel features)",
      file=sys.stderr)
PY

# --- uncached: the list once each, caches off -------------------------------------------------
echo "uncached: $n_urls URLs once each, $connections connections …" >&2
read -r u_rps u_p50 u_p99 u_n u_load < <(run_list "http://127.0.0.1:$u_port" "$work/urbis.txt" urbis-uncached)
stop "$u_pid"
read -r m_rps m_p50 m_p99 m_n m_load < <(run_list "http://127.0.0.1:$m_port" "$work/martin.txt" martin-uncached)
stop "$m_pid"
rows=("$(printf '| uncached | %9s | %6s | %6s | %9s | %6s | %6s | %6.2f× | %s / %s |' "$u_rps" "$u_p50" "$u_p99" \
    "$m_rps" "$m_p50" "$m_p99" "$(echo "$u_rps / $m_rps" | bc -l)" "$u_load" "$m_load")")
echo "${rows[-1]}" >&2

# --- cached: caches on, the list once to fill them, then measured -------------------------------
start_urbis 256
run_list "http://127.0.0.1:$u_port" "$work/urbis.txt" urbis-fill >/dev/null
read -r u_rps u_p50 u_p99 u_n u_load < <(run_list "http://127.0.0.1:$u_port" "$work/urbis-cached.txt" urbis-cached)
stop "$u_pid"
start_martin 256
run_list "http://127.0.0.1:$m_port" "$work/martin.txt" martin-fill >/dev/null
read -r m_rps m_p50 m_p99 m_n m_load < <(run_list "http://127.0.0.1:$m_port" "$work/martin-cached.txt" martin-cached)
stop "$m_pid"
rows+=("$(printf '| cached   | %9s | %6s | %6s | %9s | %6s | %6s | %6.2f× | %s / %s |' "$u_rps" "$u_p50" "$u_p99" \
    "$m_rps" "$m_p50" "$m_p99" "$(echo "$u_rps / $m_rps" | bc -l)" "$u_load" "$m_load")")
echo "${rows[-1]}" >&2

echo
echo "Vector tiles of the demo city on PostGIS: $n_urls distinct URLs (z12–z16, 4 layers alone and together;"
echo "uncached: the list once; cached: $passes passes after one that fills the caches),"
echo "wrk, $threads threads, $connections connections, on loopback; $(nproc) cores shared by PostgreSQL, the server and wrk;"
echo "tiles sent uncompressed by both (wrk sends no Accept-Encoding; checked above)"
echo "| phase    | urbis t/s | p50 ms | p99 ms | Martin t/s | p50 ms | p99 ms | urbis / Martin | load avg before (urbis / Martin) |"
echo "|----------|-----------|--------|--------|-----------|--------|--------|--------|------------|"
printf '%s\n' "${rows[@]}"
echo
echo "urbis $("$urbis" --version | cut -d' ' -f2), $("$martin" --version)"
