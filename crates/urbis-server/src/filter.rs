//! The `filter`, `filter-lang` and `filter-crs` parameters of OGC API Features Part 3: CQL2 text
//! or CQL2 JSON, checked against the collection's queryables. A filter that cannot be used is a
//! 400 naming the parameter, what is wrong and where (character offset or JSON pointer).

use serde_json::{json, Value};
use urbis_core::cql2::Filter;
use urbis_core::crs::Crs;
use urbis_core::LayerId;

use crate::ApiError;

/// The filter languages accepted, by their `filter-lang` names.
pub const LANGUAGES: [&str; 2] = ["cql2-text", "cql2-json"];

/// The conformance classes this filter support meets (Part 3 and CQL2).
pub const CONFORMANCE: [&str; 9] = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
];

/// The filter of a request on `layer`: `None` without a `filter` parameter. `filter_lang` is
/// `cql2-text` (the default) or `cql2-json`.
pub fn from_params(
    layer: LayerId,
    filter: Option<&str>,
    filter_lang: Option<&str>,
) -> Result<Option<Filter>, ApiError> {
    let lang = match filter_lang.map(str::trim) {
        None | Some("cql2-text") => "cql2-text",
        Some("cql2-json") => "cql2-json",
        Some(other) => {
            return Err(ApiError::BadParameter {
                parameter: "filter-lang",
                message: format!("`{other}` is not a filter language here; use {}", LANGUAGES.join(" or ")),
            })
        }
    };
    let Some(text) = filter else {
        if filter_lang.is_some() {
            return Err(ApiError::BadParameter {
                parameter: "filter-lang",
                message: "given without a `filter`".into(),
            });
        }
        return Ok(None);
    };
    if text.trim().is_empty() {
        return Err(ApiError::BadParameter { parameter: "filter", message: "the filter is empty".into() });
    }
    let parsed = if lang == "cql2-json" { Filter::from_json(layer, text) } else { Filter::from_text(layer, text) };
    let filter = parsed.map_err(|e| ApiError::BadParameter { parameter: "filter", message: e.to_string() })?;
    tracing::debug!(%layer, filter = %filter, "CQL2 filter");
    Ok(Some(filter))
}

/// [`from_params`] with `filter-crs`: the filter's geometry literals are in that CRS (CRS84 by
/// default) and are brought to WGS 84 longitude, latitude as the stores keep them.
pub fn from_params_in(
    layer: LayerId,
    filter: Option<&str>,
    filter_lang: Option<&str>,
    filter_crs: Option<&str>,
) -> Result<Option<Filter>, ApiError> {
    let crs = match filter_crs {
        None => Crs::Crs84,
        Some(text) => {
            Crs::parse(text).map_err(|e| ApiError::BadParameter { parameter: "filter-crs", message: e.to_string() })?
        }
    };
    let Some(mut f) = from_params(layer, filter, filter_lang)? else {
        if filter_crs.is_some() {
            return Err(ApiError::BadParameter { parameter: "filter-crs", message: "given without a `filter`".into() });
        }
        return Ok(None);
    };
    if crs != Crs::Crs84 {
        f.try_map_geometries(|g| crs.geometry_to_lonlat(g)).map_err(|e| ApiError::BadParameter {
            parameter: "filter",
            message: format!("a geometry of the filter: {e}"),
        })?;
    }
    Ok(Some(f))
}

/// The OpenAPI descriptions of `filter`, `filter-lang` and `filter-crs`, as an array of
/// parameter objects to add to each `/collections/{id}/items` operation.
pub fn openapi_parameters() -> Value {
    json!([
        { "name": "filter", "in": "query", "required": false,
          "description": "a CQL2 filter on the collection's queryables (see its /queryables): comparison, LIKE, IN, \
            BETWEEN, IS NULL, CASEI, AND/OR/NOT, DATE('…') and TIMESTAMP('…') literals, S_INTERSECTS, S_WITHIN, \
            S_CONTAINS and S_DWITHIN(geometry, <geometry>, <metres>) with WKT or BBOX(…) literals (GeoJSON in \
            CQL2 JSON). A filter that cannot be used is refused with 400 and the position of the error.",
          "schema": { "type": "string" },
          "example": "land_use LIKE 'Res%' AND S_DWITHIN(geometry, POINT(-71.1055 42.367), 250)" },
        { "name": "filter-lang", "in": "query", "required": false,
          "schema": { "type": "string", "enum": LANGUAGES, "default": "cql2-text" } },
        { "name": "filter-crs", "in": "query", "required": false,
          "description": "the CRS of the filter's geometry literals",
          "schema": { "type": "string", "enum": Crs::ALL.map(|c| c.uri()), "default": Crs::Crs84.uri() } },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<Option<Filter>, ApiError>) -> (&'static str, String) {
        match r {
            Err(ApiError::BadParameter { parameter, message }) => (parameter, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn languages_and_errors() {
        assert!(from_params(LayerId::Parcels, None, None).unwrap().is_none());
        let f = from_params(LayerId::Parcels, Some("year_built > 1900"), None).unwrap().unwrap();
        assert_eq!(f.layer(), LayerId::Parcels);
        let j = r#"{"op": ">", "args": [{"property": "year_built"}, 1900]}"#;
        assert_eq!(from_params(LayerId::Parcels, Some(j), Some("cql2-json")).unwrap(), Some(f));

        let (p, m) = message(from_params(LayerId::Parcels, Some("year_built >> 1900"), None));
        assert_eq!(p, "filter");
        assert!(m.contains("at character 12"), "{m}");
        let (p, m) = message(from_params(LayerId::Parcels, Some("colour = 'red'"), None));
        assert_eq!(p, "filter");
        assert!(m.contains("unknown property `colour`"), "{m}");
        let (_, m) = message(from_params(LayerId::Parcels, Some(r#"{"op": "=", "args": [1]}"#), Some("cql2-json")));
        assert!(m.contains("JSON pointer `/args`"), "{m}");
        let (p, _) = message(from_params(LayerId::Parcels, Some("a = 1"), Some("sql")));
        assert_eq!(p, "filter-lang");
        let (p, _) = message(from_params(LayerId::Parcels, None, Some("cql2-text")));
        assert_eq!(p, "filter-lang");
    }

    #[test]
    fn filter_crs_reprojects_literals() {
        // EPSG:4326 is latitude first.
        let f = from_params_in(
            LayerId::Parcels,
            Some("S_INTERSECTS(geometry, POINT(42.37 -71.1))"),
            None,
            Some("http://www.opengis.net/def/crs/EPSG/0/4326"),
        )
        .unwrap()
        .unwrap();
        let mut seen = vec![];
        f.expr().visit_geometries(&mut |g| seen.push(g.clone()));
        assert_eq!(seen, vec![geo_types::Geometry::from(geo_types::point!(x: -71.1, y: 42.37))]);
        let (p, _) = message(from_params_in(LayerId::Parcels, Some("id = 'a'"), None, Some("EPSG:9999")));
        assert_eq!(p, "filter-crs");
    }
}
