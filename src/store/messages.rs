//! The outbox: a message is a row (`sending`) before the transport sees it and is marked after, so a
//! campaign step never sends twice. A row found still `sending` belongs to a run that died mid-send:
//! it may have gone out, so it becomes `unknown` and is not sent again.

use chrono::{DateTime, Utc};

use super::{Result, Store, dispatch};

#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The campaign step's work id.
    pub id: String,
    pub tenant_id: String,
    pub case_id: String,
    pub customer_id: String,
    pub kind: String,
    pub to_address: String,
    pub locale: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub transport: String,
}

/// What claiming a message for sending found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// New, or back after a transient failure: send it now.
    Send,
    /// Already sent, failed for good, or of unknown fate: do not send.
    Settled(String),
    /// New, but the customer already has this many messages in the cap's window: not recorded.
    Capped(i64),
}

/// At most `limit` messages to one customer since `since`, across all their cases. Checked in the
/// claim's own transaction, one customer at a time, so concurrent steps cannot all slip under it.
#[derive(Debug, Clone, Copy)]
pub struct TouchCap {
    pub since: DateTime<Utc>,
    pub limit: i64,
}

/// Touches in a window: messages sent in it, and those being sent or to be retried (they will
/// most likely arrive).
const TOUCHES: &str =
    "select count(*) from messages where tenant_id = $1 and customer_id = $2 and id <> $3
     and (sent_at >= $4 or (status in ('sending', 'retry', 'unknown') and created_at >= $4))";

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MessageRow {
    pub id: String,
    pub kind: String,
    pub to_address: String,
    pub locale: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Records `m` as being sent, unless its step already has a message: then a `sending` one (a run
    /// that died mid-send) becomes `unknown`, and a `retry` one is taken for another try. A new
    /// message over `cap` is not recorded ([`Claim::Capped`]).
    pub async fn claim_message(
        &self,
        m: &NewMessage,
        now: DateTime<Utc>,
        cap: Option<TouchCap>,
    ) -> Result<Claim> {
        let postgres = matches!(self.db, super::Db::Postgres(_));
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let existing: Option<(String,)> = sqlx::query_as("select status from messages where id = $1")
                .bind(&m.id).fetch_optional(&mut *tx).await?;
            let claim = match existing {
                None => {
                    let mut over = None;
                    if let Some(cap) = cap {
                        if postgres {
                            // One customer's claims queue here; SQLite's single writer serialises.
                            sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
                                .bind(format!("touch-cap/{}/{}", m.tenant_id, m.customer_id))
                                .execute(&mut *tx).await?;
                        }
                        let (n,): (i64,) = sqlx::query_as(TOUCHES)
                            .bind(&m.tenant_id).bind(&m.customer_id).bind(&m.id).bind(cap.since)
                            .fetch_one(&mut *tx).await?;
                        over = (n >= cap.limit).then_some(n);
                    }
                    match over {
                        Some(n) => Claim::Capped(n),
                        None => {
                            // A concurrent first claim of the same step inserts nothing here.
                            let inserted = sqlx::query(
                                "insert into messages (id, tenant_id, case_id, customer_id, kind, to_address, locale, subject,
                                    body_text, body_html, transport, status, attempts, created_at, updated_at)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'sending', 1, $12, $12)
                                 on conflict (id) do nothing",
                            )
                            .bind(&m.id).bind(&m.tenant_id).bind(&m.case_id).bind(&m.customer_id).bind(&m.kind)
                            .bind(&m.to_address).bind(&m.locale).bind(&m.subject).bind(&m.body_text).bind(&m.body_html)
                            .bind(&m.transport).bind(now)
                            .execute(&mut *tx).await?.rows_affected();
                            if inserted == 1 { Claim::Send } else { Claim::Settled("sending".into()) }
                        }
                    }
                }
                Some((status,)) => match status.as_str() {
                    "retry" => {
                        sqlx::query("update messages set status = 'sending', attempts = attempts + 1, updated_at = $2 where id = $1")
                            .bind(&m.id).bind(now).execute(&mut *tx).await?;
                        Claim::Send
                    }
                    "sending" => {
                        sqlx::query("update messages set status = 'unknown', error = 'a run stopped while sending; not sent again', updated_at = $2 where id = $1")
                            .bind(&m.id).bind(now).execute(&mut *tx).await?;
                        Claim::Settled("unknown".into())
                    }
                    other => Claim::Settled(other.to_string()),
                },
            };
            tx.commit().await?;
            Ok(claim)
        })
    }

    /// Records how sending ended: `sent`, `failed` (permanent) or `retry` (try again later).
    pub async fn finish_message(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "update messages set status = $2, error = $3, updated_at = $4,
                    sent_at = case when $2 = 'sent' then $4 else sent_at end
                 where id = $1",
            )
            .bind(id).bind(status).bind(error).bind(now).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Messages sent to a customer since `since` (touch caps count across all their cases).
    pub async fn messages_sent_to(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        let (n,): (i64,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select count(*) from messages where tenant_id = $1 and customer_id = $2 and sent_at >= $3")
                .bind(tenant_id).bind(customer_id).bind(since).fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// True when a message to `address` failed for good (a refused mailbox): no more are sent to it.
    pub async fn address_refused(&self, tenant_id: &str, address: &str) -> Result<bool> {
        let row: Option<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as("select id from messages where tenant_id = $1 and to_address = $2 and status = 'failed' limit 1")
                .bind(tenant_id).bind(address).fetch_optional(pool).await
        })?;
        Ok(row.is_some())
    }

    /// A case's messages, oldest first.
    pub async fn messages_of_case(&self, case_id: &str) -> Result<Vec<MessageRow>> {
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(
                "select id, kind, to_address, locale, subject, status, attempts, error, created_at, sent_at
                 from messages where case_id = $1 order by created_at, id",
            )
            .bind(case_id).fetch_all(pool).await
        })?)
    }
}
