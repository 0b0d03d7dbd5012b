//! Deletes finished apalis tasks. Our rows (events, case work) are the record of what happened; a
//! finished task is dead weight, and worse: apalis-sqlite's acknowledgement query walks every task
//! its worker ever locked, so keeping them made each acknowledgement slower than the last. On
//! PostgreSQL the table is also vacuumed once enough has been deleted (see
//! [`crate::store::Store::vacuum_task_table`]).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Often enough that the tasks a worker has finished stay few.
const INTERVAL: Duration = Duration::from_secs(1);
/// Deleted tasks that make the table worth a vacuum (a hundred or more of its pages)...
const VACUUM_AFTER_DELETED: u64 = 500;
/// ...but no more often than this: a vacuum reads the whole table and its indexes.
const VACUUM_EVERY: Duration = Duration::from_secs(3);

pub async fn run(state: AppState, stop: CancellationToken) {
    let mut deleted = 0u64;
    let mut vacuumed = Instant::now();
    let mut may_vacuum = true;
    loop {
        match state.store.purge_finished_tasks().await {
            Ok(n) => deleted += n,
            Err(e) => tracing::warn!(error = %e, "could not purge finished tasks; will try again"),
        }
        if may_vacuum && deleted >= VACUUM_AFTER_DELETED && vacuumed.elapsed() >= VACUUM_EVERY {
            vacuumed = Instant::now();
            match state.store.vacuum_task_table().await {
                Ok(true) => deleted = 0,
                Ok(false) => {
                    may_vacuum = false;
                    tracing::info!(
                        "the database role does not own the task table: autovacuum keeps it"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not vacuum the task table; will try again")
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
