//! Times the network build and the multi-source search on a real road file: the figures quoted in
//! the coverage issue's notes. Not a test and not a benchmark harness: one run, medians printed.
//!
//! ```sh
//! cargo run --release -p urbis-analysis --example network_timing -- ../shared/data/osm/porto_portugal.osm.pbf
//! cargo run --release -p urbis-analysis --example network_timing -- \
//!     data-samples/cambridge/TRANS_Centerlines.geojson data-samples/mappings/roads.toml
//! ```

use std::path::PathBuf;
use std::time::Instant;

use urbis_analysis::paths::{nearest_centres, Direction, Metric, Seed};
use urbis_analysis::{NetworkOptions, RoadNetwork, Speeds, TravelMode};
use urbis_core::LayerId;
use urbis_import::{read_features, ImportOptions, Mapping, Silent};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first().map(PathBuf::from) else {
        eprintln!("usage: network_timing ROADS_FILE [MAPPING.toml]");
        std::process::exit(2);
    };
    let mut options = ImportOptions::new(LayerId::Roads);
    if let Some(m) = args.get(1) {
        options.mapping = Mapping::from_toml_file(m.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    }
    let t = Instant::now();
    let checked = read_features(&file, &options, &Silent).await.unwrap_or_else(|e| panic!("{e}"));
    println!(
        "read {} roads ({} rejected) in {:.2} s",
        checked.features.len(),
        checked.rejected.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let net = RoadNetwork::from_roads(&checked.features, &NetworkOptions::default()).unwrap();
    let r = net.report();
    println!(
        "network: {} nodes, {} edges, {} components (largest {:.2} % of the length), {} unjoined, built in {:.3} s",
        r.nodes,
        r.edges,
        r.components.count,
        100.0 * r.components.largest_length_share,
        r.unjoined.len(),
        t.elapsed().as_secs_f64()
    );
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for u in &r.unjoined {
        let kind: String =
            u.reason.split([':', ',']).next().unwrap_or("").chars().filter(|c| !c.is_ascii_digit()).collect();
        *reasons.entry(kind).or_default() += 1;
    }
    println!(
        "unjoined by reason: {reasons:?}; pieces collapsed into a junction: {}; source node ids refused: {}",
        r.collapsed.len(),
        r.source_node_mismatches.len()
    );
    for mode in [TravelMode::Walk, TravelMode::Drive] {
        let t = Instant::now();
        let graph = net.graph(mode, &Speeds::default()).unwrap();
        let built = t.elapsed().as_secs_f64();
        // 30 centres spread over the largest component.
        let nodes: Vec<usize> = (0..net.nodes.len()).filter(|&n| graph.component[n] == Some(0)).collect();
        let seeds: Vec<Seed> =
            (0..30).map(|i| Seed { node: nodes[i * nodes.len() / 30], cost: 0.0, length_m: 0.0, centre: i }).collect();
        let mut times = vec![];
        let mut reached = 0;
        for _ in 0..21 {
            let t = Instant::now();
            let labels = nearest_centres(&graph, &seeds, Metric::TimeS, Direction::ToCentre, f64::INFINITY);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            reached = labels.centre.iter().filter(|c| c.is_some()).count();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{mode}: graph in {:.1} ms; 30 centres to every node (reversed graph): median {:.2} ms, min {:.2} ms, {} nodes reached",
            built * 1000.0,
            times[times.len() / 2],
            times[0],
            reached
        );
    }
}
