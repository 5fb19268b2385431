//! Deleting the replicas of a deleted source object (rules with `deletes = "replicate"`;
//! docs/design.md, "Deletes").
//!
//! A replica is deleted only when it was made from this source key (its record names this
//! source bucket and key digest) by a write older than the delete (its recorded sequencer is
//! lower than the delete's), and the source key holds no object now: a replica of a newer put
//! is never removed, whatever order the events arrive in. The source is asked because the
//! record alone cannot tell: a newer put of the same bytes finds its replica already present
//! and leaves the older write's record on it (found by the simulation, seed 166). The delete
//! carries `If-Match` on the ETag that was read, so a replica written between the read and the
//! delete survives (412: read again, decide again). A versioned target gets a delete marker:
//! its versions are kept.
//!
//! Where it sits: beside [`super::target`] (the same read, decide, conditional write), called by
//! the pipeline for an [`ObjectRemoved`] event.

use futures::future::join_all;
use tracing::{info, warn};

use super::target::{current_source, not_configured, read_replica, replica_key, target_failure};
use super::{Replicator, TargetFailure};
use crate::event::{ObjectCreated, ObjectRemoved, Sequencer};
use crate::publish::{DeleteResult, DeletionTarget};
use crate::retry::with_retries;
use crate::store::{
    source_key_digest, ObjectHead, ObjectStore, Operation, StoreError, StoreErrorKind,
    WriteCondition, META_SEQUENCER, META_SOURCE_BUCKET, META_SOURCE_ETAG, META_SOURCE_KEY_SHA256,
};

/// How often one target is read and deleted again after its key changed under the delete.
const MAX_DECISIONS: usize = 4;

const LOG_TARGET: &str = "s3_replicator::replicate";

/// What became of a deleted source object's replicas under one rule.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// Every target settled: none holds a replica older than the delete.
    Done(Vec<DeletionTarget>),
    /// At least one target failed; the others settled.
    Failed {
        settled: Vec<DeletionTarget>,
        failed: Vec<TargetFailure>,
    },
}

/// What to do about a target, given what it holds at the replica's key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Settled(DeleteResult),
    /// Delete, if the source key holds no object now.
    Delete,
}

fn decide(existing: Option<&ObjectHead>, removed: &ObjectRemoved, digest: &str) -> Decision {
    let Some(replica) = existing else {
        return Decision::Settled(DeleteResult::AlreadyAbsent);
    };
    let recorded = |key: &str| replica.metadata.get(key);
    if recorded(META_SOURCE_ETAG).is_none()
        || recorded(META_SOURCE_BUCKET).is_some_and(|b| *b != removed.bucket)
        || recorded(META_SOURCE_KEY_SHA256).is_some_and(|d| d != digest)
    {
        return Decision::Settled(DeleteResult::KeptForeign);
    }
    match (&removed.sequencer, recorded(META_SEQUENCER)) {
        (Some(ours), Some(theirs))
            if Sequencer::new(theirs.as_str()) >= *ours && !crate::bug!(DeletesIgnoreOrder) =>
        {
            Decision::Settled(DeleteResult::KeptNewer)
        }
        // Older by sequencer, or unordered (a side without one, as moto's events): the source
        // decides.
        _ => Decision::Delete,
    }
}

impl<S: ObjectStore> Replicator<S> {
    /// Deletes the replicas of `removed` on each named target, concurrently.
    pub async fn delete(&self, removed: &ObjectRemoved, target_names: &[String]) -> DeleteOutcome {
        let digest = source_key_digest(&removed.key);
        // Read once, when the first target would delete.
        let source = tokio::sync::OnceCell::new();
        let results = join_all(
            target_names
                .iter()
                .map(|name| self.delete_on(name, removed, &digest, &source)),
        )
        .await;
        let mut settled = Vec::new();
        let mut failed = Vec::new();
        for result in results {
            match result {
                Ok(target) => settled.push(target),
                Err(failure) => failed.push(failure),
            }
        }
        if failed.is_empty() {
            DeleteOutcome::Done(settled)
        } else {
            DeleteOutcome::Failed { settled, failed }
        }
    }

    async fn delete_on(
        &self,
        name: &str,
        removed: &ObjectRemoved,
        digest: &str,
        source: &tokio::sync::OnceCell<bool>,
    ) -> Result<DeletionTarget, TargetFailure> {
        let Some(target) = self.targets.get(name) else {
            return Err(not_configured(name, Operation::DeleteObject, &removed.key));
        };
        let config = &target.config;
        let key = replica_key(config, &removed.key);
        let fail = |error: StoreError| target_failure(config, error);
        let report = |result: DeleteResult| DeletionTarget {
            name: config.name.clone(),
            bucket: config.bucket.clone(),
            key: key.clone(),
            region: config.region.clone(),
            result,
        };
        let mut existing = read_replica(&self.metrics, target, &key)
            .await
            .map_err(fail)?;
        for _ in 0..MAX_DECISIONS {
            match decide(existing.as_ref(), removed, digest) {
                Decision::Settled(result) => return Ok(report(result)),
                Decision::Delete => {}
            }
            let exists = source
                .get_or_try_init(|| {
                    self.source_exists(&removed.region, &removed.bucket, &removed.key)
                })
                .await
                .map_err(|e| fail(e.clone()))?;
            if *exists && !crate::bug!(DeletesIgnoreOrder) {
                // Put again since the delete: that put's event decides what the target holds.
                return Ok(report(DeleteResult::KeptNewer));
            }
            let condition = match &existing {
                Some(head) if config.conditional_writes => {
                    WriteCondition::Matches(head.etag.clone())
                }
                _ => WriteCondition::None,
            };
            let deleted = with_retries(&self.metrics, || {
                target.store.delete_object(&config.bucket, &key, &condition)
            })
            .await;
            match deleted {
                Ok(deleted) => {
                    info!(target: LOG_TARGET, message = "Replica deleted.", target = %config.name, bucket = %config.bucket, key = %key, delete_marker = deleted.delete_marker);
                    return Ok(report(DeleteResult::Deleted));
                }
                Err(e)
                    if matches!(
                        e.kind,
                        StoreErrorKind::PreconditionFailed
                            | StoreErrorKind::WriteConflict
                            | StoreErrorKind::NotFound
                    ) =>
                {
                    warn!(target: LOG_TARGET, message = "The target key changed under the delete; reading it again.", target = %config.name, bucket = %config.bucket, key = %key, error = %e);
                    existing = read_replica(&self.metrics, target, &key)
                        .await
                        .map_err(fail)?;
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Err(fail(StoreError::new(
            Operation::DeleteObject,
            &config.bucket,
            &key,
            StoreErrorKind::WriteConflict,
            format!("the key changed under {MAX_DECISIONS} deletes in a row; trying again later"),
        )))
    }

    /// Whether a versioned source's key was deleted since `object`'s event (a delete marker is
    /// its current version): its version is still readable, but a replica written now would
    /// bring back an object whose delete may already have been replicated.
    pub async fn deleted_since(&self, object: &ObjectCreated) -> Result<bool, StoreError> {
        let exists = self.source_exists(&object.region, &object.bucket, &object.key);
        Ok(!exists.await?)
    }

    /// Whether the source key holds an object now (for a delete: a newer one than the delete,
    /// if the delete was applied).
    async fn source_exists(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let store = self.source_in(region);
        Ok(current_source(&self.metrics, &store, bucket, key)
            .await?
            .is_some())
    }
}
