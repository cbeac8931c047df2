//! What the integration tests share: a fresh store of each kind. Every call gives a store of its
//! own (a new GeoPackage file, or a new PostgreSQL database copied from the `urbis_template` that
//! `tests/run.sh` prepares), so tests never see each other's data and may run in parallel.
//!
//! PostGIS tests are never skipped: without `URBIS_TEST_PG_URL` they fail and say how to run them.

#![allow(dead_code)] // each test target uses part of this module

/// Runs each named `async fn` against a fresh GeoPackage and, with the `postgis-tests` feature, a
/// fresh PostGIS database. `(store, dir) => (args)` says how a test takes them: `store` is a
/// `Box<dyn Store>`, `dir` a temporary folder's path.
///
/// ```ignore
/// on_both_stores!((store, dir) => (&*store, dir); my_test, my_other_test);
/// ```
#[allow(unused_macros)] // crates/urbis-store/tests/postgis.rs shares this module without it
macro_rules! on_both_stores {
    (($store:ident, $dir:ident) => $args:tt; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[allow(unused_variables)]
            #[tokio::test]
            async fn gpkg() {
                let tmp = tempfile::tempdir().unwrap();
                let $dir = tmp.path();
                let $store = super::support::gpkg($dir).await;
                super::$name $args.await;
            }

            #[cfg(feature = "postgis-tests")]
            #[allow(unused_variables)]
            #[tokio::test]
            async fn postgis() {
                let tmp = tempfile::tempdir().unwrap();
                let $dir = tmp.path();
                let $store = super::support::postgis().await;
                super::$name $args.await;
            }
        }
    )*};
}

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use urbis_store::Store;

/// A new, migrated PostGIS database, as an urbis store.
pub async fn postgis() -> Box<dyn Store> {
    let url = fresh_database().await;
    urbis_store::postgis::migrate(&url).await.unwrap_or_else(|e| panic!("migrating the test database: {e}"));
    let store =
        urbis_store::postgis::PostgisStore::connect(&url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    Box::new(store)
}

/// A new GeoPackage store in `dir`.
pub async fn gpkg(dir: &Path) -> Box<dyn Store> {
    let path = dir.join("t.gpkg");
    let store =
        urbis_store::gpkg::GpkgStore::open(&path).await.unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    Box::new(store)
}

/// The URL of the test server's maintenance database, from `tests/run.sh`.
pub fn admin_url() -> String {
    std::env::var("URBIS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "URBIS_TEST_PG_URL is not set: the PostGIS tests need a server. Run them with `bash tests/run.sh`, \
             which starts a throwaway PostGIS, or set URBIS_TEST_PG_URL=postgres://user@host:port/postgres \
             (a role that may create databases; a template database `urbis_template` with PostGIS is used if present)"
        )
    })
}

/// Creates an empty database with a name no other test (or test process) uses, and returns its URL.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("urbis_t_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut conn =
        sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("connecting to URBIS_TEST_PG_URL: {e}"));
    // Copying the template spares every test the cost of CREATE EXTENSION postgis. Copies of one
    // template made at the same moment can collide ("being accessed by other users"): retry.
    let mut attempt = 0;
    loop {
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE urbis_template");
        match sqlx::query(&sql).execute(&mut conn).await {
            Ok(_) => break,
            Err(e) if code(&e).as_deref() == Some("3D000") => {
                // No template on this server: a plain database; migrate() adds PostGIS.
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
                break;
            }
            Err(e) if code(&e).as_deref() == Some("55006") && attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("creating test database {name}: {e}"),
        }
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

/// `admin` with its database name replaced by `name`.
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, params) = match admin.split_once('?') {
        Some((b, p)) => (b, format!("?{p}")),
        None => (admin, String::new()),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{host_part}/{name}{params}")
}

/// The SQLSTATE of a database error.
fn code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}
