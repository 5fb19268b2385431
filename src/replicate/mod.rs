//! Copying one object to every target of a rule, and checking what was written.
//!
//! The source is read once (`HeadObject` pinned to the announced version and ETag, then its
//! tags when it has any); each target is then read and, unless it already holds this source's
//! bytes, written with a copy that carries the content headers, user metadata and tags
//! explicitly, plus the replica's record of its source (bucket, key digest, ETag, version,
//! sequencer) in its metadata.
//!
//! Every write to a target is a compare-and-swap on what was read there (`If-None-Match: *` on
//! an empty key, `If-Match: <etag>` otherwise): a 412 or 409 means someone else wrote the key
//! meanwhile, so the key is read again and the decision taken again — already present, newer,
//! another source's replica — never an overwrite in the dark. A target "already holds" the
//! object only when its content is proven equal to the source's by what S3 computed over the
//! bytes (see [`crate::transfer::verify::proof`]), never by the metadata the replica records.
//! How the bytes move (CopyObject, multipart UploadPartCopy, streamed) is [`crate::transfer`]'s job.
//!
//! Where it sits: below [`crate::pipeline`] (one event) and [`crate::backfill`] (one listed
//! object), above [`crate::transfer`] (the bytes) and [`crate::store`] (the calls). This file
//! holds the [`Replicator`] and what it reports; [`target`] is one target's read, decide and
//! conditional write, again on a conflict; [`decide`] is the decision itself: what a target
//! holds at the replica's key, and whether it is this source's, a newer one's or another's.

mod decide;
mod delete;
mod target;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;

use crate::config::TargetConfig;
use crate::event::ObjectCreated;
use crate::metrics::Metrics;
use crate::publish::{SourceReport, TargetReport};
use crate::retry::with_retries;
use crate::store::{
    source_key_digest, user_metadata_size, ArchivedObject, ObjectRef, ObjectStore, Operation,
    StoreError, StoreErrorKind, USER_METADATA_MAX,
};
use crate::transfer::{Limits, Method, Transfer};

use decide::{newer_replica, SourceCopy};
pub use delete::DeleteOutcome;
use target::read_replica;

/// A target and the store that writes to it (its region, its principal).
#[derive(Debug, Clone)]
pub struct Target<S> {
    pub config: TargetConfig,
    pub store: S,
}

/// Copying to one target failed.
#[derive(Debug, Clone)]
pub struct TargetFailure {
    pub target: String,
    pub bucket: String,
    pub region: String,
    pub error: StoreError,
}

/// What became of one object under one rule.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every target holds the object.
    Replicated {
        source: SourceReport,
        targets: Vec<TargetReport>,
    },
    /// The source no longer is what the event announced (overwritten since, or a target holds
    /// a newer version): the event that replaced it does the work, this one has nothing to do.
    Superseded { reason: String },
    /// The source could not be read, so no target was attempted.
    SourceFailed(StoreError),
    /// The source does not exist (404): deleted since the event, or the event's key does not
    /// name an object (a key decoded wrongly). Redelivery cannot make it appear.
    SourceMissing { reason: String },
    /// The source is archived and not restored: it cannot be copied until it is restored.
    SourceArchived {
        source: ObjectRef,
        archived: ArchivedObject,
    },
    /// At least one target failed; the others hold the object.
    TargetsFailed {
        succeeded: Vec<TargetReport>,
        failed: Vec<TargetFailure>,
    },
}

impl Outcome {
    /// Records what became of the object in `metrics`: per target, replicated (with its method,
    /// duration and bytes) or failed (with the error kind; `source` when the source failed).
    pub fn record(&self, metrics: &Metrics) {
        // The Debug name of an error kind (`NoSuchBucket`, `Throttled`): a closed set.
        let kind = |e: &StoreError| format!("{:?}", e.kind);
        match self {
            Outcome::Replicated { source, targets } => {
                for t in targets {
                    let bytes = if t.method == Method::AlreadyPresent {
                        0
                    } else {
                        source.size
                    };
                    metrics.record_target(&t.name, t.method.as_str(), t.duration_ms, bytes);
                }
            }
            Outcome::TargetsFailed { succeeded, failed } => {
                for t in succeeded {
                    // The size is not in a target report; a partial success adds its bytes
                    // when the redelivery completes (as already_present, i.e. zero bytes).
                    // Undercounting here is the price of not holding the source head in the
                    // report.
                    metrics.record_target(&t.name, t.method.as_str(), t.duration_ms, 0);
                }
                for f in failed {
                    metrics.record_failed(&f.target, &kind(&f.error));
                }
            }
            Outcome::SourceFailed(e) => metrics.record_failed("source", &kind(e)),
            Outcome::Superseded { .. }
            | Outcome::SourceMissing { .. }
            | Outcome::SourceArchived { .. } => {}
        }
    }
}

/// How long before the last target of an object another may have settled without being
/// looked at again before the object counts as replicated. Well above the spread of one round
/// of requests (cross-region copies included), below the shortest retry delay (200 ms).
pub(crate) const STALE_AFTER: Duration = Duration::from_millis(150);

/// How the targets of one object are approached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    /// Read every target before writing it: for redeliveries and backfills, whose targets
    /// often hold the object already (then nothing is written).
    ReadFirst,
    /// Write at once, on the condition that the key is empty (`If-None-Match: *`), and read the
    /// target only when the write says someone was there (412): for a first delivery, whose
    /// targets almost never hold the object yet. Only for targets with conditional writes and
    /// objects the event says are at most `copy.multipart_threshold` (a refused multipart copy
    /// would have moved its parts for nothing). Other targets are read first, and so are targets
    /// configured with `write_first = false`.
    WriteFirst,
}

/// What became of one target.
enum TargetOutcome {
    Done(TargetReport),
    Superseded(String),
    Failed(TargetFailure),
}

/// Source stores per region: events name their bucket's region (`awsRegion`), and a source is
/// read by a client in that region.
struct RegionalSources<S> {
    home: String,
    make: Box<dyn Fn(&str) -> S + Send + Sync>,
    stores: Mutex<HashMap<String, S>>,
}

impl<S> std::fmt::Debug for RegionalSources<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionalSources")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// Copies objects from the source store to the targets.
#[derive(Debug)]
pub struct Replicator<S> {
    source: S,
    regional: Option<RegionalSources<S>>,
    targets: HashMap<String, Target<S>>,
    /// Each target's features (declared, or detected before its first write), once settled.
    features: HashMap<String, tokio::sync::OnceCell<crate::probe::Features>>,
    transfer: Transfer,
    metrics: Arc<Metrics>,
}

impl<S: ObjectStore> Replicator<S> {
    /// A replicator with the default `[copy]` limits; see [`with_limits`](Self::with_limits).
    pub fn new(source: S, targets: impl IntoIterator<Item = Target<S>>) -> Self {
        let targets: HashMap<String, Target<S>> = targets
            .into_iter()
            .map(|t| (t.config.name.clone(), t))
            .collect();
        Self {
            source,
            regional: None,
            features: targets
                .keys()
                .map(|name| (name.clone(), tokio::sync::OnceCell::new()))
                .collect(),
            targets,
            transfer: Transfer::default(),
            metrics: Arc::default(),
        }
    }

    /// Records into `metrics` (retries, bytes in flight) instead of a registry of its own.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The registry this replicator records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The store the sources are read from (in the home region: listings, checks).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Reads the source of an event in another region than `home` (the region of
    /// [`source`](Self::source)) with a store made by `make` for that region, made once.
    pub fn with_regional_sources(
        mut self,
        home: &str,
        make: impl Fn(&str) -> S + Send + Sync + 'static,
    ) -> Self {
        self.regional = Some(RegionalSources {
            home: home.to_owned(),
            make: Box::new(make),
            stores: Mutex::default(),
        });
        self
    }

    /// The store that reads sources in `region`.
    pub fn source_in(&self, region: &str) -> S {
        let Some(regional) = &self.regional else {
            return self.source.clone();
        };
        if region.is_empty() || region == regional.home {
            return self.source.clone();
        }
        let mut stores = regional.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores
            .entry(region.to_owned())
            .or_insert_with(|| (regional.make)(region))
            .clone()
    }

    /// The configured target called `name`.
    pub fn target(&self, name: &str) -> Option<&Target<S>> {
        self.targets.get(name)
    }

    /// Uses `limits` (multipart threshold, part size, byte budget) for the copies.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.transfer = Transfer::new(limits);
        self
    }

    /// The copy machinery, e.g. to read the streamed copies' peak memory.
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// Asks for `source` (archived) to be restored for `days` at `tier` (`days` is left out for an
    /// Intelligent-Tiering archive tier, which takes none).
    pub async fn restore(
        &self,
        source: &ObjectRef,
        region: &str,
        archived: &ArchivedObject,
        tier: &str,
        days: u32,
    ) -> Result<(), StoreError> {
        let store = self.source_in(region);
        let days = archived.archive_status.is_none().then_some(days);
        with_retries(&self.metrics, || store.restore_object(source, tier, days)).await
    }

    /// Whether every target of `targets` still holds the replica it reported (the same ETag at
    /// its key): `None` when all do, else why not. Checked again before a completion is
    /// retried, since a newer write can replace a replica while the announcement waits.
    pub async fn still_holds(
        &self,
        targets: &[TargetReport],
    ) -> Result<Option<String>, StoreError> {
        let reads = targets.iter().map(|report| async move {
            let Some(target) = self.targets.get(&report.name) else {
                return Ok(Some(format!("target {} is not configured", report.name)));
            };
            let now = read_replica(&self.metrics, target, &report.key).await?;
            Ok(match now {
                Some(head) if head.etag == report.etag => None,
                Some(head) => Some(format!(
                    "target {} now holds ETag {} at s3://{}/{}, not the replica {} it reported",
                    report.name, head.etag, report.bucket, report.key, report.etag
                )),
                None => Some(format!(
                    "s3://{}/{} is gone from target {}",
                    report.bucket, report.key, report.name
                )),
            })
        });
        let mut why = None;
        for read in join_all(reads).await {
            if let Some(reason) = read? {
                why.get_or_insert(reason);
            }
        }
        Ok(why)
    }

    /// What target `name` holds at the replica key of `source_key` (its `key_prefix` applied).
    pub async fn replica_head(
        &self,
        name: &str,
        source_key: &str,
    ) -> Result<Option<crate::store::ObjectHead>, StoreError> {
        let Some(target) = self.targets.get(name) else {
            return Err(target::not_configured(name, Operation::HeadObject, source_key).error);
        };
        read_replica(
            &self.metrics,
            target,
            &target::replica_key(&target.config, source_key),
        )
        .await
    }

    /// Replicates `object` to each named target, concurrently, reading every target first.
    pub async fn replicate(&self, object: &ObjectCreated, target_names: &[String]) -> Outcome {
        self.replicate_with(object, target_names, Approach::ReadFirst)
            .await
    }

    /// Whether target `name` is written before it is read, under `approach`, for `object`.
    fn writes_first(&self, name: &str, object: &ObjectCreated, approach: Approach) -> bool {
        approach == Approach::WriteFirst
            && !crate::bug!(BlindWrites)
            && object.size > 0
            && object.size <= self.transfer.limits().multipart_threshold
            && self.targets.get(name).is_some_and(|t| {
                // A store on its own endpoint may ignore If-None-Match: it is read first.
                t.config.conditional_writes
                    && t.config.write_first
                    && t.config.endpoint_url.is_none()
                    && t.config.capabilities.conditional_writes != Some(false)
            })
    }

    /// Replicates `object` to each named target, concurrently, approaching them as `approach`
    /// says. The source read and the target reads do not depend on each other: they go out
    /// together.
    pub async fn replicate_with(
        &self,
        object: &ObjectCreated,
        target_names: &[String],
        approach: Approach,
    ) -> Outcome {
        let source_ref = ObjectRef {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
        };
        let source_store = self.source_in(&object.region);
        let source_head = with_retries(&self.metrics, || {
            source_store.head_object(&source_ref, object.etag.as_deref())
        });
        let target_reads = join_all(target_names.iter().map(|name| {
            self.replica(
                name,
                &object.key,
                !self.writes_first(name, object, approach),
            )
        }));
        let (head, replicas) = futures::join!(source_head, target_reads);
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => {
                return Outcome::SourceMissing {
                    reason: format!("{source_ref} does not exist"),
                }
            }
            Err(e) if e.kind == StoreErrorKind::PreconditionFailed => {
                return Outcome::Superseded {
                    reason: format!("{source_ref} was overwritten since the event"),
                }
            }
            Err(e) => return Outcome::SourceFailed(e),
        };
        // Before anything is written: an archived source would fail every copy.
        if let Some(archived) = head.archived() {
            return Outcome::SourceArchived {
                source: source_ref,
                archived,
            };
        }
        // Operations: the bytes-in-flight gauge, while the copies of this object run.
        let _in_flight = self
            .metrics
            .bytes_in_flight(head.size.saturating_mul(target_names.len() as u64));
        let tags = if head.tag_count > 0 {
            match with_retries(&self.metrics, || {
                source_store.get_object_tagging(&source_ref)
            })
            .await
            {
                Ok(tags) => tags,
                Err(e) => return Outcome::SourceFailed(e),
            }
        } else {
            Vec::new()
        };
        let source = SourceReport {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            region: object.region.clone(),
            version_id: object
                .version_id
                .clone()
                .or_else(|| head.version_id.clone()),
            etag: head.etag.clone(),
            size: head.size,
            sequencer: object.sequencer.as_ref().map(|s| s.as_str().to_owned()),
            event_time: object.event_time,
            restored_from: head.restored_from(),
        };
        let copy = SourceCopy {
            store: source_store,
            key_digest: source_key_digest(&source_ref.key),
            object: source_ref,
            head: &head,
            tags: &tags,
            sequencer: object.sequencer.clone(),
        };
        let metadata = copy.replica_metadata();
        let metadata_size = user_metadata_size(&metadata);
        if metadata_size > USER_METADATA_MAX {
            // Every write would be refused (400 MetadataTooLarge) on every delivery: say so once.
            return Outcome::SourceFailed(StoreError::new(
                Operation::HeadObject,
                &copy.object.bucket,
                &copy.object.key,
                StoreErrorKind::MetadataTooLarge,
                format!(
                    "the replica's user metadata would be {metadata_size} bytes ({} of the source's own \
                     plus the replica's record of its source); S3 allows {USER_METADATA_MAX}",
                    user_metadata_size(&head.metadata)
                ),
            ));
        }
        // A target read that already holds a newer version of this source makes the whole
        // event stale, and nothing older is written anywhere. (A target written first learns
        // it from its 412 instead, and then this event writes no target that held anything.)
        if let Some(reason) = newer_replica(&copy, &replicas) {
            return Outcome::Superseded { reason };
        }
        let results = join_all(replicas.into_iter().map(|replica| async {
            let outcome = match replica {
                Ok(replica) => {
                    let _pending = self
                        .metrics
                        .target_bytes_pending(&replica.target.config.name, head.size);
                    self.to_target(replica, &copy, &metadata).await
                }
                Err(failure) => TargetOutcome::Failed(failure),
            };
            // Tokio's clock: the same as the system's, and paused in tests.
            (outcome, tokio::time::Instant::now())
        }))
        .await;
        // A target settled well before the last one (the others needed retries, or are much
        // slower) is looked at again: the completion must not announce bytes that a newer
        // write replaced meanwhile (docs/design.md, "A completion is never stale").
        let last = results.iter().map(|(_, at)| *at).max();
        let mut settled = Vec::with_capacity(results.len());
        for (outcome, at) in results {
            settled.push(match outcome {
                TargetOutcome::Done(report)
                    if last.is_some_and(|last| last.duration_since(at) > STALE_AFTER) =>
                {
                    self.look_again(report, &copy, &metadata).await
                }
                outcome => outcome,
            });
        }

        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        let mut superseded = None;
        for result in settled {
            match result {
                TargetOutcome::Done(report) => succeeded.push(report),
                TargetOutcome::Failed(failure) => failed.push(failure),
                TargetOutcome::Superseded(reason) => superseded = Some(reason),
            }
        }
        if !failed.is_empty() {
            Outcome::TargetsFailed { succeeded, failed }
        } else if let Some(reason) = superseded {
            Outcome::Superseded { reason }
        } else {
            Outcome::Replicated {
                source,
                targets: succeeded,
            }
        }
    }
}
