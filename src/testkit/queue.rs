//! An in-memory [`MessageSource`] that behaves like an SQS standard queue on tokio's clock, so
//! that a paused test clock drives it: visibility timeouts that lapse by themselves, receive
//! counts, delayed sends, long polling, a redrive policy with a dead-letter list, optionally
//! a seeded delivery order (standard queues do not keep order), and injected delete and send
//! failures, without a network. It also records what happened (deletes that took effect and
//! when, every body by id) for a checker.
//!
//! Receipt handles follow the SQS API reference:
//! - `DeleteMessage` "must provide the most recently received ReceiptHandle for the message
//!   (otherwise, the request succeeds, but the message will not be deleted)" (Amazon SQS API
//!   Reference, DeleteMessage): a handle of an earlier delivery is accepted and does nothing.
//!   The most recent handle deletes the message even after its visibility lapsed, as long as
//!   no later receive replaced it. Deleting an already deleted message succeeds again.
//! - `ChangeMessageVisibility`: "the 10 seconds begin to count from the time that you make the
//!   ChangeMessageVisibility call" (Amazon SQS API Reference, ChangeMessageVisibility); once
//!   the visibility has lapsed a change "might result in an error": here it always does, as it
//!   does for a handle of an earlier delivery.
//! - A redrive policy moves a message to the dead-letter queue on the receive that would
//!   deliver it more than `maxReceiveCount` times (Amazon SQS Developer Guide, dead-letter
//!   queues).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::queue::{DeleteFailure, Message, MessageSource, QueueError, Receipt};

/// SQS's longest visibility timeout: 12 hours.
const MAX_VISIBILITY_SECS: i32 = 43_200;

/// A message in the queue (not deleted, not dead-lettered).
#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    receive_count: u32,
    /// Receivable from this instant on: its send (plus delay), or the end of its visibility.
    visible_at: Instant,
    /// Tie-breaker for FIFO order among messages visible from the same instant: taken from a
    /// counter whenever the message becomes visible by a call (send, change, expire).
    order: u64,
    /// The handle of the latest delivery, if any.
    handle: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    next_order: u64,
    messages: Vec<Stored>,
    /// Every receipt handle handed out, with the message id it belongs to.
    handles: HashMap<String, String>,
    /// Every delete that took effect: message id and when.
    deletions: Vec<(String, Instant)>,
    /// Every message ever sent: id to body.
    bodies: HashMap<String, String>,
    /// `Some(n)`: a message is moved to `dead_letters` instead of its (n+1)th delivery.
    max_receive_count_policy: Option<u32>,
    dead_letters: Vec<(String, String)>,
    /// `Some`: receives pick visible messages in a seeded random order.
    order_rng: Option<fastrand::Rng>,
    /// Message ids whose next delete fails with this code.
    fail_delete: HashMap<String, String>,
    delete_calls: usize,
    /// Every successful `change_visibility`: receipt handle and seconds.
    visibility_changes: Vec<(String, i32)>,
    /// Every accepted `MessageSource::send`: body and delay in seconds.
    sent: Vec<(String, i32)>,
    /// How many of the next `MessageSource::send` calls fail.
    fail_sends: usize,
    /// The highest receive count handed out so far.
    max_receive_count: u32,
}

impl State {
    fn order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    fn enqueue(&mut self, body: &str, visible_at: Instant) -> String {
        self.next_id += 1;
        let id = format!("m{}", self.next_id);
        let order = self.order();
        self.bodies.insert(id.clone(), body.to_owned());
        self.messages.push(Stored {
            id: id.clone(),
            body: body.to_owned(),
            receive_count: 0,
            visible_at,
            order,
            handle: None,
        });
        id
    }

    /// The message whose latest delivery handed out `handle`.
    fn current(&mut self, handle: &str) -> Option<&mut Stored> {
        self.messages
            .iter_mut()
            .find(|m| m.handle.as_deref() == Some(handle))
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken whenever a message may have become receivable by a call.
    changed: Notify,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

impl MemoryQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A queue with a redrive policy: a message received `max_receive_count` times is moved to
    /// [`dead_letters`](Self::dead_letters) on the receive that would deliver it once more.
    pub fn with_redrive(max_receive_count: u32) -> Self {
        Self::default().redrive(max_receive_count)
    }

    /// A queue that hands out visible messages in an order drawn from `seed` rather than in
    /// the order they became visible, as a standard queue does not keep order.
    pub fn with_order_seed(seed: u64) -> Self {
        let queue = Self::default();
        queue.state().order_rng = Some(fastrand::Rng::with_seed(seed));
        queue
    }

    /// Adds a redrive policy to this queue (see [`with_redrive`](Self::with_redrive)).
    pub fn redrive(self, max_receive_count: u32) -> Self {
        self.state().max_receive_count_policy = Some(max_receive_count.max(1));
        self
    }

    /// Enqueues a message, receivable at once, and returns its id.
    pub fn send(&self, body: &str) -> String {
        let id = {
            let mut state = self.state();
            state.enqueue(body, Instant::now())
        };
        self.shared.changed.notify_waiters();
        id
    }

    /// The next delete of message `id` fails with `code` (e.g. `InternalError`, `ReceiptHandleIsInvalid`).
    pub fn fail_next_delete(&self, id: &str, code: &str) {
        self.state()
            .fail_delete
            .insert(id.to_owned(), code.to_owned());
    }

    /// Ids of the deleted messages, in the order their deletes took effect.
    pub fn deleted(&self) -> Vec<String> {
        self.state()
            .deletions
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every delete that took effect: message id and the instant (tokio's clock).
    pub fn deletions(&self) -> Vec<(String, Instant)> {
        self.state().deletions.clone()
    }

    /// The body of any message this queue ever held, by id.
    pub fn body_of(&self, id: &str) -> Option<String> {
        self.state().bodies.get(id).cloned()
    }

    /// Messages moved to the dead-letter list by the redrive policy: id and body.
    pub fn dead_letters(&self) -> Vec<(String, String)> {
        self.state().dead_letters.clone()
    }

    pub fn delete_calls(&self) -> usize {
        self.state().delete_calls
    }

    /// Every visibility change that went through, in order: receipt handle and seconds.
    pub fn visibility_changes(&self) -> Vec<(String, i32)> {
        self.state().visibility_changes.clone()
    }

    /// Messages receivable now.
    pub fn visible(&self) -> usize {
        let now = Instant::now();
        self.state()
            .messages
            .iter()
            .filter(|m| m.visible_at <= now)
            .count()
    }

    /// Messages not deleted nor dead-lettered: visible, in flight, or not yet due.
    pub fn remaining(&self) -> usize {
        self.state().messages.len()
    }

    /// Every message sent through [`MessageSource::send`] and accepted: body and delay.
    pub fn sent(&self) -> Vec<(String, i32)> {
        self.state().sent.clone()
    }

    /// The next `count` calls of [`MessageSource::send`] fail (transiently).
    pub fn fail_next_sends(&self, count: usize) {
        self.state().fail_sends = count;
    }

    /// The highest receive count any message reached so far.
    pub fn max_receive_count(&self) -> u32 {
        self.state().max_receive_count
    }

    /// Makes every in-flight message visible now, as if its visibility timeout had passed.
    pub fn expire_visibility(&self) {
        {
            let mut state = self.state();
            let now = Instant::now();
            let mut in_flight: Vec<usize> = (0..state.messages.len())
                .filter(|&i| {
                    state.messages[i].handle.is_some() && state.messages[i].visible_at > now
                })
                .collect();
            in_flight.sort_by_key(|&i| state.messages[i].order);
            for i in in_flight {
                let order = state.order();
                let message = &mut state.messages[i];
                message.visible_at = now;
                message.order = order;
            }
        }
        self.shared.changed.notify_waiters();
    }

    /// Hands out up to `max` visible messages, or moves them to the dead-letter list. `None`
    /// when nothing is visible: then the instant the next message becomes visible, if any.
    fn take_visible(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Message>, Option<Instant>> {
        let mut state = self.state();
        let now = Instant::now();
        let mut candidates: Vec<usize> = (0..state.messages.len())
            .filter(|&i| state.messages[i].visible_at <= now)
            .collect();
        if candidates.is_empty() {
            return Err(state.messages.iter().map(|m| m.visible_at).min());
        }
        candidates.sort_by_key(|&i| (state.messages[i].visible_at, state.messages[i].order));
        if let Some(rng) = state.order_rng.as_mut() {
            rng.shuffle(&mut candidates);
        }
        let mut out = Vec::new();
        let mut dead = Vec::new();
        for i in candidates {
            if out.len() >= max {
                break;
            }
            let policy = state.max_receive_count_policy;
            let message = &mut state.messages[i];
            if policy.is_some_and(|limit| message.receive_count >= limit) {
                dead.push(i);
                continue;
            }
            message.receive_count += 1;
            message.visible_at = now + visibility;
            let handle = format!("{}-r{}", message.id, message.receive_count);
            message.handle = Some(handle.clone());
            let delivered = Message {
                id: message.id.clone(),
                receipt_handle: handle.clone(),
                body: message.body.clone(),
                receive_count: message.receive_count,
            };
            state.max_receive_count = state.max_receive_count.max(delivered.receive_count);
            state.handles.insert(handle, delivered.id.clone());
            out.push(delivered);
        }
        dead.sort_unstable();
        for i in dead.into_iter().rev() {
            let message = state.messages.remove(i);
            state.dead_letters.push((message.id, message.body));
        }
        if out.is_empty() {
            // Everything visible went to the dead-letter list; wait for what is left.
            return Err(state.messages.iter().map(|m| m.visible_at).min());
        }
        Ok(out)
    }
}

impl MessageSource for MemoryQueue {
    /// Visible: receivable now; in flight: handed out and hidden; delayed: sent with a delay
    /// that is not over (never handed out).
    async fn depth(&self) -> Result<Option<crate::queue::QueueDepth>, QueueError> {
        let now = Instant::now();
        let state = self.state();
        let mut depth = crate::queue::QueueDepth::default();
        for m in state.messages.iter() {
            if m.visible_at <= now {
                depth.visible += 1;
            } else if m.handle.is_some() {
                depth.in_flight += 1;
            } else {
                depth.delayed += 1;
            }
        }
        Ok(Some(depth))
    }

    async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let invalid = |message: String| QueueError {
            operation: "ReceiveMessage",
            queue: "memory".into(),
            message,
            transient: false,
        };
        if !(0..=20).contains(&wait_secs) {
            return Err(invalid(format!(
                "InvalidParameterValue: WaitTimeSeconds {wait_secs} is not in 0..=20"
            )));
        }
        if !(0..=MAX_VISIBILITY_SECS).contains(&visibility_secs) {
            return Err(invalid(format!(
                "InvalidParameterValue: VisibilityTimeout {visibility_secs} is not in 0..={MAX_VISIBILITY_SECS}"
            )));
        }
        let visibility = Duration::from_secs(visibility_secs as u64);
        let end = Instant::now() + Duration::from_secs(wait_secs as u64);
        loop {
            // Registered before looking, so that a send in between is not missed.
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = match self.take_visible(max.max(1) as usize, visibility) {
                Ok(messages) => return Ok(messages),
                Err(next) => next,
            };
            // Long polling: wait for a send, for the next message to become visible, or for
            // the end of the wait, whichever comes first.
            let now = Instant::now();
            if now >= end {
                return Ok(Vec::new());
            }
            let until = next.filter(|at| *at > now).map_or(end, |at| at.min(end));
            tokio::select! {
                biased;
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        let mut state = self.state();
        state.delete_calls += 1;
        let now = Instant::now();
        let mut failures = Vec::new();
        for receipt in receipts {
            if let Some(code) = state.fail_delete.remove(&receipt.id) {
                failures.push(DeleteFailure {
                    id: receipt.id.clone(),
                    stale: code == "ReceiptHandleIsInvalid",
                    message: format!("injected {code}"),
                    code,
                });
                continue;
            }
            if !state.handles.contains_key(&receipt.receipt_handle) {
                failures.push(DeleteFailure {
                    id: receipt.id.clone(),
                    code: "ReceiptHandleIsInvalid".into(),
                    message: format!(
                        "{} is not a receipt handle of this queue",
                        receipt.receipt_handle
                    ),
                    stale: true,
                });
                continue;
            }
            // An earlier delivery's handle, or a message already deleted or dead-lettered:
            // the request succeeds and nothing changes.
            let Some(position) = state
                .messages
                .iter()
                .position(|m| m.handle.as_deref() == Some(receipt.receipt_handle.as_str()))
            else {
                continue;
            };
            let message = state.messages.remove(position);
            state.deletions.push((message.id, now));
        }
        Ok(failures)
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility_secs: i32,
    ) -> Result<(), QueueError> {
        let error = |message: String| QueueError {
            operation: "ChangeMessageVisibility",
            queue: "memory".into(),
            message,
            transient: false,
        };
        if !(0..=MAX_VISIBILITY_SECS).contains(&visibility_secs) {
            return Err(error(format!(
                "InvalidParameterValue: VisibilityTimeout {visibility_secs} is not in 0..={MAX_VISIBILITY_SECS}"
            )));
        }
        {
            let mut state = self.state();
            let now = Instant::now();
            let order = state.order();
            // Only the latest delivery's handle, while the message is still invisible.
            let Some(message) = state.current(receipt_handle).filter(|m| m.visible_at > now) else {
                return Err(error(format!(
                    "ReceiptHandleIsInvalid: {receipt_handle} is stale"
                )));
            };
            message.visible_at = now + Duration::from_secs(visibility_secs as u64);
            message.order = order;
            state
                .visibility_changes
                .push((receipt_handle.to_owned(), visibility_secs));
        }
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn send(&self, body: &str, delay_secs: i32) -> Result<(), QueueError> {
        {
            let mut state = self.state();
            if state.fail_sends > 0 {
                state.fail_sends -= 1;
                return Err(QueueError {
                    operation: "SendMessage",
                    queue: "memory".into(),
                    message: "injected failure".into(),
                    transient: true,
                });
            }
            if !(0..=900).contains(&delay_secs) {
                // Like SQS: DelaySeconds outside 0..=900 is refused.
                return Err(QueueError {
                    operation: "SendMessage",
                    queue: "memory".into(),
                    message: format!(
                        "InvalidParameterValue: DelaySeconds {delay_secs} is not in 0..=900"
                    ),
                    transient: false,
                });
            }
            let due = Instant::now() + Duration::from_secs(delay_secs as u64);
            state.enqueue(body, due);
            state.sent.push((body.to_owned(), delay_secs));
        }
        self.shared.changed.notify_waiters();
        Ok(())
    }
}
