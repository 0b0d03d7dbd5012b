//! Wakes PostgreSQL workers the moment a due task is committed (`Store::tasks_pushed` notifies).
//! apalis-postgres keeps its listener private and its `with_pubsub()` cannot be combined with interval
//! polling, so we listen ourselves and feed both into one polling strategy.

use std::time::Duration;

use futures::channel::mpsc;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::store::queue::TASK_CHANNEL as CHANNEL;

/// A stream yielding `()` for each notification; the listener reconnects after errors and stops when
/// the stream is dropped (a restarted worker gets a fresh one).
pub fn new_task_signals(pool: PgPool) -> mpsc::Receiver<()> {
    let (mut tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if listener.listen(CHANNEL).await.is_ok() {
                        loop {
                            match listener.recv().await {
                                Ok(_) => {
                                    // A full channel already holds a wake-up; dropping this one is fine.
                                    if tx.try_send(()).is_err_and(|e| e.is_disconnected()) {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "task notifications lost; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for task notifications; retrying")
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    rx
}
