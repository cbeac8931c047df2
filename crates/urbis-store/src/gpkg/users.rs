//! [`crate::users`] on the GeoPackage: a plain table beside the layers, created on open (also in
//! files made before it existed), like the change feed's. Centres are a JSON array of ids.

use sqlx::Row;

use super::GpkgStore;
use crate::users::{check_new, User, TABLE};
use crate::{Result, StoreError};

pub(super) fn statement() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, \
         centres TEXT NOT NULL DEFAULT '[]', password_hash TEXT NOT NULL, created TEXT NOT NULL, \
         disabled INTEGER NOT NULL DEFAULT 0)"
    )
}

fn decode(r: &sqlx::sqlite::SqliteRow) -> Result<User> {
    let centres: String = r.try_get("centres")?;
    let name: String = r.try_get("name")?;
    let centres = serde_json::from_str(&centres).map_err(|e| StoreError::InvalidUser {
        name: name.clone(),
        reason: format!("stored centres are not a JSON list: {e}"),
    })?;
    Ok(User {
        name,
        role: r.try_get("role")?,
        centres,
        password_hash: r.try_get("password_hash")?,
        created: r.try_get("created")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

impl GpkgStore {
    pub(super) async fn add_user_row(&self, user: &User) -> Result<()> {
        check_new(user)?;
        let centres = serde_json::to_string(&user.centres).unwrap_or_else(|_| "[]".into());
        let done = sqlx::query(&format!(
            "INSERT INTO {TABLE} (name, role, centres, password_hash, created, disabled) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING"
        ))
        .bind(&user.name)
        .bind(&user.role)
        .bind(centres)
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
        let row =
            sqlx::query(&format!("SELECT * FROM {TABLE} WHERE name = ?")).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(decode).transpose()
    }

    pub(super) async fn user_rows(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT * FROM {TABLE} ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    pub(super) async fn set_user_row_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let done = sqlx::query(&format!("UPDATE {TABLE} SET disabled = ? WHERE name = ?"))
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
