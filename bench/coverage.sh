#!/usr/bin/env bash
# Benchmark: urbis's coverage searches on the Porto road network against SciPy, pgRouting and
# pandana, all in one run on the same graph with the same edge weights (issue 4, part 8).
#
#   bash bench/coverage.sh                 # drive and walk, 21 runs of each fast query
#   RUNS=11 MODES=drive bash bench/coverage.sh
#   ROADS=/path/to/roads.osm.pbf bash bench/coverage.sh
#   BUILD=0 bash bench/coverage.sh        # the examples as last built
#
# Not a test: CI never runs it; it asserts only that the peers' answers agree with urbis's (and
# prints whether they do). What is measured, per mode:
# - urbis (crates/urbis-analysis/examples/coverage_bench.rs): seconds from every node to its
#   nearest of 30 centres on the reversed graph, up to 1800 s, one core, median of RUNS; then the
#   reach sets and isochrones of the 30 centres at 10, 20 and 30 minutes (one core, and every
#   core). The centres: a 6 x 5 grid over the extent of the mode's largest component, each cell's
#   centre moved to the nearest node (see the example). The isochrones are timed by stage, and
#   the one-core figures are given in the thread's CPU time beside the wall clock (a busy machine
#   inflates it less; SciPy's is taken alike). It writes the arc list (from, to, seconds), the
#   nodes, the centres and its answer for the peers.
# - SciPy: scipy.sparse.csgraph.dijkstra(indices=centres, min_only=True, limit=1800) on the
#   reversed arcs (median of RUNS), compared node by node (within 1e-6 s).
# - pgRouting: pgr_drivingDistance from the 30 centres (equicost => false, the minimum over the
#   rows per node) on the same reversed arcs in a throwaway PostgreSQL (median of 3), compared.
# - pandana: a Network on the same arcs, nearest_pois with the centres as POIs and an 1800 s
#   horizon, then its precompute(1800) that aggregation needs, under a memory cap (PANDANA_MEM_GB,
#   default 4) and a time cap (PANDANA_TIMEOUT_S, default 180): if it is killed, that is recorded.
# And once, the whole analysis of the road file (example coverage_timing: walking, 30 centres,
# 14,604 origins, isochrones at 10/20/30 min, 5 new sites from 1,000 candidates with the exact
# optimum) under /usr/bin/time for the peak resident memory.
#
# The machine's load (uptime) is printed with every figure: ratios measured in the same run are
# what count. One-core figures: the searches are single-threaded; the isochrones are given on a
# one-thread rayon pool and on all cores.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${URBIS_DATA:-$repo/../shared/data}"
roads="${ROADS:-$data/osm/porto_portugal.osm.pbf}"
runs="${RUNS:-21}"
modes="${MODES:-drive walk}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"
venv="${BENCH_VENV:-$HOME/.cache/urbis/bench-venv}"

bash "$repo/tests/install-deps.sh"
# BUILD=0: use the examples already built (e.g. while other builds hold cargo's lock).
if [[ "${BUILD:-1}" != 0 ]]; then
    cargo build --release -p urbis-analysis --example coverage_bench --example coverage_timing \
        --manifest-path "$repo/Cargo.toml" >&2
fi
bin="$CARGO_TARGET_DIR/release/examples"

[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import scipy, pandana, pandas, numpy, psycopg2' 2>/dev/null ||
    "$venv/bin/pip" install -q scipy pandana pandas numpy psycopg2-binary >&2
py="$venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/urbis-coverage-bench.XXXXXX")"
chmod 755 "$work" # the cluster inside is owned by the postgres user
# shellcheck source=../tests/pg-ephemeral.sh
source "$repo/tests/pg-ephemeral.sh"
trap 'pg_ephemeral_stop; rm -rf "$work"' EXIT
pg_ephemeral_start "$work/pg"
"${PG_PSQL[@]}" -d postgres -c "CREATE DATABASE coverage_bench" >/dev/null
pg_url="postgres://postgres@127.0.0.1:$PG_PORT/coverage_bench"

load() { uptime | sed 's/.*load average: //'; }
note() { echo "[$(date +%T) load $(load)] $*" >&2; }

for mode in $modes; do
    dir="$work/$mode"
    note "urbis $mode"
    "$bin/coverage_bench" "$roads" "$dir" --mode "$mode" --runs "$runs" >"$dir.urbis.out"
    load >"$dir.load.urbis"
    note "scipy $mode"
    "$py" "$repo/bench/coverage_peers.py" scipy "$dir" --runs "$runs" >"$dir.scipy.json"
    load >"$dir.load.scipy"
    note "pgrouting $mode"
    "$py" "$repo/bench/coverage_peers.py" pgrouting "$dir" --url "$pg_url" --runs 3 >"$dir.pgrouting.json"
    load >"$dir.load.pgrouting"
    note "pandana $mode (capped: ${PANDANA_MEM_GB:-4} GB, ${PANDANA_TIMEOUT_S:-180} s)"
    set +e
    (
        ulimit -v $((${PANDANA_MEM_GB:-4} * 1024 * 1024))
        exec timeout "${PANDANA_TIMEOUT_S:-180}" "$py" "$repo/bench/coverage_peers.py" pandana "$dir"
    ) >"$dir.pandana.json" 2>"$dir.pandana.err"
    echo $? >"$dir.pandana.rc"
    set -e
    grep -v '%' "$dir.pandana.err" | tail -3 >&2 || true
    load >"$dir.load.pandana"
done

note "whole analysis (coverage_timing, walking)"
/usr/bin/time -v "$bin/coverage_timing" "$roads" >"$work/timing.out" 2>"$work/timing.time"
load >"$work/timing.load"

"$py" - "$work" "$modes" <<'EOF'
import json, os, re, sys

work, modes = sys.argv[1], sys.argv[2].split()
def read(p):
    return open(os.path.join(work, p)).read().strip()

rows = []
for mode in modes:
    u = json.loads(read(f"{mode}.urbis.out").splitlines()[-1])
    s = json.loads(read(f"{mode}.scipy.json"))
    g = json.loads(read(f"{mode}.pgrouting.json"))
    print(f"\n## {mode}: {u['nodes']} nodes, {u['edges']} edges ({s['arcs']} arcs after merging parallel ones), "
          f"30 centres, limit {u['limit_s']:.0f} s, {u['reached_nodes']} nodes reached; threads {u['threads']}")
    print(f"| what | time | vs urbis | answers | load (1/5/15 min) |")
    print(f"|---|---|---|---|---|")
    um = u["multi_source_ms_median"]
    ucpu, scpu = u.get("multi_source_cpu_ms_median"), s.get("cpu_ms_median")
    cpu_note = f", thread CPU {ucpu:.2f} ms" if ucpu else ""
    print(f"| urbis multi-source, one core (median of {u['runs']}) | {um:.2f} ms (min {u['multi_source_ms_min']:.2f}{cpu_note}) | 1 | - | {read(f'{mode}.load.urbis')} |")
    cpu_ratio = f"; by thread CPU {scpu:.2f} ms, {scpu/ucpu:.2f}x" if (ucpu and scpu) else ""
    print(f"| SciPy {s['version']} dijkstra min_only (median of {s['runs']}) | {s['ms_median']:.2f} ms (min {s['ms_min']:.2f}) | urbis {s['ms_median']/um:.2f}x faster (by min {s['ms_min']/u['multi_source_ms_min']:.2f}x{cpu_ratio}) | "
          f"{'equal' if s['agree'] else 'DIFFER'} (max diff {s['max_abs_diff_s']:.1e} s, reached {s['reached_peer']}) | {read(f'{mode}.load.scipy')} |")
    print(f"| pgRouting {g['version']} pgr_drivingDistance (median of {g['runs']}) | {g['ms_median']:.0f} ms | urbis {g['ms_median']/um:.0f}x faster | "
          f"{'equal' if g['agree'] else 'DIFFER'} (max diff {g['max_abs_diff_s']:.1e} s, reached {g['reached_peer']}) | {read(f'{mode}.load.pgrouting')} |")
    rc = int(read(f"{mode}.pandana.rc"))
    err = read(f"{mode}.pandana.err")
    stages = [json.loads(l) for l in err.splitlines() if l.startswith("{")]
    last = stages[-1] if stages else {}
    if rc == 0:
        # pandana prints its own progress on standard output too: the result is the last JSON line.
        p = json.loads([l for l in read(f"{mode}.pandana.json").splitlines() if l.startswith("{")][-1])
        print(f"| pandana {p['version']} nearest_pois | {p['nearest_pois_ms']:.0f} ms (network build {p['build_ms']:.0f} ms, precompute(1800) {p['precompute_ms']:.0f} ms) | urbis {p['nearest_pois_ms']/um:.0f}x faster | "
              f"{'equal within 0.1 s (float32 weights)' if p['agree'] else 'DIFFER'} (max diff {p['max_abs_diff_s']:.1e} s, reached {p['reached_peer']}) | {read(f'{mode}.load.pandana')} |")
    else:
        tail = [l for l in err.splitlines() if l.strip() and not l.startswith("{")][-1:] or [""]
        why = "timed out" if rc == 124 else ("out of memory" if ("MemoryError" in err or "bad_alloc" in err or rc in (134, 137, -9)) else f"exit {rc}: {tail[0][:120]}")
        got = ""
        if "nearest_pois_ms" in last:
            got = (f"nearest_pois {last['nearest_pois_ms']:.0f} ms (network build {last['build_ms']:.0f} ms), "
                   f"{'equal within 0.1 s' if last['agree'] else 'DIFFER'} (max diff {last['max_abs_diff_s']:.1e} s); ")
        ratio = f"urbis {last['nearest_pois_ms']/um:.0f}x faster" if "nearest_pois_ms" in last else "-"
        print(f"| pandana {last.get('version', '?')} | {got}precompute(1800): {why} under the cap | {ratio} | - | {read(f'{mode}.load.pandana')} |")
    icpu = u.get("isochrones_one_core_cpu_ms_median")
    icpu_note = f" (thread CPU {icpu:.0f} ms)" if icpu else ""
    print(f"| urbis reach sets + isochrones, 30 centres x 10/20/30 min | one core {u['isochrones_one_core_ms_median']:.0f} ms{icpu_note}, all cores {u['isochrones_all_cores_ms_median']:.0f} ms (cells up to {u['isochrone_largest_cell_m']:.0f} m) | - | {u['isochrone_claimed_nodes']} node claims, {u['isochrone_polygons']} polygons, {u.get('isochrone_claims_checked_inside', 0)} claims checked inside | {read(f'{mode}.load.urbis')} |")
    if "isochrone_stages_one_core_ms" in u:
        st = u["isochrone_stages_one_core_ms"]
        print("\n" + f"{mode} isochrones by stage, one core, ms over the 30 centres: " + ", ".join(f"{k} {v:.0f}" for k, v in st.items()))

t = read("timing.out")
tv = read("timing.time")
peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", tv).group(1)
print(f"\n## Whole analysis (coverage_timing, walking; load {read('timing.load')})")
print(f"peak resident memory {peak_kb / 1024:.0f} MB, wall {wall}")
for line in t.splitlines():
    print("    " + line)
EOF
