//! Details of outbox messages beyond their status (kept apart from the outbox's hot path): the
//! provider's id for a sent message, and the stored content a re-send must repeat word for word.

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};

/// What a message said when it was first recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredContent {
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
}

impl Store {
    pub async fn set_provider_message_id(&self, id: &str, provider_id: &str) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query("update messages set provider_message_id = $2 where id = $1")
                .bind(id).bind(provider_id).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The content recorded for message `id`: a re-send carries the same `Idempotency-Key`, and an
    /// API that keeps keys refuses a key with another body (a fresh render has a fresh link).
    pub async fn message_content(&self, id: &str) -> Result<Option<StoredContent>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as("select subject, body_text, body_html from messages where id = $1")
                .bind(id).fetch_optional(pool).await
        })?)
    }

    /// The provider's id of message `id`, if it was sent through a transport that gives one.
    pub async fn provider_message_id(&self, id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select provider_message_id from messages where id = $1")
                .bind(id).fetch_optional(pool).await
        })?;
        Ok(row.and_then(|(p,)| p))
    }

    /// The message the provider knows as `provider_id`: its id, tenant, case and kind.
    pub async fn message_by_provider_id(
        &self,
        provider_id: &str,
    ) -> Result<Option<(String, String, String, String)>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as("select id, tenant_id, case_id, kind from messages where provider_message_id = $1")
                .bind(provider_id).fetch_optional(pool).await
        })?)
    }

    /// A message the receiving side refused after accepting it (a bounce, a spam complaint): its
    /// address gets no more messages.
    pub async fn mark_message_refused(
        &self,
        id: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // A permanent failure, like one the transport reports: the address is refused with it.
        self.finish_message(id, "failed", Some(why), now).await
    }
}
