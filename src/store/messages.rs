//! The outbox: a message is a row (`sending`) before the transport sees it and is marked after, so a
//! campaign step never sends twice. A row found still `sending` belongs to a run that died mid-send:
//! it may have gone out, so it becomes `unknown` and is not sent again.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::case_writes::{ROWS_PER_STATEMENT, WIDE_ROWS_PER_STATEMENT};
use super::cases::{placeholders, value_rows};
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
    /// Subject to the customer's weekly cap (campaign reminders; not notices or tasks).
    pub cap: Option<TouchCap>,
}

/// What claiming a message for sending found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// New: send it now.
    Send,
    /// Back after a transient failure: send again, word for word, what was recorded.
    Resend,
    /// Already sent, failed for good, or of unknown fate: do not send.
    Settled(String),
    /// New, but the customer already has this many messages in the cap's window: not recorded.
    Capped(i64),
}

/// At most `limit` messages to one customer since `since`, across all their cases. Checked in the
/// claim's own transaction, one customer at a time, so concurrent steps cannot all slip under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TouchCap {
    pub since: DateTime<Utc>,
    pub limit: i64,
}

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

/// How sending one message ended: `sent`, `failed` (permanent) or `retry` (try again later).
/// Recorded in the commit of the batch that sent it.
#[derive(Debug, Clone)]
pub struct MessageFinish {
    pub id: String,
    pub status: &'static str,
    pub error: Option<String>,
}

/// What the outbox knows about a tenant's recipients before their steps are decided: addresses that
/// refused a message for good, and messages sent per customer in the touch-cap window.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    pub refused: HashSet<String>,
    pub sent: HashMap<String, i64>,
    /// The tenant's own email templates (few rows), so a batch's emails read them once.
    pub templates: Vec<super::email_templates::TemplateRow>,
}

impl Recipients {
    /// From `('sent', customer, count)` and `('refused', address, _)` rows.
    fn from_rows(rows: Vec<(String, String, i64)>) -> Recipients {
        let mut r = Recipients::default();
        for (what, key, n) in rows {
            if what == "sent" {
                r.sent.insert(key, n);
            } else {
                r.refused.insert(key);
            }
        }
        r
    }
}

/// A customer's touches in the window from `$1`, for the row `v` (`column1` the tenant, `column2`
/// the customer).
const TOUCHES: &str = "(select count(*) from messages m
      where m.tenant_id = v.column1 and m.customer_id = v.column2
        and (m.sent_at >= $1 or (m.status in ('sending', 'retry', 'unknown') and m.created_at >= $1)))";

/// The outbox's statements inside a transaction, written per backend.
pub(super) trait OutboxStatements {
    /// Inserts messages as `sending`, skipping ids already there; returns the ids inserted.
    fn insert_messages(
        &mut self,
        chunk: &[&NewMessage],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Takes the touch-cap lock of each key (sorted), until the transaction ends. SQLite's single
    /// writer serialises already.
    fn lock_customers(&mut self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// Per `(tenant, customer)`, the touches in the window since `since` as `("tenant/customer",
    /// count)`: messages sent in it, and those being sent or to be retried (they will most likely
    /// arrive); and as `("=id", 0)` the messages of `capped` already in the outbox. One correlated
    /// count per customer, so each is a lookup of `messages_customer` by tenant and customer
    /// whatever the table's statistics say (a filter over an `in` list let a planner with stale
    /// statistics scan the tenant's whole window instead).
    fn touches(
        &mut self,
        since: DateTime<Utc>,
        pairs: &[(&str, &str)],
        capped: &[&NewMessage],
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
}

const INSERT_MESSAGE: &str =
    "insert into messages (id, tenant_id, case_id, customer_id, kind, to_address,
    locale, subject, body_text, body_html, transport, status, attempts, created_at, updated_at)";

impl OutboxStatements for sqlx::SqliteConnection {
    async fn insert_messages(
        &mut self,
        chunk: &[&NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let values = (0..chunk.len())
            .map(|i| format!("({}, 'sending', 1, $1, $1)", placeholders(11 * i + 2, 11)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("{INSERT_MESSAGE} values {values} on conflict (id) do nothing returning id");
        let mut q = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for m in chunk {
            q = q
                .bind(&m.id)
                .bind(&m.tenant_id)
                .bind(&m.case_id)
                .bind(&m.customer_id)
                .bind(&m.kind)
                .bind(&m.to_address)
                .bind(&m.locale)
                .bind(&m.subject)
                .bind(&m.body_text)
                .bind(&m.body_html)
                .bind(&m.transport);
        }
        Ok(q.fetch_all(self)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect())
    }

    async fn lock_customers(&mut self, _keys: &[String]) -> Result<()> {
        Ok(())
    }

    async fn touches(
        &mut self,
        since: DateTime<Utc>,
        pairs: &[(&str, &str)],
        capped: &[&NewMessage],
    ) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "select v.column1 || '/' || v.column2, {TOUCHES}
               from (values {}) v
             union all
             select '=' || id, 0 from messages where id in ({})",
            value_rows(2, pairs.len(), 2),
            placeholders(2 + 2 * pairs.len(), capped.len())
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(since);
        for (tenant, customer) in pairs {
            q = q.bind(*tenant).bind(*customer);
        }
        for m in capped {
            q = q.bind(&m.id);
        }
        Ok(q.fetch_all(&mut *self).await?)
    }
}

impl OutboxStatements for sqlx::PgConnection {
    /// One array per column: the same text for any number of rows, prepared once per connection.
    async fn insert_messages(
        &mut self,
        chunk: &[&NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        fn col<'a>(
            chunk: &[&'a NewMessage],
            f: impl Fn(&'a NewMessage) -> &'a str,
        ) -> Vec<&'a str> {
            chunk.iter().map(|m| f(m)).collect()
        }
        let sql = format!(
            "{INSERT_MESSAGE}
             select *, 'sending', 1, $1::timestamptz, $1::timestamptz
             from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
             on conflict (id) do nothing returning id"
        );
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(col(chunk, |m| &m.id))
            .bind(col(chunk, |m| &m.tenant_id))
            .bind(col(chunk, |m| &m.case_id))
            .bind(col(chunk, |m| &m.customer_id))
            .bind(col(chunk, |m| &m.kind))
            .bind(col(chunk, |m| &m.to_address))
            .bind(col(chunk, |m| &m.locale))
            .bind(col(chunk, |m| &m.subject))
            .bind(col(chunk, |m| &m.body_text))
            .bind(col(chunk, |m| &m.body_html))
            .bind(col(chunk, |m| &m.transport))
            .fetch_all(self)
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn lock_customers(&mut self, keys: &[String]) -> Result<()> {
        // In one statement and a fixed order, so two batches never wait on each other.
        sqlx::query("select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from unnest($1::text[]) as l(k)")
            .bind(keys)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    /// Arrays: the statement's text does not change with the batch, so it is prepared once per
    /// connection instead of parsed and planned for each batch.
    async fn touches(
        &mut self,
        since: DateTime<Utc>,
        pairs: &[(&str, &str)],
        capped: &[&NewMessage],
    ) -> Result<Vec<(String, i64)>> {
        let tenants: Vec<&str> = pairs.iter().map(|(t, _)| *t).collect();
        let customers: Vec<&str> = pairs.iter().map(|(_, c)| *c).collect();
        let ids: Vec<&str> = capped.iter().map(|m| m.id.as_str()).collect();
        let sql = format!(
            "select v.column1 || '/' || v.column2, {TOUCHES}
               from unnest($2::text[], $3::text[]) as v(column1, column2)
             union all
             select '=' || id, 0 from messages where id = any($4::text[])"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(&tenants)
            .bind(&customers)
            .bind(&ids)
            .fetch_all(&mut *self)
            .await?)
    }
}

/// Records each message as being sent (multi-row insert); for a step that already has one, a
/// `sending` message (a run that died mid-send) becomes `unknown` and a `retry` one is taken again.
macro_rules! claim_rows {
    ($tx:expr, $messages:expr, $now:expr) => {{
        let all: &[&NewMessage] = $messages;
        let now: DateTime<Utc> = $now;
        let over = $crate::store::messages::touch_cap!($tx, all);
        let messages: Vec<&NewMessage> =
            all.iter().copied().filter(|m| !over.contains_key(&m.id)).collect();
        let mut inserted: HashSet<String> = HashSet::new();
        for chunk in messages.chunks(WIDE_ROWS_PER_STATEMENT) {
            inserted.extend($crate::store::messages::OutboxStatements::insert_messages(&mut *$tx, chunk, now).await?);
        }
        let mut claims = Vec::with_capacity(all.len());
        for m in all {
            if let Some(n) = over.get(&m.id) {
                claims.push(Claim::Capped(*n));
                continue;
            }
            if inserted.contains(&m.id) {
                claims.push(Claim::Send);
                continue;
            }
            // Rare (a re-run): one row at a time.
            let (status,): (String,) = sqlx::query_as("select status from messages where id = $1")
                .bind(&m.id).fetch_one(&mut *$tx).await?;
            claims.push(match status.as_str() {
                "retry" => {
                    sqlx::query("update messages set status = 'sending', attempts = attempts + 1, updated_at = $2 where id = $1")
                        .bind(&m.id).bind(now).execute(&mut *$tx).await?;
                    Claim::Resend
                }
                "sending" => {
                    sqlx::query("update messages set status = 'unknown', error = 'a run stopped while sending; not sent again', updated_at = $2 where id = $1")
                        .bind(&m.id).bind(now).execute(&mut *$tx).await?;
                    Claim::Settled("unknown".into())
                }
                other => Claim::Settled(other.to_string()),
            });
        }
        claims
    }};
}
pub(super) use claim_rows;

/// The new messages over their customer's weekly cap, with the count found: under a lock per
/// customer (PostgreSQL; SQLite's single writer serialises already), so that steps of one customer's
/// cases claiming at the same moment see each other. A message already in the outbox (a re-run) is
/// not capped again.
macro_rules! touch_cap {
    ($tx:expr, $messages:expr) => {{
        let messages: &[&NewMessage] = $messages;
        let mut over: ::std::collections::HashMap<String, i64> = ::std::collections::HashMap::new();
        let capped: Vec<&NewMessage> = messages
            .iter()
            .copied()
            .filter(|m| m.cap.is_some())
            .collect();
        if !capped.is_empty() {
            let mut customers: Vec<String> = capped
                .iter()
                .map(|m| format!("touch-cap/{}/{}", m.tenant_id, m.customer_id))
                .collect();
            customers.sort_unstable();
            customers.dedup();
            $crate::store::messages::OutboxStatements::lock_customers(&mut *$tx, &customers)
                .await?;
            // Per customer: the touches in the window, and which of these messages exist already (a
            // re-run is not capped again).
            let since = capped
                .iter()
                .filter_map(|m| m.cap)
                .map(|c| c.since)
                .min()
                .expect("capped");
            let mut pairs: Vec<(&str, &str)> = capped
                .iter()
                .map(|m| (m.tenant_id.as_str(), m.customer_id.as_str()))
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            let found = $crate::store::messages::OutboxStatements::touches(
                &mut *$tx, since, &pairs, &capped,
            )
            .await?;
            let mut counts: ::std::collections::HashMap<String, i64> =
                ::std::collections::HashMap::new();
            let mut existing: ::std::collections::HashSet<String> =
                ::std::collections::HashSet::new();
            for (key, count) in found {
                match key.strip_prefix('=') {
                    Some(id) => {
                        existing.insert(id.to_string());
                    }
                    None => {
                        counts.insert(key, count);
                    }
                }
            }
            for m in capped.iter().filter(|m| !existing.contains(&m.id)) {
                let cap = m.cap.expect("filtered on cap");
                let key = format!("{}/{}", m.tenant_id, m.customer_id);
                let n = counts.get(&key).copied().unwrap_or(0);
                if n >= cap.limit {
                    over.insert(m.id.clone(), n);
                } else {
                    counts.insert(key, n + 1);
                }
            }
        }
        over
    }};
}
pub(super) use touch_cap;

/// Records how sending ended; `sent` (the usual end) in one statement per chunk.
/// Marks messages `sent`, per backend.
pub(super) trait MarkSent {
    fn mark_sent(
        &mut self,
        chunk: &[&MessageFinish],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
}

const MARK_SENT: &str =
    "update messages set status = 'sent', error = null, updated_at = $1, sent_at = $1";

impl MarkSent for sqlx::SqliteConnection {
    async fn mark_sent(&mut self, chunk: &[&MessageFinish], now: DateTime<Utc>) -> Result<()> {
        let sql = format!("{MARK_SENT} where id in ({})", placeholders(2, chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for f in chunk {
            q = q.bind(&f.id);
        }
        q.execute(self).await?;
        Ok(())
    }
}

impl MarkSent for sqlx::PgConnection {
    /// The ids as one array: the same text for any number of rows, prepared once per connection.
    async fn mark_sent(&mut self, chunk: &[&MessageFinish], now: DateTime<Utc>) -> Result<()> {
        let ids: Vec<&str> = chunk.iter().map(|f| f.id.as_str()).collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MARK_SENT} where id = any($2::text[])"
        )))
        .bind(now)
        .bind(ids)
        .execute(self)
        .await?;
        Ok(())
    }
}

/// A message failed for good: its address gets no more (`$1` the message, `$2` when). The first
/// refusal is the one kept.
pub(super) const REFUSE_ADDRESS: &str =
    "insert into refused_addresses (tenant_id, address, message_id, refused_at)
     select tenant_id, to_address, id, $2 from messages where id = $1
     on conflict (tenant_id, address) do nothing";

macro_rules! finish_message_rows {
    ($tx:expr, $finishes:expr, $now:expr) => {{
        let finishes: &[MessageFinish] = $finishes;
        let now: DateTime<Utc> = $now;
        let (sent, other): (Vec<&MessageFinish>, Vec<&MessageFinish>) = finishes
            .iter()
            .partition(|f| f.status == "sent" && f.error.is_none());
        for chunk in sent.chunks(ROWS_PER_STATEMENT) {
            $crate::store::messages::MarkSent::mark_sent(&mut *$tx, chunk, now).await?;
        }
        for f in other {
            sqlx::query(
                "update messages set status = $2, error = $3, updated_at = $4,
                    sent_at = case when $2 = 'sent' then $4 else sent_at end
                 where id = $1",
            )
            .bind(&f.id)
            .bind(f.status)
            .bind(&f.error)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
            if f.status == "failed" {
                sqlx::query($crate::store::messages::REFUSE_ADDRESS)
                    .bind(&f.id)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}
pub(super) use finish_message_rows;

impl Store {
    /// Records `m` as being sent, unless its step already has a message: then a `sending` one (a run
    /// that died mid-send) becomes `unknown`, and a `retry` one is taken for another try. A new
    /// message over its cap is not recorded ([`Claim::Capped`]).
    pub async fn claim_message(&self, m: &NewMessage, now: DateTime<Utc>) -> Result<Claim> {
        let mut claims = self.claim_messages(&[m], now).await?;
        Ok(claims.pop().unwrap_or(Claim::Settled("unknown".into())))
    }

    /// [`Store::claim_message`] for several messages in one transaction, a claim per message.
    pub async fn claim_messages(
        &self,
        messages: &[&NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let claims = claim_rows!(tx, messages, now);
            tx.commit().await?;
            Ok(claims)
        })
    }

    /// Records how sending ended: `sent`, `failed` (permanent) or `retry` (try again later).
    pub async fn finish_message(
        &self,
        id: &str,
        status: &'static str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let finish = MessageFinish {
            id: id.to_string(),
            status,
            error: error.map(str::to_string),
        };
        self.finish_messages(std::slice::from_ref(&finish), now)
            .await
    }

    /// [`Store::finish_message`] for several messages in one transaction.
    pub async fn finish_messages(
        &self,
        finishes: &[MessageFinish],
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            finish_message_rows!(tx, finishes, now);
            tx.commit().await
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
        let r = self
            .recipients(tenant_id, &[customer_id.to_string()], &[], since)
            .await?;
        Ok(r.sent.get(customer_id).copied().unwrap_or(0))
    }

    /// True when a message to `address` failed for good (a refused mailbox): no more are sent to it.
    pub async fn address_refused(&self, tenant_id: &str, address: &str) -> Result<bool> {
        let r = self
            .recipients(tenant_id, &[], &[address.to_string()], Utc::now())
            .await?;
        Ok(r.refused.contains(address))
    }

    /// Which of `addresses` refused a message for good, and how many messages each of `customers`
    /// was sent since `since`, in one round trip.
    pub async fn recipients(
        &self,
        tenant_id: &str,
        customers: &[String],
        addresses: &[String],
        since: DateTime<Utc>,
    ) -> Result<Recipients> {
        if customers.is_empty() && addresses.is_empty() {
            return Ok(Recipients::default());
        }
        // One correlated count per customer, so each is a lookup of `messages_customer` whatever the
        // table's statistics say. On PostgreSQL the lists are arrays, so the statement is prepared
        // once per connection rather than parsed and planned for each batch.
        if let super::Db::Postgres(pool) = &self.db {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "select 'sent', v.c, (select count(*) from messages m
                   where m.tenant_id = $1 and m.customer_id = v.c and m.sent_at >= $2)
                  from unnest($3::text[]) as v(c)
                 union all
                 select 'refused', address, cast(0 as bigint) from refused_addresses
                  where tenant_id = $1 and address = any($4::text[])",
            )
            .bind(tenant_id)
            .bind(since)
            .bind(customers)
            .bind(addresses)
            .fetch_all(pool)
            .await?;
            return Ok(Recipients::from_rows(rows));
        }
        // `$1` the tenant, then (with customers) `$2` the window's start and the customers, then the
        // addresses.
        let mut parts = Vec::new();
        let addresses_from = if customers.is_empty() {
            2
        } else {
            3 + customers.len()
        };
        if !customers.is_empty() {
            parts.push(format!(
                "select 'sent', v.column1, (select count(*) from messages m
                   where m.tenant_id = $1 and m.customer_id = v.column1 and m.sent_at >= $2)
                  from (values {}) v",
                value_rows(3, customers.len(), 1)
            ));
        }
        if !addresses.is_empty() {
            parts.push(format!(
                "select 'refused', address, cast(0 as bigint) from refused_addresses
                  where tenant_id = $1 and address in ({})",
                placeholders(addresses_from, addresses.len())
            ));
        }
        let sql = parts.join(" union all ");
        let rows: Vec<(String, String, i64)> = dispatch!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false).bind(tenant_id);
            if !customers.is_empty() {
                q = q.bind(since);
            }
            for v in customers.iter().chain(addresses) {
                q = q.bind(v);
            }
            q.fetch_all(pool).await
        })?;
        Ok(Recipients::from_rows(rows))
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
