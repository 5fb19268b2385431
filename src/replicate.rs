//! Copying one object to every target of a rule, and checking what was written.
//!
//! The source is read once (`HeadObject` pinned to the announced version and ETag, then its
//! tags when it has any); each target then gets a server-side copy that carries the content
//! headers, user metadata and tags explicitly, plus the source ETag, version and sequencer in
//! the replica's metadata. That record is what makes a redelivery cheap: a target that already
//! holds this exact source version is reported `already_present` and not copied again.
//! How the bytes move (CopyObject, multipart UploadPartCopy, streamed) is [`crate::transfer`]'s job.

use std::collections::HashMap;
use std::time::Instant;

use backon::{ExponentialBuilder, Retryable};
use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::error::Disposition;

use crate::config::TargetConfig;
use crate::event::{ObjectCreated, Sequencer};
use crate::publish::{Method, SourceReport, TargetReport};
use crate::store::{
    NewObject, ObjectHead, ObjectRef, ObjectStore, StoreError, StoreErrorKind, Tag, META_SEQUENCER,
    META_SOURCE_ETAG, META_SOURCE_VERSION,
};
use crate::transfer::{Job, Limits, Transfer};

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

/// Copies objects from the source store to the targets.
#[derive(Debug)]
pub struct Replicator<S> {
    source: S,
    targets: HashMap<String, Target<S>>,
    transfer: Transfer,
}

impl<S: ObjectStore> Replicator<S> {
    /// A replicator with the default `[copy]` limits; see [`with_limits`](Self::with_limits).
    pub fn new(source: S, targets: impl IntoIterator<Item = Target<S>>) -> Self {
        Self {
            source,
            targets: targets
                .into_iter()
                .map(|t| (t.config.name.clone(), t))
                .collect(),
            transfer: Transfer::default(),
        }
    }

    /// The store the sources are read from.
    pub fn source(&self) -> &S {
        &self.source
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

    /// Replicates `object` to each named target, concurrently.
    pub async fn replicate(&self, object: &ObjectCreated, target_names: &[String]) -> Outcome {
        let source_ref = ObjectRef {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
        };
        let head =
            match with_retries(|| self.source.head_object(&source_ref, object.etag.as_deref()))
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
        let _in_flight = crate::metrics::BytesInFlight::hold(
            head.size.saturating_mul(target_names.len() as u64),
        );
        let tags = if head.tag_count > 0 {
            match with_retries(|| self.source.get_object_tagging(&source_ref)).await {
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
            object: source_ref,
            head: &head,
            tags: &tags,
            sequencer: source.sequencer.as_deref(),
        };
        // Look at every target first: one that already holds a newer version from this daemon
        // makes the whole event stale, and nothing older may be written anywhere.
        let replicas = join_all(target_names.iter().map(|name| self.replica(name, &copy))).await;
        if let Some(reason) = newer_replica(object, &replicas) {
            return Outcome::Superseded { reason };
        }
        let results = join_all(
            replicas
                .into_iter()
                .map(|replica| async { self.to_target(replica?, &copy).await }),
        )
        .await;

        let mut succeeded = Vec::new();
        let mut failed = Vec::new();
        for result in results {
            match result {
                Ok(report) => succeeded.push(report),
                Err(failure) => failed.push(failure),
            }
        }
        if failed.is_empty() {
            Outcome::Replicated {
                source,
                targets: succeeded,
            }
        } else {
            Outcome::TargetsFailed { succeeded, failed }
        }
    }

    /// Finds the target and what it holds at the replica's key now.
    async fn replica(
        &self,
        name: &str,
        copy: &SourceCopy<'_>,
    ) -> Result<Replica<'_, S>, TargetFailure> {
        let Some(target) = self.targets.get(name) else {
            // Validation makes this impossible; fail loudly rather than skip a target.
            return Err(TargetFailure {
                target: name.to_owned(),
                bucket: String::new(),
                region: String::new(),
                error: StoreError::new(
                    crate::store::Operation::CopyObject,
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
        let replica_ref = ObjectRef {
            bucket: config.bucket.clone(),
            key: key.clone(),
            version_id: None,
        };
        let existing = with_retries(|| target.store.head_object(&replica_ref, None))
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
        copy: &SourceCopy<'_>,
    ) -> Result<TargetReport, TargetFailure> {
        let Replica {
            target,
            key,
            existing,
            started,
        } = replica;
        let config = &target.config;
        let fail = |error: StoreError| target_failure(config, error);
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

        if let Some(existing) = existing.filter(|e| copy.is_replicated_in(e)) {
            debug!(message = "Target already holds this version.", target = %config.name, bucket = %config.bucket, key = %key);
            return Ok(report(
                existing.etag,
                existing.version_id,
                Method::AlreadyPresent,
            ));
        }

        let job = Job {
            source: &copy.object,
            head: copy.head,
            replica: NewObject {
                bucket: config.bucket.clone(),
                key: key.clone(),
                headers: copy.head.headers.clone(),
                metadata: copy.replica_metadata(),
                tags: copy.tags.to_vec(),
                storage_class: config.storage_class.clone(),
                sse_kms_key_id: config.sse_kms_key_id.clone(),
                expected_checksum: None,
            },
        };
        // A failed copy was aborted whole (no upload left behind), so retrying it is safe.
        let (written, method) = with_retries(|| {
            self.transfer.write(
                &self.source,
                &target.store,
                &config.name,
                config.copy_mode,
                &job,
            )
        })
        .await
        .map_err(fail)?;
        let report = report(written.etag, written.version_id, method);
        info!(message = "Object replicated.", target = %config.name, bucket = %config.bucket, key = %key, method = ?method, duration_ms = report.duration_ms);
        Ok(report)
    }
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

/// Why the event is stale, when a target already holds a replica of a newer event.
///
/// The sequencer recorded in the replica's metadata orders events for one key (DESIGN.md:
/// right-pad, compare as text, never as an integer). Replicas without one (written before, or
/// from events without a sequencer) never block a copy.
fn newer_replica<S>(
    object: &ObjectCreated,
    replicas: &[Result<Replica<'_, S>, TargetFailure>],
) -> Option<String> {
    let ours = object.sequencer.as_ref()?;
    replicas.iter().flatten().find_map(|replica| {
        let recorded = replica.existing.as_ref()?.metadata.get(META_SEQUENCER)?;
        let theirs = Sequencer::new(recorded.as_str());
        (theirs > *ours).then(|| {
            format!(
                "target {} already holds s3://{}/{} from a newer event (sequencer {} > {})",
                replica.target.config.name,
                replica.target.config.bucket,
                replica.key,
                theirs.as_str(),
                ours.as_str()
            )
        })
    })
}

/// Retries a store call that failed for a passing reason (throttling, 5xx, timeouts), with
/// exponential backoff and jitter. The SDK has already retried the HTTP attempts underneath;
/// this layer retries the operation, a few times, before the message is handed back to SQS.
pub async fn with_retries<T, F, Fut>(call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    call.retry(retry_policy())
        .when(|e: &StoreError| e.disposition() == Disposition::Retry)
        .notify(|e: &StoreError, delay| {
            crate::metrics::record_retry(&e.operation.to_string());
            warn!(message = "Retrying after a transient failure.", error = %e, delay_ms = delay.as_millis() as u64);
        })
        .await
}

/// Exponential backoff with jitter, capped: about 3 s in all before giving the message back.
pub fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(4)
        .with_jitter()
}

/// The source as read, shared by every target's copy.
struct SourceCopy<'a> {
    object: ObjectRef,
    head: &'a ObjectHead,
    tags: &'a [Tag],
    sequencer: Option<&'a str>,
}

impl SourceCopy<'_> {
    /// The source's user metadata plus the record of where the replica came from.
    fn replica_metadata(&self) -> std::collections::BTreeMap<String, String> {
        let mut metadata = self.head.metadata.clone();
        metadata.insert(META_SOURCE_ETAG.to_owned(), self.head.etag.clone());
        match self
            .object
            .version_id
            .as_ref()
            .or(self.head.version_id.as_ref())
        {
            Some(version) => metadata.insert(META_SOURCE_VERSION.to_owned(), version.clone()),
            None => metadata.remove(META_SOURCE_VERSION),
        };
        match self.sequencer {
            Some(sequencer) => metadata.insert(META_SEQUENCER.to_owned(), sequencer.to_owned()),
            None => metadata.remove(META_SEQUENCER),
        };
        metadata
    }

    /// Whether `replica` was made from exactly this source version.
    fn is_replicated_in(&self, replica: &ObjectHead) -> bool {
        let recorded_version = replica.metadata.get(META_SOURCE_VERSION);
        let source_version = self
            .object
            .version_id
            .as_ref()
            .or(self.head.version_id.as_ref());
        replica.metadata.get(META_SOURCE_ETAG) == Some(&self.head.etag)
            && recorded_version == source_version
            && replica.size == self.head.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, StoredObject};
    use crate::store::ContentHeaders;
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
