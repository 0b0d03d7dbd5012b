//! Tenant rows. Processor secrets arrive here already encrypted; API keys only as hashes.

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub api_key_hash: String,
    pub stripe_secret_key_enc: Option<String>,
    pub stripe_api_base: Option<String>,
    pub webhook_secrets_enc: String,
    pub locale: String,
    pub time_zone: String,
    pub mode: String,
    pub branding: String,
    pub support: String,
    /// `billing_portal` or `checkout`: the hosted page the card-update link leads to.
    pub card_update: String,
    /// Send a notice when a customer's card is about to expire.
    pub expiring_card_notices: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, status, api_key_hash, stripe_secret_key_enc, stripe_api_base, webhook_secrets_enc, \
     locale, time_zone, mode, branding, support, card_update, expiring_card_notices, created_at, updated_at";

impl Store {
    pub async fn insert_tenant(&self, t: &TenantRow) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "insert into tenants (id, name, status, api_key_hash, stripe_secret_key_enc, stripe_api_base,
                    webhook_secrets_enc, locale, time_zone, mode, branding, support, card_update,
                    expiring_card_notices, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&t.id).bind(&t.name).bind(&t.status).bind(&t.api_key_hash)
            .bind(&t.stripe_secret_key_enc).bind(&t.stripe_api_base).bind(&t.webhook_secrets_enc)
            .bind(&t.locale).bind(&t.time_zone).bind(&t.mode).bind(&t.branding).bind(&t.support)
            .bind(&t.card_update).bind(t.expiring_card_notices).bind(t.created_at).bind(t.updated_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Overwrites every mutable column (the caller read, changed and validated the row).
    pub async fn update_tenant(&self, t: &TenantRow) -> Result<bool> {
        let done = dispatch!(&self.db, pool => {
            sqlx::query(
                "update tenants set name = $2, status = $3, stripe_secret_key_enc = $4, stripe_api_base = $5,
                    webhook_secrets_enc = $6, locale = $7, time_zone = $8, mode = $9, branding = $10,
                    support = $11, updated_at = $12, card_update = $13, expiring_card_notices = $14
                 where id = $1",
            )
            .bind(&t.id).bind(&t.name).bind(&t.status).bind(&t.stripe_secret_key_enc)
            .bind(&t.stripe_api_base).bind(&t.webhook_secrets_enc).bind(&t.locale).bind(&t.time_zone)
            .bind(&t.mode).bind(&t.branding).bind(&t.support).bind(t.updated_at)
            .bind(&t.card_update).bind(t.expiring_card_notices)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<TenantRow>> {
        let sql = format!("select {COLUMNS} from tenants where id = $1");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn tenant_by_api_key_hash(&self, hash: &str) -> Result<Option<TenantRow>> {
        let sql = format!("select {COLUMNS} from tenants where api_key_hash = $1");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(pool).await
        })?)
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRow>> {
        let sql = format!("select {COLUMNS} from tenants order by id");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await
        })?)
    }
}

impl Store {
    pub async fn set_tenant_api_key_hash(
        &self,
        id: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query("update tenants set api_key_hash = $2, updated_at = $3 where id = $1")
                .bind(id).bind(hash).bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
