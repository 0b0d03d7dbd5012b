//! The webhook inbox: one row per (tenant, provider, provider event id), the source of truth for
//! processing. Its `ProcessEvent` task is pushed in the same transaction as the row.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::queue::PushJob;
use super::{Result, Store, dispatch};

/// The queue `ProcessEvent` tasks live on.
pub const PROCESS_EVENT_QUEUE: &str = "dunning::process_event";

/// The payload of the apalis task: just the inbox row's id; the row holds everything else.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ProcessEvent {
    pub event_id: String,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub tenant_id: String,
    pub provider: String,
    pub provider_event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub livemode: Option<bool>,
    pub api_version: Option<String>,
    pub provider_created_at: Option<DateTime<Utc>>,
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub provider: String,
    pub provider_event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub livemode: Option<bool>,
    pub api_version: Option<String>,
    pub provider_created_at: Option<DateTime<Utc>>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, provider, provider_event_id, event_type, object_id, livemode, api_version, \
     provider_created_at, payload, status, attempts, last_error, next_attempt_at, processed_at, received_at";

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub object_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Return rows with ids below this one (ids are time-ordered UUIDv7, newest first).
    pub before_id: Option<String>,
    pub limit: i64,
}

fn process_jobs(ids: &[String]) -> Vec<ProcessEvent> {
    ids.iter()
        .map(|id| ProcessEvent {
            event_id: id.clone(),
        })
        .collect()
}

impl Store {
    /// Stores a received event and enqueues its processing atomically. A second delivery of the same
    /// event id for the tenant changes nothing and reports `Duplicate`.
    pub async fn insert_event(&self, e: &NewEvent) -> Result<Inserted> {
        Ok(self.insert_events(std::slice::from_ref(e)).await?.remove(0))
    }

    /// Stores events and enqueues their processing in one transaction; a duplicate (also within the
    /// batch) is reported as such and changes nothing. On PostgreSQL the rows go in as one statement
    /// and the tasks as another, so a batch costs four round trips whatever its size.
    pub async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<Inserted>> {
        let mut new_ids: Vec<String> = match &self.db {
            super::Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let mut new_ids = Vec::new();
                for e in events {
                    let inserted = sqlx::query(
                        "insert into events (id, tenant_id, provider, provider_event_id, event_type, object_id, livemode,
                            api_version, provider_created_at, payload, status, attempts, next_attempt_at, received_at,
                            created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received', 0, $11, $11, $11, $11)
                         on conflict (tenant_id, provider, provider_event_id) do nothing",
                    )
                    .bind(&e.id).bind(&e.tenant_id).bind(&e.provider).bind(&e.provider_event_id)
                    .bind(&e.event_type).bind(&e.object_id).bind(e.livemode).bind(&e.api_version)
                    .bind(e.provider_created_at).bind(&e.payload).bind(e.received_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        new_ids.push(e.id.clone());
                    }
                }
                (*tx)
                    .push_jobs(PROCESS_EVENT_QUEUE, &process_jobs(&new_ids), None)
                    .await?;
                tx.commit().await?;
                new_ids
            }
            super::Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let col = |f: fn(&NewEvent) -> String| events.iter().map(f).collect::<Vec<_>>();
                let new_ids: Vec<(String,)> = sqlx::query_as(
                    "insert into events (id, tenant_id, provider, provider_event_id, event_type, object_id, livemode,
                        api_version, provider_created_at, payload, status, attempts, next_attempt_at, received_at,
                        created_at, updated_at)
                     select id, tenant_id, provider, provider_event_id, event_type, object_id, livemode, api_version,
                        provider_created_at, payload, 'received', 0, received_at, received_at, received_at, received_at
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                        $8::text[], $9::timestamptz[], $10::text[], $11::timestamptz[])
                        as t(id, tenant_id, provider, provider_event_id, event_type, object_id, livemode, api_version,
                             provider_created_at, payload, received_at)
                     on conflict (tenant_id, provider, provider_event_id) do nothing
                     returning id",
                )
                .bind(col(|e| e.id.clone()))
                .bind(col(|e| e.tenant_id.clone()))
                .bind(col(|e| e.provider.clone()))
                .bind(col(|e| e.provider_event_id.clone()))
                .bind(col(|e| e.event_type.clone()))
                .bind(events.iter().map(|e| e.object_id.clone()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.livemode).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.api_version.clone()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.provider_created_at).collect::<Vec<_>>())
                .bind(col(|e| e.payload.clone()))
                .bind(events.iter().map(|e| e.received_at).collect::<Vec<_>>())
                .fetch_all(&mut *tx)
                .await?;
                let new_ids: Vec<String> = new_ids.into_iter().map(|(id,)| id).collect();
                (*tx)
                    .push_jobs(PROCESS_EVENT_QUEUE, &process_jobs(&new_ids), None)
                    .await?;
                tx.commit().await?;
                new_ids
            }
        };
        if !new_ids.is_empty() {
            self.tasks_pushed();
        }
        new_ids.sort_unstable();
        Ok(events
            .iter()
            .map(|e| match new_ids.binary_search(&e.id) {
                Ok(_) => Inserted::New,
                Err(_) => Inserted::Duplicate,
            })
            .collect())
    }

    /// Takes the event for processing until `lease_until`, unless it is already done or held by a
    /// live claim. Returns `None` when another run has it or it needs no processing.
    pub async fn claim_event(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<EventRow>> {
        let sql = format!(
            "update events set claimed_until = $2, attempts = attempts + 1, updated_at = $3
             where id = $1 and status = 'received' and (claimed_until is null or claimed_until < $3)
             returning {COLUMNS}"
        );
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(lease_until).bind(now).fetch_optional(pool).await
        })?)
    }

    /// Final state for a claimed event: `processed` or `ignored` (or `failed` with `error`).
    pub async fn finish_event(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            sqlx::query(
                "update events set status = $2, last_error = $3, claimed_until = null, processed_at = $4,
                    updated_at = $4
                 where id = $1",
            )
            .bind(id).bind(status).bind(error).bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Records a transient failure and schedules the next try at `retry_at`, in one transaction.
    pub async fn retry_event_later(
        &self,
        id: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> Result<()> {
        dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "update events set last_error = $2, claimed_until = null, next_attempt_at = $3, updated_at = $4
                 where id = $1",
            )
            .bind(id).bind(error).bind(retry_at).bind(now)
            .execute(&mut *tx)
            .await?;
            (*tx).push_job(PROCESS_EVENT_QUEUE, &ProcessEvent { event_id: id.to_string() }, Some(retry_at)).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Re-enqueues events that are due but were not processed (lost task, dead worker, crash), at most
    /// `limit` per call. Each re-enqueue moves `next_attempt_at` to `now`, so the next sweep waits a
    /// full grace period before trying the same event again. Safe to run concurrently: a duplicate task
    /// finds the event claimed or done and does nothing.
    pub async fn sweep_due_events(
        &self,
        now: DateTime<Utc>,
        due_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize> {
        let ids: Vec<(String,)> = dispatch!(&self.db, pool => {
            sqlx::query_as(
                "select id from events
                 where status = 'received' and next_attempt_at <= $1 and (claimed_until is null or claimed_until < $2)
                 order by next_attempt_at limit $3",
            )
            .bind(due_before).bind(now).bind(limit)
            .fetch_all(pool)
            .await
        })?;
        let mut pushed = 0;
        for (id,) in ids {
            let moved = dispatch!(&self.db, pool => {
                let mut tx = pool.begin().await?;
                let moved = sqlx::query(
                    "update events set next_attempt_at = $2, updated_at = $2
                     where id = $1 and status = 'received' and next_attempt_at <= $3",
                )
                .bind(&id).bind(now).bind(due_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved == 1 {
                    (*tx).push_job(PROCESS_EVENT_QUEUE, &ProcessEvent { event_id: id.clone() }, None).await?;
                }
                tx.commit().await?;
                Ok::<u64, super::StoreError>(moved)
            })?;
            pushed += moved as usize;
        }
        if pushed > 0 {
            self.tasks_pushed();
        }
        Ok(pushed)
    }

    /// Puts an event back to `received` and enqueues it, for `POST /v1/events/{id}/replay`.
    pub async fn replay_event(
        &self,
        tenant_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let replayed = dispatch!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "update events set status = 'received', attempts = 0, last_error = null, claimed_until = null,
                    processed_at = null, next_attempt_at = $3, updated_at = $3
                 where id = $1 and tenant_id = $2",
            )
            .bind(id).bind(tenant_id).bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                (*tx).push_job(PROCESS_EVENT_QUEUE, &ProcessEvent { event_id: id.to_string() }, None).await?;
            }
            tx.commit().await?;
            Ok::<_, super::StoreError>(n == 1)
        })?;
        if replayed {
            self.tasks_pushed();
        }
        Ok(replayed)
    }

    pub async fn event(&self, tenant_id: &str, id: &str) -> Result<Option<EventRow>> {
        let sql = format!("select {COLUMNS} from events where id = $1 and tenant_id = $2");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(tenant_id).fetch_optional(pool).await
        })?)
    }

    pub async fn event_by_id(&self, id: &str) -> Result<Option<EventRow>> {
        let sql = format!("select {COLUMNS} from events where id = $1");
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await
        })?)
    }

    pub async fn list_events(&self, tenant_id: &str, f: &EventFilter) -> Result<Vec<EventRow>> {
        let sql = format!(
            "select {COLUMNS} from events
             where tenant_id = $1
               and ($2 is null or status = $2)
               and ($3 is null or event_type = $3)
               and ($4 is null or object_id = $4)
               and ($5 is null or received_at >= $5)
               and ($6 is null or received_at < $6)
               and ($7 is null or id < $7)
             order by id desc
             limit $8"
        );
        Ok(dispatch!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant_id).bind(&f.status).bind(&f.event_type).bind(&f.object_id)
                .bind(f.since).bind(f.until).bind(&f.before_id).bind(f.limit)
                .fetch_all(pool)
                .await
        })?)
    }

    /// Total number of stored events (tests and benchmarks use it to show nothing was lost or added).
    pub async fn count_events(&self) -> Result<i64> {
        let (n,): (i64,) = dispatch!(&self.db, pool => {
            sqlx::query_as("select count(*) from events").fetch_one(pool).await
        })?;
        Ok(n)
    }
}
