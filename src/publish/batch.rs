//! Natural batching of completion events: one `PublishBatch` for what gathered while the last
//! one was on its way.
//!
//! A completion is sent at once when no batch is in flight, so an idle daemon adds no delay.
//! While one is in flight, the completions that arrive meanwhile wait and go together in the
//! next batch (up to [`BATCH_ENTRIES`] entries within [`BATCH_BYTES`]), so a busy daemon sends a
//! tenth of the requests. More batches go out side by side (up to [`BATCHES_IN_FLIGHT`]) only
//! when a full one is waiting. Every caller gets its own entry's result: a message is deleted
//! only after its own completion was accepted, and an entry that failed is retried or alerted by
//! its own caller, as an unbatched publish would be.
//!
//! Where it sits: inside [`crate::pipeline::Pipeline`], in front of its [`Publisher`]; partition
//! completions and alerts go to that publisher directly.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{CompletionEvent, PublishError, Publisher};

/// SNS takes at most 10 entries per `PublishBatch`.
pub const BATCH_ENTRIES: usize = 10;
/// SNS takes at most 256 KiB per `PublishBatch`, every entry's message and attributes summed.
pub const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight at once. The second and later go only when full: under a load that fills
/// batches faster than one round trip empties them, one batch at a time would be the limit.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// One completion waiting for its batch.
struct Entry {
    event: CompletionEvent,
    size: usize,
    reply: oneshot::Sender<Result<(), PublishError>>,
}

/// Publishes completions through `P` in natural batches; see the module's text.
pub struct Batching<P> {
    inner: Arc<P>,
    /// The batcher task's inbox, made on the first completion (in the caller's runtime).
    entries: OnceLock<mpsc::UnboundedSender<Entry>>,
}

impl<P> std::fmt::Debug for Batching<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batching").finish_non_exhaustive()
    }
}

impl<P: Publisher> Batching<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner: Arc::new(inner),
            entries: OnceLock::new(),
        }
    }

    /// The publisher behind the batches (for partition completions and alerts).
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Publishes `event` in the next batch and returns its own entry's result.
    pub async fn publish_completion(&self, event: &CompletionEvent) -> Result<(), PublishError> {
        let entries = self.entries.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(Arc::clone(&self.inner), receiver));
            sender
        });
        let (reply, result) = oneshot::channel();
        let entry = Entry {
            event: event.clone(),
            size: event.batch_size(),
            reply,
        };
        let gone = || PublishError {
            topic_arn: String::new(),
            message: "the completion batcher stopped before this completion was sent".to_owned(),
            transient: true,
        };
        if entries.send(entry).is_err() {
            return Err(gone());
        }
        result.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// The batcher task: gathers entries while batches are in flight, until every sender is gone and
/// everything was sent.
async fn run<P: Publisher>(inner: Arc<P>, mut inbox: mpsc::UnboundedReceiver<Entry>) {
    let mut pending: VecDeque<Entry> = VecDeque::new();
    let mut in_flight = JoinSet::new();
    let mut open = true;
    loop {
        while let Some(batch) = next_batch(&mut pending, in_flight.len()) {
            in_flight.spawn(send(Arc::clone(&inner), batch));
        }
        if !open && pending.is_empty() && in_flight.is_empty() {
            return;
        }
        // `biased`: one fixed order, so that a simulated run replays.
        tokio::select! {
            biased;
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            entry = inbox.recv(), if open => match entry {
                Some(entry) => {
                    pending.push_back(entry);
                    while let Ok(entry) = inbox.try_recv() {
                        pending.push_back(entry);
                    }
                }
                None => open = false,
            },
        }
    }
}

/// The batch to send now, if any: the first waiting entries (up to [`BATCH_ENTRIES`], within
/// [`BATCH_BYTES`]) when nothing is in flight, or when they fill a batch and fewer than
/// [`BATCHES_IN_FLIGHT`] are. Entries whose caller is gone (its handling was cancelled) are
/// dropped: nobody would acknowledge their message.
fn next_batch(pending: &mut VecDeque<Entry>, in_flight: usize) -> Option<Vec<Entry>> {
    pending.retain(|entry| !entry.reply.is_closed());
    let mut count = 0;
    let mut bytes = 0;
    for entry in pending.iter() {
        if count == BATCH_ENTRIES || (count > 0 && bytes + entry.size > BATCH_BYTES) {
            break;
        }
        count += 1;
        bytes += entry.size;
    }
    let full = count == BATCH_ENTRIES || count < pending.len();
    let go = count > 0 && (in_flight == 0 || (full && in_flight < BATCHES_IN_FLIGHT));
    go.then(|| pending.drain(..count).collect())
}

/// Sends one batch and hands each caller its entry's result.
async fn send<P: Publisher>(inner: Arc<P>, batch: Vec<Entry>) {
    let (events, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|entry| (entry.event, entry.reply))
        .unzip();
    let mut results = inner.publish_completions(&events).await.into_iter();
    for reply in replies {
        let result = results.next().unwrap_or_else(|| {
            Err(PublishError {
                topic_arn: String::new(),
                message: "the publisher gave no result for this completion".to_owned(),
                transient: true,
            })
        });
        // A caller that is gone no longer waits for its result.
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests;
