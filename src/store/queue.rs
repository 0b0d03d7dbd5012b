//! Pushes apalis tasks with the caller's connection, so a task is enqueued in the same transaction as
//! the row that asks for it. Both apalis 1.0 backends expose `queries::push_tasks` over any executor.

use apalis::prelude::TaskBuilder;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, SqliteConnection};

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
    fn push_job(
        &mut self,
        queue: &str,
        job: &(impl Serialize + Sync),
        run_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl PushJob for SqliteConnection {
    async fn push_job(
        &mut self,
        queue: &str,
        job: &(impl Serialize + Sync),
        run_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let t = task(encode(job)?, run_at);
        apalis_sqlite::queries::push_tasks(self, queue, &[t])
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
}

impl PushJob for PgConnection {
    async fn push_job(
        &mut self,
        queue: &str,
        job: &(impl Serialize + Sync),
        run_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let t = task(encode(job)?, run_at);
        apalis_postgres::queries::push_tasks(self, queue, vec![t])
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
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
