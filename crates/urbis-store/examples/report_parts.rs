//! Times the store questions a parcel report asks, one by one, for the parcels given (by id) in
//! a GeoPackage: where the time of a slow report goes. Not a test.
//!
//! ```sh
//! cargo run --release -p urbis-store --example report_parts -- urbis-demo.gpkg 13074 13048 1
//! ```

use std::path::PathBuf;
use std::time::Instant;

use urbis_core::LayerId;
use urbis_store::gpkg::GpkgStore;
use urbis_store::Store;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = GpkgStore::open(&PathBuf::from(&args[0])).await.expect("open");
    for id in &args[1..] {
        let parcel = store.get(LayerId::Parcels, id).await.expect("get").expect("parcel");
        let shape = parcel.geometry.clone().expect("geometry");
        println!("parcel {id}");
        for _ in 0..2 {
            let t = Instant::now();
            let districts = store.intersects(LayerId::ZoningDistricts, &shape, Some(20)).await.unwrap();
            let n = districts.len();
            println!("  districts intersects {n:5} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let site = urbis_core::permits::check::polygons(&shape);
            let area = urbis_core::geodesy::area_m2(&shape);
            for d in &districts {
                let g = d.geometry.as_ref().expect("district geometry");
                let _ = urbis_core::permits::check::share_of_site_of_area(&site, area, g);
            }
            println!("  share of site in each      {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let n = store.intersects(LayerId::ZoningOverlays, &shape, Some(50)).await.unwrap().len();
            println!("  overlays  intersects {n:5} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let n = store.within_distance(LayerId::Roads, &shape, 15.0, Some(20)).await.unwrap().len();
            println!("  roads     within 15  {n:5} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let n = store.within_distance(LayerId::Utilities, &shape, 30.0, Some(200)).await.unwrap().len();
            println!("  utilities within 30  {n:5} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let n = store.intersects(LayerId::Permits, &shape, Some(500)).await.unwrap().len();
            println!("  permits   intersects {n:5} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
    }
}
