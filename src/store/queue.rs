//! Pushes apalis tasks with the caller's connection, so a task is enqueued in the same transaction as
//! the row that asks for it. Both apalis 1.0 backends expose `queries::push_tasks` over any executor.

use apalis::prelude::TaskBuilder;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, SqliteConnection};
use tokio::sync::mpsc;

use super::{Result, StoreError};

/// apalis stores `run_at` in whole seconds: round up so a scheduled task never starts early.
fn run_at_secs(at: DateTime<Utc>) -> u64 {
    let secs = at.timestamp();
    let rounded = if at.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    };
    rounded.max(0) as u64
}

fn task(payload: Vec<u8>, run_at: Option<DateTime<Utc>>) -> apalis::prelude::Task<Vec<u8>> {
    // Our handlers return Ok and do their own backoff; apalis's immediate re-runs only cover panics.
    let mut b = TaskBuilder::new(payload).max_attempts(3);
    if let Some(at) = run_at {
        b = b.run_at_timestamp(run_at_secs(at));
    }
    b.build()
}

fn encode(job: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(job).map_err(|e| StoreError::Queue(e.to_string()))
}

/// Implemented for both backends' connections (and so for their transactions through `&mut *tx`).
pub trait PushJob {
    /// Pushes tasks due at `run_at` (now when `None`), all in one statement.
    fn push_jobs<J: Serialize + Sync>(
        &mut self,
        queue: &str,
        jobs: &[J],
        run_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<()>> + Send;

    fn push_job(
        &mut self,
        queue: &str,
        job: &(impl Serialize + Sync),
        run_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<()>> + Send {
        self.push_jobs(queue, std::slice::from_ref(job), run_at)
    }
}

fn tasks<J: Serialize>(
    jobs: &[J],
    run_at: Option<DateTime<Utc>>,
) -> Result<Vec<apalis::prelude::Task<Vec<u8>>>> {
    jobs.iter().map(|j| Ok(task(encode(j)?, run_at))).collect()
}

impl PushJob for SqliteConnection {
    async fn push_jobs<J: Serialize + Sync>(
        &mut self,
        queue: &str,
        jobs: &[J],
        run_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let t = tasks(jobs, run_at)?;
        apalis_sqlite::queries::push_tasks(self, queue, &t)
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
}

impl PushJob for PgConnection {
    async fn push_jobs<J: Serialize + Sync>(
        &mut self,
        queue: &str,
        jobs: &[J],
        run_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let t = tasks(jobs, run_at)?;
        apalis_postgres::queries::push_tasks(self, queue, t)
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
}

impl super::Store {
    /// Deletes tasks that completed or were killed; failed tasks stay for inspection.
    pub async fn purge_finished_tasks(&self) -> Result<u64> {
        let n = match &self.db {
            super::Db::Sqlite(pool) => {
                sqlx::query("delete from Jobs where status in ('Done', 'Killed')")
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            super::Db::Postgres(pool) => {
                sqlx::query("delete from apalis.jobs where status in ('Done', 'Killed')")
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        };
        Ok(n)
    }

    /// Vacuums the queue table on PostgreSQL (SQLite reuses a deleted row's space at once). Every
    /// task is written three or four times (queued, running, done, deleted), so the table is mostly
    /// dead versions; between autovacuum's visits (a minute apart by default) it grew from 40 to 900
    /// pages over the engine benchmark, and apalis's fetch and acknowledgement, which read it whole,
    /// slowed with it. Needs the table's owner (the role that ran the migrations); `Ok(false)` when
    /// the role may not, which is left to autovacuum.
    pub async fn vacuum_task_table(&self) -> Result<bool> {
        let super::Db::Postgres(pool) = &self.db else {
            return Ok(true);
        };
        // Not the owner: PostgreSQL skips the table with a warning rather than failing.
        let owner: (bool,) = sqlx::query_as(
            "select pg_has_role(current_user, relowner, 'usage') from pg_class where oid = 'apalis.jobs'::regclass",
        )
        .fetch_one(pool)
        .await?;
        if !owner.0 {
            return Ok(false);
        }
        sqlx::query("vacuum (skip_locked) apalis.jobs")
            .execute(pool)
            .await?;
        Ok(true)
    }
}

/// The channel our listener (`jobs::notify`) follows; apalis's own trigger used the same one.
pub const TASK_CHANNEL: &str = "apalis::job::insert";

/// Sends one NOTIFY per wake-up request; requests made while one is in flight coalesce into one more
/// (the channel holds a single request). The NOTIFY is its own tiny transaction, so it never holds up
/// the commits that enqueued the tasks. The task ends when the last `Store` clone is dropped.
pub(super) fn spawn_notifier(pool: sqlx::PgPool) -> mpsc::Sender<()> {
    let (wake, mut requests) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        while requests.recv().await.is_some() {
            if let Err(e) = sqlx::query("select pg_notify($1, '')")
                .bind(TASK_CHANNEL)
                .execute(&pool)
                .await
            {
                // Workers still find the task at their next poll.
                tracing::debug!(error = %e, "could not notify workers");
            }
        }
    });
    wake
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scheduled_times_round_up_never_early() {
        let exact = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(run_at_secs(exact), 1_700_000_000);
        let later = Utc.timestamp_opt(1_700_000_000, 1).unwrap();
        assert_eq!(run_at_secs(later), 1_700_000_001);
    }
}
