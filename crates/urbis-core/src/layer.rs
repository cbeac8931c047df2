//! The layers urbis keeps and their schemas. A schema is data: the stores create their tables
//! from it (GeoPackage) or check their migrations against it (PostGIS), and importers map source
//! fields onto it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every layer of the city, in the order the catalogue lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerId {
    Parcels,
    ZoningDistricts,
    ZoningOverlays,
    Roads,
    Utilities,
    ServiceCentres,
    Buildings,
    Procedures,
    Permits,
    PermitEvents,
    CoverageResults,
}

impl LayerId {
    pub const ALL: [LayerId; 11] = [
        LayerId::Parcels,
        LayerId::ZoningDistricts,
        LayerId::ZoningOverlays,
        LayerId::Roads,
        LayerId::Utilities,
        LayerId::ServiceCentres,
        LayerId::Buildings,
        LayerId::Procedures,
        LayerId::Permits,
        LayerId::PermitEvents,
        LayerId::CoverageResults,
    ];

    /// The table name, also the layer's name on the command line and in URLs.
    pub fn name(self) -> &'static str {
        self.schema().table
    }

    pub fn schema(self) -> &'static LayerSchema {
        match self {
            LayerId::Parcels => &PARCELS,
            LayerId::ZoningDistricts => &ZONING_DISTRICTS,
            LayerId::ZoningOverlays => &ZONING_OVERLAYS,
            LayerId::Roads => &ROADS,
            LayerId::Utilities => &UTILITIES,
            LayerId::ServiceCentres => &SERVICE_CENTRES,
            LayerId::Buildings => &BUILDINGS,
            LayerId::Procedures => &PROCEDURES,
            LayerId::Permits => &PERMITS,
            LayerId::PermitEvents => &PERMIT_EVENTS,
            LayerId::CoverageResults => &COVERAGE_RESULTS,
        }
    }

    /// The field that places a feature in time (what OGC API `datetime` filters on), if any.
    pub fn time_field(self) -> Option<&'static Field> {
        let name = match self {
            LayerId::Permits => "received_at",
            LayerId::PermitEvents => "at",
            _ => return None,
        };
        self.schema().field(name)
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not one of the city's layers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layer `{given}`; the layers are: {}", LayerId::ALL.map(|l| l.name()).join(", "))]
pub struct UnknownLayer {
    pub given: String,
}

impl FromStr for LayerId {
    type Err = UnknownLayer;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        LayerId::ALL.into_iter().find(|l| l.name() == wanted).ok_or_else(|| UnknownLayer { given: s.to_string() })
    }
}

/// The geometry a layer holds. Stores declare it (GeoPackage `geometry_type_name`, PostGIS typmod).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GeometryKind {
    /// An attribute table: procedures, permit events.
    None,
    Point,
    MultiLineString,
    MultiPolygon,
    /// Mixed points and lines (utilities) or any site geometry (permits).
    Geometry,
}

impl GeometryKind {
    /// The OGC name used by GeoPackage and PostGIS.
    pub fn sql_name(self) -> Option<&'static str> {
        match self {
            GeometryKind::None => None,
            GeometryKind::Point => Some("POINT"),
            GeometryKind::MultiLineString => Some("MULTILINESTRING"),
            GeometryKind::MultiPolygon => Some("MULTIPOLYGON"),
            GeometryKind::Geometry => Some("GEOMETRY"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Integer,
    Real,
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, RFC 3339 in UTC with milliseconds (`2024-05-01T09:30:00.000Z`).
    DateTime,
    /// A JSON value (lists of uses, personal data, …).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: FieldType,
    pub required: bool,
    /// Never shown to the public (applicant's personal data).
    pub private: bool,
    pub description: &'static str,
}

const fn f(name: &'static str, ty: FieldType, description: &'static str) -> Field {
    Field { name, ty, required: false, private: false, description }
}

const fn req(name: &'static str, ty: FieldType, description: &'static str) -> Field {
    Field { name, ty, required: true, private: false, description }
}

const fn private(name: &'static str, ty: FieldType, description: &'static str) -> Field {
    Field { name, ty, required: false, private: true, description }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSchema {
    pub table: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub geometry: GeometryKind,
    /// A feature without geometry is rejected (a parcel without a shape is no parcel).
    pub geometry_required: bool,
    pub fields: &'static [Field],
}

impl LayerSchema {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn has_geometry(&self) -> bool {
        self.geometry != GeometryKind::None
    }
}

use FieldType::*;

pub static PARCELS: LayerSchema = LayerSchema {
    table: "parcels",
    title: "Parcels",
    description: "Cadastral parcels with land use and the dwelling units or population that weight them.",
    geometry: GeometryKind::MultiPolygon,
    geometry_required: true,
    fields: &[
        req("code", Text, "cadastral code (map-lot)"),
        f("address", Text, "street address"),
        f("land_use_code", Text, "assessor's land-use code"),
        f("land_use", Text, "land use, in words"),
        f("area_m2", Real, "geodesic area in square metres, computed from the geometry"),
        f("dwelling_units", Integer, "dwelling units on the parcel"),
        f("population", Real, "residents, estimated or counted, for weighting coverage"),
        f("stories", Real, "building stories"),
        f("year_built", Integer, "year the main building was built"),
        f("public_owner", Boolean, "owned by the city or another public body"),
    ],
};

pub static ZONING_DISTRICTS: LayerSchema = LayerSchema {
    table: "zoning_districts",
    title: "Zoning districts",
    description: "Base zoning districts with their limits and permitted and conditional uses.",
    geometry: GeometryKind::MultiPolygon,
    geometry_required: true,
    fields: &[
        req("code", Text, "district code, e.g. C-3 or R-B"),
        f("name", Text, "district name"),
        f("category", Text, "residential, business, office, industrial, open space, mixed"),
        f("max_height_m", Real, "maximum building height in metres"),
        f("max_far", Real, "maximum floor-area ratio"),
        f("max_lot_coverage", Real, "maximum share of the lot covered by buildings (0-1)"),
        f("min_setback_front_m", Real, "minimum front setback in metres"),
        f("min_setback_side_m", Real, "minimum side setback in metres"),
        f("min_setback_rear_m", Real, "minimum rear setback in metres"),
        f("permitted_uses", Json, "uses allowed as of right (list of use codes)"),
        f("conditional_uses", Json, "uses allowed by special permit (list of use codes)"),
        f("article", Text, "ordinance article the limits come from"),
    ],
};

pub static ZONING_OVERLAYS: LayerSchema = LayerSchema {
    table: "zoning_overlays",
    title: "Zoning overlays",
    description: "Overlay districts: heritage, flood, easements, protection zones.",
    geometry: GeometryKind::MultiPolygon,
    geometry_required: true,
    fields: &[
        req("name", Text, "overlay name"),
        f("kind", Text, "heritage, flood, easement, protection, special district, …"),
        f("code", Text, "overlay code"),
        f("article", Text, "ordinance article"),
        f("max_height_m", Real, "height limit the overlay imposes, if any"),
    ],
};

pub static ROADS: LayerSchema = LayerSchema {
    table: "roads",
    title: "Roads",
    description: "Street centrelines for the network: class, name, speed and direction.",
    geometry: GeometryKind::MultiLineString,
    geometry_required: true,
    fields: &[
        f("name", Text, "street name"),
        f("class", Text, "motorway, trunk, primary, secondary, tertiary, residential, service, footway, …"),
        f("speed_kmh", Real, "speed limit or typical speed in km/h"),
        f("oneway", Integer, "0 both ways, 1 with the digitised direction, -1 against it"),
        f("from_node", Text, "source topology: node at the start"),
        f("to_node", Text, "source topology: node at the end"),
        f("restriction", Text, "access restriction (pedestrian only, no motor vehicles, …)"),
    ],
};

pub static UTILITIES: LayerSchema = LayerSchema {
    table: "utilities",
    title: "Utilities",
    description: "Utility networks (water, sewer, storm, power, gas, telecom, heat): lines and nodes.",
    geometry: GeometryKind::Geometry,
    geometry_required: true,
    fields: &[
        req("network", Text, "water, sewer, storm, power, gas, telecom or heat"),
        f("kind", Text, "pipe, cable, hydrant, pole, valve, manhole, …"),
        f("size_mm", Real, "diameter or size in millimetres"),
        f("protection_m", Real, "width of the protection zone on each side, metres"),
        f("owner", Text, "operator"),
    ],
};

pub static SERVICE_CENTRES: LayerSchema = LayerSchema {
    table: "service_centres",
    title: "Service centres",
    description: "Places where public services are delivered, and candidate sites.",
    geometry: GeometryKind::Point,
    geometry_required: true,
    fields: &[
        req("name", Text, "name"),
        f("kind", Text, "one_stop, library, school, fire_station, town_hall, candidate, …"),
        f("address", Text, "street address"),
        f("opening_hours", Text, "opening hours (OSM opening_hours syntax)"),
        f("desks", Integer, "counter desks"),
        f("one_stop", Boolean, "a one-stop public-administration service centre that receives dossiers"),
    ],
};

pub static BUILDINGS: LayerSchema = LayerSchema {
    table: "buildings",
    title: "Buildings",
    description: "Building footprints, a proxy for population where no census is at hand.",
    geometry: GeometryKind::MultiPolygon,
    geometry_required: true,
    fields: &[
        f("kind", Text, "building type (house, apartments, commercial, yes, …)"),
        f("levels", Real, "storeys above ground"),
        f("height_m", Real, "height in metres"),
        f("address", Text, "street address"),
    ],
};

pub static PROCEDURES: LayerSchema = LayerSchema {
    table: "procedures",
    title: "Procedures",
    description: "The procedure catalogue: what a resident can apply for, how long it may take and what it costs.",
    geometry: GeometryKind::None,
    geometry_required: false,
    fields: &[
        req("code", Text, "procedure code"),
        req("name", Text, "name"),
        req("category", Text, "category"),
        req("processing_days", Integer, "statutory processing time in working days"),
        f("fee", Real, "fee"),
        f("online", Boolean, "can be filed online"),
        f("channels", Json, "channels offered: online, counter, phone"),
        f("documents", Json, "required documents"),
    ],
};

pub static PERMITS: LayerSchema = LayerSchema {
    table: "permits",
    title: "Permits and dossiers",
    description: "Applications tied to parcels, tracked through their stages.",
    geometry: GeometryKind::Geometry,
    geometry_required: false,
    fields: &[
        req("tracking_code", Text, "public tracking code"),
        req("procedure_code", Text, "procedure applied for"),
        private("applicant", Json, "applicant's personal data; never public"),
        f("parcel_codes", Json, "cadastral codes of the parcels concerned"),
        f("description", Text, "what is applied for"),
        f("address", Text, "site address"),
        f("proposed_use", Text, "proposed use"),
        f("proposed_height_m", Real, "proposed height in metres"),
        f("proposed_floor_area_m2", Real, "proposed gross floor area in square metres"),
        f("channel", Text, "online, counter or phone"),
        f("centre_id", Text, "id of the service centre that received it"),
        req(
            "stage",
            Text,
            "received, in_review, supplement_requested, supplement_received, payment_requested, payment_received, decided, delivered, withdrawn",
        ),
        req("received_at", DateTime, "when it was received"),
        f("due_at", DateTime, "statutory due date"),
        f("decided_at", DateTime, "when it was decided"),
        f("decision", Text, "approved, approved_with_conditions, rejected"),
        f("satisfaction", Integer, "the applicant's rating, 1-5"),
    ],
};

pub static PERMIT_EVENTS: LayerSchema = LayerSchema {
    table: "permit_events",
    title: "Permit events",
    description: "The append-only history of every dossier.",
    geometry: GeometryKind::None,
    geometry_required: false,
    fields: &[
        req("permit_id", Text, "the dossier"),
        req("seq", Integer, "position in the dossier's history, from 1"),
        req("at", DateTime, "when it happened"),
        req("kind", Text, "what happened: received, transition, note, …"),
        f("stage", Text, "stage after the event"),
        f("actor", Text, "who did it"),
        f("note", Text, "note or reasons"),
        f("hash", Text, "hash over the previous event's hash and this event"),
    ],
};

/// The last service-access run (urbis-analysis), in one layer so that a run replaces the previous
/// one in a single transaction: `kind` tells the isochrones, the uncovered areas and the
/// per-parcel access apart.
pub static COVERAGE_RESULTS: LayerSchema = LayerSchema {
    table: "coverage_results",
    title: "Service-access coverage",
    description: "The last coverage run: isochrones per centre and cutoff, uncovered areas, and every parcel's access.",
    geometry: GeometryKind::Geometry,
    geometry_required: true,
    fields: &[
        req("kind", Text, "isochrone, uncovered or access"),
        f("mode", Text, "travel mode: walk, cycle or drive"),
        f("centre", Text, "isochrone: its centre; access: the nearest centre by time"),
        f("minutes", Real, "isochrone: its cutoff; uncovered: the time limit"),
        f("km", Real, "uncovered: the distance limit"),
        f("parcel", Text, "access: the parcel"),
        f("weight", Real, "access: the parcel's weight (population); isochrone: the weight within it"),
        f("time_min", Real, "access: minutes to the nearest centre"),
        f("network_km", Real, "access: network kilometres to the nearest centre by distance"),
        f("straight_km", Real, "access: straight-line kilometres to the nearest centre"),
        f("straight_centre", Text, "access: the nearest centre in a straight line"),
        f("covered_time", Boolean, "access: within the time limit"),
        f("covered_km", Boolean, "access: within the distance limit on the network"),
        f("unreached", Text, "access: why no centre can be reached"),
        f("area_km2", Real, "isochrone, uncovered: area"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_layers() {
        for l in LayerId::ALL {
            assert_eq!(l.name().parse::<LayerId>(), Ok(l));
        }
        assert_eq!("zoning-districts".parse::<LayerId>(), Ok(LayerId::ZoningDistricts));
        let err = "parcel".parse::<LayerId>().unwrap_err().to_string();
        assert!(err.contains("`parcel`") && err.contains("parcels, zoning_districts"), "{err}");
    }

    #[test]
    fn field_names_are_unique_and_not_reserved() {
        for l in LayerId::ALL {
            let mut names: Vec<_> = l.schema().fields.iter().map(|f| f.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), l.schema().fields.len(), "{l}");
            for reserved in ["fid", "id", "geom", "extra"] {
                assert!(l.schema().field(reserved).is_none(), "{l} uses reserved {reserved}");
            }
        }
    }
}
