//! Keeping a message invisible while its copies run.
//!
//! A received message stays hidden for `queue.visibility_timeout_secs`; a copy of a large
//! object can take much longer, and a message that reappears mid-copy would be copied twice
//! and count towards the dead-letter queue's `maxReceiveCount`. So while a message is handled,
//! its visibility is extended ahead of expiry, every half timeout, with the queue's
//! `ChangeMessageVisibility`. SQS caps a message's visibility at 12 hours from its receipt;
//! the heartbeat extends no further, after which the message is redelivered (and its targets
//! are found `already_present` for everything that was finished).
//!
//! The heartbeat is a task owned by a [`Heartbeat`] value: dropping it stops the task, so it
//! ends the moment the handler returns, whatever the outcome. A failed extension never fails
//! the message: a stale receipt handle only means that the message will be delivered again.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::queue::{Message, MessageSource};

/// SQS's limit on a message's total invisibility, counted from its receipt.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Retry pause after a failed extension that may pass (throttling, network).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Extends a message's visibility until dropped.
#[derive(Debug)]
pub struct Heartbeat {
    task: JoinHandle<()>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts extending `message`'s visibility by `visibility_secs` at a time, counting the 12-hour
/// cap from now (call it right after the receipt).
pub fn start<Q: MessageSource>(
    queue: Arc<Q>,
    message: &Message,
    visibility_secs: i32,
) -> Heartbeat {
    start_late(queue, message, visibility_secs, Duration::ZERO)
}

/// [`start`] for a message received `received_ago`.
pub fn start_late<Q: MessageSource>(
    queue: Arc<Q>,
    message: &Message,
    visibility_secs: i32,
    received_ago: Duration,
) -> Heartbeat {
    let started = Instant::now();
    let handle = message.receipt_handle.clone();
    let id = message.id.clone();
    let window = Duration::from_secs(visibility_secs.max(1) as u64);
    let task = tokio::spawn(async move {
        // Extend when half of the current window has passed: a late or failed call still has
        // the other half before the message reappears.
        let mut next = Instant::now() + window / 2;
        loop {
            tokio::time::sleep_until(next).await;
            let Some(extension) = extension(received_ago + started.elapsed(), window) else {
                warn!(message = "The message reached SQS's 12-hour visibility limit; it will be delivered again.", message_id = %id);
                return;
            };
            match queue
                .change_visibility(&handle, extension.as_secs() as i32)
                .await
            {
                Ok(()) => {
                    debug!(message = "Message visibility extended.", message_id = %id, visibility_secs = extension.as_secs());
                    next = Instant::now() + extension / 2;
                }
                Err(e) if e.transient => {
                    debug!(message = "Extending the message's visibility failed; trying again.", message_id = %id, error = %e);
                    next = Instant::now() + RETRY_AFTER;
                }
                Err(e) => {
                    // Most likely a stale receipt handle: the visibility lapsed already and the
                    // message may be delivered again. The copy goes on; its result stays valid.
                    warn!(message = "The message's visibility could not be extended; it may be delivered again while its copy runs.", message_id = %id, error = %e);
                    return;
                }
            }
        }
    });
    Heartbeat { task }
}

/// The next visibility to ask for, `elapsed` after the receipt: the configured window, cut
/// so that the total stays within 12 hours; `None` once nothing is left.
pub fn extension(elapsed: Duration, window: Duration) -> Option<Duration> {
    // Whole seconds, rounded against us: SQS counts in seconds and refuses to pass the cap.
    let elapsed = Duration::from_secs(elapsed.as_secs() + 1);
    let left = MAX_VISIBILITY.checked_sub(elapsed)?;
    let extension = window.min(left);
    (extension >= Duration::from_secs(1)).then_some(extension)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::queue::MemoryQueue;

    #[test]
    fn extensions_stop_at_twelve_hours_from_receipt() {
        let minute = Duration::from_secs(60);
        assert_eq!(extension(Duration::from_secs(10), minute), Some(minute));
        let almost = MAX_VISIBILITY - Duration::from_secs(31);
        assert_eq!(
            extension(almost, minute),
            Some(Duration::from_secs(30)),
            "cut to what is left"
        );
        assert_eq!(
            extension(MAX_VISIBILITY - Duration::from_secs(1), minute),
            None
        );
        assert_eq!(extension(MAX_VISIBILITY + minute, minute), None);
    }

    async fn received(queue: &MemoryQueue) -> Message {
        queue.send("{}");
        queue.receive(1, 0, 4).await.unwrap().remove(0)
    }

    #[tokio::test(start_paused = true)]
    async fn visibility_is_extended_ahead_of_expiry_until_the_heartbeat_is_dropped() {
        let queue = Arc::new(MemoryQueue::default());
        let message = received(&queue).await;
        let heartbeat = start(Arc::clone(&queue), &message, 4);
        tokio::time::sleep(Duration::from_millis(9_500)).await;
        let changes = queue.visibility_changes();
        // At 2 s, 4 s, 6 s, 8 s: always 2 s before the window would end.
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes
            .iter()
            .all(|(h, secs)| h == &message.receipt_handle && *secs == 4));
        drop(heartbeat);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(queue.visibility_changes().len(), 4, "stopped when dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_receipt_handle_stops_the_heartbeat_quietly() {
        let queue = Arc::new(MemoryQueue::default());
        let message = received(&queue).await;
        queue.expire_visibility();
        let heartbeat = start(Arc::clone(&queue), &message, 4);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(
            heartbeat.task.is_finished(),
            "no retries on a handle that can never work again"
        );
        assert_eq!(queue.visibility_changes().len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_extension_is_cut_to_the_twelve_hour_cap() {
        let queue = Arc::new(MemoryQueue::default());
        queue.send("{}");
        // Received with the heartbeat's window, so that the message is still in flight when
        // the first extension comes.
        let message = queue.receive(1, 0, 60).await.unwrap().remove(0);
        let received_ago = MAX_VISIBILITY - Duration::from_secs(45);
        let _heartbeat = start_late(Arc::clone(&queue), &message, 60, received_ago);
        tokio::time::sleep(Duration::from_secs(120)).await;
        let changes = queue.visibility_changes();
        assert!(!changes.is_empty());
        assert!(changes.iter().all(|(_, secs)| *secs < 60), "{changes:?}");
    }
}
