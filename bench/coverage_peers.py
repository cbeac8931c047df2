"""The peers of bench/coverage.sh: the same multi-source question as urbis's coverage_bench
example (seconds from every node to its nearest centre, towards the centre, up to 1800 s) answered
by SciPy, pgRouting and pandana on the very arcs urbis wrote, each answer compared with urbis's.

    python bench/coverage_peers.py scipy DIR [--runs N]
    python bench/coverage_peers.py pgrouting DIR --url postgres://... [--runs N]
    python bench/coverage_peers.py pandana DIR

DIR holds edges.csv (from,to,seconds: every allowed traversal in its travel direction),
nodes.csv (id,lon,lat), centres.txt and urbis_times.f64 (coverage_bench writes them). Each
command prints one JSON object: the times measured (only the query, not the loading) and how the
answer compares with urbis's (nodes reached by each, the largest difference in seconds). Parallel
arcs between two nodes keep their cheapest; the graph searched is the reversed one (arcs
to -> from), as urbis searches towards the centre.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

LIMIT_S = 1800.0
TOLERANCE_S = 1e-6


def load(folder):
    edges = pd.read_csv(os.path.join(folder, "edges.csv"), dtype={"from": np.int64, "to": np.int64, "seconds": np.float64})
    edges = edges[edges["from"] != edges["to"]]
    # Reversed, cheapest of parallel arcs.
    rev = edges.groupby(["to", "from"], as_index=False)["seconds"].min()
    rev.columns = ["source", "target", "seconds"]
    nodes = pd.read_csv(os.path.join(folder, "nodes.csv"))
    centres = [int(x) for x in open(os.path.join(folder, "centres.txt")).read().split()]
    urbis = np.fromfile(os.path.join(folder, "urbis_times.f64"), dtype="<f8")
    return rev, nodes, centres, urbis


def compare(urbis, other, tolerance=TOLERANCE_S):
    """How far `other` (seconds per node, inf where not reached) is from urbis's answer."""
    u_in = np.isfinite(urbis) & (urbis <= LIMIT_S)
    o_in = np.isfinite(other) & (other <= LIMIT_S)
    both = u_in & o_in
    diff = np.abs(urbis[both] - other[both])
    # A node at the limit within the tolerance may fall either side of it.
    only = (u_in != o_in) & ~(
        (u_in & (np.abs(urbis - LIMIT_S) <= tolerance)) | (o_in & (np.abs(other - LIMIT_S) <= tolerance))
    )
    max_diff = float(diff.max()) if diff.size else 0.0
    return {
        "reached_urbis": int(u_in.sum()),
        "reached_peer": int(o_in.sum()),
        "reached_by_one_only": int(only.sum()),
        "max_abs_diff_s": max_diff,
        "agree": bool(only.sum() == 0 and max_diff <= tolerance),
    }


def run_scipy(args):
    import scipy
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    rev, nodes, centres, urbis = load(args.dir)
    n = len(nodes)
    zero = int((rev["seconds"] == 0).sum())
    graph = csr_matrix((rev["seconds"].to_numpy(), (rev["source"].to_numpy(), rev["target"].to_numpy())), shape=(n, n))
    times = []
    cpu = []
    dist = None
    for _ in range(args.runs):
        c = time.thread_time()
        t = time.perf_counter()
        dist = dijkstra(graph, directed=True, indices=centres, min_only=True, limit=LIMIT_S)
        times.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.thread_time() - c) * 1e3)
    out = {
        "peer": "scipy",
        "version": scipy.__version__,
        "arcs": int(graph.nnz),
        "zero_weight_arcs": zero,
        "runs": args.runs,
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        # This thread's CPU time: what a busy machine inflates least (urbis reports the same).
        "cpu_ms_median": statistics.median(cpu),
    }
    out.update(compare(urbis, dist))
    return out


def run_pgrouting(args):
    import psycopg2

    rev, nodes, centres, urbis = load(args.dir)
    conn = psycopg2.connect(args.url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE")
    cur.execute("SELECT pgr_version()")
    version = cur.fetchone()[0]
    cur.execute("DROP TABLE IF EXISTS bench_edges")
    cur.execute("CREATE TABLE bench_edges (id bigint PRIMARY KEY, source bigint, target bigint, cost float8)")
    # Node ids + 1: pgRouting takes ids above zero.
    import io

    buf = io.StringIO()
    for i, (s, t, c) in enumerate(zip(rev["source"] + 1, rev["target"] + 1, rev["seconds"])):
        buf.write(f"{i + 1}\t{s}\t{t}\t{c!r}\n")
    buf.seek(0)
    cur.copy_expert("COPY bench_edges FROM STDIN", buf)
    cur.execute("ANALYZE bench_edges")
    starts = "ARRAY[" + ",".join(str(c + 1) for c in centres) + "]::bigint[]"
    query = (
        "SELECT node, min(agg_cost) FROM pgr_drivingDistance("
        "'SELECT id, source, target, cost FROM bench_edges', "
        f"{starts}, {LIMIT_S}, directed => true, equicost => false) GROUP BY node"
    )
    times = []
    rows = []
    for _ in range(args.runs):
        t = time.perf_counter()
        cur.execute(query)
        rows = cur.fetchall()
        times.append((time.perf_counter() - t) * 1e3)
    dist = np.full(len(nodes), np.inf)
    for node, cost in rows:
        dist[node - 1] = cost
    cur.execute("DROP TABLE bench_edges")
    conn.close()
    out = {
        "peer": "pgrouting",
        "version": version,
        "function": "pgr_drivingDistance(equicost => false), min over rows per node",
        "runs": args.runs,
        "ms_median": statistics.median(times),
        "ms_min": min(times),
    }
    out.update(compare(urbis, dist))
    return out


def run_pandana(args):
    import pandana

    rev, nodes, centres, urbis = load(args.dir)
    out = {"peer": "pandana", "version": getattr(pandana, "__version__", "?")}
    # pandana measures from a node to the POIs: the forward arcs, node -> centre.
    fwd = pd.DataFrame({"from": rev["target"], "to": rev["source"], "seconds": rev["seconds"]})
    t = time.perf_counter()
    net = pandana.Network(
        nodes["lon"], nodes["lat"], fwd["from"], fwd["to"], fwd[["seconds"]], twoway=False
    )
    out["build_ms"] = (time.perf_counter() - t) * 1e3
    print(json.dumps({"stage": "built", **out}), file=sys.stderr, flush=True)
    # The centres as points of interest, at their nodes' own positions.
    c = nodes.iloc[centres]
    t = time.perf_counter()
    net.set_pois("centres", LIMIT_S, 1, c["lon"], c["lat"])
    res = net.nearest_pois(LIMIT_S, "centres", num_pois=1)
    out["nearest_pois_ms"] = (time.perf_counter() - t) * 1e3
    dist = res[1].reindex(nodes["id"]).to_numpy(dtype=np.float64, copy=True)
    # pandana reports "no POI within the horizon" as the horizon itself.
    dist[dist >= LIMIT_S] = np.inf
    # Its contraction hierarchy keeps weights as 32-bit floats: agreement to 0.1 s is all it has.
    out["tolerance_s"] = 0.1
    out.update(compare(urbis, dist, tolerance=0.1))
    print(json.dumps({"stage": "nearest_pois", **out}), file=sys.stderr, flush=True)
    # Its aggregation needs a precomputation of everything within the horizon.
    t = time.perf_counter()
    net.precompute(LIMIT_S)
    out["precompute_ms"] = (time.perf_counter() - t) * 1e3
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("peer", choices=["scipy", "pgrouting", "pandana"])
    p.add_argument("dir")
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--url")
    args = p.parse_args()
    result = {"scipy": run_scipy, "pgrouting": run_pgrouting, "pandana": run_pandana}[args.peer](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
