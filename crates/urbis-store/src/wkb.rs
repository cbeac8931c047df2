//! Geometry to and from the bytes the stores keep: WKB for PostGIS, and the GeoPackage binary
//! (a small header with SRS id and envelope, then WKB) for the embedded store.

use geo::BoundingRect;
use geo_types::Geometry;
use geozero::{wkb::Wkb, CoordDimensions, ToGeo, ToWkb};

pub const SRID: i32 = 4326;

pub fn to_wkb(g: &Geometry) -> Result<Vec<u8>, String> {
    g.to_wkb(CoordDimensions::xy()).map_err(|e| e.to_string())
}

pub fn to_ewkb(g: &Geometry) -> Result<Vec<u8>, String> {
    g.to_ewkb(CoordDimensions::xy(), Some(SRID)).map_err(|e| e.to_string())
}

pub fn from_wkb(bytes: &[u8]) -> Result<Geometry, String> {
    Wkb(bytes).to_geo().map_err(|e| e.to_string())
}

/// GeoPackage binary: magic `GP`, version 0, flags (little-endian, xy envelope, or the empty
/// flag for an empty geometry), SRS id, envelope, then standard WKB.
pub fn to_gpkg(g: &Geometry) -> Result<Vec<u8>, String> {
    let wkb = to_wkb(g)?;
    let rect = g.bounding_rect();
    let mut out = Vec::with_capacity(wkb.len() + 40);
    out.extend_from_slice(b"GP");
    out.push(0);
    let flags: u8 = match rect {
        Some(_) => 0b0000_0011, // envelope xy (1 << 1), little endian
        None => 0b0001_0001,    // empty, no envelope, little endian
    };
    out.push(flags);
    out.extend_from_slice(&SRID.to_le_bytes());
    if let Some(r) = rect {
        for v in [r.min().x, r.max().x, r.min().y, r.max().y] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&wkb);
    Ok(out)
}

/// The parts of a GeoPackage geometry blob.
pub struct GpkgBlob<'a> {
    pub empty: bool,
    /// minx, maxx, miny, maxy, if the header carries it.
    pub envelope: Option<[f64; 4]>,
    pub wkb: &'a [u8],
}

pub fn parse_gpkg(blob: &[u8]) -> Result<GpkgBlob<'_>, String> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return Err("not a GeoPackage geometry (no GP magic)".into());
    }
    let flags = blob[3];
    let little = flags & 1 == 1;
    let empty = flags & 0b1_0000 != 0;
    let env_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        other => return Err(format!("invalid envelope code {other}")),
    };
    let rd_f64 = |b: &[u8]| {
        let a: [u8; 8] = b.try_into().expect("8 bytes");
        if little {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        }
    };
    if blob.len() < 8 + env_len {
        return Err("truncated GeoPackage geometry header".into());
    }
    let envelope = (env_len >= 32).then(|| {
        let e = &blob[8..];
        [rd_f64(&e[0..8]), rd_f64(&e[8..16]), rd_f64(&e[16..24]), rd_f64(&e[24..32])]
    });
    Ok(GpkgBlob { empty, envelope, wkb: &blob[8 + env_len..] })
}

pub fn from_gpkg(blob: &[u8]) -> Result<Geometry, String> {
    from_wkb(parse_gpkg(blob)?.wkb)
}

/// The envelope of a GeoPackage geometry, from its header or, failing that, from its WKB.
pub fn gpkg_envelope(blob: &[u8]) -> Option<(bool, [f64; 4])> {
    let parsed = parse_gpkg(blob).ok()?;
    if parsed.empty {
        return Some((true, [f64::NAN; 4]));
    }
    if let Some(e) = parsed.envelope {
        return Some((false, e));
    }
    let g = from_wkb(parsed.wkb).ok()?;
    match g.bounding_rect() {
        Some(r) => Some((false, [r.min().x, r.max().x, r.min().y, r.max().y])),
        None => Some((true, [f64::NAN; 4])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn gpkg_blob_round_trips_with_envelope_and_srid() {
        let g: Geometry = polygon![(x: 1., y: 2.), (x: 3., y: 2.), (x: 3., y: 5.)].into();
        let blob = to_gpkg(&g).unwrap();
        let parsed = parse_gpkg(&blob).unwrap();
        assert_eq!(i32::from_le_bytes(blob[4..8].try_into().unwrap()), 4326);
        assert_eq!(parsed.envelope, Some([1., 3., 2., 5.]));
        assert_eq!(from_gpkg(&blob).unwrap(), g);
    }
}
