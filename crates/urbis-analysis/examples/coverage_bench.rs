//! The urbis side of `bench/coverage.sh`: on one road file, the multi-source travel times from 30
//! centres to every node on the reversed graph (median of `--runs`, one core), then the reach sets
//! and isochrones of the 30 centres at 10, 20 and 30 minutes (one core, then every core through
//! rayon). It writes what the peers need to answer the same question into `OUT_DIR`:
//!
//! - `edges.csv`: `from,to,seconds`, every allowed traversal in its travel direction (the peers
//!   reverse it, as urbis does);
//! - `nodes.csv`: `id,lon,lat` of every node (pandana needs positions);
//! - `centres.txt`: the 30 centre nodes, one a line;
//! - `urbis_times.f64`: urbis's seconds from each node to its nearest centre (little-endian
//!   `f64`, infinite beyond the limit), for the peers to compare with;
//! - `urbis.json`: the figures measured here.
//!
//! The centres: a 6 × 5 grid over the extent of the mode's largest component, each cell's centre
//! moved to the nearest node of that component (the first in node order at equal distance);
//! a node taken twice is replaced by the next nearest. Deterministic for a given file.
//!
//! ```sh
//! cargo run --release -p urbis-analysis --example coverage_bench -- \
//!     ../shared/data/osm/porto_portugal.osm.pbf /tmp/coverage-bench --mode drive --runs 21
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use geo::{Contains, Point};
use rayon::prelude::*;
use urbis_analysis::coverage::CoverageOptions;
use urbis_analysis::isochrone::{isochrones, isochrones_profiled, IsochroneStages};
use urbis_analysis::paths::{nearest_centres, Direction, Metric, Seed};
use urbis_analysis::snap::EdgeIndex;
use urbis_analysis::{NetworkOptions, RoadNetwork, Speeds, TravelMode};
use urbis_core::LayerId;
use urbis_import::{read_features, ImportOptions, Silent};

const LIMIT_S: f64 = 1800.0;
const CUTOFFS_MIN: [f64; 3] = [10.0, 20.0, 30.0];

/// Nanoseconds of CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`): the one-core figures are
/// given in this time too, which a busy machine inflates far less than the wall clock.
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec it is given and reads nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: coverage_bench ROADS_FILE OUT_DIR [--mode walk|cycle|drive] [--runs N] [--cell-m M]";
    let (Some(file), Some(out)) = (args.first().map(PathBuf::from), args.get(1).map(PathBuf::from)) else {
        anyhow::bail!("{usage}");
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let mode: TravelMode = match flag("--mode").map(String::as_str).unwrap_or("drive") {
        "walk" => TravelMode::Walk,
        "cycle" => TravelMode::Cycle,
        "drive" => TravelMode::Drive,
        other => anyhow::bail!("--mode: {other} is not walk, cycle or drive"),
    };
    let runs: usize = flag("--runs").map(|r| r.parse()).transpose()?.unwrap_or(21).max(1);
    let cell_m: f64 = flag("--cell-m").map(|r| r.parse()).transpose()?.unwrap_or(20.0);
    std::fs::create_dir_all(&out)?;

    let t = Instant::now();
    let roads = read_features(&file, &ImportOptions::new(LayerId::Roads), &Silent).await?.features;
    let net = RoadNetwork::from_roads(&roads, &NetworkOptions::default())?;
    drop(roads);
    let graph = net.graph(mode, &Speeds::default())?;
    let load_s = t.elapsed().as_secs_f64();

    // The centres (see the module's notes).
    let comp: Vec<usize> = (0..net.nodes.len()).filter(|&n| graph.component[n] == Some(0)).collect();
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for &n in &comp {
        let p = net.nodes[n].position;
        lo = (lo.0.min(p.x), lo.1.min(p.y));
        hi = (hi.0.max(p.x), hi.1.max(p.y));
    }
    let mut centres: Vec<usize> = vec![];
    for row in 0..5 {
        for col in 0..6 {
            let x = lo.0 + (col as f64 + 0.5) / 6.0 * (hi.0 - lo.0);
            let y = lo.1 + (row as f64 + 0.5) / 5.0 * (hi.1 - lo.1);
            let d2 = |n: usize| {
                let p = net.nodes[n].position;
                (p.x - x).powi(2) + (p.y - y).powi(2)
            };
            let best = comp
                .iter()
                .copied()
                .filter(|n| !centres.contains(n))
                .min_by(|&a, &b| d2(a).total_cmp(&d2(b)).then(a.cmp(&b)))
                .expect("the largest component has more than 30 nodes");
            centres.push(best);
        }
    }

    // What the peers read.
    let mut w = std::io::BufWriter::new(std::fs::File::create(out.join("edges.csv"))?);
    writeln!(w, "from,to,seconds")?;
    let mut arcs = 0usize;
    for (from, to, _, s) in graph.arcs() {
        writeln!(w, "{from},{to},{s:.17e}")?;
        arcs += 1;
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(out.join("nodes.csv"))?);
    writeln!(w, "id,lon,lat")?;
    for (i, n) in net.nodes.iter().enumerate() {
        writeln!(w, "{i},{:.9},{:.9}", n.position.x, n.position.y)?;
    }
    w.flush()?;
    std::fs::write(out.join("centres.txt"), centres.iter().map(|c| format!("{c}\n")).collect::<String>())?;

    // Multi-source travel times to the nearest centre, on the reversed graph, one core.
    let seeds: Vec<Seed> =
        centres.iter().enumerate().map(|(i, &n)| Seed { node: n, cost: 0.0, length_m: 0.0, centre: i }).collect();
    let mut ms = vec![];
    let mut ms_cpu = vec![];
    let mut labels = None;
    for _ in 0..runs {
        let cpu = thread_cpu_ns();
        let t = Instant::now();
        let l = nearest_centres(&graph, &seeds, Metric::TimeS, Direction::ToCentre, LIMIT_S);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
            ms_cpu.push((b - a) as f64 / 1e6);
        }
        labels = Some(l);
    }
    let labels = labels.expect("at least one run");
    let reached = labels.centre.iter().filter(|c| c.is_some()).count();
    std::fs::write(out.join("urbis_times.f64"), labels.cost.iter().flat_map(|c| c.to_le_bytes()).collect::<Vec<u8>>())?;

    // Reach sets and isochrones of each centre at three cutoffs: one search per centre.
    let options = CoverageOptions { minutes: LIMIT_S / 60.0, ..CoverageOptions::default() };
    let index = EdgeIndex::new(&graph);
    let snaps: Vec<_> = centres
        .iter()
        .map(|&n| index.snap(Point(net.nodes[n].position)).expect("a centre on the network snaps"))
        .collect();
    let one = |(ci, s)| isochrones(&graph, &options, s, ci, &CUTOFFS_MIN, cell_m);
    let mut iso_one = vec![];
    let mut iso_all = vec![];
    let mut summary = (0usize, 0usize, 0.0f64);
    let mut stage_runs = vec![];
    let mut iso_one_cpu = vec![];
    let mut checked = 0usize;
    for _ in 0..runs.min(5) {
        // One core: the centres one after the other on this thread, each stage timed.
        let mut stages = IsochroneStages::default();
        let cpu = thread_cpu_ns();
        let t = Instant::now();
        let isos: Vec<_> = snaps
            .iter()
            .enumerate()
            .map(|(ci, s)| isochrones_profiled(&graph, &options, s, ci, &CUTOFFS_MIN, cell_m, &mut stages))
            .collect();
        iso_one.push(t.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
            iso_one_cpu.push((b - a) as f64 / 1e6);
        }
        stage_runs.push(stages);
        let t = Instant::now();
        let par: Vec<_> = snaps.par_iter().enumerate().map(one).collect();
        iso_all.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(isos, par, "the same isochrones on one core and on all");
        // Every 500th node each isochrone claims lies inside its polygon (untimed; the tests
        // check every claim on smaller networks).
        for iso in isos.iter().flatten() {
            for &n in iso.nodes.iter().step_by(500) {
                let p = Point(net.nodes[n].position);
                anyhow::ensure!(
                    iso.polygon.contains(&p),
                    "centre {} {} min: node {n} outside",
                    iso.centre,
                    iso.minutes
                );
                checked += 1;
            }
        }
        summary = (
            isos.iter().flatten().map(|i| i.nodes.len()).sum(),
            isos.iter().flatten().map(|i| i.polygon.0.len()).sum(),
            isos.iter().flatten().map(|i| i.cell_m).fold(0.0, f64::max),
        );
    }

    // The run of median total, by stage (milliseconds, summed over the 30 centres).
    stage_runs.sort_by(|a, b| a.total_s().total_cmp(&b.total_s()));
    let st = stage_runs[stage_runs.len() / 2];
    let stages_ms = serde_json::json!({
        "search": st.search_s * 1e3,
        "reach_sets": st.reach_s * 1e3,
        "raster": st.raster_s * 1e3,
        "dilate": st.dilate_s * 1e3,
        "contour": st.contour_s * 1e3,
        "unproject": st.unproject_s * 1e3,
    });
    let report = serde_json::json!({
        "mode": mode.name(),
        "nodes": net.nodes.len(),
        "edges": net.edges.len(),
        "arcs": arcs,
        "centres": centres,
        "limit_s": LIMIT_S,
        "load_s": load_s,
        "runs": runs,
        "multi_source_ms_median": median(ms.clone()),
        "multi_source_ms_min": ms.iter().copied().fold(f64::INFINITY, f64::min),
        "multi_source_cpu_ms_median": if ms_cpu.is_empty() { None } else { Some(median(ms_cpu)) },
        "reached_nodes": reached,
        "isochrones_one_core_ms_median": median(iso_one),
        "isochrones_one_core_cpu_ms_median": if iso_one_cpu.is_empty() { None } else { Some(median(iso_one_cpu)) },
        "isochrones_all_cores_ms_median": median(iso_all),
        "isochrone_stages_one_core_ms": stages_ms,
        "threads": rayon::current_num_threads(),
        "isochrone_claimed_nodes": summary.0,
        "isochrone_polygons": summary.1,
        "isochrone_claims_checked_inside": checked,
        "isochrone_largest_cell_m": summary.2,
    });
    std::fs::write(out.join("urbis.json"), serde_json::to_string_pretty(&report)?)?;
    println!("{report}");
    Ok(())
}
