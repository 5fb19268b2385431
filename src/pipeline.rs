//! One message, start to finish: decode → route → replicate → publish → verdict.
//!
//! The verdict says whether the message may be deleted. It is [`Verdict::Delete`] only when
//! every object in it is done: replicated to every target of every matching rule *and* its
//! completion published, or not replicable at all for a benign reason (test event, no rule,
//! superseded). Anything else keeps the message, so SQS delivers it again and, after
//! `maxReceiveCount` deliveries, moves it to the dead-letter queue. Nothing is lost.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{error, info, warn};

use crate::error::Disposition;
use crate::event::{decode, Notification, ObjectCreated};
use crate::publish::{Alert, AlertKind, AlertObject, AlertTarget, CompletionEvent, Publisher};
use crate::queue::Message;
use crate::replicate::{Outcome, Replicator};
use crate::route::Router;
use crate::store::ObjectStore;

/// What to do with a message once it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done (or nothing to do): delete it.
    Delete,
    /// Not done: leave it, so that it is delivered again (and dead-lettered in the end).
    Keep,
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
    pub counters: Counters,
}

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    pub fn new(router: Router, replicator: Replicator<S>, publisher: P) -> Self {
        Self {
            router,
            replicator,
            publisher,
            counters: Counters::default(),
        }
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
            if self.handle_object(message, object).await == Verdict::Keep {
                verdict = Verdict::Keep;
            }
        }
        verdict
    }

    async fn handle_object(&self, message: &Message, object: &ObjectCreated) -> Verdict {
        let mut verdict = Verdict::Delete;
        let mut matched = false;
        for rule in self.router.route(&object.bucket, &object.key) {
            matched = true;
            let outcome = self.replicator.replicate(object, &rule.targets).await;
            crate::metrics::record_outcome(&outcome);
            match outcome {
                Outcome::Replicated { source, targets } => {
                    let event = CompletionEvent::new(&rule.name, source, targets);
                    match self.publisher.publish_completion(&event).await {
                        Ok(()) => {
                            self.counters.completed.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::record_completion(&event);
                            info!(message = "Completion published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, latency_ms = event.latency_ms);
                        }
                        Err(e) => {
                            // Every target holds the object; only the announcement is missing.
                            // Keeping the message makes the redelivery publish it (the copies are
                            // then found already present).
                            error!(message = "Completion could not be published.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
                            verdict = Verdict::Keep;
                            if !e.transient {
                                self.alert(
                                    Alert::new(AlertKind::CompletionUnpublished, e.to_string(),
                                        "Check that the completion topic exists and that the daemon may sns:Publish to it (and its KMS key, if encrypted). The message will be retried.")
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
                    self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                    info!(message = "Event superseded; nothing to replicate.", rule = %rule.name, reason = %reason);
                }
                Outcome::SourceFailed(e) => {
                    verdict = Verdict::Keep;
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    error!(message = "Source could not be read.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
                    if e.disposition() == Disposition::Fail {
                        self.alert(
                            Alert::new(AlertKind::SourceUnreadable, e.to_string(), e.advice())
                                .rule(&rule.name)
                                .source(AlertObject::from_event(object))
                                .message_id(&message.id),
                        )
                        .await;
                    }
                }
                Outcome::TargetsFailed { succeeded, failed } => {
                    verdict = Verdict::Keep;
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    for failure in failed {
                        error!(message = "Copy failed.", rule = %rule.name, target = %failure.target, bucket = %object.bucket, key = %object.key, error = %failure.error, targets_written = succeeded.len());
                        if failure.error.disposition() == Disposition::Fail {
                            self.alert(
                                Alert::new(
                                    AlertKind::CopyFailed,
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

    async fn alert(&self, alert: Alert) {
        let result = self.publisher.publish_alert(&alert).await;
        crate::metrics::record_alert(alert.kind, result.is_ok());
        if let Err(e) = result {
            // The message is kept either way, so the failure is not lost; the log is all
            // that is left to say it out loud.
            error!(message = "Alert could not be published.", kind = ?alert.kind, error = %e, alert = %alert.json());
        } else {
            warn!(message = "Alert published.", kind = ?alert.kind, subject = %alert.subject());
        }
    }
}
