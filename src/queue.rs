//! The message source: the [`MessageSource`] seam and its SQS adapter.

pub mod sqs;

use std::future::Future;

/// One received queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// Names this delivery. A later delivery of the same message replaces it: from then on a
    /// delete with it succeeds without deleting anything, and a visibility change with it fails
    /// (SQS API reference, DeleteMessage and ChangeMessageVisibility).
    pub receipt_handle: String,
    pub body: String,
    /// How often the queue has handed this message out (1 on first delivery).
    pub receive_count: u32,
}

/// A message to delete, named by the id that batch results refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub id: String,
    pub receipt_handle: String,
}

impl From<&Message> for Receipt {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id.clone(),
            receipt_handle: message.receipt_handle.clone(),
        }
    }
}

/// An entry of a batch delete that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    pub id: String,
    pub code: String,
    pub message: String,
    /// The receipt handle went stale (visibility lapsed): the message will come back and
    /// is then found already replicated, so this is no reason to retry the delete.
    pub stale: bool,
}

/// The queue's approximate message counts (SQS `GetQueueAttributes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: receivable now.
    pub visible: i64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, neither deleted nor visible again.
    pub in_flight: i64,
    /// `ApproximateNumberOfMessagesDelayed`: sent with a delay not yet over (re-checks, held
    /// deletes).
    pub delayed: i64,
}

/// A failed queue call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} on {queue}: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub queue: String,
    pub message: String,
    pub transient: bool,
}

/// Where messages come from.
pub trait MessageSource: Send + Sync + 'static {
    /// Long-polls for up to `max` messages (1..=10), hiding them for `visibility_secs`: an empty
    /// answer only after `wait_secs` (0..=20) with nothing visible. A message not deleted
    /// before its visibility ends is delivered again with a higher receive count.
    fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> impl Future<Output = Result<Vec<Message>, QueueError>> + Send;

    /// Deletes up to 10 messages; the entries that failed are returned.
    fn delete_batch(
        &self,
        receipts: &[Receipt],
    ) -> impl Future<Output = Result<Vec<DeleteFailure>, QueueError>> + Send;

    /// Sets a message's remaining invisibility (0 hands it back at once).
    fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility_secs: i32,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The queue's message counts, for the backlog gauges. The default: not known (`None`).
    fn depth(&self) -> impl Future<Output = Result<Option<QueueDepth>, QueueError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Sends a new message that becomes visible after `delay_secs` (0..=900, SQS's
    /// `DelaySeconds`). `Ok` means the queue accepted it.
    ///
    /// The default refuses (permanently): a source that cannot send still works, its partition
    /// re-checks then fall back to handing the original message back.
    fn send(
        &self,
        body: &str,
        delay_secs: i32,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        let _ = (body, delay_secs);
        std::future::ready(Err(QueueError {
            operation: "SendMessage",
            queue: String::new(),
            message: "this message source cannot send messages".into(),
            transient: false,
        }))
    }

    /// Sends up to 10 messages without delay in one request (SQS `SendMessageBatch`); returns
    /// the index and the reason of each entry the queue did not accept. By default they are
    /// sent one by one.
    fn send_batch(
        &self,
        bodies: &[String],
    ) -> impl Future<Output = Result<Vec<(usize, String)>, QueueError>> + Send {
        async move {
            let mut failed = Vec::new();
            for (i, body) in bodies.iter().enumerate() {
                if let Err(e) = self.send(body, 0).await {
                    failed.push((i, e.to_string()));
                }
            }
            Ok(failed)
        }
    }
}
