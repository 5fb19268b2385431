//! Retrying: the backoff policies and the delays of the daemon's two kinds of retry.
//!
//! Sits just above the leaves (`error`, `metrics`): the store adapters, the replicator, the
//! pipeline and the daemon all retry through it, so none of them needs another for it.
//!
//! - Within one delivery, a failed call is retried a few times with exponential backoff and
//!   jitter ([`with_retries`], [`policy`]); the SDK has already retried the HTTP attempts
//!   underneath.
//! - Across deliveries, a message handed back to SQS waits [`retry_delay`], doubling with
//!   each delivery; partition re-checks wait [`doubling`] delays too.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tracing::warn;

use crate::error::Disposition;
use crate::metrics::Metrics;
use crate::store::StoreError;

/// Exponential backoff with jitter, capped: about 3 s in all before giving the message back.
pub fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(4)
        .with_jitter()
}

/// The policy for the queue's own calls (receive, delete): quicker first retries, one more.
pub fn queue_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(5)
        .with_jitter()
}

/// Retries a store call that failed for a passing reason (throttling, 5xx, timeouts), with
/// [`policy`], counting each retry in `metrics`. The SDK has already retried the HTTP attempts
/// underneath; this layer retries the operation, a few times, before the message is handed back
/// to SQS.
pub async fn with_retries<T, F, Fut>(metrics: &Metrics, call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    call.retry(policy())
        .when(|e: &StoreError| e.disposition() == Disposition::Retry)
        .notify(|e: &StoreError, delay| {
            metrics.record_retry(&e.operation.to_string());
            warn!(message = "Retrying after a transient failure.", error = %e, delay_ms = delay.as_millis() as u64);
        })
        .await
}

/// `min` doubled `n - 1` times (`n` = 1 gives `min`), capped at `max`.
pub fn doubling(n: u32, min: Duration, max: Duration) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    (min * 2u32.pow(doublings)).min(max)
}

/// Handing a message back after a passing failure: the delay doubles with each delivery,
/// from [`RETRY_DELAY_MIN`] up to [`RETRY_DELAY_MAX`].
pub const RETRY_DELAY_MIN: Duration = Duration::from_secs(10);
/// SQS's largest visibility change worth waiting for a retry: 15 minutes.
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(900);

/// The visibility delay for a message handed back after its `receive_count`-th delivery failed.
pub fn retry_delay(receive_count: u32) -> Duration {
    doubling(receive_count, RETRY_DELAY_MIN, RETRY_DELAY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_ten_seconds_up_to_fifteen_minutes() {
        let delays: Vec<u64> = (1..=9).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(retry_delay(0).as_secs(), 10);
        assert_eq!(retry_delay(u32::MAX).as_secs(), 900);
    }
}
