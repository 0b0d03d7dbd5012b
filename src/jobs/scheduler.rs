//! Moves case work whose service time has come onto the apalis queue. Work is timed by the service
//! clock, not apalis's `run_at`, so a test clock can make a 30-day campaign happen in seconds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::store::StoreError;

/// Where the test clock's time is kept across restarts.
pub const TEST_CLOCK_KEY: &str = "test_clock_now";

/// Runs until `stop`, enqueueing due work every poll interval.
pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        let pass = state.scheduling.lock().await;
        if let Err(e) = state
            .store
            .enqueue_due_work(
                state.clock.now(),
                500,
                super::work_batches(state.settings.work_concurrency),
            )
            .await
        {
            tracing::warn!(error = %e, "scheduler pass failed; will try again");
        }
        drop(pass);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(state.settings.queue_poll) => {}
        }
    }
}

/// Advances the test clock to `target`, stepping through every due time on the way so each piece of
/// work sees the time it was planned for, and waiting for work to finish where this process runs
/// workers. Returns once everything due by `target` has at least been enqueued.
pub async fn advance_to(
    state: &AppState,
    target: DateTime<Utc>,
    wait: bool,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut drained = Duration::ZERO;
    // No background pass while the clock moves; work a pass already queued finishes at the time it
    // was due, before the first jump.
    let _no_pass = state.scheduling.lock().await;
    if wait {
        drain(state).await?;
    }
    for steps in 1..=100_000 {
        let next = state.store.next_due_work().await?;
        let step = match next {
            Some(t) if t <= target => t.max(state.clock.now()),
            _ => target,
        };
        // Kept before it is used: the clock a restart resumes from is never behind work done.
        state
            .store
            .put_setting(TEST_CLOCK_KEY, &step.to_rfc3339(), Utc::now())
            .await?;
        let _ = state.clock.set(step);
        let runners = super::work_batches(state.settings.work_concurrency);
        let queued = state.store.enqueue_due_work(step, 10_000, runners).await?;
        if wait {
            let t = std::time::Instant::now();
            drain(state).await?;
            drained += t.elapsed();
            tracing::debug!(%step, queued, took = ?t.elapsed(), "clock step drained");
        }
        if step >= target
            && state
                .store
                .next_due_work()
                .await?
                .is_none_or(|t| t > target)
        {
            tracing::debug!(steps, elapsed = ?started.elapsed(), draining = ?drained, "clock advanced");
            return Ok(());
        }
    }
    Ok(())
}

/// Waits until no due work is waiting or running. Gives up only after 30 s without progress, so a
/// large batch is waited for as long as it keeps moving.
///
/// While batches this process pushed are out, it waits on its own record of them, and progress is
/// that record shrinking: asking the database cost a tenth of its time during a large step (each
/// look passes the dead index entries the step leaves), and even a count once a second cost it 2-3 %.
/// Rows running in another process are not waited for; a test clock runs its work in one.
async fn drain(state: &AppState) -> Result<(), StoreError> {
    const STALL: Duration = Duration::from_secs(30);
    /// Counting is the dear question (every row in flight, and on PostgreSQL the dead versions a
    /// step leaves behind); "is any left?" stops at the first. Counts only measure progress.
    const COUNT_EVERY: Duration = Duration::from_secs(1);
    let mut best = usize::MAX;
    let mut last_progress = tokio::time::Instant::now();
    let mut counted = tokio::time::Instant::now();
    while last_progress.elapsed() < STALL {
        // Due rows this process did not push (another's, or left running) are counted now and then
        // to see whether they move.
        let mut others_due = false;
        let out = state.store.pushed_in_flight();
        if out > 0 {
            if out < best {
                best = out;
                last_progress = tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        } else {
            let now = state.clock.now();
            if !state.store.work_due(now).await? {
                return Ok(());
            }
            // Nothing of ours is out, yet work is due: made due by the runs of this step (a notice
            // sent at once, a retry after a new card), or beyond what one push takes.
            let runners = super::work_batches(state.settings.work_concurrency);
            if state.store.enqueue_due_work(now, 10_000, runners).await? > 0 {
                best = usize::MAX;
                last_progress = tokio::time::Instant::now();
            } else {
                others_due = true;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if counted.elapsed() >= COUNT_EVERY {
            counted = tokio::time::Instant::now();
            state.store.forget_stale_pushes();
            if others_due {
                let n = state.store.work_in_flight(state.clock.now()).await?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n < best {
                    best = n;
                    last_progress = tokio::time::Instant::now();
                }
            }
        }
    }
    Ok(())
}
