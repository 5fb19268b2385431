//! One target of one object: read what it holds at the replica's key, decide, write on the
//! condition that it still holds that, and on a conflict (412/409) read and decide again.
//!
//! Where it sits: the per-target half of [`Replicator::replicate`] (in [`crate::replicate`]);
//! the decision is [`super::decide`]'s, the write [`crate::transfer`]'s.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::decide::{Decision, Replica, SourceCopy};
use super::{Replicator, Target, TargetFailure, TargetOutcome};
use crate::config::{ObjectLock, TargetConfig};
use crate::metrics::Metrics;
use crate::probe::Features;
use crate::publish::TargetReport;
use crate::retry::with_retries;
use crate::store::{
    NewObject, ObjectHead, ObjectRef, ObjectStore, Operation, StoreError, StoreErrorKind,
    WriteCondition,
};
use crate::transfer::{Integrity, Job, Method};

/// How often one target is read and written again after its key changed under a write
/// (412/409) before the message is handed back for later.
const MAX_DECISIONS: usize = 4;

/// The target of this file's log events: [`crate::replicate`]'s, which log filters and the
/// log lines have always named.
const LOG_TARGET: &str = "s3_replicator::replicate";

impl<S: ObjectStore> Replicator<S> {
    /// Finds the target and, when `read`, what it holds at the replica's key now; unread, the
    /// key is taken as empty, which only a conditional write (`If-None-Match: *`) may assume.
    pub(super) async fn replica(
        &self,
        name: &str,
        source_key: &str,
        read: bool,
    ) -> Result<Replica<'_, S>, TargetFailure> {
        let Some(target) = self.targets.get(name) else {
            // Validation makes this impossible; fail loudly rather than skip a target.
            return Err(not_configured(name, Operation::CopyObject, source_key));
        };
        let started = Instant::now();
        let config = &target.config;
        let key = replica_key(config, source_key);
        let existing = if read {
            read_replica(&self.metrics, target, &key)
                .await
                .map_err(|error| target_failure(config, error))?
        } else {
            None
        };
        Ok(Replica {
            target,
            key,
            existing,
            started,
        })
    }

    /// Brings one target to hold the source, or says why not.
    pub(super) async fn to_target(
        &self,
        replica: Replica<'_, S>,
        copy: &SourceCopy<'_, S>,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> TargetOutcome {
        let Replica {
            target,
            key,
            mut existing,
            started,
        } = replica;
        let config = &target.config;
        let fail = |error: StoreError| TargetOutcome::Failed(target_failure(config, error));
        let source_changed = |e: &StoreError| {
            format!(
                "s3://{}/{} changed since the event ({e})",
                copy.object.bucket, copy.object.key
            )
        };
        let report = |etag: String, version_id: Option<String>, method: Method| TargetReport {
            name: config.name.clone(),
            bucket: config.bucket.clone(),
            key: key.clone(),
            region: config.region.clone(),
            etag,
            version_id,
            method,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let features = match self.features(target).await {
            Ok(features) => features,
            Err(e) => return fail(e),
        };
        let mut job = Job {
            source: &copy.object,
            head: copy.head,
            replica: NewObject {
                bucket: config.bucket.clone(),
                key: key.clone(),
                headers: copy.head.headers.clone(),
                metadata: metadata.clone(),
                tags: if features.tagging {
                    copy.tags.to_vec()
                } else {
                    Vec::new()
                },
                storage_class: config
                    .storage_class
                    .clone()
                    .filter(|_| features.storage_classes),
                sse_kms_key_id: config.sse_kms_key_id.clone(),
                expected_checksum: copy.head.checksum.clone(),
                condition: WriteCondition::None,
                object_lock: (config.object_lock == ObjectLock::Copy)
                    .then(|| copy.head.object_lock.clone())
                    .flatten(),
            },
            integrity: Integrity {
                trusts_etags: config.trusts_etags(),
                checksums: features.checksums,
            },
        };
        let conditional = config.conditional_writes && features.conditional_writes;

        for _ in 0..MAX_DECISIONS {
            match copy.decide(existing.as_ref(), config.trusts_etags()) {
                Decision::Present => {
                    debug!(target: LOG_TARGET, message = "Target already holds this version.", target = %config.name, bucket = %config.bucket, key = %key);
                    let existing = existing.unwrap_or_default();
                    return TargetOutcome::Done(report(
                        existing.etag,
                        existing.version_id,
                        Method::AlreadyPresent,
                    ));
                }
                Decision::Newer(theirs) => {
                    return TargetOutcome::Superseded(format!(
                        "target {} holds s3://{}/{key} from a newer event (sequencer {theirs})",
                        config.name, config.bucket
                    ))
                }
                Decision::OtherSource(why) => {
                    return fail(StoreError::new(
                        Operation::CopyObject,
                        &config.bucket,
                        &key,
                        StoreErrorKind::ReplicaConflict,
                        why,
                    ))
                }
                Decision::Unordered => match self.current_version(copy).await {
                    Ok(current) if current.as_ref() == copy.object.version_id.as_ref() => {}
                    Ok(current) => {
                        return TargetOutcome::Superseded(format!(
                            "target {} holds s3://{}/{key} from a backfill (no sequencer), and \
                             s3://{}/{} is now at version {}, not this event's",
                            config.name,
                            config.bucket,
                            copy.object.bucket,
                            copy.object.key,
                            current.as_deref().unwrap_or("(deleted)")
                        ))
                    }
                    Err(e) => return fail(e),
                },
                Decision::Write => {}
            }
            job.replica.condition = if conditional && !crate::bug!(BlindWrites) {
                WriteCondition::replacing(existing.as_ref())
            } else {
                WriteCondition::None
            };
            // A failed copy was aborted whole (no upload left behind), so retrying it is safe.
            let written = with_retries(&self.metrics, || {
                self.transfer.write(
                    &copy.store,
                    &target.store,
                    &config.name,
                    config.effective_copy_mode(),
                    &job,
                )
            })
            .await;
            let e = match written {
                Ok((written, method)) => {
                    let report = report(written.etag, written.version_id, method);
                    info!(target: LOG_TARGET, message = "Object replicated.", target = %config.name, bucket = %config.bucket, key = %key, method = ?method, duration_ms = report.duration_ms);
                    return TargetOutcome::Done(report);
                }
                Err(e) => e,
            };
            let source_read = matches!(
                e.operation,
                Operation::GetObject | Operation::UploadPartCopy
            );
            match e.kind {
                // Only the source is pinned on these: it changed since the event. (A source
                // gone meanwhile fails the copy: the redelivery finds it missing and says so.)
                StoreErrorKind::PreconditionFailed if source_read => {
                    return TargetOutcome::Superseded(source_changed(&e))
                }
                _ if source_read => return fail(e),
                StoreErrorKind::PreconditionFailed | StoreErrorKind::WriteConflict => {}
                // `If-Match` on a key deleted meanwhile answers 404.
                StoreErrorKind::NotFound
                    if matches!(job.replica.condition, WriteCondition::Matches(_)) => {}
                _ => return fail(e),
            }
            // Someone else wrote the key (or, for CopyObject, whose 412 may be about either
            // side, the source changed): read it again and decide again.
            let now = match read_replica(&self.metrics, target, &key).await {
                Ok(now) => now,
                Err(read) => return fail(read),
            };
            let unchanged = now.as_ref().map(|h| (&h.etag, &h.version_id))
                == existing.as_ref().map(|h| (&h.etag, &h.version_id));
            if unchanged && e.kind != StoreErrorKind::WriteConflict {
                // The target is as it was: the failed condition was the copy source's.
                return TargetOutcome::Superseded(source_changed(&e));
            }
            warn!(target: LOG_TARGET, message = "The target key changed under the write; reading it again.", target = %config.name, bucket = %config.bucket, key = %key, error = %e);
            existing = now;
        }
        fail(StoreError::new(
            Operation::CopyObject,
            &config.bucket,
            &key,
            StoreErrorKind::WriteConflict,
            format!("the key changed under {MAX_DECISIONS} writes in a row; trying again later"),
        ))
    }
}

impl<S: ObjectStore> Replicator<S> {
    /// The features `target`'s replicas are written with, settled once
    /// ([`crate::probe::resolve`]); a probe that failed is tried again on the next write.
    async fn features(&self, target: &Target<S>) -> Result<Features, StoreError> {
        let resolve = || crate::probe::resolve(&target.store, &target.config, &self.metrics);
        match self.features.get(&target.config.name) {
            Some(cell) => cell.get_or_try_init(resolve).await.copied(),
            None => resolve().await,
        }
    }

    /// The current version of the (versioned) source of `copy`; `None` when its key was
    /// deleted (a delete marker is current).
    async fn current_version(
        &self,
        copy: &SourceCopy<'_, S>,
    ) -> Result<Option<String>, StoreError> {
        let (bucket, key) = (&copy.object.bucket, &copy.object.key);
        let head = current_source(&self.metrics, &copy.store, bucket, key).await?;
        Ok(head.and_then(|h| h.version_id))
    }

    /// A target that settled as `report` some time ago: if it still holds that replica, the
    /// report stands; otherwise it is decided again from what it holds now (superseded by a
    /// newer replica, written again over someone else's, …).
    pub(super) async fn look_again(
        &self,
        report: TargetReport,
        copy: &SourceCopy<'_, S>,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> TargetOutcome {
        let Some(target) = self.targets.get(&report.name) else {
            return TargetOutcome::Done(report);
        };
        let now = match read_replica(&self.metrics, target, &report.key).await {
            Ok(now) => now,
            Err(error) => return TargetOutcome::Failed(target_failure(&target.config, error)),
        };
        if now.as_ref().is_some_and(|head| head.etag == report.etag) {
            return TargetOutcome::Done(report);
        }
        debug!(target: LOG_TARGET, message = "The target changed after it settled; deciding again.", target = %report.name, bucket = %report.bucket, key = %report.key);
        let replica = Replica {
            target,
            key: report.key,
            existing: now,
            started: Instant::now(),
        };
        self.to_target(replica, copy, metadata).await
    }
}

/// The current object at `bucket`/`key` of a source `store` (no version, no condition): what
/// a delete, a late event of a deleted version and an unordered backfilled replica all ask.
pub(super) async fn current_source<S: ObjectStore>(
    metrics: &Metrics,
    store: &S,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectHead>, StoreError> {
    let current = ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: None,
    };
    with_retries(metrics, || store.head_object(&current, None)).await
}

/// The key of `source_key`'s replica on the target configured as `config`.
pub(super) fn replica_key(config: &TargetConfig, source_key: &str) -> String {
    format!(
        "{}{}",
        config.key_prefix.as_deref().unwrap_or(""),
        source_key
    )
}

/// What the target holds at `key` now.
pub(super) async fn read_replica<S: ObjectStore>(
    metrics: &Metrics,
    target: &Target<S>,
    key: &str,
) -> Result<Option<ObjectHead>, StoreError> {
    let replica_ref = ObjectRef {
        bucket: target.config.bucket.clone(),
        key: key.to_owned(),
        version_id: None,
    };
    with_retries(metrics, || target.store.head_object(&replica_ref, None)).await
}

/// A rule names a target that is not configured: validation makes it impossible, so it fails
/// loudly rather than skipping the target.
pub(super) fn not_configured(name: &str, operation: Operation, key: &str) -> TargetFailure {
    TargetFailure {
        target: name.to_owned(),
        bucket: String::new(),
        region: String::new(),
        error: StoreError::new(
            operation,
            "",
            key,
            StoreErrorKind::Other,
            format!("target {name:?} is not configured"),
        ),
    }
}

pub(super) fn target_failure(config: &TargetConfig, error: StoreError) -> TargetFailure {
    TargetFailure {
        target: config.name.clone(),
        bucket: config.bucket.clone(),
        region: config.region.clone(),
        error,
    }
}
