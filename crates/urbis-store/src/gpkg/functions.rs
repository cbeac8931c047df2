//! SQL functions registered on every connection to a GeoPackage. The GeoPackage R*Tree
//! triggers call `ST_IsEmpty` and `ST_MinX`… (GDAL registers them, plain SQLite lacks them), and
//! our own reads call `urbis_intersects_box` so that an exact bbox test stays inside SQL, where
//! ordering, paging and counting happen.

use std::ffi::{c_int, CString};
use std::ptr::NonNull;

use geo::{BoundingRect, Intersects};
use geo_types::{Coord, Rect};
use libsqlite3_sys as ffi;

use crate::wkb::{gpkg_envelope, parse_gpkg};

type ScalarFn = unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);

/// Registers the functions on a raw connection handle.
///
/// # Safety
/// `db` must be a live connection handle, used by this thread only for the duration of the call.
pub(crate) unsafe fn register(db: NonNull<ffi::sqlite3>) -> Result<(), String> {
    let functions: [(&str, c_int, ScalarFn); 6] = [
        ("ST_IsEmpty", 1, st_is_empty),
        ("ST_MinX", 1, st_min_x),
        ("ST_MaxX", 1, st_max_x),
        ("ST_MinY", 1, st_min_y),
        ("ST_MaxY", 1, st_max_y),
        ("urbis_intersects_box", 5, intersects_box),
    ];
    for (name, argc, f) in functions {
        let cname = CString::new(name).map_err(|e| e.to_string())?;
        let rc = ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            cname.as_ptr(),
            argc,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
            std::ptr::null_mut(),
            Some(f),
            None,
            None,
            None,
        );
        if rc != ffi::SQLITE_OK {
            return Err(format!("registering {name} failed with SQLite code {rc}"));
        }
    }
    Ok(())
}

/// The blob of argument `i`, or None for NULL or a non-blob.
unsafe fn blob_arg<'a>(argv: *mut *mut ffi::sqlite3_value, i: usize) -> Option<&'a [u8]> {
    let v = *argv.add(i);
    if ffi::sqlite3_value_type(v) != ffi::SQLITE_BLOB {
        return None;
    }
    let len = ffi::sqlite3_value_bytes(v);
    let ptr = ffi::sqlite3_value_blob(v) as *const u8;
    if ptr.is_null() || len <= 0 {
        return Some(&[]);
    }
    Some(std::slice::from_raw_parts(ptr, len as usize))
}

unsafe fn envelope_fn(ctx: *mut ffi::sqlite3_context, argv: *mut *mut ffi::sqlite3_value, which: usize) {
    match blob_arg(argv, 0).and_then(gpkg_envelope) {
        Some((false, e)) => ffi::sqlite3_result_double(ctx, e[which]),
        _ => ffi::sqlite3_result_null(ctx),
    }
}

unsafe extern "C" fn st_min_x(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    envelope_fn(ctx, argv, 0)
}
unsafe extern "C" fn st_max_x(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    envelope_fn(ctx, argv, 1)
}
unsafe extern "C" fn st_min_y(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    envelope_fn(ctx, argv, 2)
}
unsafe extern "C" fn st_max_y(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    envelope_fn(ctx, argv, 3)
}

unsafe extern "C" fn st_is_empty(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    match blob_arg(argv, 0) {
        None => ffi::sqlite3_result_null(ctx),
        Some(b) => match gpkg_envelope(b) {
            Some((empty, _)) => ffi::sqlite3_result_int(ctx, empty as c_int),
            None => ffi::sqlite3_result_null(ctx),
        },
    }
}

/// `urbis_intersects_box(geom, minx, miny, maxx, maxy)`: 1 if the geometry intersects the box.
unsafe extern "C" fn intersects_box(ctx: *mut ffi::sqlite3_context, _: c_int, argv: *mut *mut ffi::sqlite3_value) {
    let d = |i: usize| ffi::sqlite3_value_double(*argv.add(i));
    let rect = Rect::new(Coord { x: d(1), y: d(2) }, Coord { x: d(3), y: d(4) });
    let result = blob_arg(argv, 0).map(|b| geometry_intersects_box(b, rect));
    match result {
        Some(hit) => ffi::sqlite3_result_int(ctx, hit as c_int),
        None => ffi::sqlite3_result_int(ctx, 0),
    }
}

fn geometry_intersects_box(blob: &[u8], rect: Rect) -> bool {
    let Ok(parsed) = parse_gpkg(blob) else { return false };
    if parsed.empty {
        return false;
    }
    if let Some([minx, maxx, miny, maxy]) = parsed.envelope {
        // Disjoint envelopes cannot intersect; an envelope inside the box always does.
        if maxx < rect.min().x || minx > rect.max().x || maxy < rect.min().y || miny > rect.max().y {
            return false;
        }
        if minx >= rect.min().x && maxx <= rect.max().x && miny >= rect.min().y && maxy <= rect.max().y {
            return true;
        }
    }
    match crate::wkb::from_wkb(parsed.wkb) {
        Ok(g) => g.bounding_rect().is_some() && g.intersects(&rect),
        Err(_) => false,
    }
}
