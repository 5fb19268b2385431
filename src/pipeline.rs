//! One message, start to finish: decode → route → replicate → publish → verdict.
//!
//! The verdict says whether the message may be deleted. It is [`Verdict::Delete`] only when
//! every object in it is done: replicated to every target of every matching rule *and* its
//! completion published, or not replicable at all for a benign reason (test event, no rule,
//! superseded). Anything else keeps the message, so SQS delivers it again and, after
//! `maxReceiveCount` deliveries, moves it to the dead-letter queue. Nothing is lost.
//!
//! A superseded event (the source was overwritten since, or a target already holds a newer
//! version by sequencer) publishes nothing: the newer event publishes the completion for the
//! bytes the targets really hold. A source that does not exist at all publishes nothing either,
//! but raises a `source_missing` alert: it was deleted after the event, or the event's key does
//! not name an object; redelivery cannot change either, so the message is acknowledged.
//!
//! A partition marker whose partition is incomplete ends in [`Verdict::Recheck`]: the daemon
//! sends a new, delayed re-check message and deletes this one, so that waiting for a partition
//! never spends the marker message's receive count.

mod archived;
mod deletes;
mod keys;
mod partitions;
mod tables;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::time::Duration;

use backon::Retryable;
use tracing::{error, info, warn};

use crate::alerts::Alerter;
use crate::config::{Deletes, RuleConfig, TableFormat};
use crate::partition;

use crate::error::Disposition;
use crate::event::{decode, Notification, ObjectCreated, Origin, PartitionRecheck};
use crate::metrics::Metrics;
use crate::publish::batch::Batching;
use crate::publish::{
    Alert, AlertKind, AlertObject, AlertTarget, CompletionEvent, PublishError, Publisher,
};
use crate::queue::{Message, MessageSource, QueueError};
use crate::replicate::{Approach, Outcome, Replicator};
use crate::retry::policy as retry_policy;
use crate::route::Router;
use crate::store::ObjectStore;
use keys::KeyLocks;

/// The default of `alerts.window_secs`.
pub const DEFAULT_ALERT_WINDOW: Duration = Duration::from_secs(300);

/// Failures that passed in-process retries are alerted once a message has been delivered this
/// often: a blip is not worth an email, a failure that outlives several redeliveries is.
const TRANSIENT_ALERT_AFTER: u32 = 3;

const SOURCE_MISSING_ACTION: &str = "The object named by the event is not in the source bucket. \
    Either it was deleted after the event (then there is nothing to replicate), or the event's key \
    does not match an object: check the key encoding (S3 notifications, plain or through SNS, \
    form-URL-encode keys; EventBridge events carry them plain) and what publishes to the queue. \
    The message was acknowledged: a redelivery cannot make the object appear.";

/// The alert kind for a failed store call: its own kind where the error has one, else `default`.
fn alert_kind(error: &crate::store::StoreError, default: AlertKind) -> AlertKind {
    match error.kind {
        crate::store::StoreErrorKind::ReplicaConflict => AlertKind::ReplicaConflict,
        crate::store::StoreErrorKind::MetadataTooLarge => AlertKind::MetadataTooLarge,
        crate::store::StoreErrorKind::ObjectLockUnsupported => AlertKind::ObjectLockUnsupported,
        _ => default,
    }
}

const LATE_ACTION: &str = "Objects reach their targets later than the rule's lag_alert_secs. \
    Look at the backlog (s3r_queue_messages{state=\"visible\"}, the queue's age of the oldest \
    message) and at failures and retries: if the backlog grows, add tasks (or raise \
    queue.concurrency); if copies are slow, look at s3r_copy_duration_seconds per target and at \
    throttling (s3r_retries_total). The objects were replicated; nothing needs to be redone.";

const COMPLETION_UNPUBLISHED_ACTION: &str = "Check that the completion topic exists and that the \
    daemon may sns:Publish to it (and use its KMS key, if encrypted). The message will be retried; \
    the copies are already in place.";

/// One object of one message under one rule: what every alert about it names.
#[derive(Clone, Copy)]
struct Handling<'a> {
    message: &'a Message,
    object: &'a ObjectCreated,
    rule: &'a RuleConfig,
}

impl Handling<'_> {
    /// An alert of `kind` about this object, naming its rule, source and message.
    fn alert(&self, kind: AlertKind, what: impl Into<String>, action: impl Into<String>) -> Alert {
        Alert::new(kind, what, action)
            .rule(&self.rule.name)
            .source(AlertObject::from_event(self.object))
            .message_id(&self.message.id)
    }
}

/// Why a completion was not announced.
enum Announce {
    /// The topic refused it.
    Publish(PublishError),
    /// A target no longer holds the replica the completion reports.
    Moved(String),
    /// The targets could not be read again before a retry.
    Check(crate::store::StoreError),
}

/// What to do with a message once it was handled, from best to worst: a message of several
/// objects gets the worst verdict of its objects ([`Verdict::worst`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done (or nothing to do): delete it.
    Delete,
    /// Done, except that partitions must be checked again later: send these re-check messages
    /// (each with its delay), then delete this message, but only once every one was accepted
    /// ([`send_rechecks`]).
    Recheck(Vec<Recheck>),
    /// Failed for a passing reason after in-process retries: hand it back to the queue with a
    /// delay that grows with its receive count (`ChangeMessageVisibility`).
    Retry,
    /// Failed for a reason that needs a person: leave it, so that it is delivered again after its
    /// visibility timeout and, after `maxReceiveCount` deliveries, dead-lettered.
    Keep,
}

/// A re-check message to send: its body and its `DelaySeconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    pub rule: String,
    pub body: String,
    pub delay_secs: i32,
    /// The message itself, sent again: deletes held by the mass-delete guard.
    pub held_deletes: bool,
}

impl Verdict {
    fn rank(&self) -> u8 {
        match self {
            Verdict::Delete => 0,
            Verdict::Recheck(_) => 1,
            Verdict::Retry => 2,
            Verdict::Keep => 3,
        }
    }

    /// The worse of two verdicts; two re-check verdicts send both sets of messages.
    pub fn worst(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Recheck(mut a), Verdict::Recheck(b)) => {
                a.extend(b);
                Verdict::Recheck(a)
            }
            (a, b) if b.rank() > a.rank() => b,
            (a, _) => a,
        }
    }

    fn of(disposition: Disposition) -> Self {
        match disposition {
            Disposition::Retry => Verdict::Retry,
            Disposition::Fail => Verdict::Keep,
            Disposition::Ignore => Verdict::Delete,
        }
    }
}

pub struct Pipeline<S, P> {
    router: Router,
    replicator: Replicator<S>,
    /// Completions go out in natural batches ([`crate::publish::batch`]).
    publisher: Batching<P>,
    alerter: Alerter,
    keys: KeyLocks,
    deletes: deletes::DeleteGuard,
    clock: partition::Clock,
    metrics: Arc<Metrics>,
}

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    /// A pipeline recording into the replicator's metrics registry.
    pub fn new(router: Router, replicator: Replicator<S>, publisher: P) -> Self {
        let metrics = Arc::clone(replicator.metrics());
        Self {
            router,
            replicator,
            publisher: Batching::new(publisher),
            alerter: Alerter::new(DEFAULT_ALERT_WINDOW).with_metrics(Arc::clone(&metrics)),
            metrics,
            keys: KeyLocks::default(),
            deletes: deletes::DeleteGuard::default(),
            clock: partition::Clock::new(),
        }
    }

    /// Reads wall-clock time (re-check deadlines) from `clock` instead of one anchored to the
    /// system's now.
    pub fn with_clock(mut self, clock: partition::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Aggregates alerts per (kind, target) over `window` (zero: send every alert).
    pub fn with_alert_window(mut self, window: Duration) -> Self {
        self.alerter = Alerter::new(window).with_metrics(Arc::clone(&self.metrics));
        self
    }

    /// The registry this pipeline (and its replicator and alerts) record into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sends the summaries of alert windows that ended (`all`: of every window, at shutdown).
    pub async fn flush_alerts(&self, all: bool) {
        self.alerter.flush_due(self.publisher.inner(), all).await;
    }

    /// The publisher behind the completion batches (the daemon's own alerts go there).
    pub fn publisher(&self) -> &P {
        self.publisher.inner()
    }

    /// Handles one message and says whether it may be deleted.
    pub async fn handle(&self, message: &Message) -> Verdict {
        let (objects, removed) = match decode(&message.body) {
            Ok(Notification::Test) => {
                info!(message = "Test event acknowledged.", message_id = %message.id);
                self.metrics.record_event("test_event");
                return Verdict::Delete;
            }
            Ok(Notification::Recheck(recheck)) => {
                return self.handle_recheck(message, &recheck).await;
            }
            Ok(Notification::Objects {
                objects,
                removed,
                skipped,
            }) => {
                if skipped > 0 {
                    info!(message = "Records other than ObjectCreated and ObjectRemoved ignored.", message_id = %message.id, skipped);
                }
                (objects, removed)
            }
            Err(e) => {
                self.metrics.record_event("malformed");
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
            verdict = verdict.worst(self.handle_object(message, object).await);
        }
        for removed in &removed {
            verdict = verdict.worst(self.handle_removed(message, removed).await);
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
            verdict = verdict.worst(self.handle_rule(message, object, rule, None).await);
        }
        if !matched {
            self.metrics.record_event("unmatched");
            info!(message = "No rule matches; object ignored.", bucket = %object.bucket, key = %object.key);
        }
        verdict
    }

    /// `object` under one `rule`, the key locked by the caller. `held` is the re-check
    /// message of a held table object ([`tables`]), when this is one.
    async fn handle_rule(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
        held: Option<&PartitionRecheck>,
    ) -> Verdict {
        // A first delivery's targets almost never hold the object: write them at once
        // (conditionally) and read only where the write finds the key taken. A redelivery
        // most likely wrote some already, and a backfilled object's targets often hold it: read
        // first, and write only what is missing.
        if let Some(this) = self.deleted_since(rule, object).await {
            return this;
        }
        let table = match rule.table_format {
            TableFormat::Delta => match self.table_gate(message, object, rule, held).await {
                tables::Gate::Open(commit) => commit,
                tables::Gate::Closed(verdict) => return verdict,
            },
            TableFormat::None => None,
        };
        let approach = if message.receive_count <= 1 && object.origin() == Origin::Event {
            Approach::WriteFirst
        } else {
            Approach::ReadFirst
        };
        let outcome = self
            .replicator
            .replicate_with(object, &rule.targets, approach)
            .await;
        outcome.record(&self.metrics);
        let at = Handling {
            message,
            object,
            rule,
        };
        match outcome {
            Outcome::Replicated { source, targets } => {
                if let Some(this) = self.deleted_while_copying(rule, object, &targets).await {
                    return this;
                }
                let event =
                    CompletionEvent::new(&rule.name, source, targets).with_origin(object.origin());
                let Some(commit) = &table else {
                    return self.replicated(&at, event).await;
                };
                match self.replicated(&at, event.clone()).await {
                    Verdict::Delete => self.table_committed(&at, commit, &event).await,
                    other => other,
                }
            }
            Outcome::Superseded { reason } => {
                // A newer event for this key exists and does the work; a completion for this
                // older version would announce bytes the targets no longer hold.
                self.metrics.record_event("superseded");
                info!(message = "Event superseded; nothing to replicate.", rule = %rule.name, bucket = %object.bucket, key = %object.key, reason = %reason);
                Verdict::Delete
            }
            Outcome::SourceMissing { reason } => {
                // Not an overwrite (that is a 412 on If-Match, superseded above): the object
                // is gone, or was never under this key. Redelivery cannot make it appear, so
                // the message is acknowledged, and a person hears of it.
                self.metrics.record_event("source_missing");
                self.metrics.record_source_missing(&rule.name);
                warn!(message = "Source object does not exist; nothing to replicate.", rule = %rule.name, bucket = %object.bucket, key = %object.key, reason = %reason);
                self.alert(at.alert(AlertKind::SourceMissing, reason, SOURCE_MISSING_ACTION))
                    .await;
                // Under a rule that replicates deletes the object was most likely deleted; a
                // replica this or an earlier attempt wrote before finding out would outlive
                // the delete, whose own handling may have found none yet (simulation seed 5230).
                if rule.deletes == Deletes::Replicate && !crate::bug!(CopyDeletedVersions) {
                    return self.remove_stale_replicas(rule, object).await;
                }
                Verdict::Delete
            }
            Outcome::SourceArchived { source, archived } => {
                self.archived(&at, &source, &archived).await
            }
            Outcome::SourceFailed(e) => {
                let disposition = e.disposition();
                self.metrics.record_event("failed");
                error!(message = "Source could not be read.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e, %disposition);
                if Self::alerts_on(message, disposition) {
                    let kind = alert_kind(&e, AlertKind::SourceUnreadable);
                    self.alert(at.alert(kind, e.to_string(), e.advice())).await;
                }
                Verdict::of(disposition)
            }
            Outcome::TargetsFailed { succeeded, failed } => {
                self.metrics.record_event("failed");
                let mut this = Verdict::Delete;
                for failure in failed {
                    let disposition = failure.error.disposition();
                    this = this.worst(Verdict::of(disposition));
                    error!(message = "Copy failed.", rule = %rule.name, target = %failure.target, bucket = %object.bucket, key = %object.key, error = %failure.error, %disposition, targets_written = succeeded.len());
                    if Self::alerts_on(message, disposition) {
                        let kind = alert_kind(&failure.error, AlertKind::CopyFailed);
                        let alert = at
                            .alert(kind, failure.error.to_string(), failure.error.advice())
                            .target(AlertTarget {
                                name: failure.target.clone(),
                                bucket: failure.bucket.clone(),
                                region: failure.region.clone(),
                            });
                        self.alert(alert).await;
                    }
                }
                this
            }
        }
    }

    /// Every target of `at.rule` holds the object: announce it (and close its partition when
    /// it is a marker), or say why the message must come back.
    async fn replicated(&self, at: &Handling<'_>, event: CompletionEvent) -> Verdict {
        let Handling {
            message,
            object,
            rule,
        } = *at;
        let published = match self.announce(&event).await {
            Err(Announce::Moved(reason)) => {
                // A replica changed while the announcement waited for its retry (a newer write,
                // or someone else's): announce nothing now, and decide again from the start on
                // the redelivery — superseded if the source moved on, else the targets are
                // proven or written again.
                warn!(message = "A target changed while the completion was retried; handing the message back to decide again.", rule = %rule.name, bucket = %object.bucket, key = %object.key, reason = %reason);
                return Verdict::Retry;
            }
            Err(Announce::Check(e)) => Err(PublishError {
                topic_arn: String::new(),
                message: format!(
                    "the targets could not be read again before retrying the completion: {e}"
                ),
                transient: e.disposition() == Disposition::Retry,
            }),
            Err(Announce::Publish(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        match published {
            Ok(()) => {
                self.metrics.record_event("completed");
                self.metrics
                    .record_completion(&event.rule, event.latency_ms);
                info!(message = "Completion published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, latency_ms = event.latency_ms);
                self.late(at, event.latency_ms).await;
                if rule.is_marker(&object.key) {
                    self.complete_partition(message, object, rule, None).await
                } else {
                    Verdict::Delete
                }
            }
            Err(e) => {
                // Every target holds the object; only the announcement is missing. The
                // redelivery publishes it (the copies are then found present).
                error!(message = "Completion could not be published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
                let disposition = if e.transient {
                    Disposition::Retry
                } else {
                    Disposition::Fail
                };
                if Self::alerts_on(message, disposition) {
                    self.alert(at.alert(
                        AlertKind::CompletionUnpublished,
                        e.to_string(),
                        COMPLETION_UNPUBLISHED_ACTION,
                    ))
                    .await;
                }
                if crate::bug!(AckWithoutCompletion) {
                    Verdict::Delete
                } else {
                    Verdict::of(disposition)
                }
            }
        }
    }

    /// Publishes `event`, retrying passing failures; before each retry the targets are read
    /// again, and the completion is withdrawn when one no longer holds its replica. Without
    /// that, a completion retried for seconds could go out after a newer version's, announcing
    /// bytes the targets no longer hold.
    async fn announce(&self, event: &CompletionEvent) -> Result<(), Announce> {
        let attempts = std::sync::atomic::AtomicU32::new(0);
        (|| async {
            if attempts.fetch_add(1, Ordering::Relaxed) > 0 {
                match self.replicator.still_holds(&event.targets).await {
                    Ok(None) => {}
                    Ok(Some(reason)) => return Err(Announce::Moved(reason)),
                    Err(e) => return Err(Announce::Check(e)),
                }
            }
            self.publisher
                .publish_completion(event)
                .await
                .map_err(Announce::Publish)
        })
        .retry(retry_policy())
        .when(|e: &Announce| matches!(e, Announce::Publish(e) if e.transient))
        .await
    }

    /// A completion later than its rule's `lag_alert_secs`: counted, and alerted (aggregated:
    /// the first at once, then one summary per window with the count, the worst lag and
    /// example keys).
    async fn late(&self, at: &Handling<'_>, latency_ms: u64) {
        let Some(threshold) = at.rule.lag_alert_secs else {
            return;
        };
        if latency_ms <= threshold.saturating_mul(1000) {
            return;
        }
        self.metrics.record_late(&at.rule.name);
        warn!(message = "Completion later than the rule's lag_alert_secs.", rule = %at.rule.name, bucket = %at.object.bucket, key = %at.object.key, latency_ms, lag_alert_secs = threshold);
        let mut alert = at.alert(
            AlertKind::ReplicationLate,
            format!(
                "s3://{}/{} was in every target of rule {} {:.1} s after its S3 event, later than \
                 its lag_alert_secs of {threshold} s",
                at.object.bucket,
                at.object.key,
                at.rule.name,
                latency_ms as f64 / 1000.0
            ),
            LATE_ACTION,
        );
        alert.lag_ms = Some(latency_ms);
        self.alert(alert).await;
    }

    async fn alert(&self, alert: Alert) {
        self.alerter.raise(self.publisher.inner(), alert).await;
    }
}

/// Sends the re-check messages of a [`Verdict::Recheck`] and says whether `message` may now be
/// deleted: only when the queue accepted every one. Otherwise the original stays the queue's
/// and the daemon hands it back with the retry delay of its receive count, so that a partition is never
/// forgotten; its redelivery repeats the work (a re-sent marker event finds its copies present
/// and publishes its completion again, as any redelivery does).
pub async fn send_rechecks<Q: MessageSource>(
    queue: &Q,
    metrics: &Metrics,
    message: &Message,
    rechecks: &[Recheck],
) -> bool {
    for recheck in rechecks {
        let sent = (|| queue.send(&recheck.body, recheck.delay_secs))
            .retry(retry_policy())
            .when(|e: &QueueError| e.transient)
            .await;
        match sent {
            Ok(()) if recheck.held_deletes => {
                info!(message = "Held deletes sent back to the queue.", rule = %recheck.rule, message_id = %message.id, delay_secs = recheck.delay_secs);
            }
            Ok(()) => {
                metrics.record_partition_recheck(&recheck.rule);
                info!(message = "Partition re-check scheduled.", rule = %recheck.rule, message_id = %message.id, delay_secs = recheck.delay_secs);
            }
            Err(e) => {
                error!(message = "Partition re-check could not be sent; keeping the message.", rule = %recheck.rule, message_id = %message.id, error = %e);
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_errors_with_a_kind_of_their_own_alert_as_that_kind() {
        use super::*;
        use crate::store::{Operation, StoreError, StoreErrorKind};
        let e = |kind| StoreError::new(Operation::CopyObject, "b", "k", kind, "m");
        let of = |kind| alert_kind(&e(kind), AlertKind::CopyFailed);
        assert_eq!(
            of(StoreErrorKind::ReplicaConflict),
            AlertKind::ReplicaConflict
        );
        assert_eq!(
            of(StoreErrorKind::MetadataTooLarge),
            AlertKind::MetadataTooLarge
        );
        assert_eq!(of(StoreErrorKind::AccessDenied), AlertKind::CopyFailed);
    }
}
