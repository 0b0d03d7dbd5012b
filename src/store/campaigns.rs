//! Campaigns as versioned data: every edit is a new row; cases keep the version they started with.

use chrono::{DateTime, Utc};

use super::{Result, Store, StoreError, dispatch};
use crate::domain::campaign::Campaign;

fn parse(def: &str) -> Result<Campaign> {
    serde_json::from_str(def).map_err(|e| StoreError::Corrupt(format!("campaign: {e}")))
}

impl Store {
    /// The newest version of each of the tenant's campaigns.
    pub async fn current_campaigns(&self, tenant_id: &str) -> Result<Vec<Campaign>> {
        let rows: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as(
                "select c.definition from campaigns c
                 where c.tenant_id = $1
                   and c.version = (select max(version) from campaigns m where m.tenant_id = c.tenant_id and m.id = c.id)
                 order by c.id",
            )
            .bind(tenant_id).fetch_all(pool).await
        })?;
        rows.iter().map(|(d,)| parse(d)).collect()
    }

    pub async fn campaign_version(
        &self,
        tenant_id: &str,
        id: &str,
        version: u32,
    ) -> Result<Option<Campaign>> {
        let row: Option<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select definition from campaigns where tenant_id = $1 and id = $2 and version = $3")
                .bind(tenant_id).bind(id).bind(i64::from(version)).fetch_optional(pool).await
        })?;
        row.map(|(d,)| parse(&d)).transpose()
    }

    /// Stores `campaign` as written (its version already set by the caller); `false` if that version
    /// exists (a concurrent edit won).
    pub async fn insert_campaign(
        &self,
        tenant_id: &str,
        campaign: &Campaign,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let def = serde_json::to_string(campaign).expect("campaigns serialise");
        let n = dispatch!(&self.db, pool => {
            sqlx::query(
                "insert into campaigns (tenant_id, id, version, definition, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $5) on conflict do nothing",
            )
            .bind(tenant_id).bind(&campaign.id).bind(i64::from(campaign.version)).bind(def).bind(now)
            .execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
