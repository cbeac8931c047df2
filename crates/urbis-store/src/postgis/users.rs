//! [`crate::users`] on PostGIS: the table of migration `20261123180000_users.sql`.

use sqlx::Row;

use super::PostgisStore;
use crate::users::{check_new, User, TABLE};
use crate::{Result, StoreError};

const COLUMNS: &str = "name, role, centres, password_hash, \
     to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created, disabled";

fn decode(r: &sqlx::postgres::PgRow) -> Result<User> {
    Ok(User {
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        centres: r.try_get("centres")?,
        password_hash: r.try_get("password_hash")?,
        created: r.try_get("created")?,
        disabled: r.try_get("disabled")?,
    })
}

impl PostgisStore {
    pub(super) async fn add_user_row(&self, user: &User) -> Result<()> {
        check_new(user)?;
        let done = sqlx::query(&format!(
            "INSERT INTO {TABLE} (name, role, centres, password_hash, created, disabled) \
             VALUES ($1, $2, $3, $4, $5::timestamptz, $6) ON CONFLICT (name) DO NOTHING"
        ))
        .bind(&user.name)
        .bind(&user.role)
        .bind(&user.centres)
        .bind(&user.password_hash)
        .bind(&user.created)
        .bind(user.disabled)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::DuplicateUser { name: user.name.clone() });
        }
        Ok(())
    }

    pub(super) async fn user_row(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    pub(super) async fn user_rows(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM {TABLE} ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    pub(super) async fn set_user_row_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let done = sqlx::query(&format!("UPDATE {TABLE} SET disabled = $1 WHERE name = $2"))
            .bind(disabled)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownUser { name: name.to_string() });
        }
        Ok(())
    }
}
