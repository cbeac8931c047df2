//! `urbis coverage`: a service-access run over a store (urbis-analysis does the work), with a
//! progress bar, a summary on the terminal, the full report as JSON and, on request, the results
//! written to the store's `coverage_results` layer.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use urbis_analysis::run::{run, write, CandidateSource, CoverageReport, CoverageRunRequest, RunProgress};
use urbis_analysis::TravelMode;

#[derive(clap::Args)]
pub struct CoverageArgs {
    #[arg(long, env = "URBIS_STORE")]
    pub store: Option<String>,
    /// walk, cycle or drive.
    #[arg(long, default_value = "walk")]
    pub mode: TravelMode,
    /// Covered within this many minutes of travel.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Covered within this many kilometres.
    #[arg(long, default_value_t = 5.0)]
    pub km: f64,
    /// Only service centres of these kinds (repeat, or separate with commas); all by default.
    #[arg(long = "kind", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Isochrone cutoffs in minutes.
    #[arg(long, value_delimiter = ',', default_values_t = [10.0, 20.0, 30.0])]
    pub cutoffs: Vec<f64>,
    /// Suggest this many new centres.
    #[arg(long, default_value_t = 0)]
    pub suggest: usize,
    /// Candidate sites: `public` (public parcels), `grid:<metres>`, or `layer:<layer>[:<kind>]`.
    #[arg(long, default_value = "public")]
    pub candidates: String,
    /// Skip the exact integer programme (greedy and swaps only).
    #[arg(long)]
    pub no_exact: bool,
    /// Parcel weights: auto, population, dwelling_units or one.
    #[arg(long, default_value = "auto")]
    pub weight: String,
    /// Write the full report (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the store's coverage_results layer with this run's isochrones, uncovered areas and
    /// per-parcel access (one transaction).
    #[arg(long)]
    pub write: bool,
}

impl CoverageArgs {
    pub fn request(&self) -> anyhow::Result<CoverageRunRequest> {
        let mut r = CoverageRunRequest::default();
        r.city.mode = self.mode;
        r.city.coverage.minutes = self.minutes;
        r.city.coverage.km = self.km;
        r.city.centre_kinds = self.kinds.clone();
        r.city.parcel_weight = serde_json::from_value(serde_json::Value::String(self.weight.clone()))
            .map_err(|_| anyhow::anyhow!("--weight {}: use auto, population, dwelling_units or one", self.weight))?;
        r.cutoffs_min = self.cutoffs.clone();
        r.suggest = self.suggest;
        r.exact = !self.no_exact;
        r.candidates = parse_candidates(&self.candidates)?;
        Ok(r)
    }
}

fn parse_candidates(s: &str) -> anyhow::Result<CandidateSource> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["public"] => Ok(CandidateSource::PublicParcels),
        ["grid", m] => Ok(CandidateSource::Grid {
            spacing_m: m.parse().with_context(|| format!("--candidates {s}: `{m}` is not a number of metres"))?,
        }),
        ["layer", layer] => Ok(CandidateSource::Layer { layer: layer.to_string(), kind: None }),
        ["layer", layer, kind] => Ok(CandidateSource::Layer { layer: layer.to_string(), kind: Some(kind.to_string()) }),
        _ => anyhow::bail!("--candidates {s}: use public, grid:<metres> or layer:<layer>[:<kind>]"),
    }
}

/// One bar per stage, on stderr, hidden when not on a terminal.
struct Bar(std::sync::Mutex<Option<(String, ProgressBar)>>);

impl RunProgress for Bar {
    fn stage(&self, name: &str, done: u64, total: u64) {
        let Ok(mut current) = self.0.lock() else { return };
        if current.as_ref().is_none_or(|(n, _)| n != name) {
            if let Some((_, old)) = current.take() {
                old.finish_and_clear();
            }
            let bar = ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos:>6}/{len:6} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_prefix(name.to_string());
            *current = Some((name.to_string(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_length(total);
            bar.set_position(done);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Ok(mut c) = self.0.lock() {
            if let Some((_, b)) = c.take() {
                b.finish_and_clear();
            }
        }
    }
}

pub async fn command(args: CoverageArgs, store: &dyn urbis_store::Store) -> anyhow::Result<()> {
    let request = args.request()?;
    let started = std::time::Instant::now();
    let bar = Bar(std::sync::Mutex::new(None));
    let result = run(store, &request, &bar).await;
    drop(bar);
    let result = result.context("coverage run")?;
    print!("{}", summary_text(&result.report));
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&result.report)?;
        std::fs::write(out, json).with_context(|| format!("writing the report to {}", out.display()))?;
        println!("report written to {}", out.display());
    }
    if args.write {
        let n = write(store, &result).await.context("writing the results to the store")?;
        println!("{n} features written to coverage_results (the previous run's replaced)");
    }
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The report's figures for a person.
pub fn summary_text(r: &CoverageReport) -> String {
    use std::fmt::Write;
    let s = &r.summary;
    let mut t = String::new();
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let _ = writeln!(
        t,
        "{} origins (weight {}: {}), {} centres, by {} within {} min or {} km",
        s.origins,
        r.weight_field.as_deref().unwrap_or("one each"),
        s.total_weight,
        r.centres.len(),
        s.mode,
        s.minutes,
        s.km
    );
    for (label, share) in [
        ("by time", &s.by_time),
        ("by network km", &s.by_network_km),
        ("by straight-line km", &s.by_straight_km),
        ("by time or network km", &s.by_time_or_network_km),
        ("by time or straight km", &s.by_time_or_straight_km),
        ("unreached", &s.unreached),
    ] {
        let _ = writeln!(
            t,
            "  {label:<24} {:>7} origins ({:>7})  weight {:>10.1} ({:>7})",
            share.origins,
            pct(share.origin_share),
            share.weight,
            pct(share.weight_share)
        );
    }
    let _ = writeln!(t, "per centre (catchment; covered in time; lost if it closed):");
    for c in &r.centres {
        let _ = writeln!(
            t,
            "  {:<40} {:>6} / {:>8.1}  {:>6} / {:>8.1}  {:>8.1}{}",
            c.name.clone().unwrap_or_else(|| c.id.clone()),
            c.catchment.origins,
            c.catchment.weight,
            c.catchment.covered_origins,
            c.catchment.covered_weight,
            c.closure_loss_weight,
            c.unusable.as_ref().map(|u| format!("  LEFT OUT: {u}")).unwrap_or_default()
        );
    }
    if let Some(c) = &r.least_loss_closure {
        let _ = writeln!(t, "the centre that could close with the least loss: {c}");
    }
    let _ = writeln!(
        t,
        "uncovered: {} parcels, weight {:.1}, {} areas, {:.2} km² ({})",
        r.uncovered.parcels, r.uncovered.weight, r.uncovered.polygons, r.uncovered.area_km2, r.uncovered.criterion
    );
    if !r.parcel_problems.is_empty() {
        let _ = writeln!(
            t,
            "{} parcels are not origins (first: {}: {})",
            r.parcel_problems.len(),
            r.parcel_problems[0].id,
            r.parcel_problems[0].reason
        );
    }
    if let Some(sg) = &r.suggestion {
        let _ = writeln!(
            t,
            "suggestion of {} new centres from {} candidates ({} too far from the roads): uncovered demand {} origins / {:.1}, of which no candidate reaches {} / {:.1}",
            sg.k, sg.candidates, sg.candidates_unusable, sg.demand_origins, sg.demand_weight, sg.unreachable_origins, sg.unreachable_weight
        );
        let mut show = |label: &str, s: &urbis_analysis::run::SolutionReport| {
            let _ = writeln!(t, "  {label}: covers {:.1} more", s.covered_weight);
            for site in &s.sites {
                let _ = writeln!(t, "    {:<24} ({:.6}, {:.6})  +{:.1}", site.id, site.lon, site.lat, site.gain);
            }
        };
        show("greedy", &sg.greedy);
        show("greedy + swaps", &sg.swapped);
        if let Some(e) = &sg.exact {
            show("exact", e);
            let _ = writeln!(
                t,
                "  gap of greedy + swaps to the exact optimum: {:.2} %{}",
                sg.gap.unwrap_or(0.0) * 100.0,
                if sg.exact_proven_optimal == Some(true) { "" } else { " (the solver stopped at its time limit)" }
            );
        }
    }
    t
}
