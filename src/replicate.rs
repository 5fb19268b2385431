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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::config::TargetConfig;
use crate::event::{ObjectCreated, Sequencer};
use crate::metrics::Metrics;
use crate::publish::{SourceReport, TargetReport};
use crate::retry::with_retries;
use crate::store::{
    source_key_digest, user_metadata_size, NewObject, ObjectHead, ObjectRef, ObjectStore,
    Operation, StoreError, StoreErrorKind, Tag, WriteCondition, META_SEQUENCER, META_SOURCE_BUCKET,
    META_SOURCE_ETAG, META_SOURCE_KEY_SHA256, META_SOURCE_VERSION, USER_METADATA_MAX,
};
use crate::transfer::verify::{proof, Proof};
use crate::transfer::Method;
use crate::transfer::{Job, Limits, Transfer};

/// How often one target is read and written again after its key changed under a write
/// (412/409) before the message is handed back for later.
const MAX_DECISIONS: usize = 4;

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
            Outcome::Superseded { .. } | Outcome::SourceMissing { .. } => {}
        }
    }
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
    transfer: Transfer,
    metrics: Arc<Metrics>,
}

impl<S: ObjectStore> Replicator<S> {
    /// A replicator with the default `[copy]` limits; see [`with_limits`](Self::with_limits).
    pub fn new(source: S, targets: impl IntoIterator<Item = Target<S>>) -> Self {
        Self {
            source,
            regional: None,
            targets: targets
                .into_iter()
                .map(|t| (t.config.name.clone(), t))
                .collect(),
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

    /// Replicates `object` to each named target, concurrently.
    pub async fn replicate(&self, object: &ObjectCreated, target_names: &[String]) -> Outcome {
        let source_ref = ObjectRef {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
        };
        let source_store = self.source_in(&object.region);
        let head = match with_retries(&self.metrics, || {
            source_store.head_object(&source_ref, object.etag.as_deref())
        })
        .await
        {
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
        // Look at every target first: one that already holds a newer version of this source
        // makes the whole event stale, and nothing older may be written anywhere.
        let replicas = join_all(target_names.iter().map(|name| self.replica(name, &copy))).await;
        if let Some(reason) = newer_replica(&copy, &replicas) {
            return Outcome::Superseded { reason };
        }
        let results = join_all(replicas.into_iter().map(|replica| async {
            match replica {
                Ok(replica) => self.to_target(replica, &copy, &metadata).await,
                Err(failure) => TargetOutcome::Failed(failure),
            }
        }))
        .await;

        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        let mut superseded = None;
        for result in results {
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

    /// Finds the target and what it holds at the replica's key now.
    async fn replica(
        &self,
        name: &str,
        copy: &SourceCopy<'_, S>,
    ) -> Result<Replica<'_, S>, TargetFailure> {
        let Some(target) = self.targets.get(name) else {
            // Validation makes this impossible; fail loudly rather than skip a target.
            return Err(TargetFailure {
                target: name.to_owned(),
                bucket: String::new(),
                region: String::new(),
                error: StoreError::new(
                    Operation::CopyObject,
                    "",
                    &copy.object.key,
                    StoreErrorKind::Other,
                    format!("target {name:?} is not configured"),
                ),
            });
        };
        let started = Instant::now();
        let config = &target.config;
        let key = format!(
            "{}{}",
            config.key_prefix.as_deref().unwrap_or(""),
            copy.object.key
        );
        let existing = read_replica(&self.metrics, target, &key)
            .await
            .map_err(|error| target_failure(config, error))?;
        Ok(Replica {
            target,
            key,
            existing,
            started,
        })
    }

    async fn to_target(
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
        let mut job = Job {
            source: &copy.object,
            head: copy.head,
            replica: NewObject {
                bucket: config.bucket.clone(),
                key: key.clone(),
                headers: copy.head.headers.clone(),
                metadata: metadata.clone(),
                tags: copy.tags.to_vec(),
                storage_class: config.storage_class.clone(),
                sse_kms_key_id: config.sse_kms_key_id.clone(),
                expected_checksum: copy.head.checksum.clone(),
                condition: WriteCondition::None,
            },
        };

        for _ in 0..MAX_DECISIONS {
            match copy.decide(existing.as_ref()) {
                Decision::Present => {
                    debug!(message = "Target already holds this version.", target = %config.name, bucket = %config.bucket, key = %key);
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
                Decision::Write => {}
            }
            job.replica.condition = if config.conditional_writes && !crate::bug!(BlindWrites) {
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
                    config.copy_mode,
                    &job,
                )
            })
            .await;
            let e = match written {
                Ok((written, method)) => {
                    let report = report(written.etag, written.version_id, method);
                    info!(message = "Object replicated.", target = %config.name, bucket = %config.bucket, key = %key, method = ?method, duration_ms = report.duration_ms);
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
            warn!(message = "The target key changed under the write; reading it again.", target = %config.name, bucket = %config.bucket, key = %key, error = %e);
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

/// What the target holds at `key` now.
async fn read_replica<S: ObjectStore>(
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

/// A target and what it holds at the replica's key, before the copy.
struct Replica<'a, S> {
    target: &'a Target<S>,
    key: String,
    existing: Option<ObjectHead>,
    started: Instant,
}

fn target_failure(config: &TargetConfig, error: StoreError) -> TargetFailure {
    TargetFailure {
        target: config.name.clone(),
        bucket: config.bucket.clone(),
        region: config.region.clone(),
        error,
    }
}

/// Why the event is stale, when a target already holds a replica of this source from a newer
/// event.
fn newer_replica<S: ObjectStore>(
    copy: &SourceCopy<'_, S>,
    replicas: &[Result<Replica<'_, S>, TargetFailure>],
) -> Option<String> {
    replicas.iter().flatten().find_map(|replica| {
        let Decision::Newer(theirs) = copy.decide(replica.existing.as_ref()) else {
            return None;
        };
        Some(format!(
            "target {} already holds s3://{}/{} from a newer event (sequencer {theirs} > {})",
            replica.target.config.name,
            replica.target.config.bucket,
            replica.key,
            copy.sequencer.as_ref().map_or("", |s| s.as_str())
        ))
    })
}

/// What to do about one target, given what it holds at the replica's key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// It holds this source's bytes, proven: nothing to write.
    Present,
    /// It holds this source from a newer event (by sequencer): this event is stale.
    Newer(String),
    /// It holds a replica of another source object: a configuration conflict, never "newer".
    OtherSource(String),
    /// Write (conditionally on what was read).
    Write,
}

/// The source as read, shared by every target's copy.
struct SourceCopy<'a, S> {
    /// The store that reads this source (in its region).
    store: S,
    object: ObjectRef,
    key_digest: String,
    head: &'a ObjectHead,
    tags: &'a [Tag],
    sequencer: Option<Sequencer>,
}

impl<S> SourceCopy<'_, S> {
    /// The source's version id, as announced or as read.
    fn version(&self) -> Option<&String> {
        self.object
            .version_id
            .as_ref()
            .or(self.head.version_id.as_ref())
    }

    /// The source's user metadata plus the record of where the replica came from.
    fn replica_metadata(&self) -> std::collections::BTreeMap<String, String> {
        let mut metadata = self.head.metadata.clone();
        metadata.insert(META_SOURCE_BUCKET.to_owned(), self.object.bucket.clone());
        metadata.insert(META_SOURCE_KEY_SHA256.to_owned(), self.key_digest.clone());
        metadata.insert(META_SOURCE_ETAG.to_owned(), self.head.etag.clone());
        match self.version() {
            Some(version) => metadata.insert(META_SOURCE_VERSION.to_owned(), version.clone()),
            None => metadata.remove(META_SOURCE_VERSION),
        };
        match &self.sequencer {
            Some(sequencer) => {
                metadata.insert(META_SEQUENCER.to_owned(), sequencer.as_str().to_owned())
            }
            None => metadata.remove(META_SEQUENCER),
        };
        metadata
    }

    /// What to do about a target holding `existing` at the replica's key.
    ///
    /// An object that records no source at all is not a replica (someone else's): it is
    /// replaced, conditionally. A replica that records another source bucket or key is a
    /// conflict. Replicas written before the source bucket and key were recorded count as
    /// this source's. The sequencer orders events for one key (right-padded, compared as text,
    /// never as an integer); replicas without one never block a copy.
    fn decide(&self, existing: Option<&ObjectHead>) -> Decision {
        let Some(replica) = existing else {
            return Decision::Write;
        };
        let recorded = |key: &str| replica.metadata.get(key);
        if recorded(META_SOURCE_ETAG).is_none() {
            return Decision::Write;
        }
        let bucket = recorded(META_SOURCE_BUCKET);
        let digest = recorded(META_SOURCE_KEY_SHA256);
        if bucket.is_some_and(|b| *b != self.object.bucket)
            || digest.is_some_and(|d| *d != self.key_digest)
        {
            return Decision::OtherSource(format!(
                "the target key holds a replica of another source object (s3://{}/… , key digest {}), \
                 not of s3://{}/{}",
                bucket.map_or("?", String::as_str),
                digest.map_or("?", String::as_str),
                self.object.bucket,
                self.object.key
            ));
        }
        if let (Some(ours), Some(theirs)) = (&self.sequencer, recorded(META_SEQUENCER)) {
            if Sequencer::new(theirs.as_str()) > *ours {
                return Decision::Newer(theirs.clone());
            }
        }
        if self.is_replicated_in(replica) {
            Decision::Present
        } else {
            Decision::Write
        }
    }

    /// Whether `replica` holds exactly this source version: it records this source ETag and
    /// version, and its content is proven equal (MD5 ETags or full-object checksums). A replica
    /// whose content cannot be proven is written again, never trusted.
    fn is_replicated_in(&self, replica: &ObjectHead) -> bool {
        if crate::bug!(TrustRecordedMetadata) {
            return replica.metadata.get(META_SOURCE_ETAG) == Some(&self.head.etag)
                && replica.metadata.get(META_SOURCE_VERSION) == self.version()
                && replica.size == self.head.size;
        }
        replica.metadata.get(META_SOURCE_ETAG) == Some(&self.head.etag)
            && replica.metadata.get(META_SOURCE_VERSION) == self.version()
            && proof(self.head, replica) == Proof::Same
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ContentHeaders;
    use crate::testkit::memory::{MemoryStore, StoredObject};
    use std::collections::BTreeMap;

    fn target(name: &str, bucket: &str, store: MemoryStore) -> Target<MemoryStore> {
        Target {
            config: TargetConfig::new(name, bucket, "eu-west-1"),
            store,
        }
    }

    fn event(bucket: &str, key: &str, etag: &str) -> ObjectCreated {
        ObjectCreated {
            bucket: bucket.into(),
            key: key.into(),
            region: "us-east-1".into(),
            version_id: None,
            etag: Some(etag.into()),
            size: 5,
            sequencer: None,
            event_time: time::OffsetDateTime::now_utc(),
            event_name: "ObjectCreated:Put".into(),
        }
    }

    fn world() -> (MemoryStore, String) {
        let source = MemoryStore::new("daemon");
        source.create_bucket("src");
        source.create_bucket("eu");
        source.create_bucket("dr");
        let etag = source.put(
            "src",
            "a b.txt",
            b"hello",
            StoredObject {
                headers: ContentHeaders {
                    content_type: Some("text/plain".into()),
                    ..Default::default()
                },
                metadata: BTreeMap::from([("owner".into(), "data".into())]),
                tags: vec![Tag {
                    key: "t".into(),
                    value: "1".into(),
                }],
                ..Default::default()
            },
        );
        (source, etag)
    }

    #[tokio::test]
    async fn copies_content_headers_metadata_and_tags_then_skips_on_redelivery() {
        let (source, etag) = world();
        let replicator = Replicator::new(
            source.clone(),
            [
                target("eu", "eu", source.clone()),
                target("dr", "dr", source.principal("dr-role")),
            ],
        );
        let names = vec!["eu".to_owned(), "dr".to_owned()];
        let outcome = replicator
            .replicate(&event("src", "a b.txt", &etag), &names)
            .await;
        let Outcome::Replicated {
            targets,
            source: report,
        } = outcome
        else {
            panic!("expected success, got {outcome:?}");
        };
        assert_eq!(report.etag, etag);
        assert!(targets.iter().all(|t| t.method == Method::ServerSideCopy));
        let replica = source.get("dr", "a b.txt").expect("replica in dr");
        assert_eq!(replica.body, b"hello");
        assert_eq!(replica.headers.content_type.as_deref(), Some("text/plain"));
        assert_eq!(replica.metadata["owner"], "data");
        assert_eq!(replica.metadata[META_SOURCE_ETAG], etag);
        assert_eq!(
            replica.tags,
            [Tag {
                key: "t".into(),
                value: "1".into()
            }]
        );

        let copies = source.copies();
        let again = replicator
            .replicate(&event("src", "a b.txt", &etag), &names)
            .await;
        let Outcome::Replicated { targets, .. } = again else {
            panic!("expected success, got {again:?}");
        };
        assert!(
            targets.iter().all(|t| t.method == Method::AlreadyPresent),
            "{targets:?}"
        );
        assert_eq!(source.copies(), copies, "a redelivery must not copy again");
    }

    #[tokio::test]
    async fn a_failing_target_does_not_stop_the_healthy_one() {
        let (source, etag) = world();
        let dr = source.principal("dr-role");
        dr.deny("dr");
        let replicator = Replicator::new(
            source.clone(),
            [target("eu", "eu", source.clone()), target("dr", "dr", dr)],
        );
        let outcome = replicator
            .replicate(
                &event("src", "a b.txt", &etag),
                &["eu".to_owned(), "dr".to_owned()],
            )
            .await;
        let Outcome::TargetsFailed { succeeded, failed } = outcome else {
            panic!("expected a failure, got {outcome:?}");
        };
        assert_eq!(succeeded.len(), 1);
        assert_eq!(failed[0].target, "dr");
        assert_eq!(failed[0].error.kind, StoreErrorKind::AccessDenied);
        assert!(source.get("eu", "a b.txt").is_some());
    }

    #[tokio::test]
    async fn an_overwritten_source_supersedes_the_event() {
        let (source, _) = world();
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let outcome = replicator
            .replicate(&event("src", "a b.txt", "0123"), &["eu".to_owned()])
            .await;
        assert!(matches!(outcome, Outcome::Superseded { .. }), "{outcome:?}");
        assert!(source.get("eu", "a b.txt").is_none());
    }

    #[tokio::test]
    async fn an_older_event_never_overwrites_a_newer_replica() {
        let (source, etag) = world();
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let names = ["eu".to_owned()];
        let newer = ObjectCreated {
            sequencer: Some(Sequencer::new("0055AED6DCD90281E6")),
            ..event("src", "a b.txt", &etag)
        };
        let outcome = replicator.replicate(&newer, &names).await;
        assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
        assert_eq!(
            source.get("eu", "a b.txt").unwrap().metadata[META_SEQUENCER],
            "0055AED6DCD90281E6"
        );
        // The same source bytes announced by an older event (a versioned source re-read by
        // version id would look exactly like this): stale, nothing written.
        let copies = source.copies();
        let older = ObjectCreated {
            sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
            ..event("src", "a b.txt", &etag)
        };
        // Make the replica differ from this source version, so that only the sequencer can stop
        // the copy (not the "already present" check).
        let mut replica = source.get("eu", "a b.txt").unwrap();
        replica
            .metadata
            .insert(META_SOURCE_ETAG.into(), "another-version".into());
        source.put("eu", "a b.txt", &replica.body.clone(), replica);
        let outcome = replicator.replicate(&older, &names).await;
        assert!(
            matches!(&outcome, Outcome::Superseded { reason } if reason.contains("newer event")),
            "{outcome:?}"
        );
        assert_eq!(source.copies(), copies, "nothing older may be written");
    }

    /// A replica in `bucket` at `key` that records `source`'s ETag and has its size, but other
    /// bytes: what a copy that failed its check leaves behind.
    fn bad_replica(store: &MemoryStore, bucket: &str, key: &str, etag: &str) {
        store.put(
            bucket,
            key,
            b"HELLO",
            StoredObject {
                metadata: BTreeMap::from([(META_SOURCE_ETAG.into(), etag.into())]),
                ..Default::default()
            },
        );
    }

    #[tokio::test]
    async fn a_replica_that_failed_its_check_is_rewritten_not_counted_as_present() {
        let (source, etag) = world();
        bad_replica(&source, "eu", "a b.txt", &etag);
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let outcome = replicator
            .replicate(&event("src", "a b.txt", &etag), &["eu".to_owned()])
            .await;
        let Outcome::Replicated { targets, .. } = outcome else {
            panic!("expected success, got {outcome:?}");
        };
        assert_ne!(
            targets[0].method,
            Method::AlreadyPresent,
            "a replica of other bytes was announced as present"
        );
        assert_eq!(source.get("eu", "a b.txt").unwrap().body, b"hello");
    }

    /// A replicator that streams into `eu` of `memory`, through a target store that damages
    /// the bytes it writes when `damaging`.
    fn streaming_to_eu(
        memory: &MemoryStore,
        damaging: bool,
    ) -> Replicator<crate::testkit::faulty::FaultyStore<MemoryStore>> {
        use crate::testkit::faulty::FaultyStore;
        let store = FaultyStore::new(memory.clone());
        if damaging {
            store.corrupt_writes();
        }
        let mut eu = TargetConfig::new("eu", "eu", "eu-west-1");
        eu.copy_mode = crate::config::CopyMode::Stream;
        Replicator::new(
            FaultyStore::new(memory.clone()),
            [Target { config: eu, store }],
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_corrupted_stream_is_refused_then_rewritten_on_redelivery() {
        let (memory, etag) = world();
        let first = streaming_to_eu(&memory, true);
        let event = event("src", "a b.txt", &etag);
        let outcome = first.replicate(&event, &["eu".to_owned()]).await;
        assert!(
            matches!(outcome, Outcome::TargetsFailed { .. }),
            "corrupted bytes must fail: {outcome:?}"
        );
        // The redelivery, on a healthy connection, must not trust what the failed write left.
        let second = streaming_to_eu(&memory, false);
        let outcome = second.replicate(&event, &["eu".to_owned()]).await;
        let Outcome::Replicated { targets, .. } = outcome else {
            panic!("expected success, got {outcome:?}");
        };
        assert_eq!(targets[0].method, Method::StreamedCopy);
        assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"hello");
    }

    /// A source uploaded with a full-object CRC32C (another algorithm than the CRC64NVME S3
    /// gives a multipart upload created without one), larger than the multipart threshold.
    fn crc32c_source(store: &MemoryStore, size: usize) -> (String, ObjectCreated) {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let etag = store.put(
            "src",
            "big.bin",
            &body,
            StoredObject {
                checksum: Some((crate::store::ChecksumAlgorithm::Crc32c, true)),
                ..Default::default()
            },
        );
        let mut event = event("src", "big.bin", &etag);
        event.size = size as u64;
        (etag, event)
    }

    const SMALL_PARTS: crate::transfer::Limits = crate::transfer::Limits {
        multipart_threshold: 5 * 1024 * 1024,
        part_size: 5 * 1024 * 1024,
        max_inflight_bytes: 20 * 1024 * 1024,
    };

    #[tokio::test(start_paused = true)]
    async fn multipart_replicas_carry_the_sources_full_object_checksum_so_other_bytes_are_refused()
    {
        let (memory, _) = world();
        let (_, event) = crc32c_source(&memory, 11 * 1024 * 1024);
        // Streamed parts corrupted on the way: S3 must refuse to complete the object.
        let replicator = streaming_to_eu(&memory, true).with_limits(SMALL_PARTS);
        let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
        assert!(
            matches!(outcome, Outcome::TargetsFailed { .. }),
            "a multipart replica of other bytes was accepted: {outcome:?}"
        );
        assert!(memory.get("eu", "big.bin").is_none());
        assert_eq!(memory.open_uploads(), 0, "the refused upload is aborted");

        // Server-side, the replica gets the source's algorithm as a full-object checksum.
        let replicator = Replicator::new(memory.clone(), [target("dr", "dr", memory.clone())])
            .with_limits(SMALL_PARTS);
        let outcome = replicator.replicate(&event, &["dr".to_owned()]).await;
        let Outcome::Replicated { targets, .. } = outcome else {
            panic!("expected success, got {outcome:?}");
        };
        assert_eq!(targets[0].method, Method::MultipartCopy);
        let head = memory
            .head_object(
                &ObjectRef {
                    bucket: "dr".into(),
                    key: "big.bin".into(),
                    version_id: None,
                },
                None,
            )
            .await
            .unwrap()
            .unwrap();
        let checksum = head.checksum.expect("a checksum");
        assert_eq!(checksum.algorithm, crate::store::ChecksumAlgorithm::Crc32c);
        assert!(checksum.full_object);
        // And a redelivery proves it present by that checksum, without copying again.
        let copies = memory.copies();
        let again = replicator.replicate(&event, &["dr".to_owned()]).await;
        let Outcome::Replicated { targets, .. } = again else {
            panic!("expected success, got {again:?}");
        };
        assert_eq!(targets[0].method, Method::AlreadyPresent);
        assert_eq!(memory.copies(), copies);
    }

    /// A streamed multipart copy of a source without a full-object checksum: nothing S3 keeps
    /// can compare source and replica, so the daemon's own record of the bytes it sent must.
    #[tokio::test(start_paused = true)]
    async fn a_streamed_copy_damaged_on_the_way_fails_even_without_source_checksums() {
        let (memory, _) = world();
        let body: Vec<u8> = (0..11 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let etag = memory.put(
            "src",
            "big.bin",
            &body,
            StoredObject {
                // A composite checksum: not comparable with any replica's.
                checksum: Some((crate::store::ChecksumAlgorithm::Crc32, false)),
                ..Default::default()
            },
        );
        let mut event = event("src", "big.bin", &etag);
        event.size = body.len() as u64;
        let replicator = streaming_to_eu(&memory, true).with_limits(SMALL_PARTS);
        let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
        let Outcome::TargetsFailed { failed, .. } = outcome else {
            panic!("damaged bytes were accepted: {outcome:?}");
        };
        assert!(
            failed[0].error.message.contains("bytes sent"),
            "{}",
            failed[0].error
        );
    }

    /// Two daemons, two versions of one versioned key: the older event reads the target
    /// before the newer one writes, and its copy lands last.
    #[tokio::test(start_paused = true)]
    async fn an_older_version_landing_last_never_overwrites_the_newer_one() {
        use crate::testkit::faulty::FaultyStore;
        use std::time::Duration;
        let (memory, _) = world();
        memory.enable_versioning("src");
        let (old_etag, old_version) =
            memory.put_version("src", "k.csv", b"version one", StoredObject::default());
        let (new_etag, new_version) =
            memory.put_version("src", "k.csv", b"version two", StoredObject::default());
        let announce = |etag: &str, version: Option<String>, sequencer: &str| ObjectCreated {
            version_id: version,
            sequencer: Some(Sequencer::new(sequencer)),
            size: 11,
            ..event("src", "k.csv", etag)
        };
        let older = announce(&old_etag, old_version, "0055AED6DCD9028101");
        let newer = announce(&new_etag, new_version, "0055AED6DCD9028102");
        // Daemon A's copies reach S3 five seconds after they are sent.
        let slow = FaultyStore::new(memory.clone());
        slow.delay(Operation::CopyObject, Duration::from_secs(5));
        let a = SlowTargets {
            source: memory.clone(),
            slow,
        };
        let b = Replicator::new(memory.clone(), [target("eu", "eu", memory.clone())]);
        let names = ["eu".to_owned()];
        let (old_outcome, new_outcome) = tokio::join!(a.replicate(&older, &names), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            b.replicate(&newer, &names).await
        });
        assert!(
            matches!(new_outcome, Outcome::Replicated { .. }),
            "{new_outcome:?}"
        );
        assert!(
            matches!(old_outcome, Outcome::Superseded { .. }),
            "the older event must not be announced: {old_outcome:?}"
        );
        let replica = memory.get("eu", "k.csv").unwrap();
        assert_eq!(
            replica.body, b"version two",
            "the older copy overwrote the newer"
        );
        assert_eq!(replica.metadata[META_SEQUENCER], "0055AED6DCD9028102");
    }

    /// Daemon A of the race above: its target writes go through a slow store.
    struct SlowTargets {
        source: MemoryStore,
        slow: crate::testkit::faulty::FaultyStore<MemoryStore>,
    }

    impl SlowTargets {
        async fn replicate(&self, object: &ObjectCreated, names: &[String]) -> Outcome {
            let replicator = Replicator::new(
                crate::testkit::faulty::FaultyStore::new(self.source.clone()),
                [Target {
                    config: TargetConfig::new("eu", "eu", "eu-west-1"),
                    store: self.slow.clone(),
                }],
            );
            replicator.replicate(object, names).await
        }
    }

    #[tokio::test]
    async fn a_replica_of_another_source_is_a_conflict_never_newer_or_overwritten() {
        let (source, etag) = world();
        source.put(
            "eu",
            "a b.txt",
            b"other",
            StoredObject {
                metadata: BTreeMap::from([
                    (META_SOURCE_BUCKET.into(), "another-bucket".into()),
                    (META_SOURCE_KEY_SHA256.into(), source_key_digest("a b.txt")),
                    (META_SOURCE_ETAG.into(), "e".into()),
                    (META_SEQUENCER.into(), "FFFFFFFFFFFFFFFFFF".into()),
                ]),
                ..Default::default()
            },
        );
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let event = ObjectCreated {
            sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
            ..event("src", "a b.txt", &etag)
        };
        let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
        let Outcome::TargetsFailed { failed, .. } = outcome else {
            panic!("expected a conflict, got {outcome:?}");
        };
        assert_eq!(failed[0].error.kind, StoreErrorKind::ReplicaConflict);
        assert_eq!(source.get("eu", "a b.txt").unwrap().body, b"other");
    }

    #[tokio::test]
    async fn metadata_beyond_s3s_limit_fails_once_with_a_clear_error() {
        let (source, _) = world();
        let etag = source.put(
            "src",
            "m.txt",
            b"hello",
            StoredObject {
                metadata: BTreeMap::from([("note".into(), "x".repeat(1900))]),
                ..Default::default()
            },
        );
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let outcome = replicator
            .replicate(&event("src", "m.txt", &etag), &["eu".to_owned()])
            .await;
        let Outcome::SourceFailed(e) = outcome else {
            panic!("expected a failure, got {outcome:?}");
        };
        assert_eq!(e.kind, StoreErrorKind::MetadataTooLarge);
        assert!(e.message.contains("2048"), "{e}");
        assert_eq!(source.copies(), 0);
    }

    #[tokio::test]
    async fn sources_are_read_in_the_events_region() {
        let (source, etag) = world();
        // The daemon's home-region client may not read the source bucket; a client made for
        // the event's region can.
        let home = source.principal("home");
        home.deny("src");
        let eu_reader = source.clone();
        let replicator = Replicator::new(home, [target("dr", "dr", source.clone())])
            .with_regional_sources("us-east-1", move |region| {
                assert_eq!(region, "eu-central-1");
                eu_reader.clone()
            });
        let event = ObjectCreated {
            region: "eu-central-1".into(),
            ..event("src", "a b.txt", &etag)
        };
        let outcome = replicator.replicate(&event, &["dr".to_owned()]).await;
        assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn key_prefix_and_storage_class_apply() {
        let (source, etag) = world();
        let mut eu = target("eu", "eu", source.clone());
        eu.config.key_prefix = Some("replica/".into());
        eu.config.storage_class = Some("STANDARD_IA".into());
        let replicator = Replicator::new(source.clone(), [eu]);
        let outcome = replicator
            .replicate(&event("src", "a b.txt", &etag), &["eu".to_owned()])
            .await;
        assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
        let replica = source
            .get("eu", "replica/a b.txt")
            .expect("prefixed replica");
        assert_eq!(replica.storage_class.as_deref(), Some("STANDARD_IA"));
    }
}
