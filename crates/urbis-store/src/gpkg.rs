//! GeoPackage (being written).
