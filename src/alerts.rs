//! Alert aggregation: at most one alert per (kind, target) — or (kind, rule) for an alert about no
//! one target — per window.
//!
//! When a target bucket disappears, every object fails the same way; an email per object would
//! bury the one that matters. The first failure of a (kind, target) is sent at once, so that
//! people learn about it immediately; later ones in the same window are counted, and when the
//! window ends one summary carries their number and a few example keys. Nothing is dropped: the
//! messages themselves stay in the queue and end in the dead-letter queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tracing::{error, warn};

use crate::metrics::Metrics;
use crate::publish::{Alert, AlertKind, Publisher};

/// Example keys carried by a summary.
const EXAMPLES_MAX: usize = 5;

/// (kind, target, rule): an alert about a target is grouped by target; one about a whole rule
/// (a delete storm, late completions, an archived source) by rule.
type GroupKey = (AlertKind, Option<String>, Option<String>);

#[derive(Debug)]
struct Window {
    opened: Instant,
    /// Alerts held back in this window, and the last of them (the summary's template).
    held: u64,
    last: Option<Alert>,
    examples: Vec<String>,
}

/// Sends alerts through a [`Publisher`], aggregated per window.
#[derive(Debug)]
pub struct Alerter {
    window: Duration,
    windows: Mutex<HashMap<GroupKey, Window>>,
    metrics: Arc<Metrics>,
}

impl Alerter {
    /// `window` of zero sends every alert.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            windows: Mutex::default(),
            metrics: Arc::default(),
        }
    }

    /// Counts the alerts in `metrics` (`s3r_alerts_sent_total`, `s3r_alerts_failed_total`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<GroupKey, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `alert` now if it is the first of its group in the window, else holds it back for
    /// the window's summary.
    pub async fn raise<P: Publisher>(&self, publisher: &P, alert: Alert) {
        if self.window.is_zero() {
            send(publisher, &self.metrics, &alert).await;
            return;
        }
        let group = match &alert.target {
            Some(target) => (alert.kind, Some(target.name.clone()), None),
            None => (alert.kind, None, alert.rule.clone()),
        };
        let now = Instant::now();
        let send_now = {
            let mut windows = self.windows();
            match windows.get_mut(&group) {
                Some(window) if now.duration_since(window.opened) < self.window => {
                    window.held += 1;
                    if let Some(source) = &alert.source {
                        if window.examples.len() < EXAMPLES_MAX
                            && !window.examples.contains(&source.key)
                        {
                            window.examples.push(source.key.clone());
                        }
                    }
                    // The summary's template: the last alert, or for late completions the one with the
                    // largest lag.
                    if window.last.as_ref().and_then(|last| last.lag_ms) <= alert.lag_ms {
                        window.last = Some(alert.clone());
                    }
                    false
                }
                _ => {
                    // A window that ended with alerts held back was flushed by `flush_due`
                    // (called on a timer); one that ended empty just closes here.
                    windows.insert(
                        group,
                        Window {
                            opened: now,
                            held: 0,
                            last: None,
                            examples: Vec::new(),
                        },
                    );
                    true
                }
            }
        };
        if send_now {
            send(publisher, &self.metrics, &alert).await;
        }
    }

    /// Sends the summary of every window that has ended with alerts held back, and starts a new
    /// window for each (so that the summary itself counts as that window's one alert).
    /// `all` flushes every window now, for shutdown.
    pub async fn flush_due<P: Publisher>(&self, publisher: &P, all: bool) {
        let now = Instant::now();
        let summaries: Vec<Alert> = {
            let mut windows = self.windows();
            let mut summaries = Vec::new();
            windows.retain(|_, window| {
                let ended = now.duration_since(window.opened) >= self.window;
                if !(ended || all) {
                    return true;
                }
                match window.last.take() {
                    Some(mut summary) if window.held > 0 => {
                        summary.count = window.held;
                        summary.example_keys = std::mem::take(&mut window.examples);
                        summaries.push(summary);
                        window.opened = now;
                        window.held = 0;
                        true
                    }
                    // Nothing held back: the window closes.
                    _ => false,
                }
            });
            summaries
        };
        for summary in &summaries {
            send(publisher, &self.metrics, summary).await;
        }
    }
}

async fn send<P: Publisher>(publisher: &P, metrics: &Metrics, alert: &Alert) {
    let result = publisher.publish_alert(alert).await;
    metrics.record_alert(alert.kind.as_str(), result.is_ok());
    match result {
        Ok(()) => {
            warn!(message = "Alert published.", kind = ?alert.kind, count = alert.count, subject = %alert.subject())
        }
        // The failed messages stay in the queue either way; the log is what is left to tell.
        Err(e) => {
            error!(message = "Alert could not be published.", kind = ?alert.kind, error = %e, alert = %alert.json())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::{AlertObject, AlertTarget};
    use crate::testkit::publisher::MemoryPublisher;

    fn failure(target: &str, key: &str) -> Alert {
        Alert::new(AlertKind::CopyFailed, "no such bucket", "create it")
            .source(AlertObject {
                bucket: "lake".into(),
                key: key.into(),
                version_id: None,
                etag: None,
            })
            .target(AlertTarget {
                name: target.into(),
                bucket: "b".into(),
                region: "r".into(),
            })
    }

    #[tokio::test(start_paused = true)]
    async fn ten_thousand_failures_make_one_alert_and_one_summary_per_window() {
        let publisher = MemoryPublisher::default();
        let alerter = Alerter::new(Duration::from_secs(300));
        for i in 0..10_000 {
            alerter
                .raise(&publisher, failure("dr", &format!("k{i}")))
                .await;
        }
        alerter.raise(&publisher, failure("eu", "k0")).await;
        assert_eq!(publisher.alerts().len(), 2, "one per target so far");

        alerter.flush_due(&publisher, false).await;
        assert_eq!(publisher.alerts().len(), 2, "the window has not ended");

        tokio::time::advance(Duration::from_secs(301)).await;
        alerter.flush_due(&publisher, false).await;
        let alerts = publisher.alerts();
        assert_eq!(alerts.len(), 3, "one summary for dr; eu held nothing back");
        let summary = &alerts[2];
        assert_eq!(summary.count, 9_999);
        assert_eq!(summary.example_keys, ["k1", "k2", "k3", "k4", "k5"]);
        assert!(
            summary.subject().contains("9999 failures"),
            "{}",
            summary.subject()
        );
        assert!(summary.text().contains("9999 failures of this kind"));

        // The summary opened the next window: a new failure right after is held back.
        alerter.raise(&publisher, failure("dr", "late")).await;
        assert_eq!(publisher.alerts().len(), 3);
        alerter.flush_due(&publisher, true).await;
        assert_eq!(
            publisher.alerts().len(),
            4,
            "shutdown flushes what is held back"
        );
        assert_eq!(publisher.alerts()[3].example_keys, ["late"]);
    }

    #[tokio::test]
    async fn a_zero_window_sends_everything() {
        let publisher = MemoryPublisher::default();
        let alerter = Alerter::new(Duration::ZERO);
        for i in 0..3 {
            alerter
                .raise(&publisher, failure("dr", &format!("k{i}")))
                .await;
        }
        assert_eq!(publisher.alerts().len(), 3);
    }
}
