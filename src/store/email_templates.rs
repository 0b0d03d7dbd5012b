//! Tenants' own email templates, one row per message kind and locale.

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};
use crate::email::overrides::TemplateSet;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TemplateRow {
    pub kind: String,
    pub locale: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TemplateRow {
    pub fn set(&self) -> TemplateSet {
        TemplateSet {
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text.clone(),
        }
    }
}

impl Store {
    /// Stores `sets` (locale → templates) for `kind` in one transaction, each replacing that locale's.
    pub async fn put_email_templates(
        &self,
        tenant_id: &str,
        kind: &str,
        sets: &[(String, TemplateSet)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for (locale, t) in sets {
                sqlx::query(
                    "insert into email_templates (tenant_id, kind, locale, subject, html, text, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $7)
                     on conflict (tenant_id, kind, locale) do update
                     set subject = excluded.subject, html = excluded.html, text = excluded.text,
                         updated_at = excluded.updated_at",
                )
                .bind(tenant_id).bind(kind).bind(locale)
                .bind(&t.subject).bind(&t.html).bind(&t.text).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The tenant's templates, by kind then locale.
    pub async fn email_templates(&self, tenant_id: &str) -> Result<Vec<TemplateRow>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(
                "select kind, locale, subject, html, text, created_at, updated_at
                 from email_templates where tenant_id = $1 order by kind, locale",
            )
            .bind(tenant_id).fetch_all(pool).await
        })?)
    }

    pub async fn email_template(
        &self,
        tenant_id: &str,
        kind: &str,
        locale: &str,
    ) -> Result<Option<TemplateSet>> {
        let row: Option<TemplateRow> = dispatch!(&self.db, pool => {
            sqlx::query_as(
                "select kind, locale, subject, html, text, created_at, updated_at
                 from email_templates where tenant_id = $1 and kind = $2 and locale = $3",
            )
            .bind(tenant_id).bind(kind).bind(locale).fetch_optional(pool).await
        })?;
        Ok(row.map(|r| r.set()))
    }

    /// Removes the tenant's templates for `kind` (one locale, or all); returns how many were removed.
    pub async fn delete_email_templates(
        &self,
        tenant_id: &str,
        kind: &str,
        locale: Option<&str>,
    ) -> Result<u64> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query(
                "delete from email_templates
                 where tenant_id = $1 and kind = $2 and ($3 is null or locale = $3)",
            )
            .bind(tenant_id).bind(kind).bind(locale).execute(pool).await.map(|r| r.rows_affected())
        })?)
    }
}
