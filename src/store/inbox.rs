//! Group commit for the webhook inbox: concurrent deliveries are written by one task in shared
//! transactions, so the commit (an fsync) is paid once per batch instead of once per delivery. Each
//! caller still gets its answer only after its row and its task are committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::events::{Inserted, NewEvent};
use super::{Result, Store, StoreError};

type Reply = oneshot::Sender<Result<Inserted>>;

/// Rows per transaction at most: bounds the latency a batch adds to its first caller.
const MAX_BATCH: usize = 128;

#[derive(Clone)]
pub struct InboxWriter {
    tx: mpsc::Sender<(NewEvent, Reply)>,
    /// Deliveries handed to the writer and not yet answered.
    waiting: Arc<AtomicUsize>,
}

/// Decrements the waiting count however `insert` ends (also when its caller goes away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InboxWriter {
    /// Spawns the writer task; it ends when every `InboxWriter` clone is dropped. One writer is
    /// enough on both backends: while a batch commits, the next one gathers, so a batch's size follows
    /// the load. Several writers were measured slower on PostgreSQL (smaller batches, more round trips
    /// for the same rows), and SQLite has one writer at a time anyway.
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<(NewEvent, Reply)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                write(&store, batch).await;
            }
        });
        InboxWriter {
            tx,
            waiting: Arc::default(),
        }
    }

    /// How many deliveries are waiting for their commit right now: the inbox's load.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub async fn insert(&self, event: NewEvent) -> Result<Inserted> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Queue("the inbox writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Queue("the inbox writer dropped a delivery".into()))?
    }
}

async fn write(store: &Store, batch: Vec<(NewEvent, Reply)>) {
    let (events, replies): (Vec<NewEvent>, Vec<Reply>) = batch.into_iter().unzip();
    match store.insert_events(&events).await {
        Ok(results) => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(r));
            }
        }
        // One bad row must not fail its neighbours: fall back to one transaction each.
        Err(e) if events.len() > 1 => {
            tracing::warn!(error = %e, rows = events.len(), "inbox batch failed; writing rows one by one");
            for (event, reply) in events.iter().zip(replies) {
                let _ = reply.send(
                    store
                        .insert_events(std::slice::from_ref(event))
                        .await
                        .map(|mut v| v.remove(0)),
                );
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Queue(msg.clone())));
            }
        }
    }
}
