//! Small key/value settings the service keeps about itself (generated dev secrets, key check values).

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};

impl Store {
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let v: Option<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select value from service_settings where key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(v.map(|(v,)| v))
    }

    /// Inserts `value` unless the key exists; returns the value that is stored afterwards, so two
    /// processes starting at once agree on one generated secret.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "insert into service_settings (key, value, created_at, updated_at) values ($1, $2, $3, $3)
                 on conflict (key) do nothing",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }

    /// Sets `key` to `value`, whether or not it existed.
    pub async fn put_setting(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "insert into service_settings (key, value, created_at, updated_at) values ($1, $2, $3, $3)
                 on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
