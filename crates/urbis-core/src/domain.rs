//! Typed views of the layers' features, for code that reasons about a parcel or a district
//! rather than a bag of attributes. They read from and write to [`Feature`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::feature::Feature;

/// Reads a feature's typed attributes into a domain type.
pub fn read<T: DeserializeOwned>(feature: &Feature) -> Result<T, serde_json::Error> {
    let map: serde_json::Map<String, Value> = feature.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(map))
}

/// Writes a domain type into a feature's typed attributes (nulls left out).
pub fn write<T: Serialize>(id: impl Into<String>, geometry: Option<geo_types::Geometry>, value: &T) -> Feature {
    let mut f = Feature::new(id, geometry);
    if let Ok(Value::Object(map)) = serde_json::to_value(value) {
        f.attributes = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    }
    f
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    pub code: String,
    pub address: Option<String>,
    pub land_use_code: Option<String>,
    pub land_use: Option<String>,
    pub area_m2: Option<f64>,
    pub dwelling_units: Option<i64>,
    pub population: Option<f64>,
    pub stories: Option<f64>,
    pub year_built: Option<i64>,
    pub public_owner: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoningDistrict {
    pub code: String,
    pub name: Option<String>,
    pub category: Option<String>,
    pub max_height_m: Option<f64>,
    pub max_far: Option<f64>,
    pub max_lot_coverage: Option<f64>,
    pub min_setback_front_m: Option<f64>,
    pub min_setback_side_m: Option<f64>,
    pub min_setback_rear_m: Option<f64>,
    #[serde(default)]
    pub permitted_uses: Vec<String>,
    #[serde(default)]
    pub conditional_uses: Vec<String>,
    pub article: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoningOverlay {
    pub name: String,
    pub kind: Option<String>,
    pub code: Option<String>,
    pub article: Option<String>,
    pub max_height_m: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Road {
    pub name: Option<String>,
    pub class: Option<String>,
    pub speed_kmh: Option<f64>,
    /// 0 both ways, 1 with the digitised direction, -1 against it.
    pub oneway: Option<i64>,
    pub from_node: Option<String>,
    pub to_node: Option<String>,
    pub restriction: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Utility {
    pub network: String,
    pub kind: Option<String>,
    pub size_mm: Option<f64>,
    pub protection_m: Option<f64>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCentre {
    pub name: String,
    pub kind: Option<String>,
    pub address: Option<String>,
    pub opening_hours: Option<String>,
    pub desks: Option<i64>,
    pub one_stop: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Procedure {
    pub code: String,
    pub name: String,
    pub category: String,
    pub processing_days: i64,
    pub fee: Option<f64>,
    pub online: Option<bool>,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub documents: Vec<String>,
}

/// A dossier: an application tied to parcels, tracked through its stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dossier {
    pub tracking_code: String,
    pub procedure_code: String,
    pub applicant: Option<Value>,
    #[serde(default)]
    pub parcel_codes: Vec<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub proposed_use: Option<String>,
    pub proposed_height_m: Option<f64>,
    pub proposed_floor_area_m2: Option<f64>,
    pub channel: Option<String>,
    pub centre_id: Option<String>,
    pub stage: String,
    pub received_at: String,
    pub due_at: Option<String>,
    pub decided_at: Option<String>,
    pub decision: Option<String>,
    pub satisfaction: Option<i64>,
}

/// One entry of a dossier's append-only history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PermitEvent {
    pub permit_id: String,
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub stage: Option<String>,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub hash: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::PROCEDURES;
    use crate::validate::{check_feature, GeometryPolicy};

    #[test]
    fn a_procedure_round_trips_through_a_feature() {
        let p = Procedure {
            code: "BP-01".into(),
            name: "Building permit".into(),
            category: "building and land use".into(),
            processing_days: 20,
            fee: Some(150.0),
            online: Some(true),
            channels: vec!["online".into(), "counter".into()],
            documents: vec![],
        };
        let mut f = write("BP-01", None, &p);
        assert!(check_feature(&PROCEDURES, &mut f, GeometryPolicy::Reject).is_ok());
        assert_eq!(read::<Procedure>(&f).unwrap(), p);
    }
}
