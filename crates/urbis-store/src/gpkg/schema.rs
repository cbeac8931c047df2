//! The GeoPackage 1.3 layout of an urbis store: the core tables, one feature (or attribute)
//! table per layer, and the R*Tree spatial index extension with its standard triggers.

use urbis_core::{FieldType, GeometryKind, LayerId, LayerSchema};

/// `GPKG` as a 32-bit integer, the GeoPackage application id.
pub const APPLICATION_ID: i64 = 0x4750_4B47;
/// GeoPackage 1.3.0.
pub const USER_VERSION: i64 = 10300;

const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// Statements that create a new, empty urbis GeoPackage.
pub fn create_statements() -> Vec<String> {
    let mut s = vec![
        format!("PRAGMA application_id = {APPLICATION_ID}"),
        format!("PRAGMA user_version = {USER_VERSION}"),
        "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, \
         organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, \
         description TEXT)"
            .into(),
        "INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', \
         'undefined cartesian coordinate reference system')"
            .into(),
        "INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', \
         'undefined geographic coordinate reference system')"
            .into(),
        format!(
            "INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{WGS84_WKT}', \
             'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')"
        ),
        "CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, \
         identifier TEXT UNIQUE, description TEXT DEFAULT '', \
         last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), \
         min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, \
         CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))"
            .into(),
        "CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, \
         geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, \
         CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), \
         CONSTRAINT uk_gc_table_name UNIQUE (table_name), \
         CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name), \
         CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))"
            .into(),
        "CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, \
         definition TEXT NOT NULL, scope TEXT NOT NULL, \
         CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"
            .into(),
        // Which columns hold JSON, so that GDAL and QGIS show them as JSON fields.
        "CREATE TABLE gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, \
         title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT, \
         CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), \
         CONSTRAINT gdc_tn UNIQUE (table_name, name))"
            .into(),
        "CREATE TABLE gpkg_data_column_constraints (constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, \
         value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, \
         description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))"
            .into(),
        "INSERT INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL, 'gpkg_schema', \
         'http://www.geopackage.org/spec/#extension_schema', 'read-write')"
            .into(),
        "INSERT INTO gpkg_extensions VALUES ('gpkg_data_column_constraints', NULL, 'gpkg_schema', \
         'http://www.geopackage.org/spec/#extension_schema', 'read-write')"
            .into(),
    ];
    for layer in LayerId::ALL {
        s.extend(layer_statements(layer));
    }
    // The change feed's table and triggers too, in the creating transaction: `open` runs them
    // again for older stores, where on a new one they then change nothing. Each statement on its
    // own would be a commit of its own (three syncs each, ~0.4 s for a new store on a disk).
    s.extend(crate::changes::gpkg::statements());
    s
}

fn sql_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text | FieldType::Json => "TEXT",
        FieldType::Integer => "INTEGER",
        FieldType::Real => "REAL",
        FieldType::Boolean => "BOOLEAN",
        FieldType::Date => "DATE",
        FieldType::DateTime => "DATETIME",
    }
}

pub(crate) fn layer_statements(layer: LayerId) -> Vec<String> {
    let schema: &LayerSchema = layer.schema();
    let t = schema.table;
    let mut cols = vec!["fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL".to_string(), "id TEXT NOT NULL UNIQUE".into()];
    if let Some(g) = schema.geometry.sql_name() {
        cols.push(format!("geom {g}"));
    }
    for f in schema.fields {
        cols.push(format!("{} {}", f.name, sql_type(f.ty)));
    }
    cols.push("extra TEXT NOT NULL DEFAULT '{}'".into());
    let mut s = vec![format!("CREATE TABLE {t} ({})", cols.join(", "))];
    let data_type = if schema.geometry == GeometryKind::None { "attributes" } else { "features" };
    s.push(format!(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) \
         VALUES ('{t}', '{data_type}', '{}', '{}', {})",
        schema.title.replace('\'', "''"),
        schema.description.replace('\'', "''"),
        if schema.has_geometry() { "4326" } else { "NULL" }
    ));
    for f in schema.fields.iter().filter(|f| f.ty == FieldType::Json) {
        s.push(format!(
            "INSERT INTO gpkg_data_columns (table_name, column_name, mime_type) VALUES ('{t}', '{}', 'application/json')",
            f.name
        ));
    }
    s.push(format!(
        "INSERT INTO gpkg_data_columns (table_name, column_name, mime_type) VALUES ('{t}', 'extra', 'application/json')"
    ));
    for code in ["code", "tracking_code", "permit_id"] {
        if schema.field(code).is_some() {
            s.push(format!("CREATE INDEX {t}_{code}_idx ON {t} ({code})"));
        }
    }
    if let Some(g) = schema.geometry.sql_name() {
        s.push(format!("INSERT INTO gpkg_geometry_columns VALUES ('{t}', 'geom', '{g}', 4326, 0, 0)"));
        s.extend(rtree_statements(t));
    }
    s
}

/// The trigger that indexes each new row. Bulk loads drop it, index the new rows in one
/// statement, and create it again, all in their transaction.
pub fn rtree_insert_trigger(t: &str) -> String {
    let r = format!("rtree_{t}_geom");
    format!(
        "CREATE TRIGGER {r}_insert AFTER INSERT ON {t} \
         WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom)) \
         BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), \
         ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END"
    )
}

/// The R*Tree extension exactly as GeoPackage 1.3 specifies it, so that GDAL and QGIS keep the
/// index up to date when they edit the file too.
fn rtree_statements(t: &str) -> Vec<String> {
    let r = format!("rtree_{t}_geom");
    let vals = "NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)";
    vec![
        format!(
            "INSERT INTO gpkg_extensions VALUES ('{t}', 'geom', 'gpkg_rtree_index', \
             'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')"
        ),
        format!("CREATE VIRTUAL TABLE {r} USING rtree(id, minx, maxx, miny, maxy)"),
        rtree_insert_trigger(t),
        format!(
            "CREATE TRIGGER {r}_update1 AFTER UPDATE OF geom ON {t} \
             WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) \
             BEGIN INSERT OR REPLACE INTO {r} VALUES ({vals}); END"
        ),
        format!(
            "CREATE TRIGGER {r}_update2 AFTER UPDATE OF geom ON {t} \
             WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) \
             BEGIN DELETE FROM {r} WHERE id = OLD.fid; END"
        ),
        format!(
            "CREATE TRIGGER {r}_update3 AFTER UPDATE ON {t} \
             WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) \
             BEGIN DELETE FROM {r} WHERE id = OLD.fid; INSERT OR REPLACE INTO {r} VALUES ({vals}); END"
        ),
        format!(
            "CREATE TRIGGER {r}_update4 AFTER UPDATE ON {t} \
             WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) \
             BEGIN DELETE FROM {r} WHERE id IN (OLD.fid, NEW.fid); END"
        ),
        format!(
            "CREATE TRIGGER {r}_delete AFTER DELETE ON {t} WHEN old.geom NOT NULL \
             BEGIN DELETE FROM {r} WHERE id = OLD.fid; END"
        ),
    ]
}
