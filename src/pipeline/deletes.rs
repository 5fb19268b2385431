//! Deleted source objects: the replicas go too, for rules with `deletes = "replicate"`
//! (docs/design.md, "Deletes").
//!
//! Each delete passes the rule's mass-delete guard first (`max_deletes_per_minute`, counted in
//! this process over the last minute). Beyond it the whole message is held: sent to the queue
//! again with a delay and deleted, so that holding spends no receive count and nothing is
//! dropped; one `delete_storm` alert per rule and alert window says so. An admitted delete
//! removes each target's replica if it is older than the delete ([`Replicator::delete`]), then
//! the deletion event is published on the completion topic; only then is the message deleted.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use backon::Retryable;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{Pipeline, Recheck, Verdict};
use crate::config::{Deletes, RuleConfig};
use crate::error::Disposition;
use crate::event::{ObjectCreated, ObjectRemoved};
use crate::publish::{
    Alert, AlertKind, AlertObject, AlertTarget, DeletedSource, DeletionEvent, PublishError,
    Publisher, TargetReport,
};
use crate::queue::Message;
use crate::replicate::{DeleteOutcome, STALE_AFTER};
use crate::retry::policy as retry_policy;
use crate::store::ObjectStore;

/// The window the mass-delete guard counts deletes over.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// How long a held message waits before it is tried again: the rate window, plus up to half of
/// it at random so that a held storm comes back spread out rather than all at once.
const HOLD_SECS: i32 = 60;
const HOLD_JITTER_SECS: i32 = 30;

const DELETE_STORM_ACTION: &str = "Deletes of this rule arrive faster than its \
    max_deletes_per_minute. If they are intended (a clean-up), raise rules.max_deletes_per_minute \
    and restart the daemon: the held deletes are replicated when they come back (within about a \
    minute). If they are not, stop them at the source (and restore the objects from versions, if \
    the source bucket is versioned): held deletes keep coming back, and are replicated as soon as \
    the rate falls below the limit. Nothing is dropped.";

const DELETE_FAILED_ACTION: &str = "The replica could not be deleted from this target. Check \
    that the daemon's role (or the target's assumed role) has s3:DeleteObject on the target \
    bucket and that the bucket exists; Object Lock retention does not block a delete that \
    creates a delete marker. The message is retried and ends in the dead-letter queue if it \
    keeps failing.";

/// Deletes admitted per rule in the last [`RATE_WINDOW`], in this process.
#[derive(Debug, Default)]
pub(super) struct DeleteGuard {
    admitted: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl DeleteGuard {
    /// Admits one delete of `rule` if fewer than `limit` were admitted in the last minute;
    /// else returns how many were.
    fn admit(&self, rule: &str, limit: u32) -> Result<(), usize> {
        let now = Instant::now();
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        let times = admitted.entry(rule.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= limit as usize {
            return Err(times.len());
        }
        times.push_back(now);
        Ok(())
    }
}

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    /// One deleted source object, under every rule that replicates its deletes.
    pub(super) async fn handle_removed(
        &self,
        message: &Message,
        removed: &ObjectRemoved,
    ) -> Verdict {
        let rules: Vec<&RuleConfig> = self
            .router
            .route(&removed.bucket, &removed.key)
            .filter(|rule| rule.deletes == Deletes::Replicate)
            .collect();
        if rules.is_empty() {
            self.metrics.record_event("delete_ignored");
            info!(message = "Delete not replicated (no rule replicates deletes of this key).", bucket = %removed.bucket, key = %removed.key);
            return Verdict::Delete;
        }
        if removed.deletes_a_version() {
            // As S3 Replication: a delete of one version changes no replica.
            for rule in &rules {
                self.metrics.record_delete(&rule.name, "version_ignored");
            }
            info!(message = "Delete of one version not replicated.", bucket = %removed.bucket, key = %removed.key, version_id = ?removed.version_id);
            return Verdict::Delete;
        }
        for rule in &rules {
            if let Err(recent) = self.deletes.admit(&rule.name, rule.max_deletes_per_minute) {
                return self.hold(message, removed, rule, recent).await;
            }
        }
        let _key = self.keys.lock(&removed.bucket, &removed.key).await;
        let mut verdict = Verdict::Delete;
        for rule in rules {
            verdict = verdict.worst(self.delete_under(message, removed, rule).await);
        }
        verdict
    }

    /// For a rule that replicates deletes, an event of a versioned source whose key was deleted
    /// since: its version is still readable, but copying it now would bring the object back on
    /// targets whose replica the delete removed. `Some` verdict when the event must not be
    /// copied (superseded, or the source could not be read).
    pub(super) async fn deleted_since(
        &self,
        rule: &RuleConfig,
        object: &ObjectCreated,
    ) -> Option<Verdict> {
        if rule.deletes != Deletes::Replicate
            || object.version_id.is_none()
            || crate::bug!(CopyDeletedVersions)
        {
            return None;
        }
        match self.source_deleted(rule, object).await {
            Ok(false) => None,
            Ok(true) => {
                self.metrics.record_event("superseded");
                info!(message = "Event superseded: the object was deleted since.", rule = %rule.name, bucket = %object.bucket, key = %object.key);
                Some(Verdict::Delete)
            }
            Err(verdict) => Some(verdict),
        }
    }

    /// Whether `object`'s source key holds no object now ([`Replicator::deleted_since`](crate::replicate::Replicator::deleted_since)).
    /// A failed read is counted and logged, and answered with the verdict its failure calls
    /// for: nothing is copied or announced on a guess.
    async fn source_deleted(
        &self,
        rule: &RuleConfig,
        object: &ObjectCreated,
    ) -> Result<bool, Verdict> {
        self.replicator.deleted_since(object).await.map_err(|e| {
            self.metrics.record_event("failed");
            error!(message = "Source could not be read.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
            Verdict::of(e.disposition())
        })
    }

    /// For a rule that replicates deletes, once every target holds the object and before it
    /// is announced: whether the source key was deleted while the object was copied (read
    /// before the delete, written after it: a copy retried or waiting for seconds). The
    /// delete's own handling, here or in another task, may have found no replica yet and
    /// announced the deletion; left alone, the replicas just written would outlive it. They are
    /// removed as that delete would remove them ([`Replicator::delete`](crate::replicate::Replicator::delete):
    /// only a replica of this source key, only while the source key holds no object, `If-Match`
    /// on what was read) and nothing is announced. A delete after this check finds the replicas
    /// in place and removes them itself. `Some` verdict when there is nothing to announce.
    ///
    /// The check sits between the targets' last read and the announcement: when it took
    /// longer than the spread allowed between targets (retries), the targets are read again, so
    /// that a newer write landed meanwhile is not announced over (docs/design.md, "A completion
    /// is never stale").
    pub(super) async fn deleted_while_copying(
        &self,
        rule: &RuleConfig,
        object: &ObjectCreated,
        targets: &[TargetReport],
    ) -> Option<Verdict> {
        if rule.deletes != Deletes::Replicate || crate::bug!(CopyDeletedVersions) {
            return None;
        }
        let asked = Instant::now();
        match self.source_deleted(rule, object).await {
            Ok(false) if asked.elapsed() <= STALE_AFTER => None,
            Ok(false) => match self.replicator.still_holds(targets).await {
                Ok(None) => None,
                Ok(Some(reason)) => {
                    warn!(message = "A target changed while the source was read again; handing the message back to decide again.", rule = %rule.name, bucket = %object.bucket, key = %object.key, reason = %reason);
                    Some(Verdict::Retry)
                }
                Err(e) => {
                    self.metrics.record_event("failed");
                    error!(message = "Targets could not be read again before the completion.", rule = %rule.name, bucket = %object.bucket, key = %object.key, error = %e);
                    Some(Verdict::of(e.disposition()))
                }
            },
            Ok(true) => {
                let verdict = self.remove_stale_replicas(rule, object).await;
                if verdict == Verdict::Delete {
                    self.metrics.record_event("superseded");
                    info!(message = "Event superseded: the object was deleted while it was copied.", rule = %rule.name, bucket = %object.bucket, key = %object.key);
                }
                Some(verdict)
            }
            // Announcing now could announce a deleted object: ask again on the redelivery.
            Err(verdict) => Some(verdict),
        }
    }

    /// `object`'s key holds no object at the source (deleted since its event) under a rule that
    /// replicates deletes: its replicas go, as the delete would remove them. Also after a copy
    /// that found the source missing, since an attempt may have written targets before.
    pub(super) async fn remove_stale_replicas(
        &self,
        rule: &RuleConfig,
        object: &ObjectCreated,
    ) -> Verdict {
        let removed = ObjectRemoved {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            region: object.region.clone(),
            version_id: None,
            // Unordered: the source decides (it holds no object at this key now).
            sequencer: None,
            event_time: object.event_time,
            event_name: "ObjectRemoved:Delete".into(),
            delete_marker: false,
        };
        match self.replicator.delete(&removed, &rule.targets).await {
            DeleteOutcome::Done(targets) => {
                let removed: Vec<&str> = targets
                    .iter()
                    .filter(|t| t.result == crate::publish::DeleteResult::Deleted)
                    .map(|t| t.name.as_str())
                    .collect();
                if !removed.is_empty() {
                    info!(message = "The source object is gone: replicas written from it removed.", rule = %rule.name, bucket = %object.bucket, key = %object.key, removed_from = ?removed);
                }
                Verdict::Delete
            }
            DeleteOutcome::Failed { failed, .. } => {
                self.metrics.record_event("failed");
                let mut verdict = Verdict::Delete;
                for failure in failed {
                    let disposition = failure.error.disposition();
                    verdict = verdict.worst(Verdict::of(disposition));
                    error!(message = "The source object is gone; a replica written from it could not be removed.", rule = %rule.name, target = %failure.target, bucket = %object.bucket, key = %object.key, error = %failure.error, %disposition);
                }
                // Never acknowledged with a replica left behind in silence.
                if verdict == Verdict::Delete {
                    verdict = Verdict::Retry;
                }
                verdict
            }
        }
    }

    /// The guard of `rule` is full: the message comes back later, as a new message.
    async fn hold(
        &self,
        message: &Message,
        removed: &ObjectRemoved,
        rule: &RuleConfig,
        recent: usize,
    ) -> Verdict {
        self.metrics.record_deletes_held(&rule.name);
        warn!(message = "Mass-delete guard: delete held.", rule = %rule.name, bucket = %removed.bucket, key = %removed.key, deletes_last_minute = recent, limit = rule.max_deletes_per_minute);
        let alert = Alert::new(
            AlertKind::DeleteStorm,
            format!(
                "rule {}: {recent} deletes replicated in the last minute in this process, at its \
                 limit of {} per minute (rules.max_deletes_per_minute); further deletes are held \
                 and tried again about a minute later",
                rule.name, rule.max_deletes_per_minute
            ),
            DELETE_STORM_ACTION,
        )
        .rule(&rule.name)
        .source(AlertObject::from_removed(removed))
        .message_id(&message.id);
        self.alert(alert).await;
        // Spread by the message, not at random: the simulation replays a seed exactly.
        let jitter = message
            .id
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)))
            .rem_euclid(HOLD_JITTER_SECS + 1);
        Verdict::Recheck(vec![Recheck {
            rule: rule.name.clone(),
            body: message.body.clone(),
            delay_secs: HOLD_SECS + jitter,
            held_deletes: true,
        }])
    }

    async fn delete_under(
        &self,
        message: &Message,
        removed: &ObjectRemoved,
        rule: &RuleConfig,
    ) -> Verdict {
        match self.replicator.delete(removed, &rule.targets).await {
            DeleteOutcome::Done(targets) => {
                for target in &targets {
                    self.metrics
                        .record_delete(&rule.name, target.result.as_str());
                }
                let event = DeletionEvent::new(&rule.name, DeletedSource::of(removed), targets);
                let published = (|| self.publisher.inner().publish_deletion(&event))
                    .retry(retry_policy())
                    .when(|e: &PublishError| e.transient)
                    .await;
                match published {
                    Ok(()) => {
                        self.metrics.record_event("deleted");
                        info!(message = "Deletion published.", rule = %rule.name, bucket = %removed.bucket, key = %removed.key, latency_ms = event.latency_ms);
                        Verdict::Delete
                    }
                    Err(e) => {
                        error!(message = "Deletion could not be published.", rule = %rule.name, bucket = %removed.bucket, key = %removed.key, error = %e);
                        let disposition = if e.transient {
                            Disposition::Retry
                        } else {
                            Disposition::Fail
                        };
                        if Self::alerts_on(message, disposition) {
                            let alert = Alert::new(
                                AlertKind::CompletionUnpublished,
                                e.to_string(),
                                super::COMPLETION_UNPUBLISHED_ACTION,
                            )
                            .rule(&rule.name)
                            .source(AlertObject::from_removed(removed))
                            .message_id(&message.id);
                            self.alert(alert).await;
                        }
                        Verdict::of(disposition)
                    }
                }
            }
            DeleteOutcome::Failed { settled, failed } => {
                self.metrics.record_event("failed");
                for target in &settled {
                    self.metrics
                        .record_delete(&rule.name, target.result.as_str());
                }
                let mut verdict = Verdict::Delete;
                for failure in failed {
                    self.metrics.record_delete(&rule.name, "failed");
                    let disposition = failure.error.disposition();
                    verdict = verdict.worst(Verdict::of(disposition));
                    error!(message = "Replica could not be deleted.", rule = %rule.name, target = %failure.target, bucket = %removed.bucket, key = %removed.key, error = %failure.error, %disposition);
                    if Self::alerts_on(message, disposition) {
                        let alert = Alert::new(
                            AlertKind::DeleteFailed,
                            failure.error.to_string(),
                            DELETE_FAILED_ACTION,
                        )
                        .rule(&rule.name)
                        .source(AlertObject::from_removed(removed))
                        .target(AlertTarget {
                            name: failure.target.clone(),
                            bucket: failure.bucket.clone(),
                            region: failure.region.clone(),
                        })
                        .message_id(&message.id);
                        self.alert(alert).await;
                    }
                }
                verdict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_guard_admits_its_limit_per_minute_and_then_again() {
        let guard = DeleteGuard::default();
        for _ in 0..3 {
            assert_eq!(guard.admit("r", 3), Ok(()));
        }
        assert_eq!(guard.admit("r", 3), Err(3));
        assert_eq!(guard.admit("other", 3), Ok(()), "counted per rule");
        tokio::time::sleep(RATE_WINDOW).await;
        assert_eq!(guard.admit("r", 3), Ok(()), "the window moved on");
    }
}
