//! Deletes finished apalis tasks. Our rows (events, case work) are the record of what happened; a
//! finished task is dead weight, and worse: apalis-sqlite's acknowledgement query walks every task
//! its worker ever locked, so keeping them made each acknowledgement slower than the last.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Often enough that the tasks a worker has finished stay few.
const INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        if let Err(e) = state.store.purge_finished_tasks().await {
            tracing::warn!(error = %e, "could not purge finished tasks; will try again");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
