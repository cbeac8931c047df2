//! One assessor row per parcel, derived from Cambridge's TaxFY14.csv, which has one row per tax
//! account: a condominium parcel is a building row (use code 199) followed by one row per unit,
//! and `Occupancy` holds a construction code (BK, AP, …) for most houses and a unit count only
//! for apartment buildings. The parcels import joins the derived table instead of the raw one.
//! The rules are written down in data-samples/README.md; keep the two in step.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

/// Cambridge's average household size (persons per occupied household, American Community
/// Survey); population is estimated as dwelling units times this.
pub const PERSONS_PER_DWELLING: f64 = 2.3;

/// The derived table's header. Columns other than ML are named like the parcels layer's fields,
/// so that the mapping needs no entry for them.
pub const COLUMNS: [&str; 10] = [
    "ML",
    "address",
    "land_use_code",
    "land_use",
    "dwelling_units",
    "population",
    "stories",
    "year_built",
    "public_owner",
    "tax_accounts",
];

#[derive(Debug, Clone, PartialEq)]
pub struct ParcelAssessment {
    pub ml: String,
    pub address: Option<String>,
    pub land_use_code: Option<String>,
    pub land_use: Option<String>,
    pub dwelling_units: Option<i64>,
    pub population: Option<f64>,
    pub stories: Option<f64>,
    pub year_built: Option<i64>,
    pub public_owner: Option<bool>,
    /// How many tax accounts (rows of TaxFY14.csv) the parcel has.
    pub tax_accounts: usize,
}

#[derive(Debug, Clone, Default)]
struct TaxRow {
    location: String,
    use_code: String,
    use_description: String,
    land_area: f64,
    occupancy: String,
    year_built: String,
    stories: String,
}

/// Reads TaxFY14.csv and returns one assessment per map-lot, in the order the map-lots first
/// appear.
pub fn derive(tax_csv: &Path) -> anyhow::Result<Vec<ParcelAssessment>> {
    let mut reader = csv::Reader::from_path(tax_csv)
        .with_context(|| format!("cannot open the assessor table {}", tax_csv.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: no header row", tax_csv.display()))?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .with_context(|| format!("{}: no column `{name}`", tax_csv.display()))
    };
    let [ml, location, use_code, use_description, land_area, occupancy, year_built, stories] =
        ["ML", "Location", "UseCode", "UseDescription", "LandArea", "Occupancy", "AYBYrBuilt", "BldgStories"]
            .map(column);
    let (ml, location, use_code, use_description, land_area, occupancy, year_built, stories) =
        (ml?, location?, use_code?, use_description?, land_area?, occupancy?, year_built?, stories?);

    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<TaxRow>> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", tax_csv.display(), n + 2))?;
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let key = cell(ml);
        if key.is_empty() {
            continue;
        }
        let row = TaxRow {
            location: cell(location),
            use_code: cell(use_code),
            use_description: cell(use_description),
            land_area: cell(land_area).parse().unwrap_or(0.0),
            occupancy: cell(occupancy),
            year_built: cell(year_built),
            stories: cell(stories),
        };
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(row);
    }
    Ok(order.into_iter().filter_map(|ml| groups.remove(&ml).map(|rows| assess(ml, &rows))).collect())
}

/// Writes the derived table as CSV, empty cells for unknown values.
pub fn write_csv(rows: &[ParcelAssessment], path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(COLUMNS)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for r in rows {
        w.write_record([
            r.ml.clone(),
            opt(r.address.clone()),
            opt(r.land_use_code.clone()),
            opt(r.land_use.clone()),
            opt(r.dwelling_units.map(|v| v.to_string())),
            opt(r.population.map(|v| format!("{v:.1}"))),
            opt(r.stories.map(|v| v.to_string())),
            opt(r.year_built.map(|v| v.to_string())),
            opt(r.public_owner.map(|v| v.to_string())),
            r.tax_accounts.to_string(),
        ])?;
    }
    w.flush().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn assess(ml: String, rows: &[TaxRow]) -> ParcelAssessment {
    // The parcel's own row: the condominium building row if there is one, else the row that
    // carries the land, else the first.
    let primary = rows
        .iter()
        .find(|r| r.use_code == "199")
        .or_else(|| rows.iter().find(|r| r.land_area > 0.0))
        .unwrap_or(&rows[0]);
    let class = use_class(&primary.use_code);
    let dwelling_units = dwelling_units(primary, rows);
    let stories =
        positive(&primary.stories).or_else(|| rows.iter().filter_map(|r| positive(&r.stories)).reduce(f64::max));
    let year = |r: &TaxRow| r.year_built.parse::<i64>().ok().filter(|y| (1600..=2014).contains(y));
    let year_built = year(primary).or_else(|| rows.iter().filter_map(year).min());
    ParcelAssessment {
        ml,
        address: non_empty(&primary.location).map(|s| title_case(&s)),
        land_use_code: non_empty(&primary.use_code),
        land_use: non_empty(&primary.use_description),
        dwelling_units,
        population: dwelling_units.map(|u| (u as f64 * PERSONS_PER_DWELLING * 10.0).round() / 10.0),
        stories,
        year_built,
        public_owner: class.map(is_public_class),
        tax_accounts: rows.len(),
    }
}

/// The Massachusetts property-class code: three digits, after the leading 0 that marks mixed use
/// (0340 = mixed use, office) and before a city's fourth digit (9425 = 942, private college).
fn use_class(code: &str) -> Option<u32> {
    let digits = code.trim().trim_start_matches('0');
    digits.get(..3.min(digits.len()))?.parse().ok()
}

/// Federal (900-909), Commonwealth (910-929), city (930-939) and county (992) property, and the
/// public authorities (970-975: housing, transportation, utilities). Private colleges, charities
/// and churches are exempt from tax but not public.
fn is_public_class(class: u32) -> bool {
    (900..=939).contains(&class) || (970..=975).contains(&class) || class == 992
}

fn dwelling_units(primary: &TaxRow, rows: &[TaxRow]) -> Option<i64> {
    let code = primary.use_code.trim();
    let class = use_class(code)?;
    // Condominium units are counted one by one: residential condominium class 102, except 1028
    // (a parking space sold as a condominium).
    let condo_units =
        rows.iter().filter(|r| use_class(&r.use_code) == Some(102) && r.use_code.trim() != "1028").count();
    if condo_units > 0 {
        return Some(condo_units as i64);
    }
    let counted = primary.occupancy.parse::<i64>().ok().filter(|n| *n > 0);
    let mixed_use = code.starts_with('0');
    match (code, class) {
        ("1014", _) => Some(2), // single family with an auxiliary apartment
        ("1028", _) => Some(0),
        (_, 101) => Some(1),
        ("1091", _) => Some(2), // several houses on one lot
        ("1094", _) => Some(4),
        ("1095", _) => Some(6),
        (_, 104) => Some(2),
        (_, 105) => Some(3),
        (_, 111) => counted.or(Some(4)),
        (_, 112) => counted.or(Some(9)),
        (_, 109) | (_, 113) | (_, 121) => counted,
        (_, 199) => None, // a condominium building whose units are not listed
        _ if mixed_use => counted.or(Some(1)),
        _ => Some(0),
    }
}

fn positive(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// "23 ROCKWELL ST" → "23 Rockwell St"; tokens with digits ("1A", "#N221") stay as they are.
fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                return w.to_string();
            }
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => first.to_uppercase().chain(cs.flat_map(char::to_lowercase)).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &str) -> Vec<ParcelAssessment> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tax.csv");
        let header = "\"ML\",\"Location\",\"UseCode\",\"UseDescription\",\"LandArea\",\"Occupancy\",\"AYBYrBuilt\",\"BldgStories\"\n";
        std::fs::write(&path, format!("{header}{rows}")).unwrap();
        derive(&path).unwrap()
    }

    #[test]
    fn condominium_units_are_counted_and_houses_read_from_their_class() {
        let rows = table(
            "\"1A-109\",\"10 MUSEUM WAY\",\"199\",\"CONDO-BLDG\",89970,\"\",1998,\"24\"\n\
             \"1A-109\",\"8-12 MUSEUM WAY #N221\",\"1021\",\"CNDO LUX\",0,\"\",1998,\"\"\n\
             \"1A-109\",\"8-12 MUSEUM WAY #N222\",\"102\",\"CONDOMINIUM\",0,\"AP\",1998,\"\"\n\
             \"127-123\",\"23 ROCKWELL ST\",\"105\",\"THREE-FM-RES\",3224,\"BK\",1854,\"2.25\"\n\
             \"7-19\",\"221 MONSIGNOR OBRIEN HWY\",\"316\",\"WAREHOUSE\",11182,\"1\",1910,\"3\"\n\
             \"118-33\",\"815 MASSACHUSETTS AVE\",\"931\",\"Improved City\",47877,\"\",0,\"\"\n\
             \"5-1\",\"1 X ST\",\"112\",\">8-UNIT-APT\",5000,\"31\",1920,\"5\"\n",
        );
        assert_eq!(rows.len(), 5);
        let condo = &rows[0];
        assert_eq!((condo.dwelling_units, condo.population, condo.tax_accounts), (Some(2), Some(4.6), 3));
        assert_eq!(
            (condo.address.as_deref(), condo.stories, condo.year_built),
            (Some("10 Museum Way"), Some(24.0), Some(1998))
        );
        assert_eq!(rows[1].dwelling_units, Some(3));
        assert_eq!(rows[1].population, Some(6.9));
        assert_eq!((rows[2].dwelling_units, rows[2].public_owner), (Some(0), Some(false)));
        assert_eq!((rows[3].public_owner, rows[3].year_built), (Some(true), None));
        assert_eq!(rows[4].dwelling_units, Some(31));
    }

    #[test]
    fn use_classes_drop_the_mixed_use_prefix_and_the_local_digit() {
        assert_eq!(use_class("0340"), Some(340));
        assert_eq!(use_class("9425"), Some(942));
        assert_eq!(use_class("9100"), Some(910));
        assert!(is_public_class(910) && is_public_class(970) && !is_public_class(942) && !is_public_class(960));
    }
}
