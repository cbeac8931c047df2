//! GeoJSON written straight from features, without building a JSON tree first: a page of a
//! thousand parcels is most of a megabyte, and the tree would cost more than the writing.
//! [`crate::features::feature_json_in`] is the same output as a JSON tree, for the reports.

use geo::CoordsIter;
use geo_types::{Coord, Geometry, LineString, Polygon};
use geozero::wkb::Wkb;
use geozero::{GeomProcessor, GeozeroGeometry};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};
use urbis_core::crs::Crs;
use urbis_core::{Feature, LayerId};
use urbis_store::RawFeature;

/// About how many bytes `features` take as GeoJSON (a little more, rather than less): a position
/// is at most about 42 bytes (`[-71.10153343118847,42.374144444686614],`), the rest of a feature
/// a few hundred.
pub fn size_hint(features: &[Feature]) -> usize {
    let coords: usize = features.iter().filter_map(|f| f.geometry.as_ref()).map(|g| g.coords_count()).sum();
    1024 + 42 * coords + 512 * features.len()
}

/// [`size_hint`] for [`RawFeature`]s: a position takes 16 bytes of WKB.
pub fn raw_size_hint(features: &[RawFeature]) -> usize {
    let bytes: usize = features
        .iter()
        .map(|f| f.wkb.as_ref().map_or(0, Vec::len) * 42 / 16 + f.extra_json.as_ref().map_or(0, String::len) + 512)
        .sum();
    1024 + bytes
}

/// One feature as GeoJSON: public fields only (or those of `only`), `extra` for the rest.
pub struct GeoJsonFeature<'a> {
    pub layer: LayerId,
    pub feature: &'a Feature,
    pub crs: Crs,
    /// The properties to keep, if the client chose.
    pub only: Option<&'a [String]>,
}

impl Serialize for GeoJsonFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("type", "Feature")?;
        map.serialize_entry("id", &self.feature.id)?;
        match &self.feature.geometry {
            Some(g) => map.serialize_entry("geometry", &GeometryOut { g, crs: self.crs })?,
            None => map.serialize_entry("geometry", &())?,
        }
        map.serialize_entry("properties", &Properties(self))?;
        map.end()
    }
}

struct Properties<'a, 'b>(&'b GeoJsonFeature<'a>);

impl Serialize for Properties<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let GeoJsonFeature { layer, feature, only, .. } = self.0;
        let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
        let mut map = s.serialize_map(None)?;
        for field in layer.schema().fields.iter().filter(|f| !f.private && wanted(f.name)) {
            if let Some(v) = feature.attributes.get(field.name) {
                map.serialize_entry(field.name, v)?;
            }
        }
        if !feature.extra.is_empty() && wanted("extra") {
            map.serialize_entry("extra", &feature.extra)?;
        }
        map.end()
    }
}

struct GeometryOut<'a> {
    g: &'a Geometry,
    crs: Crs,
}

impl Serialize for GeometryOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let crs = self.crs;
        let mut map = s.serialize_map(Some(2))?;
        match self.g {
            Geometry::Point(p) => {
                map.serialize_entry("type", "Point")?;
                map.serialize_entry("coordinates", &Position(p.0, crs))?;
            }
            Geometry::MultiPoint(mp) => {
                map.serialize_entry("type", "MultiPoint")?;
                map.serialize_entry("coordinates", &Seq(&mp.0, |p: &geo_types::Point| Position(p.0, crs)))?;
            }
            Geometry::Line(l) => {
                map.serialize_entry("type", "LineString")?;
                map.serialize_entry("coordinates", &[Position(l.start, crs), Position(l.end, crs)])?;
            }
            Geometry::LineString(ls) => {
                map.serialize_entry("type", "LineString")?;
                map.serialize_entry("coordinates", &Line(ls, crs))?;
            }
            Geometry::MultiLineString(mls) => {
                map.serialize_entry("type", "MultiLineString")?;
                map.serialize_entry("coordinates", &Seq(&mls.0, |l| Line(l, crs)))?;
            }
            Geometry::Polygon(p) => {
                map.serialize_entry("type", "Polygon")?;
                map.serialize_entry("coordinates", &Rings(p, crs))?;
            }
            Geometry::MultiPolygon(mp) => {
                map.serialize_entry("type", "MultiPolygon")?;
                map.serialize_entry("coordinates", &Seq(&mp.0, |p| Rings(p, crs)))?;
            }
            Geometry::Rect(r) => {
                map.serialize_entry("type", "Polygon")?;
                let p = r.to_polygon();
                map.serialize_entry("coordinates", &Rings(&p, crs))?;
            }
            Geometry::Triangle(t) => {
                map.serialize_entry("type", "Polygon")?;
                let p = t.to_polygon();
                map.serialize_entry("coordinates", &Rings(&p, crs))?;
            }
            Geometry::GeometryCollection(gc) => {
                map.serialize_entry("type", "GeometryCollection")?;
                map.serialize_entry("geometries", &Seq(&gc.0, |g| GeometryOut { g, crs }))?;
            }
        }
        map.end()
    }
}

/// `[x, y]` in the output CRS.
struct Position(Coord, Crs);

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = if self.1 == Crs::Crs84 { self.0 } else { self.1.from_lonlat(self.0) };
        [c.x, c.y].serialize(s)
    }
}

struct Line<'a>(&'a LineString, Crs);

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let crs = self.1;
        Seq(&self.0 .0, move |c: &Coord| Position(*c, crs)).serialize(s)
    }
}

struct Rings<'a>(&'a Polygon, Crs);

impl Serialize for Rings<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1 + self.0.interiors().len()))?;
        seq.serialize_element(&Line(self.0.exterior(), self.1))?;
        for ring in self.0.interiors() {
            seq.serialize_element(&Line(ring, self.1))?;
        }
        seq.end()
    }
}

/// A slice written as a JSON array, each element through `f`.
struct Seq<'a, T, F>(&'a [T], F);

impl<'a, T, U: Serialize, F: Fn(&'a T) -> U> Serialize for Seq<'a, T, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// A [`RawFeature`] as GeoJSON, appended to `out`: the same document [`GeoJsonFeature`] writes
/// for the feature (the same numbers, fields and order of them), but the geometry is written as
/// geozero reads its WKB and `extra` is copied as the store's JSON text, neither decoded first.
pub fn write_raw_feature(
    out: &mut Vec<u8>,
    layer: LayerId,
    raw: &RawFeature,
    crs: Crs,
    only: Option<&[String]>,
) -> Result<(), String> {
    let json = |e: serde_json::Error| e.to_string();
    out.extend_from_slice(br#"{"type":"Feature","id":"#);
    serde_json::to_writer(&mut *out, &raw.feature.id).map_err(json)?;
    out.extend_from_slice(br#","geometry":"#);
    match &raw.wkb {
        Some(bytes) => Wkb(bytes).process_geom(&mut WkbToGeoJson { out: &mut *out, crs }).map_err(|e| e.to_string())?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","properties":{"#);
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name).map_err(json)?;
        out.push(b':');
        Ok::<_, String>(())
    };
    for field in layer.schema().fields.iter().filter(|f| !f.private && wanted(f.name)) {
        if let Some(v) = raw.feature.attributes.get(field.name) {
            key(out, field.name)?;
            serde_json::to_writer(&mut *out, v).map_err(json)?;
        }
    }
    if let Some(extra) = raw.extra_json.as_deref().filter(|_| wanted("extra")) {
        key(out, "extra")?;
        out.extend_from_slice(extra.as_bytes());
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// Writes a geometry as GeoJSON while geozero reads it (from WKB), as [`GeometryOut`] does.
struct WkbToGeoJson<'a> {
    out: &'a mut Vec<u8>,
    crs: Crs,
}

impl WkbToGeoJson<'_> {
    /// The start of the `idx`th member of what is open: a comma after the first.
    fn open(&mut self, idx: usize, text: &[u8]) -> geozero::error::Result<()> {
        if idx > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(text);
        Ok(())
    }

    fn close(&mut self, text: &[u8]) -> geozero::error::Result<()> {
        self.out.extend_from_slice(text);
        Ok(())
    }

    /// A number as serde_json writes an f64 (null when not finite).
    fn number(&mut self, v: f64) {
        if v.is_finite() {
            // Writing to a Vec cannot fail.
            let _ = CompactFormatter.write_f64(&mut *self.out, v);
        } else {
            self.out.extend_from_slice(b"null");
        }
    }
}

impl GeomProcessor for WkbToGeoJson<'_> {
    fn xy(&mut self, x: f64, y: f64, idx: usize) -> geozero::error::Result<()> {
        let c = Coord { x, y };
        let c = if self.crs == Crs::Crs84 { c } else { self.crs.from_lonlat(c) };
        self.open(idx, b"[")?;
        self.number(c.x);
        self.out.push(b',');
        self.number(c.y);
        self.close(b"]")
    }
    fn point_begin(&mut self, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, br#"{"type":"Point","coordinates":"#)
    }
    fn point_end(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.close(b"}")
    }
    fn multipoint_begin(&mut self, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, br#"{"type":"MultiPoint","coordinates":["#)
    }
    fn multipoint_end(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.close(b"]}")
    }
    fn linestring_begin(&mut self, tagged: bool, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, if tagged { br#"{"type":"LineString","coordinates":["# } else { b"[" })
    }
    fn linestring_end(&mut self, tagged: bool, _idx: usize) -> geozero::error::Result<()> {
        self.close(if tagged { b"]}" } else { b"]" })
    }
    fn multilinestring_begin(&mut self, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, br#"{"type":"MultiLineString","coordinates":["#)
    }
    fn multilinestring_end(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.close(b"]}")
    }
    fn polygon_begin(&mut self, tagged: bool, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, if tagged { br#"{"type":"Polygon","coordinates":["# } else { b"[" })
    }
    fn polygon_end(&mut self, tagged: bool, _idx: usize) -> geozero::error::Result<()> {
        self.close(if tagged { b"]}" } else { b"]" })
    }
    // A triangle is written as the polygon it is, as geo's Triangle is.
    fn triangle_begin(&mut self, tagged: bool, size: usize, idx: usize) -> geozero::error::Result<()> {
        self.polygon_begin(tagged, size, idx)
    }
    fn triangle_end(&mut self, tagged: bool, idx: usize) -> geozero::error::Result<()> {
        self.polygon_end(tagged, idx)
    }
    fn multipolygon_begin(&mut self, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, br#"{"type":"MultiPolygon","coordinates":["#)
    }
    fn multipolygon_end(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.close(b"]}")
    }
    fn geometrycollection_begin(&mut self, _size: usize, idx: usize) -> geozero::error::Result<()> {
        self.open(idx, br#"{"type":"GeometryCollection","geometries":["#)
    }
    fn geometrycollection_end(&mut self, _idx: usize) -> geozero::error::Result<()> {
        self.close(b"]}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};
    use serde_json::json;

    /// A raw feature with no `extra` has none in its properties, and one without geometry a null
    /// geometry; a WKB that cannot be read is an error, not a panic.
    #[test]
    fn raw_features_without_extra_or_geometry() {
        let f = Feature::new("p-2", None).with("stage", "received");
        let raw = RawFeature { feature: f.clone(), wkb: None, extra_json: None };
        let mut out = vec![];
        write_raw_feature(&mut out, LayerId::Permits, &raw, Crs::Crs84, None).unwrap();
        let expected =
            serde_json::to_vec(&GeoJsonFeature { layer: LayerId::Permits, feature: &f, crs: Crs::Crs84, only: None });
        assert_eq!(out, expected.unwrap());
        let bad = RawFeature { wkb: Some(vec![1, 3, 0]), ..raw };
        assert!(write_raw_feature(&mut vec![], LayerId::Permits, &bad, Crs::Crs84, None).is_err());
    }

    /// The writer gives what the geojson crate gives for the geometry, the public fields (or those
    /// chosen) and `extra`, for every geometry type and CRS; private fields never. Written from
    /// WKB and `extra`'s text ([`write_raw_feature`]), the same bytes.
    #[test]
    fn same_as_the_geojson_crate() {
        let square = polygon!(
            exterior: [(x: -71.1, y: 42.3), (x: -71.0, y: 42.3), (x: -71.0, y: 42.4), (x: -71.1, y: 42.3)],
            interiors: [[(x: -71.06, y: 42.33), (x: -71.05, y: 42.33), (x: -71.05, y: 42.34), (x: -71.06, y: 42.33)]],
        );
        let geometries: Vec<Option<Geometry>> = vec![
            Some(point!(x: -71.1, y: 42.3).into()),
            Some(geo_types::MultiPoint(vec![point!(x: 1.0, y: 2.0), point!(x: 3.5, y: -4.25)]).into()),
            Some(line_string![(x: 0.1, y: 0.2), (x: 0.3, y: 0.4)].into()),
            Some(geo_types::MultiLineString(vec![line_string![(x: 0.1, y: 0.2), (x: 0.3, y: 0.4)]]).into()),
            Some(square.clone().into()),
            Some(geo_types::MultiPolygon(vec![square.clone(), square]).into()),
            Some(Geometry::GeometryCollection(geo_types::GeometryCollection(vec![point!(x: 5.0, y: 6.0).into()]))),
            None,
        ];
        for g in geometries {
            let f = Feature::new("p-1", g)
                .with("tracking_code", "URB-1")
                .with("procedure_code", "BP")
                .with("applicant", json!({ "name": "private" }))
                .with("stage", "received")
                .with("proposed_height_m", 12.5);
            let mut f = f;
            f.extra.insert("source".into(), json!({ "n": 1 }));
            for crs in Crs::ALL {
                for only in [None, Some(vec!["stage".to_string(), "extra".to_string()])] {
                    let geometry = f
                        .geometry
                        .as_ref()
                        .map(|g| json!(geojson::Geometry::from(&crs.geometry_from_lonlat(g))))
                        .unwrap_or(serde_json::Value::Null);
                    let mut properties = json!({
                        "tracking_code": "URB-1", "procedure_code": "BP", "stage": "received",
                        "proposed_height_m": 12.5, "extra": { "source": { "n": 1 } },
                    });
                    if let (Some(only), Some(props)) = (&only, properties.as_object_mut()) {
                        props.retain(|k, _| only.iter().any(|o| o == k));
                    }
                    let tree =
                        json!({ "type": "Feature", "id": "p-1", "geometry": geometry, "properties": properties });
                    let direct = serde_json::to_value(GeoJsonFeature {
                        layer: LayerId::Permits,
                        feature: &f,
                        crs,
                        only: only.as_deref(),
                    })
                    .unwrap();
                    assert_eq!(direct, tree, "{crs}");
                    assert!(!direct.to_string().contains("private"));

                    // From WKB and `extra`'s text: the same bytes.
                    let mut fields = f.clone();
                    fields.geometry = None;
                    fields.extra.clear();
                    let raw = RawFeature {
                        feature: fields,
                        wkb: f.geometry.as_ref().map(|g| urbis_store::wkb::to_wkb(g).unwrap()),
                        extra_json: Some(serde_json::to_string(&f.extra).unwrap()),
                    };
                    let mut out = vec![];
                    write_raw_feature(&mut out, LayerId::Permits, &raw, crs, only.as_deref()).unwrap();
                    let written = serde_json::to_vec(&GeoJsonFeature {
                        layer: LayerId::Permits,
                        feature: &f,
                        crs,
                        only: only.as_deref(),
                    })
                    .unwrap();
                    assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(written).unwrap(), "{crs}");
                }
            }
        }
    }
}
