//! Where each tenant's task steps are delivered (stored encrypted; see `engine::tasks`).

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskDestinationRow {
    pub url_enc: String,
    pub secret_enc: String,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    pub async fn put_task_destination(
        &self,
        tenant_id: &str,
        url_enc: &str,
        secret_enc: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "insert into task_destinations (tenant_id, url_enc, secret_enc, created_at, updated_at)
                 values ($1, $2, $3, $4, $4)
                 on conflict (tenant_id) do update
                 set url_enc = excluded.url_enc, secret_enc = excluded.secret_enc, updated_at = excluded.updated_at",
            )
            .bind(tenant_id).bind(url_enc).bind(secret_enc).bind(now)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn task_destination(&self, tenant_id: &str) -> Result<Option<TaskDestinationRow>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as("select url_enc, secret_enc, updated_at from task_destinations where tenant_id = $1")
                .bind(tenant_id).fetch_optional(pool).await
        })?)
    }

    /// True when there was one to remove.
    pub async fn delete_task_destination(&self, tenant_id: &str) -> Result<bool> {
        let n = dispatch!(&self.db, pool => {
            sqlx::query("delete from task_destinations where tenant_id = $1")
                .bind(tenant_id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}
