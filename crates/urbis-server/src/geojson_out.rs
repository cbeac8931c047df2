//! GeoJSON written straight from features, without building a JSON tree first: a page of a
//! thousand parcels is most of a megabyte, and the tree would cost more than the writing.
//! [`crate::features::feature_json_in`] is the same output as a JSON tree, for the reports.

use geo_types::{Coord, Geometry, LineString, Polygon};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use urbis_core::crs::Crs;
use urbis_core::{Feature, LayerId};

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

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};
    use serde_json::json;

    /// The writer gives what the geojson crate gives for the geometry, the public fields (or those
    /// chosen) and `extra`, for every geometry type and CRS; private fields never.
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
                }
            }
        }
    }
}
