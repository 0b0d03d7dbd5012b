//! The sweep: re-enqueues events that are due but unprocessed (a task lost with a crashed process, a
//! worker that died holding it). It runs in every worker process; concurrent sweeps are harmless.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Runs one sweep now and then every `sweep_interval` until `stop` is cancelled.
pub async fn run(state: AppState, stop: CancellationToken) {
    let interval = state.settings.sweep_interval;
    loop {
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "sweep re-enqueued events"),
            Err(e) => tracing::warn!(error = %e, "sweep failed; will try again"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

pub async fn sweep_once(state: &AppState) -> Result<usize, crate::store::StoreError> {
    let now = Utc::now();
    let grace = chrono::Duration::from_std(state.settings.sweep_grace)
        .unwrap_or(chrono::Duration::seconds(30));
    state.store.sweep_due_events(now, now - grace, 500).await
}
