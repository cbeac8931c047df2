//! [`crate::history`] on PostGIS: the dossier's row is locked (`FOR UPDATE`), or inserted, before
//! the history's end is read, so that two writers of one dossier take turns; the second finds the
//! end moved and is refused.

use sqlx::Row;
use urbis_core::{Feature, LayerId};

use super::{ident, insert_sql, row_values, write_error, PostgisStore, Statement};
use crate::history::{check_append, check_head, HistoryHead};
use crate::{wkb, Result, StoreError};

impl PostgisStore {
    pub(crate) async fn append_event_in_one(
        &self,
        dossier: &Feature,
        event: &Feature,
        expected: Option<&HistoryHead>,
    ) -> Result<()> {
        check_append(dossier, event, expected)?;
        let dossier_row = Statement { binds: row_values(LayerId::Permits, dossier, wkb::to_ewkb)? };
        let event_row = Statement { binds: row_values(LayerId::PermitEvents, event, wkb::to_ewkb)? };
        let mut tx = self.pool.begin().await?;
        if expected.is_none() {
            dossier_row
                .query(&insert_sql(LayerId::Permits))
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(LayerId::Permits, std::slice::from_ref(dossier), e))?;
        } else {
            let lock = format!("SELECT 1 FROM {} WHERE \"id\" = $1 FOR UPDATE", ident("permits"));
            if sqlx::query(&lock).bind(&dossier.id).fetch_optional(&mut *tx).await?.is_none() {
                return Err(StoreError::NotFound { layer: LayerId::Permits, id: dossier.id.clone() });
            }
        }
        let row = sqlx::query("SELECT seq, hash FROM permit_events WHERE permit_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(&dossier.id)
            .fetch_optional(&mut *tx)
            .await?;
        let found = row.map(|r| -> Result<HistoryHead> { Ok(HistoryHead { seq: r.try_get(0)?, hash: r.try_get(1)? }) });
        check_head(&dossier.id, expected, found.transpose()?)?;
        event_row
            .query(&insert_sql(LayerId::PermitEvents))
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(LayerId::PermitEvents, std::slice::from_ref(event), e))?;
        if expected.is_some() {
            let sql = super::update_returning_sql(LayerId::Permits);
            dossier_row.query(&sql).fetch_one(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
