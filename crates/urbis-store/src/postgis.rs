//! The PostGIS backend (stub, being written).

use crate::Result;

pub struct PostgisStore {}

impl PostgisStore {
    pub async fn connect(url: &str) -> Result<Self> {
        Err(crate::StoreError::Open { location: url.to_string(), reason: "not yet".into() })
    }
}
