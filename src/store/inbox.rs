//! Group commit for the webhook inbox: concurrent deliveries are written by one task in shared
//! transactions, so the commit (an fsync) is paid once per batch instead of once per delivery. Each
//! caller still gets its answer only after its row and its task are committed.

use tokio::sync::{mpsc, oneshot};

use super::events::{Inserted, NewEvent};
use super::{Result, Store, StoreError};

type Reply = oneshot::Sender<Result<Inserted>>;

/// Rows per transaction at most: bounds the latency a batch adds to its first caller.
const MAX_BATCH: usize = 128;

#[derive(Clone)]
pub struct InboxWriter {
    tx: mpsc::Sender<(NewEvent, Reply)>,
}

impl InboxWriter {
    /// Spawns the writer tasks; they end when every `InboxWriter` clone is dropped. SQLite has one
    /// writer at a time anyway; PostgreSQL commits several transactions at once, so there a few
    /// writers keep its WAL flushes shared while batches stay small.
    pub fn start(store: Store) -> Self {
        let writers = match store.db {
            super::Db::Sqlite(_) => 1,
            super::Db::Postgres(_) => 4,
        };
        let (tx, rx) = mpsc::channel::<(NewEvent, Reply)>(4096);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..writers {
            let (store, rx) = (store.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(item) => batch.push(item),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    write(&store, batch).await;
                }
            });
        }
        InboxWriter { tx }
    }

    pub async fn insert(&self, event: NewEvent) -> Result<Inserted> {
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
