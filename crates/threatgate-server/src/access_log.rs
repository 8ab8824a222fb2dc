//! The writer of the partner access log and the audit trail's token events: handlers hand
//! records to a channel, and one task writes whatever arrived within 200 ms in one transaction
//! (a few thousand rows at most), so a poll of 10,000 requests a second costs five
//! transactions a second, not 10,000.
//!
//! Nothing is dropped: when the database falls behind, the channel fills and callers wait
//! (`record` applies back-pressure instead of losing entries). `flush` writes everything
//! received so far, for readers on this node and at shutdown.

use std::sync::Arc;
use std::time::Duration;

use threatgate_store::{AccessEntry, AuditEvent, Store};
use tokio::sync::{Notify, mpsc, oneshot};

/// Entries per transaction, at most.
const BATCH: usize = 5_000;
const LINGER: Duration = Duration::from_millis(200);
const QUEUE: usize = 16_384;

enum Message {
    Entry(Box<AccessEntry>),
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct AccessLog {
    sender: mpsc::Sender<Message>,
    /// Cuts the writer's wait short when someone waits for a flush.
    flush_requested: Arc<Notify>,
}

impl AccessLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let flush_requested = Arc::new(Notify::new());
        tokio::spawn(write_batches(store, receiver, Arc::clone(&flush_requested)));
        Self { sender, flush_requested }
    }

    /// Queues an entry; waits only when the queue is full.
    pub async fn record(&self, entry: AccessEntry) {
        if self.sender.send(Message::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("the access log writer has stopped; an entry was not recorded");
        }
    }

    /// Queues an audit event (a token issued); waits only when the queue is full.
    pub async fn record_event(&self, event: AuditEvent) {
        if self.sender.send(Message::Event(Box::new(event))).await.is_err() {
            tracing::error!("the access log writer has stopped; an audit event was not recorded");
        }
    }

    /// Returns once every entry queued before the call is in the store (or its write failed
    /// and was reported).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            self.flush_requested.notify_one();
            let _ = wait.await;
        }
    }
}

/// Waits for a first entry, then lets entries gather for `LINGER` (or until a flush is asked
/// for), then takes everything queued and writes it in one transaction. Senders do not wake
/// the writer while it lingers, so a busy API costs a few wake-ups a second, not one a call.
async fn write_batches(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Message>, flush_requested: Arc<Notify>) {
    let mut messages = Vec::with_capacity(QUEUE);
    let mut batch: Vec<AccessEntry> = Vec::with_capacity(BATCH);
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        if receiver.recv_many(&mut messages, QUEUE).await == 0 {
            break;
        }
        let asked = messages.iter().any(|m| matches!(m, Message::Flush(_)));
        if !asked {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = flush_requested.notified() => {}
            }
        }
        while let Ok(message) = receiver.try_recv() {
            messages.push(message);
        }
        for message in messages.drain(..) {
            match message {
                Message::Entry(entry) => batch.push(*entry),
                Message::Event(event) => events.push(*event),
                Message::Flush(done) => waiting.push(done),
            }
        }
        for chunk in batch.chunks(BATCH) {
            write_with_retry("access log entries", chunk.len(), || store.append_access_entries(chunk)).await;
        }
        batch.clear();
        for chunk in events.chunks(BATCH) {
            write_with_retry("audit events", chunk.len(), || store.append_audit_events(chunk)).await;
        }
        events.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes with one retry after a pause: a busy database (an administration command holding the
/// write lock past the busy timeout) should not cost records.
async fn write_with_retry<F, Fut>(what: &'static str, count: usize, mut append: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = threatgate_store::Result<()>>,
{
    for attempt in 0..2 {
        match append().await {
            Ok(()) => return,
            Err(error) if attempt == 0 => {
                tracing::warn!(%error, count, "writing {what} failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => tracing::error!(%error, count, "{what} could not be written"),
        }
    }
}
