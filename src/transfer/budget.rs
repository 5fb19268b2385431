//! The process-wide bound on object bytes held in memory by streamed copies.
//!
//! Every streamed part acquires its size from one [`ByteBudget`] *before* it is read and
//! gives it back once it was uploaded, so all streamed copies together never hold more than
//! `copy.max_inflight_bytes` of object data, whatever the objects' sizes and however many
//! copies run. Waiting here is what keeps a fast source from outrunning a slow target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The semaphore counts KiB: `acquire_many` takes a `u32`, and parts reach 5 GiB.
const UNIT: u64 = 1024;

/// A byte semaphore shared by every streamed copy of the process.
#[derive(Debug)]
pub struct ByteBudget {
    semaphore: Arc<Semaphore>,
    total_units: u32,
    held: AtomicU64,
    peak: AtomicU64,
}

/// Bytes taken from a [`ByteBudget`], given back on drop.
#[derive(Debug)]
pub struct BudgetPermit {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    budget: Arc<ByteBudget>,
}

impl ByteBudget {
    pub fn new(max_bytes: u64) -> Arc<Self> {
        let total_units = u32::try_from(max_bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Arc::new(Self {
            semaphore: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            held: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        })
    }

    /// The whole budget in bytes.
    pub fn capacity(&self) -> u64 {
        u64::from(self.total_units) * UNIT
    }

    /// Waits until `bytes` are free and takes them. A request larger than the whole budget
    /// (a part grown beyond `max_inflight_bytes` so that a huge object fits 10,000 parts) takes
    /// the whole budget instead: it then runs alone rather than never.
    pub async fn acquire(self: &Arc<Self>, bytes: u64) -> BudgetPermit {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_units);
        let permit = Arc::clone(&self.semaphore)
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        let held = self.held.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(held, Ordering::SeqCst);
        BudgetPermit {
            _permit: permit,
            bytes,
            budget: Arc::clone(self),
        }
    }

    /// Object bytes held right now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// The most object bytes ever held at once (for tests and the benchmark).
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: u64 = 1024 * 1024;

    #[tokio::test]
    async fn holders_never_exceed_the_budget_and_waiters_proceed_when_bytes_return() {
        let budget = ByteBudget::new(10 * MIB);
        let a = budget.acquire(6 * MIB).await;
        let b = budget.acquire(4 * MIB).await;
        assert_eq!(budget.held(), 10 * MIB);
        let waiting = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move { budget.acquire(5 * MIB).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "no room for 5 MiB yet");
        drop(b);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "4 MiB free is not enough");
        drop(a);
        let c = waiting.await.unwrap();
        assert_eq!(budget.held(), 5 * MIB);
        drop(c);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.peak(), 10 * MIB);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_takes_all_of_it_instead_of_waiting_forever() {
        let budget = ByteBudget::new(8 * MIB);
        let huge = tokio::time::timeout(Duration::from_secs(1), budget.acquire(20 * MIB))
            .await
            .expect("must not deadlock");
        let blocked = tokio::time::timeout(Duration::from_millis(20), budget.acquire(1)).await;
        assert!(blocked.is_err(), "the whole budget is taken");
        drop(huge);
        let _small = budget.acquire(1).await;
    }
}
