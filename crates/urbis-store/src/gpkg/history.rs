//! [`crate::history`] on the GeoPackage: one `BEGIN IMMEDIATE` transaction (SQLite's write lock
//! from the start), so that no other writer comes between reading the history's end and writing.

use sqlx::Row;
use urbis_core::{Feature, LayerId};

use super::{bind, finish, GpkgStore};
use crate::history::{check_append, check_head, HistoryHead};
use crate::query::row_values;
use crate::{wkb, Result, StoreError};

impl GpkgStore {
    pub(crate) async fn append_event_in_one(
        &self,
        dossier: &Feature,
        event: &Feature,
        expected: Option<&HistoryHead>,
    ) -> Result<()> {
        check_append(dossier, event, expected)?;
        let mut tx = self.begin_write().await?;
        let result = async {
            let row = sqlx::query("SELECT seq, hash FROM permit_events WHERE permit_id = ? ORDER BY seq DESC LIMIT 1")
                .bind(&dossier.id)
                .fetch_optional(&mut *tx)
                .await?;
            let found =
                row.map(|r| -> Result<HistoryHead> { Ok(HistoryHead { seq: r.try_get(0)?, hash: r.try_get(1)? }) });
            check_head(&dossier.id, expected, found.transpose()?)?;
            Self::insert_all(&mut tx, LayerId::PermitEvents, std::slice::from_ref(event), &|_| {}).await?;
            if expected.is_none() {
                Self::insert_all(&mut tx, LayerId::Permits, std::slice::from_ref(dossier), &|_| {}).await?;
            } else {
                let mut values = row_values(LayerId::Permits, dossier, wkb::to_gpkg)?;
                let id = values.remove(0);
                values.push(id);
                let sql = Self::update_sql(LayerId::Permits);
                let mut q = sqlx::query(&sql);
                for v in values {
                    q = bind(q, v);
                }
                if q.execute(&mut *tx).await?.rows_affected() == 0 {
                    return Err(StoreError::NotFound { layer: LayerId::Permits, id: dossier.id.clone() });
                }
            }
            Self::touch_contents(&mut tx, LayerId::PermitEvents).await?;
            Self::touch_contents(&mut tx, LayerId::Permits).await
        }
        .await;
        finish(tx, result).await
    }
}
