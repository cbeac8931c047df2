//! Travel modes and their speeds: which roads each mode may use, in which direction, and how fast.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::network::{Edge, OneWay};
use crate::{positive, AnalysisError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TravelMode {
    Walk,
    Cycle,
    Drive,
}

impl TravelMode {
    pub const ALL: [TravelMode; 3] = [TravelMode::Walk, TravelMode::Cycle, TravelMode::Drive];

    pub fn name(self) -> &'static str {
        match self {
            TravelMode::Walk => "walk",
            TravelMode::Cycle => "cycle",
            TravelMode::Drive => "drive",
        }
    }
}

impl fmt::Display for TravelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not a travel mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown travel mode `{given}`; the modes are walk, cycle and drive")]
pub struct UnknownMode {
    pub given: String,
}

impl FromStr for TravelMode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        TravelMode::ALL.into_iter().find(|m| m.name() == wanted).ok_or_else(|| UnknownMode { given: s.to_string() })
    }
}

/// Speeds of each mode. Walking and cycling go at one speed everywhere; driving at the road's own
/// `speed_kmh`, or the default of its class, times `urban_factor` (below 1 for the delays of
/// junctions and traffic that a posted speed does not show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Speeds {
    pub walk_kmh: f64,
    pub cycle_kmh: f64,
    pub urban_factor: f64,
    /// Driving speed by road class when the road has no usable `speed_kmh`.
    pub drive_class_kmh: BTreeMap<String, f64>,
    /// Driving speed of a road whose class is absent or not listed.
    pub drive_other_kmh: f64,
}

impl Default for Speeds {
    fn default() -> Self {
        let classes = [
            ("motorway", 100.0),
            ("motorway_link", 60.0),
            ("trunk", 80.0),
            ("trunk_link", 50.0),
            ("primary", 50.0),
            ("primary_link", 40.0),
            ("secondary", 50.0),
            ("secondary_link", 40.0),
            ("tertiary", 40.0),
            ("tertiary_link", 30.0),
            ("unclassified", 40.0),
            ("residential", 30.0),
            ("living_street", 10.0),
            ("service", 20.0),
            ("track", 15.0),
        ];
        Speeds {
            walk_kmh: 4.8,
            cycle_kmh: 15.0,
            urban_factor: 1.0,
            drive_class_kmh: classes.into_iter().map(|(c, v)| (c.to_string(), v)).collect(),
            drive_other_kmh: 30.0,
        }
    }
}

/// Classes no car may use.
const NOT_FOR_CARS: [&str; 7] = ["footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor"];
/// Classes no pedestrian or cyclist may use.
const MOTOR_ONLY: [&str; 2] = ["motorway", "motorway_link"];

impl Speeds {
    /// Every speed finite and above zero, or an error naming the first that is not.
    pub fn check(&self) -> Result<(), AnalysisError> {
        positive("walking speed (km/h)", self.walk_kmh)?;
        positive("cycling speed (km/h)", self.cycle_kmh)?;
        positive("urban factor", self.urban_factor)?;
        positive("default driving speed (km/h)", self.drive_other_kmh)?;
        for (class, kmh) in &self.drive_class_kmh {
            positive(&format!("driving speed of class `{class}` (km/h)"), *kmh)?;
        }
        Ok(())
    }

    /// The speed in metres per second of `mode` on `edge`, or `None` if the mode may not use it.
    /// The flag says whether the road's own speed was unusable (absent, zero, negative) and the
    /// class default was taken instead.
    pub fn on(&self, mode: TravelMode, edge: &Edge) -> Option<(f64, bool)> {
        let class = edge.class.as_deref().map(str::to_ascii_lowercase);
        let class = class.as_deref().unwrap_or("");
        let restriction = edge.restriction.as_deref().map(str::to_ascii_lowercase).unwrap_or_default();
        let kmh = match mode {
            TravelMode::Walk | TravelMode::Cycle if MOTOR_ONLY.contains(&class) => return None,
            TravelMode::Cycle if class == "steps" => return None,
            TravelMode::Walk => (self.walk_kmh, false),
            TravelMode::Cycle => (self.cycle_kmh, false),
            TravelMode::Drive => {
                if NOT_FOR_CARS.contains(&class)
                    || restriction.contains("pedestrian")
                    || restriction.contains("no motor")
                    || restriction.contains("no_motor")
                {
                    return None;
                }
                let class_kmh = self.drive_class_kmh.get(class).copied().unwrap_or(self.drive_other_kmh);
                match edge.speed_kmh {
                    Some(v) if v.is_finite() && v > 0.0 => (v * self.urban_factor, false),
                    Some(_) => (class_kmh * self.urban_factor, true),
                    None => (class_kmh * self.urban_factor, false),
                }
            }
        };
        Some((kmh.0 / 3.6, kmh.1))
    }

    /// Whether `mode` may travel the edge along (`forward`) or against its digitised direction.
    /// One-way streets bind drivers only.
    pub fn allows(mode: TravelMode, edge: &Edge, forward: bool) -> bool {
        match (mode, edge.oneway) {
            (TravelMode::Drive, OneWay::Forward) => forward,
            (TravelMode::Drive, OneWay::Backward) => !forward,
            _ => true,
        }
    }
}
