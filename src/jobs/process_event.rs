//! `ProcessEvent`: claim the inbox row, normalise it, hand it to the engine, record the outcome.
//! Safe to run twice: the claim lets only one run work on an event, and a done event is never redone.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use chrono::Utc;

use crate::app::AppState;
use crate::providers::NormalizedEvent;
use crate::store::events::{EventRow, ProcessEvent};

/// Why handling an event failed: permanent failures are not retried.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    Transient(String),
}

/// What receives normalised events: the recovery engine. Kept behind a trait so the inbox does not
/// depend on it, and so tests can inject failures.
pub trait EventSink: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        state: &'a AppState,
        row: &'a EventRow,
        event: &'a NormalizedEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProcessError>> + Send + 'a>>;
}

/// The sink used until the engine consumes events: accepting is all there is to do.
pub struct AcceptAll;

impl EventSink for AcceptAll {
    fn handle<'a>(
        &'a self,
        _: &'a AppState,
        _: &'a EventRow,
        _: &'a NormalizedEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProcessError>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }
}

/// The apalis handler. Errors returned here are only infrastructure failures (the store is down);
/// processing failures are recorded on the event and retried with our own backoff.
pub async fn run(job: ProcessEvent, state: Data<AppState>) -> Result<(), BoxDynError> {
    yield_to_ingestion(&state).await;
    process(&state, &job.event_id).await.map_err(Into::into)
}

/// Webhooks are answered first: while this process's inbox is busy, processing an event waits a
/// little (never more than `MAX_YIELD`), so a burst of deliveries is stored and answered at the
/// database's pace instead of sharing it with work that can safely lag. Processing catches up when
/// the burst ends; workers in other processes are not held back.
async fn yield_to_ingestion(state: &AppState) {
    const BUSY: usize = 4;
    const STEP: Duration = Duration::from_millis(5);
    const MAX_YIELD: Duration = Duration::from_millis(250);
    let mut waited = Duration::ZERO;
    while waited < MAX_YIELD && state.inbox.waiting() >= BUSY {
        tokio::time::sleep(STEP).await;
        waited += STEP;
    }
}

#[tracing::instrument(skip_all, fields(event = %event_id))]
pub async fn process(state: &AppState, event_id: &str) -> Result<(), crate::store::StoreError> {
    let now = Utc::now();
    let lease = chrono::Duration::from_std(state.settings.orphan_timeout)
        .unwrap_or(chrono::Duration::seconds(60));
    let Some(row) = state.store.claim_event(event_id, now, now + lease).await? else {
        tracing::debug!("event already processed or being processed elsewhere");
        return Ok(());
    };
    let outcome = handle(state, &row).await;
    let now = Utc::now();
    match outcome {
        Ok(true) => {
            state
                .store
                .finish_event(&row.id, "processed", None, now)
                .await?
        }
        Ok(false) => {
            state
                .store
                .finish_event(&row.id, "ignored", None, now)
                .await?
        }
        Err(ProcessError::Permanent(msg)) => {
            tracing::warn!(error = %msg, "event failed permanently");
            state
                .store
                .finish_event(&row.id, "failed", Some(&msg), now)
                .await?
        }
        Err(ProcessError::Transient(msg))
            if row.attempts >= i64::from(state.settings.process_max_attempts) =>
        {
            tracing::warn!(error = %msg, attempts = row.attempts, "event failed; no attempts left");
            state
                .store
                .finish_event(&row.id, "failed", Some(&msg), now)
                .await?
        }
        Err(ProcessError::Transient(msg)) => {
            let wait = backoff(state.settings.process_backoff, row.attempts);
            tracing::info!(error = %msg, retry_in = ?wait, "event failed; will retry");
            let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            state
                .store
                .retry_event_later(&row.id, &msg, now, at)
                .await?
        }
    }
    Ok(())
}

/// Returns whether the event was used (`true`) or is of a kind the engine ignores (`false`).
async fn handle(state: &AppState, row: &EventRow) -> Result<bool, ProcessError> {
    let normalized = state
        .stripe
        .normalize(row.payload.as_bytes())
        .map_err(|e| ProcessError::Permanent(e.to_string()))?;
    match normalized {
        None => Ok(false),
        Some(event) => state.engine.handle(state, row, &event).await.map(|_| true),
    }
}

/// Exponential backoff from `base`, doubling per attempt, capped at one hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 16) as u32 - 1;
    base.saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_secs(10);
        assert_eq!(backoff(b, 1), Duration::from_secs(10));
        assert_eq!(backoff(b, 2), Duration::from_secs(20));
        assert_eq!(backoff(b, 4), Duration::from_secs(80));
        assert_eq!(backoff(b, 30), Duration::from_secs(3600));
    }
}
