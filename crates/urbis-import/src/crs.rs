//! Reprojection to WGS 84 without GDAL: a declared CRS (EPSG code, PROJ string or WKT) becomes a
//! proj4rs projection, and every vertex goes through it. proj4rs works in radians for geographic
//! systems, so degrees are converted on the way in and out.

use geo::MapCoordsInPlace;
use geo_types::{Coord, Geometry};
use proj4rs::proj::Proj;

/// Where a source's coordinates go to reach WGS 84. `None` inside: they already are WGS 84.
pub struct Reprojection {
    from: Option<Proj>,
    to: Proj,
}

const WGS84: &str = "+proj=longlat +datum=WGS84 +no_defs";

impl Reprojection {
    /// Parses a CRS as met in files and mappings: `EPSG:2249`, `urn:ogc:def:crs:EPSG::2249`,
    /// `CRS84`, a PROJ string, or WKT (a `.prj`, a GeoPackage definition).
    pub fn from_declared(crs: &str) -> Result<Self, String> {
        let to = Proj::from_proj_string(WGS84).map_err(|e| format!("WGS 84: {e}"))?;
        let from = match resolve(crs)? {
            Resolved::Wgs84 => None,
            Resolved::Proj(p) => Some(Proj::from_proj_string(&p).map_err(|e| format!("`{p}`: {e}"))?),
        };
        Ok(Reprojection { from, to })
    }

    pub fn is_identity(&self) -> bool {
        self.from.is_none()
    }

    /// Reprojects a geometry in place; the error names the first vertex that failed.
    pub fn apply(&self, g: &mut Geometry) -> Result<(), String> {
        let Some(from) = &self.from else { return Ok(()) };
        // map_coords_in_place takes a Copy closure: the first failure is kept in a cell.
        let failure: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
        let failed = &failure;
        g.map_coords_in_place(|c| {
            if failed.borrow().is_some() {
                return c;
            }
            match self.point(from, c) {
                Ok(out) => out,
                Err(e) => {
                    *failed.borrow_mut() = Some(format!("vertex ({}, {}) cannot be reprojected: {e}", c.x, c.y));
                    c
                }
            }
        });
        failure.into_inner().map_or(Ok(()), Err)
    }

    fn point(&self, from: &Proj, c: Coord) -> Result<Coord, String> {
        if !c.x.is_finite() || !c.y.is_finite() {
            // Left for validation, which names the vertex.
            return Ok(c);
        }
        let mut p = Vertex(c.x, c.y);
        if from.is_latlong() {
            p = Vertex(p.0.to_radians(), p.1.to_radians());
        }
        proj4rs::transform::transform(from, &self.to, &mut p).map_err(|e| e.to_string())?;
        Ok(Coord { x: p.0.to_degrees(), y: p.1.to_degrees() })
    }
}

struct Vertex(f64, f64);

impl proj4rs::transform::Transform for Vertex {
    fn transform_coordinates<F: proj4rs::transform::TransformClosure>(
        &mut self,
        f: &mut F,
    ) -> proj4rs::errors::Result<()> {
        let (x, y, _) = f(self.0, self.1, 0.0)?;
        self.0 = x;
        self.1 = y;
        Ok(())
    }
}

enum Resolved {
    Wgs84,
    Proj(String),
}

fn resolve(crs: &str) -> Result<Resolved, String> {
    let s = crs.trim();
    if s.is_empty() {
        return Err("empty CRS".into());
    }
    let upper = s.to_ascii_uppercase();
    if ["CRS84", "WGS84", "WGS 84", "OGC:CRS84"].contains(&upper.as_str()) || upper.ends_with("OGC:1.3:CRS84") {
        return Ok(Resolved::Wgs84);
    }
    if s.starts_with('+') {
        return Ok(Resolved::Proj(s.to_string()));
    }
    if s.contains('[') {
        return from_wkt(s);
    }
    match epsg_code(&upper) {
        Some(code) => from_epsg(code),
        None => Err(format!("`{s}` is neither an EPSG code (EPSG:2249), a PROJ string (+proj=…) nor WKT")),
    }
}

/// `EPSG:2249`, `EPSG::2249`, `urn:ogc:def:crs:EPSG::2249`, `urn:ogc:def:crs:EPSG:6.6:2249`, `2249`.
fn epsg_code(upper: &str) -> Option<u32> {
    if let Ok(n) = upper.parse::<u32>() {
        return Some(n);
    }
    let rest = upper.split("EPSG:").nth(1)?;
    rest.rsplit(':').next()?.trim().parse().ok()
}

fn from_epsg(code: u32) -> Result<Resolved, String> {
    if code == 4326 {
        return Ok(Resolved::Wgs84);
    }
    let def = u16::try_from(code)
        .ok()
        .and_then(crs_definitions::from_code)
        .ok_or_else(|| format!("EPSG:{code} is not a CRS known to urbis (without GDAL)"))?;
    Ok(Resolved::Proj(def.proj4.to_string()))
}

/// WKT that names its EPSG code at the top level is taken by code (the definitions table is
/// more complete than a WKT conversion); other WKT, like Esri's `.prj`, is converted.
fn from_wkt(wkt: &str) -> Result<Resolved, String> {
    if let Some(code) = top_level_epsg(wkt) {
        if let Ok(r) = from_epsg(code) {
            return Ok(r);
        }
    }
    let head = wkt.trim_start().to_ascii_uppercase();
    if (head.starts_with("GEOGCS[") || head.starts_with("GEOGCRS["))
        && (head.contains("WGS_1984") || head.contains("WGS 84"))
    {
        return Ok(Resolved::Wgs84);
    }
    proj4wkt::wkt_to_projstring(wkt).map(Resolved::Proj).map_err(|e| format!("cannot read the WKT: {e:?}"))
}

/// The AUTHORITY["EPSG","n"] (WKT1) or ID["EPSG",n] (WKT2) that closes the outermost node.
fn top_level_epsg(wkt: &str) -> Option<u32> {
    let t = wkt.trim().trim_end_matches(']');
    let upper = t.to_ascii_uppercase();
    let at = upper.rfind("AUTHORITY[").or_else(|| upper.rfind("ID["))?;
    // Only the outermost: nothing but the closing of this node may follow it.
    let tail = &t[at..];
    let depth_ok = tail.matches('[').count() == tail.matches(']').count() + 1;
    if !depth_ok {
        return None;
    }
    let inner = tail.split_once('[')?.1;
    let mut parts = inner.split(',').map(|p| p.trim().trim_matches('"').trim_end_matches(']'));
    let auth = parts.next()?;
    if !auth.eq_ignore_ascii_case("EPSG") {
        return None;
    }
    parts.next()?.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::point;

    #[test]
    fn epsg_forms_are_understood() {
        assert_eq!(epsg_code("EPSG:2249"), Some(2249));
        assert_eq!(epsg_code("URN:OGC:DEF:CRS:EPSG::2249"), Some(2249));
        assert_eq!(epsg_code("URN:OGC:DEF:CRS:EPSG:6.6:32619"), Some(32619));
        assert!(Reprojection::from_declared("EPSG:4326").unwrap().is_identity());
        assert!(Reprojection::from_declared("urn:ogc:def:crs:OGC:1.3:CRS84").unwrap().is_identity());
        assert!(Reprojection::from_declared("EPSG:99999").is_err());
        assert!(Reprojection::from_declared("Massachusetts").is_err());
    }

    #[test]
    fn utm_metres_come_back_to_degrees() {
        // Harvard Square (-71.1190, 42.3736) in UTM 19N, as PROJ 9 cs2cs gives it.
        let r = Reprojection::from_declared("EPSG:32619").unwrap();
        let mut g: Geometry = point!(x: 325_535.998, y: 4_693_432.783).into();
        r.apply(&mut g).unwrap();
        let Geometry::Point(p) = g else { panic!() };
        assert!((p.x() - -71.1190).abs() < 1e-7 && (p.y() - 42.3736).abs() < 1e-7, "{p:?}");
    }

    #[test]
    fn top_level_authority_is_found() {
        let w = r#"PROJCS["x",GEOGCS["NAD83",AUTHORITY["EPSG","4269"]],AUTHORITY["EPSG","2249"]]"#;
        assert_eq!(top_level_epsg(w), Some(2249));
        let esri = r#"PROJCS["x",GEOGCS["NAD83",AUTHORITY["EPSG","4269"]],UNIT["Foot_US",0.3048]]"#;
        assert_eq!(top_level_epsg(esri), None);
    }
}
