//! The partner access log's writer: API handlers hand entries to a channel, and one task
//! writes them in batches (up to 1,000 entries, or whatever arrived within 200 ms), so a poll
//! of 10,000 requests a second costs ten inserts of a thousand rows, not 10,000 transactions.
//!
//! Nothing is dropped: when the database falls behind, the channel fills and callers wait
//! (`record` applies back-pressure instead of losing entries). `flush` writes everything
//! received so far, for readers on this node and at shutdown.

use std::sync::Arc;
use std::time::Duration;

use threatgate_store::{AccessEntry, Store};
use tokio::sync::{mpsc, oneshot};

const BATCH: usize = 1_000;
const LINGER: Duration = Duration::from_millis(200);
const QUEUE: usize = 16_384;

enum Message {
    Entry(Box<AccessEntry>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct AccessLog {
    sender: mpsc::Sender<Message>,
}

impl AccessLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Queues an entry; waits only when the queue is full.
    pub async fn record(&self, entry: AccessEntry) {
        if self.sender.send(Message::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("the access log writer has stopped; an entry was not recorded");
        }
    }

    /// Returns once every entry queued before the call is in the store (or its write failed
    /// and was reported).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Message>) {
    let mut batch: Vec<AccessEntry> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = receiver.recv().await {
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Message::Entry(entry)) => batch.push(*entry),
                Some(Message::Flush(done)) => {
                    waiting.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(message)) => next = Some(message),
                Ok(None) | Err(_) => break,
            }
        }
        write(store.as_ref(), &mut batch).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    write(store.as_ref(), &mut batch).await;
}

async fn write(store: &dyn Store, batch: &mut Vec<AccessEntry>) {
    if batch.is_empty() {
        return;
    }
    // One retry after a pause: a busy database (an administration command holding the write
    // lock past the busy timeout) should not cost entries.
    for attempt in 0..2 {
        match store.append_access_entries(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(error) if attempt == 0 => {
                tracing::warn!(%error, entries = batch.len(), "writing the access log failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                tracing::error!(%error, entries = batch.len(), "access log entries could not be written");
            }
        }
    }
    batch.clear();
}
