//! How fast a what-if answers on a city in a store: add one centre, or remove one.
//!
//! `cargo run --release -p urbis-analysis --example what_if -- urbis-demo.gpkg [walk|cycle|drive] [minutes]`

use std::time::Instant;

use urbis_analysis::coverage::{coverage, CoverageOptions};
use urbis_analysis::run::WhatIf;
use urbis_analysis::source::read_layer;
use urbis_analysis::{NetworkOptions, Origins, ParcelWeight, RoadNetwork, Speeds, TravelMode};
use urbis_core::LayerId;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let location = args.get(1).ok_or("usage: what_if <store> [mode] [minutes]")?;
    let mode: TravelMode = args.get(2).map(|m| m.parse()).transpose()?.unwrap_or(TravelMode::Walk);
    let minutes: f64 = args.get(3).map(|m| m.parse()).transpose()?.unwrap_or(10.0);
    let store = urbis_store::open(location).await?;
    let roads = read_layer(&*store, LayerId::Roads).await?;
    let parcels = Origins::from_parcels(&read_layer(&*store, LayerId::Parcels).await?, ParcelWeight::Auto);
    let centres = Origins::from_points(&read_layer(&*store, LayerId::ServiceCentres).await?, None);
    let net = RoadNetwork::from_roads(&roads, &NetworkOptions::default())?;
    let graph = net.graph(mode, &Speeds::default())?;
    let options = CoverageOptions { minutes, ..CoverageOptions::default() };
    let t = Instant::now();
    let cov = coverage(&graph, &parcels, &centres, &options)?;
    let prepared = WhatIf::new(&graph, &options, &cov);
    println!(
        "{} parcels, {} centres, {mode} {minutes} min: coverage and preparation {:.1} ms",
        parcels.origins.len(),
        centres.origins.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    // Add a centre at each parcel of a sample, remove each centre in turn.
    let sample: Vec<_> = parcels.origins.iter().step_by(parcels.origins.len().max(20) / 20).take(20).collect();
    let mut worst: f64 = 0.0;
    for o in &sample {
        let t = Instant::now();
        let change = prepared.add(o.point)?;
        worst = worst.max(t.elapsed().as_secs_f64());
        let _ = change;
    }
    println!("add one centre: worst of {} answers {:.2} ms", sample.len(), worst * 1e3);
    let mut worst: f64 = 0.0;
    for c in 0..centres.origins.len() {
        let t = Instant::now();
        let _ = prepared.remove(c);
        worst = worst.max(t.elapsed().as_secs_f64());
    }
    println!("remove one centre: worst of {} answers {:.3} ms", centres.origins.len(), worst * 1e3);
    Ok(())
}
