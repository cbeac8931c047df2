//! A GeoPackage written by an earlier urbis, before a layer was added, opens in this one: the new
//! layer is created (with its index and metadata) and nothing else is touched. A file that lacks a
//! layer urbis always had is still refused, unaltered.

use geo_types::{Geometry, Point};
use sqlx::{Connection, SqliteConnection};
use urbis_core::{Feature, LayerId};
use urbis_store::gpkg::GpkgStore;
use urbis_store::{Query, Store, StoreError};

/// Removes a layer as if the store had been written before it existed.
async fn remove_layer(path: &std::path::Path, table: &str) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    for sql in [
        format!("DROP TABLE IF EXISTS rtree_{table}_geom"),
        format!("DROP TABLE {table}"),
        format!("DELETE FROM gpkg_geometry_columns WHERE table_name = '{table}'"),
        format!("DELETE FROM gpkg_data_columns WHERE table_name = '{table}'"),
        format!("DELETE FROM gpkg_extensions WHERE table_name = '{table}'"),
        format!("DELETE FROM gpkg_contents WHERE table_name = '{table}'"),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_store_from_before_a_new_layer_gets_it_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.gpkg");
    let store = GpkgStore::open(&path).await.unwrap();
    let square = geo_types::Polygon::new(
        geo_types::LineString::from(vec![
            (-71.1, 42.37),
            (-71.0999, 42.37),
            (-71.0999, 42.3701),
            (-71.1, 42.3701),
            (-71.1, 42.37),
        ]),
        vec![],
    );
    let mut parcel = Feature::new("p1", Some(Geometry::MultiPolygon(geo_types::MultiPolygon(vec![square]))));
    parcel.attributes.insert("code".into(), "1-1".into());
    store.create(LayerId::Parcels, &[parcel]).await.unwrap();
    store.close().await;
    remove_layer(&path, LayerId::CoverageResults.name()).await;

    let store = GpkgStore::open(&path).await.unwrap();
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 1);
    let mut result = Feature::new("r1", Some(Geometry::Point(Point::new(-71.1, 42.37))));
    result.attributes.insert("kind".into(), "access".into());
    store.create(LayerId::CoverageResults, &[result]).await.unwrap();
    let near = store.nearest(LayerId::CoverageResults, Point::new(-71.1, 42.37), 1).await.unwrap();
    assert_eq!(near.len(), 1, "the new layer's spatial index works");
    let layers = store.layers().await.unwrap();
    assert_eq!(layers.len(), LayerId::ALL.len());
    store.close().await;

    // Without a layer urbis always had, it is not an urbis store, and it is left as it was.
    remove_layer(&path, LayerId::Roads.name()).await;
    let before = std::fs::read(&path).unwrap();
    match GpkgStore::open(&path).await {
        Err(StoreError::NotUrbis { reason, .. }) => assert!(reason.contains("roads"), "{reason}"),
        Err(other) => panic!("expected NotUrbis, got {other}"),
        Ok(_) => panic!("a GeoPackage without roads was taken for an urbis store"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "a refused file is not altered");
}
