//! One message, start to finish: decode → route → replicate → publish → verdict.
//!
//! The verdict says whether the message may be deleted. It is [`Verdict::Delete`] only when
//! every object in it is done: replicated to every target of every matching rule *and* its
//! completion published, or not replicable at all for a benign reason (test event, no rule,
//! superseded). Anything else keeps the message, so SQS delivers it again and, after
//! `maxReceiveCount` deliveries, moves it to the dead-letter queue. Nothing is lost.
//!
//! A superseded event (the source was overwritten or deleted since, or a target already holds
//! a newer version by sequencer) publishes nothing: the newer event publishes the completion for
//! the bytes the targets really hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use backon::Retryable;
use tracing::{error, info};

use crate::alerts::Alerter;
use crate::config::RuleConfig;
use crate::partition;

use crate::error::Disposition;
use crate::event::{decode, Notification, ObjectCreated};
use crate::publish::{
    Alert, AlertKind, AlertObject, AlertTarget, CompletionEvent, PublishError, Publisher,
};
use crate::queue::Message;
use crate::replicate::{retry_policy, Outcome, Replicator};
use crate::route::Router;
use crate::store::ObjectStore;

/// The default of `alerts.window_secs`.
const DEFAULT_ALERT_WINDOW: Duration = Duration::from_secs(300);

/// Failures that passed in-process retries are alerted once a message has been delivered this
/// often: a blip is not worth an email, a failure that outlives several redeliveries is.
const TRANSIENT_ALERT_AFTER: u32 = 3;

/// What to do with a message once it was handled, from best to worst: a message of several
/// objects gets the worst verdict of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Done (or nothing to do): delete it.
    Delete,
    /// Failed for a passing reason after in-process retries: hand it back to the queue with a
    /// delay that grows with its receive count (`ChangeMessageVisibility`).
    Retry,
    /// Failed for a reason that needs a person: leave it, so that it is delivered again after its
    /// visibility timeout and, after `maxReceiveCount` deliveries, dead-lettered.
    Keep,
}

impl Verdict {
    fn of(disposition: Disposition) -> Self {
        match disposition {
            Disposition::Retry => Verdict::Retry,
            Disposition::Fail => Verdict::Keep,
            Disposition::Ignore => Verdict::Delete,
        }
    }
}

/// Counters a person (and a test) can read.
#[derive(Debug, Default)]
pub struct Counters {
    pub completed: AtomicU64,
    pub unmatched: AtomicU64,
    pub superseded: AtomicU64,
    pub test_events: AtomicU64,
    pub failed: AtomicU64,
    pub malformed: AtomicU64,
}

pub struct Pipeline<S, P> {
    router: Router,
    replicator: Replicator<S>,
    publisher: P,
    alerter: Alerter,
    keys: KeyLocks,
    pub counters: Counters,
}

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    pub fn new(router: Router, replicator: Replicator<S>, publisher: P) -> Self {
        Self {
            router,
            replicator,
            publisher,
            alerter: Alerter::new(DEFAULT_ALERT_WINDOW),
            keys: KeyLocks::default(),
            counters: Counters::default(),
        }
    }

    /// Aggregates alerts per (kind, target) over `window` (zero: send every alert).
    pub fn with_alert_window(mut self, window: Duration) -> Self {
        self.alerter = Alerter::new(window);
        self
    }

    /// Sends the summaries of alert windows that ended (`all`: of every window, at shutdown).
    pub async fn flush_alerts(&self, all: bool) {
        self.alerter.flush_due(&self.publisher, all).await;
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Handles one message and says whether it may be deleted.
    pub async fn handle(&self, message: &Message) -> Verdict {
        let objects = match decode(&message.body) {
            Ok(Notification::Test) => {
                info!(message = "Test event acknowledged.", message_id = %message.id);
                self.counters.test_events.fetch_add(1, Ordering::Relaxed);
                return Verdict::Delete;
            }
            Ok(Notification::Objects { objects, skipped }) => {
                if skipped > 0 {
                    info!(message = "Records other than ObjectCreated ignored.", message_id = %message.id, skipped);
                }
                objects
            }
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                error!(message = "Message could not be decoded; leaving it for the dead-letter queue.", message_id = %message.id, error = %e);
                let alert = Alert::new(
                    AlertKind::MalformedMessage,
                    e.to_string(),
                    "The message is not an S3 ObjectCreated notification this daemon understands. \
                     Check what publishes to the queue; the message goes to the dead-letter queue \
                     once its receive count passes maxReceiveCount.",
                )
                .message_id(&message.id)
                .body_excerpt(&message.body);
                self.alert(alert).await;
                return Verdict::Keep;
            }
        };

        let mut verdict = Verdict::Delete;
        for object in &objects {
            verdict = verdict.max(self.handle_object(message, object).await);
        }
        verdict
    }

    /// Whether a failure of this disposition is worth an alert on this delivery.
    fn alerts_on(message: &Message, disposition: Disposition) -> bool {
        disposition == Disposition::Fail || message.receive_count >= TRANSIENT_ALERT_AFTER
    }

    async fn handle_object(&self, message: &Message, object: &ObjectCreated) -> Verdict {
        // Two events for one key handled at once could both find the targets empty and race
        // their copies, the older landing last; one at a time, the sequencer check decides.
        let _key = self.keys.lock(&object.bucket, &object.key).await;
        let mut verdict = Verdict::Delete;
        let mut matched = false;
        for rule in self.router.route(&object.bucket, &object.key) {
            matched = true;
            let outcome = self.replicator.replicate(object, &rule.targets).await;
            crate::metrics::record_outcome(&outcome);
            match outcome {
                Outcome::Replicated { source, targets } => {
                    let event = CompletionEvent::new(&rule.name, source, targets);
                    let published = (|| self.publisher.publish_completion(&event))
                        .retry(retry_policy())
                        .when(|e: &PublishError| e.transient)
                        .await;
                    match published {
                        Ok(()) => {
                            self.counters.completed.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::record_completion(&event);
                            info!(message = "Completion published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, latency_ms = event.latency_ms);
                            if rule.is_marker(&object.key) {
                                verdict = verdict
                                    .max(self.complete_partition(message, object, rule).await);
                            }
                        }
                        Err(e) => {
                            // Every target holds the object; only the announcement is missing.
                            // The redelivery publishes it (the copies are then found present).
                            error!(message = "Completion could not be published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
                            let disposition = if e.transient {
                                Disposition::Retry
                            } else {
                                Disposition::Fail
                            };
                            verdict = verdict.max(Verdict::of(disposition));
                            if Self::alerts_on(message, disposition) {
                                self.alert(
                                    Alert::new(AlertKind::CompletionUnpublished, e.to_string(),
                                        "Check that the completion topic exists and that the daemon may sns:Publish to it (and use its KMS key, if encrypted). The message will be retried; the copies are already in place.")
                                        .rule(&rule.name)
                                        .source(AlertObject::from_event(object))
                                        .message_id(&message.id),
                                )
                                .await;
                            }
                        }
                    }
                }
                Outcome::Superseded { reason } => {
                    // A newer event for this key exists and does the work; a completion for this
                    // older version would announce bytes the targets no longer hold.
                    self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                    info!(message = "Event superseded; nothing to replicate.", rule = %rule.name, bucket = %object.bucket, key = %object.key, reason = %reason);
                }
                Outcome::SourceFailed(e) => {
                    let disposition = e.disposition();
                    verdict = verdict.max(Verdict::of(disposition));
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    error!(message = "Source could not be read.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e, %disposition);
                    if Self::alerts_on(message, disposition) {
                        self.alert(
                            Alert::new(
                                AlertKind::for_error(&e, AlertKind::SourceUnreadable),
                                e.to_string(),
                                e.advice(),
                            )
                            .rule(&rule.name)
                            .source(AlertObject::from_event(object))
                            .message_id(&message.id),
                        )
                        .await;
                    }
                }
                Outcome::TargetsFailed { succeeded, failed } => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    for failure in failed {
                        let disposition = failure.error.disposition();
                        verdict = verdict.max(Verdict::of(disposition));
                        error!(message = "Copy failed.", rule = %rule.name, target = %failure.target, bucket = %object.bucket, key = %object.key, error = %failure.error, %disposition, targets_written = succeeded.len());
                        if Self::alerts_on(message, disposition) {
                            self.alert(
                                Alert::new(
                                    AlertKind::for_error(&failure.error, AlertKind::CopyFailed),
                                    failure.error.to_string(),
                                    failure.error.advice(),
                                )
                                .rule(&rule.name)
                                .source(AlertObject::from_event(object))
                                .target(AlertTarget {
                                    name: failure.target.clone(),
                                    bucket: failure.bucket.clone(),
                                    region: failure.region.clone(),
                                })
                                .message_id(&message.id),
                            )
                            .await;
                        }
                    }
                }
            }
        }
        if !matched {
            self.counters.unmatched.fetch_add(1, Ordering::Relaxed);
            info!(message = "No rule matches; object ignored.", bucket = %object.bucket, key = %object.key);
        }
        verdict
    }

    /// The marker of a partition was replicated: publish its completion if every object under
    /// its prefix is in every target, else hand the message back to check again later.
    async fn complete_partition(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
    ) -> Verdict {
        let check = partition::check(&self.replicator, rule, &object.key, &object.region).await;
        match check {
            Ok(partition::Check::Complete(event)) => {
                let published = (|| self.publisher.publish_prefix_completed(&event))
                    .retry(retry_policy())
                    .when(|e: &PublishError| e.transient)
                    .await;
                match published {
                    Ok(()) => {
                        info!(message = "Partition completion published.", rule = %rule.name, bucket = %object.bucket, prefix = %event.prefix, objects = event.objects);
                        Verdict::Delete
                    }
                    Err(e) => {
                        error!(message = "Partition completion could not be published.", rule = %rule.name, prefix = %event.prefix, error = %e);
                        Verdict::Retry
                    }
                }
            }
            Ok(partition::Check::Incomplete {
                prefix,
                missing,
                examples,
            }) => {
                let age = time::OffsetDateTime::now_utc() - object.event_time;
                let deadline = time::Duration::seconds(rule.complete_deadline_secs as i64);
                info!(message = "Partition not complete yet; checking again later.", rule = %rule.name, prefix = %prefix, missing, age_secs = age.whole_seconds());
                if age >= deadline {
                    let mut alert = Alert::new(
                        AlertKind::PartitionIncomplete,
                        format!(
                            "{missing} object(s) under s3://{}/{prefix} are not in every target {}s after its marker arrived: {}",
                            object.bucket,
                            age.whole_seconds(),
                            examples.join(", ")
                        ),
                        "Find out why these objects were not replicated (look for copy_failed alerts, or objects written without an event), then upload them again or run `s3-replicator backfill --prefix` for this prefix. The completion is published as soon as the prefix is complete.",
                    )
                    .rule(&rule.name)
                    .source(AlertObject::from_event(object))
                    .message_id(&message.id);
                    alert.example_keys = examples;
                    self.alert(alert).await;
                }
                Verdict::Retry
            }
            Err(e) => {
                let disposition = e.disposition();
                error!(message = "Partition could not be checked.", rule = %rule.name, key = %object.key, error = %e);
                if Self::alerts_on(message, disposition) {
                    self.alert(
                        Alert::new(AlertKind::PartitionIncomplete, e.to_string(), e.advice())
                            .rule(&rule.name)
                            .source(AlertObject::from_event(object))
                            .message_id(&message.id),
                    )
                    .await;
                }
                Verdict::of(disposition)
            }
        }
    }

    async fn alert(&self, alert: Alert) {
        self.alerter.raise(&self.publisher, alert).await;
    }
}

/// A source object: (bucket, key).
type ObjectId = (String, String);
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// One async lock per source object, for the events of that object in flight in this process.
#[derive(Debug, Default)]
struct KeyLocks {
    locks: Mutex<HashMap<ObjectId, KeyLock>>,
}

/// Holds the lock of one source object; forgets the lock when nobody else waits for it.
struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    id: ObjectId,
    lock: KeyLock,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn map(&self) -> MutexGuard<'_, HashMap<ObjectId, KeyLock>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn lock(&self, bucket: &str, key: &str) -> KeyGuard<'_> {
        let id = (bucket.to_owned(), key.to_owned());
        let lock = Arc::clone(self.map().entry(id.clone()).or_default());
        let guard = Arc::clone(&lock).lock_owned().await;
        KeyGuard {
            locks: self,
            id,
            lock,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map();
        // The map's reference and ours: nobody else holds or awaits this lock.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.id);
        }
    }
}
