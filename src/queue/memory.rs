//! An in-memory [`MessageSource`] for testing the daemon loop: visibility, receive counts,
//! delayed sends (on tokio's clock, so that a paused test clock drives them), and injected
//! delete and send failures, without a network.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DeleteFailure, Message, MessageSource, QueueError, Receipt};

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    visible: VecDeque<(String, String, u32)>,
    in_flight: HashMap<String, (String, String, u32)>,
    deleted: Vec<String>,
    /// Message ids whose next delete fails with this code.
    fail_delete: HashMap<String, String>,
    delete_calls: usize,
    /// Every successful `change_visibility`: receipt handle and seconds.
    visibility_changes: Vec<(String, i32)>,
    /// Messages sent with a delay, not visible before their instant.
    delayed: Vec<(tokio::time::Instant, (String, String, u32))>,
    /// Every accepted `MessageSource::send`: body and delay in seconds.
    sent: Vec<(String, i32)>,
    /// How many of the next `MessageSource::send` calls fail.
    fail_sends: usize,
    /// The highest receive count handed out so far.
    max_receive_count: u32,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
}

impl MemoryQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enqueues a message and returns its id.
    pub fn send(&self, body: &str) -> String {
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("m{}", state.next_id);
        state.visible.push_back((id.clone(), body.to_owned(), 0));
        id
    }

    /// The next delete of message `id` fails with `code` (e.g. `InternalError`, `ReceiptHandleIsInvalid`).
    pub fn fail_next_delete(&self, id: &str, code: &str) {
        self.state()
            .fail_delete
            .insert(id.to_owned(), code.to_owned());
    }

    pub fn deleted(&self) -> Vec<String> {
        self.state().deleted.clone()
    }

    pub fn delete_calls(&self) -> usize {
        self.state().delete_calls
    }

    /// Every visibility change that went through, in order: receipt handle and seconds.
    pub fn visibility_changes(&self) -> Vec<(String, i32)> {
        self.state().visibility_changes.clone()
    }

    /// Messages waiting to be received.
    pub fn visible(&self) -> usize {
        self.state().visible.len()
    }

    /// Messages not deleted: visible, in flight, or not yet due (sent with a delay).
    pub fn remaining(&self) -> usize {
        let state = self.state();
        state.visible.len() + state.in_flight.len() + state.delayed.len()
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

    /// Makes every in-flight message visible again, as an expired visibility timeout would.
    pub fn expire_visibility(&self) {
        let mut state = self.state();
        let returning: Vec<_> = state.in_flight.drain().map(|(_, m)| m).collect();
        state.visible.extend(returning);
    }
}

impl MessageSource for MemoryQueue {
    async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        _visibility_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let mut out = Vec::new();
        {
            let mut state = self.state();
            let now = tokio::time::Instant::now();
            let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.delayed)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            state.delayed = waiting;
            state
                .visible
                .extend(due.into_iter().map(|(_, message)| message));
            while out.len() < max.max(1) as usize {
                let Some((id, body, count)) = state.visible.pop_front() else {
                    break;
                };
                let count = count + 1;
                state.max_receive_count = state.max_receive_count.max(count);
                let handle = format!("{id}-r{count}");
                state
                    .in_flight
                    .insert(handle.clone(), (id.clone(), body.clone(), count));
                out.push(Message {
                    id,
                    receipt_handle: handle,
                    body,
                    receive_count: count,
                });
            }
        }
        if out.is_empty() {
            // Long polling, shortened: an empty answer after a pause, like SQS.
            tokio::time::sleep(std::time::Duration::from_millis(
                10 * wait_secs.clamp(0, 20) as u64,
            ))
            .await;
        }
        Ok(out)
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        let mut state = self.state();
        state.delete_calls += 1;
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
            match state.in_flight.remove(&receipt.receipt_handle) {
                Some((id, _, _)) => state.deleted.push(id),
                None => failures.push(DeleteFailure {
                    id: receipt.id.clone(),
                    code: "ReceiptHandleIsInvalid".into(),
                    message: "stale receipt handle".into(),
                    stale: true,
                }),
            }
        }
        Ok(failures)
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility_secs: i32,
    ) -> Result<(), QueueError> {
        let mut state = self.state();
        // Like SQS: only the handle of a message that is still invisible can change it.
        if !state.in_flight.contains_key(receipt_handle) {
            return Err(QueueError {
                operation: "ChangeMessageVisibility",
                queue: "memory".into(),
                message: format!("ReceiptHandleIsInvalid: {receipt_handle} is stale"),
                transient: false,
            });
        }
        state
            .visibility_changes
            .push((receipt_handle.to_owned(), visibility_secs));
        if visibility_secs == 0 {
            if let Some(message) = state.in_flight.remove(receipt_handle) {
                state.visible.push_back(message);
            }
        }
        Ok(())
    }

    async fn send(&self, body: &str, delay_secs: i32) -> Result<(), QueueError> {
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
        state.next_id += 1;
        let id = format!("m{}", state.next_id);
        let due = tokio::time::Instant::now() + std::time::Duration::from_secs(delay_secs as u64);
        state.delayed.push((due, (id, body.to_owned(), 0)));
        state.sent.push((body.to_owned(), delay_secs));
        Ok(())
    }
}
