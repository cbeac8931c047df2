//! The urbis domain: what a city keeps (layers and their typed fields), the feature record every
//! layer shares, and the checks and unambiguous repairs a feature passes before it is stored.
//!
//! No I/O, no async runtime, no database or HTTP crate: everything here is pure and testable.

pub mod cql2;
pub mod crs;
pub mod domain;
pub mod feature;
pub mod geodesy;
pub mod layer;
pub mod near;
pub mod overlap;
pub mod permits;
pub mod validate;

pub use feature::{Feature, FeatureError};
pub use layer::{Field, FieldType, GeometryKind, LayerId, LayerSchema};
pub use validate::{Problem, Repairs, ValidationReport};
