//! What a read asks for: a bounding box, attribute filters, order and paging. Both backends
//! compile it to parameterised SQL; values are always bound, never spliced into the text.

use geo_types::Geometry;
use geo_types::Rect;
use serde_json::Value;
use urbis_core::cql2::{Cql2ErrorKind, Filter};
use urbis_core::{Feature, FieldType, GeometryKind, LayerId};

use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// SQL LIKE with `%` and `_`, case-sensitive.
    Like,
    IsNull,
    IsNotNull,
}

impl Comparison {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Ne => "<>",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Like => "LIKE",
            Comparison::IsNull => "IS NULL",
            Comparison::IsNotNull => "IS NOT NULL",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttributeFilter {
    /// A field of the layer, or `id`.
    pub field: String,
    pub op: Comparison,
    pub value: Value,
}

impl AttributeFilter {
    pub fn new(field: impl Into<String>, op: Comparison, value: impl Into<Value>) -> Self {
        AttributeFilter { field: field.into(), op, value: value.into() }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Features whose geometry intersects this box (WGS 84 degrees).
    pub bbox: Option<Rect>,
    /// All must hold.
    pub filters: Vec<AttributeFilter>,
    pub limit: Option<u64>,
    pub offset: u64,
    /// Sort by this field (or `id`) before paging; ties and the default order are by id.
    pub order_by: Vec<(String, bool)>,
    /// A CQL2 filter, which must hold as well as `bbox` and `filters`. PostGIS compiles it to
    /// SQL, the GeoPackage store evaluates it on the rows its other conditions select.
    pub cql2: Option<Filter>,
}

impl Query {
    pub fn all() -> Self {
        Query::default()
    }

    pub fn bbox(mut self, rect: Rect) -> Self {
        self.bbox = Some(rect);
        self
    }

    pub fn filter(mut self, f: AttributeFilter) -> Self {
        self.filters.push(f);
        self
    }

    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn offset(mut self, n: u64) -> Self {
        self.offset = n;
        self
    }

    pub fn cql2(mut self, filter: Filter) -> Self {
        self.cql2 = Some(filter);
        self
    }
}

/// The query's CQL2 filter, checked against `layer` (a filter is checked for the layer it was
/// written for; used on another it must fit that one too).
pub(crate) fn cql2_filter(layer: LayerId, q: &Query) -> Result<Option<Filter>> {
    let Some(f) = &q.cql2 else { return Ok(None) };
    f.for_layer(layer).map(Some).map_err(|e| match e.kind {
        Cql2ErrorKind::UnknownProperty(field) => StoreError::UnknownField { layer, field },
        _ => StoreError::InvalidQuery { layer, reason: e.to_string() },
    })
}

/// The type of a filterable column: a layer field or the id.
pub(crate) fn column_type(layer: LayerId, field: &str) -> Result<FieldType> {
    if field == "id" {
        return Ok(FieldType::Text);
    }
    layer
        .schema()
        .field(field)
        .map(|f| f.ty)
        .ok_or_else(|| StoreError::UnknownField { layer, field: field.to_string() })
}

/// Checks a filter's value against its column and returns it as the value to bind.
pub(crate) fn filter_value(layer: LayerId, f: &AttributeFilter) -> Result<Option<BindValue>> {
    let ty = column_type(layer, &f.field)?;
    if matches!(f.op, Comparison::IsNull | Comparison::IsNotNull) {
        return Ok(None);
    }
    if ty == FieldType::Json {
        return Err(StoreError::InvalidQuery {
            layer,
            reason: format!("`{}` holds JSON and cannot be compared", f.field),
        });
    }
    if f.op == Comparison::Like && ty != FieldType::Text {
        return Err(StoreError::InvalidQuery {
            layer,
            reason: format!("LIKE needs a text field; `{}` is not text", f.field),
        });
    }
    let v = urbis_core::feature::coerce(&f.field, ty, f.value.clone())
        .map_err(|e| StoreError::InvalidQuery { layer, reason: e.to_string() })?
        .ok_or_else(|| StoreError::InvalidQuery {
            layer,
            reason: format!("no value given to compare `{}` with", f.field),
        })?;
    Ok(Some(BindValue::from_json(ty, &v)))
}

/// A value bound to a statement, in the column's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BindValue {
    Text(Option<String>),
    Integer(Option<i64>),
    Real(Option<f64>),
    Boolean(Option<bool>),
    Blob(Option<Vec<u8>>),
}

impl BindValue {
    pub(crate) fn from_json(ty: FieldType, v: &Value) -> BindValue {
        match ty {
            FieldType::Integer => BindValue::Integer(v.as_i64()),
            FieldType::Real => BindValue::Real(v.as_f64()),
            FieldType::Boolean => BindValue::Boolean(v.as_bool()),
            FieldType::Json => BindValue::Text((!v.is_null()).then(|| v.to_string())),
            FieldType::Text | FieldType::Date | FieldType::DateTime => BindValue::Text(v.as_str().map(str::to_string)),
        }
    }

    pub(crate) fn null(ty: FieldType) -> BindValue {
        BindValue::from_json(ty, &Value::Null)
    }
}

fn invalid(layer: LayerId, id: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidFeature { layer, id: id.to_string(), reason: reason.into() }
}

/// Checks a feature against its layer and returns its values in column order: id, geometry
/// (encoded by `encode`, if the layer has one), the fields, extra (JSON text).
pub(crate) fn row_values(
    layer: LayerId,
    f: &Feature,
    encode: fn(&Geometry) -> Result<Vec<u8>, String>,
) -> Result<Vec<BindValue>> {
    let schema = layer.schema();
    if let Some(name) = f.attributes.keys().find(|k| schema.field(k).is_none()) {
        return Err(StoreError::UnknownField { layer, field: name.clone() });
    }
    let mut values = vec![BindValue::Text(Some(f.id.clone()))];
    match (&f.geometry, schema.geometry) {
        (Some(_), GeometryKind::None) => return Err(invalid(layer, &f.id, "this layer holds no geometry")),
        (None, GeometryKind::None) => {}
        (None, _) if schema.geometry_required => return Err(invalid(layer, &f.id, "a geometry is required")),
        (None, _) => values.push(BindValue::Blob(None)),
        (Some(g), kind) => {
            // A geometry of another type than the column's: PostGIS would refuse it, GIS clients would
            // misread it from a GeoPackage. Say which feature.
            let fits = match kind {
                GeometryKind::Point => matches!(g, Geometry::Point(_)),
                GeometryKind::MultiLineString => matches!(g, Geometry::MultiLineString(_)),
                GeometryKind::MultiPolygon => matches!(g, Geometry::MultiPolygon(_)),
                GeometryKind::Geometry | GeometryKind::None => true,
            };
            if !fits {
                let expected = kind.sql_name().unwrap_or("no geometry");
                return Err(invalid(
                    layer,
                    &f.id,
                    format!("expected a {expected}, found {}", urbis_core::validate::geometry_name(g)),
                ));
            }
            let blob = encode(g).map_err(|reason| invalid(layer, &f.id, reason))?;
            values.push(BindValue::Blob(Some(blob)));
        }
    }
    for field in schema.fields {
        let v = match f.attributes.get(field.name).filter(|v| !v.is_null()) {
            Some(value) => {
                // Instants are kept in one form on both stores (the one GeoPackage prescribes).
                let canonical;
                let value = match (field.ty, value) {
                    (FieldType::DateTime, Value::String(text)) => {
                        canonical = Value::String(urbis_core::feature::parse_datetime(text).ok_or_else(|| {
                            invalid(layer, &f.id, format!("field `{}`: `{text}` is not a date and time", field.name))
                        })?);
                        &canonical
                    }
                    _ => value,
                };
                let v = BindValue::from_json(field.ty, value);
                // A value of the wrong JSON type would silently become NULL: refuse it instead.
                if v == BindValue::null(field.ty) {
                    return Err(invalid(
                        layer,
                        &f.id,
                        format!("field `{}`: {value} is not a {:?} value", field.name, field.ty),
                    ));
                }
                v
            }
            None => BindValue::null(field.ty),
        };
        values.push(v);
    }
    values.push(BindValue::Text(Some(Value::Object(f.extra.clone()).to_string())));
    Ok(values)
}

/// A box from `min x, min y, max x, max y` as a query returns them; None when the layer is empty.
pub(crate) fn extent_from(v: [Option<f64>; 4]) -> Option<geo_types::Rect> {
    use geo_types::Coord;
    match v {
        [Some(x0), Some(y0), Some(x1), Some(y1)] => {
            Some(geo_types::Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }))
        }
        _ => None,
    }
}
