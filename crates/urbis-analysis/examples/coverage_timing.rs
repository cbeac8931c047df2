//! Times a whole coverage run on a real road file, stage by stage: 30 centres spread over the
//! network, every fifth junction as an origin, isochrones at three cutoffs for every centre, and
//! 5 new centres chosen from 1,000 candidate junctions (greedy, swaps, exact). One run; the peak
//! memory of the process is printed at the end.
//!
//! ```sh
//! cargo run --release -p urbis-analysis --example coverage_timing -- ../shared/data/osm/porto_portugal.osm.pbf
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use geo::Point;
use urbis_analysis::run::{compute, CandidateSource, CoverageRunRequest, RunProgress};
use urbis_analysis::{NetworkOptions, RoadNetwork, Speeds, TravelMode};
use urbis_core::{Feature, LayerId};
use urbis_import::{read_features, ImportOptions, Mapping, Silent};

/// Records when each stage starts.
struct Stages(Mutex<Vec<(String, Instant)>>);

impl RunProgress for Stages {
    fn stage(&self, name: &str, _: u64, _: u64) {
        if let Ok(mut s) = self.0.lock() {
            if s.last().is_none_or(|(n, _)| n != name) {
                s.push((name.to_string(), Instant::now()));
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first().map(PathBuf::from) else {
        eprintln!("usage: coverage_timing ROADS_FILE [MAPPING.toml]");
        std::process::exit(2);
    };
    let mut options = ImportOptions::new(LayerId::Roads);
    if let Some(m) = args.get(1) {
        options.mapping = Mapping::from_toml_file(m.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    }
    let roads = read_features(&file, &options, &Silent).await.unwrap_or_else(|e| panic!("{e}")).features;
    // Points on the largest walking component: centres, origins, candidates.
    let net = RoadNetwork::from_roads(&roads, &NetworkOptions::default()).unwrap();
    let graph = net.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let nodes: Vec<usize> = (0..net.nodes.len()).filter(|&n| graph.component[n] == Some(0)).collect();
    let point = |prefix: &str, i: usize, n: usize| {
        Feature::new(format!("{prefix}{i:05}"), Some(Point(net.nodes[n].position).into()))
    };
    let centres: Vec<Feature> =
        (0..30).map(|i| point("c", i, nodes[i * nodes.len() / 30 + nodes.len() / 60])).collect();
    let origins: Vec<Feature> = nodes.iter().step_by(5).enumerate().map(|(i, &n)| point("o", i, n)).collect();
    let candidates: Vec<Feature> = (0..1000).map(|i| point("s", i, nodes[i * nodes.len() / 1000])).collect();
    let request = CoverageRunRequest {
        cutoffs_min: vec![10.0, 20.0, 30.0],
        suggest: 5,
        candidates: CandidateSource::Layer { layer: "service_centres".into(), kind: None },
        exact_time_limit_s: 60.0,
        ..CoverageRunRequest::default()
    };
    let stages = Stages(Mutex::new(vec![]));
    let t = Instant::now();
    let run = compute(&request, &roads, &origins, &centres, &candidates, &stages).unwrap();
    let end = Instant::now();
    let s = stages.0.into_inner().unwrap();
    println!(
        "{} edges, {} origins, 30 centres, walk 30 min: whole run {:.2} s",
        net.edges.len(),
        origins.len(),
        (end - t).as_secs_f64()
    );
    for (i, (name, at)) in s.iter().enumerate() {
        let next = s.get(i + 1).map(|x| x.1).unwrap_or(end);
        println!("  {name:<16} {:>9.1} ms", (next - *at).as_secs_f64() * 1e3);
    }
    let r = &run.report;
    println!("covered by time: {:.4} of origins", r.summary.by_time.origin_share);
    if let Some(sg) = &r.suggestion {
        println!(
            "suggestion: demand {} origins, unreachable by any candidate {}; greedy {:.0}, swaps {:.0}, exact {:?} (proven optimal {:?}), gap {:?}",
            sg.demand_origins,
            sg.unreachable_origins,
            sg.greedy.covered_weight,
            sg.swapped.covered_weight,
            sg.exact.as_ref().map(|e| e.covered_weight),
            sg.exact_proven_optimal,
            sg.gap
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: unknown");
    println!("peak memory {peak}");
}
