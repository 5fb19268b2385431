//! Delta tables (docs/design.md, "Tables"): under a rule with `table_format = "delta"`, a
//! commit is copied only once every file it adds and the commit before it are in every target
//! of the rule, a checkpoint (or `N.crc`, or a compacted log) only once its commit is, and
//! `_last_checkpoint` only once the commit and checkpoint it names are ([`crate::table`]).
//!
//! A held object waits the way a partition does: a re-check message (`"hold": "table"`) is sent
//! to the queue with a growing delay and the object's own message deleted, so that waiting
//! spends no receive count; past the rule's `complete_deadline_secs` one
//! `table_commit_stalled` alert names what is missing. After a commit was copied and its
//! completion published, `s3-replicator.table-committed.v1` follows.

use backon::Retryable;
use tracing::{error, info};

use super::{retry_policy, Handling, Pipeline, Verdict};
use crate::config::RuleConfig;
use crate::event::{ObjectCreated, PartitionRecheck};
use crate::publish::{
    Alert, AlertKind, AlertObject, CompletionEvent, PublishError, Publisher, TableCommittedEvent,
    TableTarget, TABLE_COMMITTED_SCHEMA,
};
use crate::queue::Message;
use crate::store::{ObjectRef, ObjectStore, Operation, StoreError, StoreErrorKind};
use crate::table::{self, Kind};

/// Target reads in flight for one held object.
const READS_IN_FLIGHT: usize = 16;
/// Missing files named in an alert.
const MISSING_SHOWN: usize = 10;

const STALLED_ACTION: &str = "A Delta commit (or checkpoint) is held because files it needs are \
    not in every target. Look for copy_failed alerts about them, or files written without an \
    event; upload them again or run `s3-replicator backfill --prefix` for the table. A file \
    deleted from the source since (VACUUM) can never arrive: the held object then ends in the \
    dead-letter queue a day after this deadline. The object is checked again every few minutes \
    and copied as soon as its files are there.";

/// A commit that may be copied now, and what it adds.
pub(super) struct ReadyCommit {
    root: String,
    version: u64,
    commit: table::Commit,
}

/// Whether a table object may be copied now.
pub(super) enum Gate {
    /// Copy it; for a commit, what to announce once it is copied.
    Open(Option<ReadyCommit>),
    /// Not yet (held), or the check failed: this verdict.
    Closed(Verdict),
}

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    /// For a rule with `table_format = "delta"`: whether `object` may be copied now.
    /// `previous` is the re-check message being handled, if this is not the first check.
    pub(super) async fn table_gate(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
        previous: Option<&PartitionRecheck>,
    ) -> Gate {
        let Some(held) = table::classify(&object.key).filter(|t| t.held()) else {
            return Gate::Open(None);
        };
        if crate::bug!(TablesUnordered) {
            return Gate::Open(None);
        }
        match self.needs(object, &held).await {
            // The object changed or went away since its event: not held; the copy decides
            // (superseded, or source missing) as for any object.
            Err(e)
                if matches!(
                    e.kind,
                    StoreErrorKind::PreconditionFailed | StoreErrorKind::NotFound
                ) =>
            {
                Gate::Open(None)
            }
            Ok((needed, commit)) => match self.missing(rule, &needed).await {
                Ok(missing) if missing.is_empty() => Gate::Open(commit),
                Ok(missing) => Gate::Closed(
                    self.hold_table(message, object, rule, previous, &missing)
                        .await,
                ),
                Err(e) => Gate::Closed(self.table_failed(message, object, rule, &e).await),
            },
            Err(e) => Gate::Closed(self.table_failed(message, object, rule, &e).await),
        }
    }

    /// The keys `object` waits for (with the size the log records, when it does), and for a
    /// commit what it adds.
    async fn needs(
        &self,
        object: &ObjectCreated,
        held: &table::TableObject,
    ) -> Result<(Vec<(String, Option<u64>)>, Option<ReadyCommit>), StoreError> {
        let root = &held.root;
        let invalid = |why: String| {
            StoreError::new(
                Operation::GetObject,
                &object.bucket,
                &object.key,
                StoreErrorKind::Other,
                why,
            )
        };
        Ok(match held.kind {
            Kind::Commit(version) => {
                let body = self.read_source(object).await?;
                let commit = table::parse_commit(root, &object.bucket, &body).map_err(invalid)?;
                let mut needed: Vec<(String, Option<u64>)> = commit
                    .needs
                    .iter()
                    .map(|n| (n.key.clone(), n.size))
                    .collect();
                if version > 0 {
                    // The commit before it, unless the source itself no longer has it (log
                    // clean-up after a checkpoint).
                    let previous = table::commit_key(root, version - 1);
                    if self.source_has(object, &previous).await? {
                        needed.push((previous, None));
                    }
                }
                let ready = ReadyCommit {
                    root: root.clone(),
                    version,
                    commit,
                };
                (needed, Some(ready))
            }
            Kind::Checkpoint(version) if object.key.ends_with(".json") => {
                // A v2 checkpoint in JSON: its commit, and the sidecars it references.
                let body = self.read_source(object).await?;
                let mut needed = vec![(table::commit_key(root, version), None)];
                let sidecars = table::checkpoint_sidecars(root, &body).map_err(invalid)?;
                needed.extend(sidecars.into_iter().map(|s| (s, None)));
                (needed, None)
            }
            Kind::Checkpoint(version) | Kind::Crc(version) | Kind::Compacted(version) => {
                (vec![(table::commit_key(root, version), None)], None)
            }
            Kind::LastCheckpoint => {
                let body = self.read_source(object).await?;
                let (version, files) =
                    table::parse_last_checkpoint(root, &body).map_err(invalid)?;
                let mut needed = vec![(table::commit_key(root, version), None)];
                needed.extend(files.into_iter().map(|f| (f, None)));
                (needed, None)
            }
            Kind::Free => (Vec::new(), None),
        })
    }

    /// The bytes of the event's object, pinned to its version and ETag.
    async fn read_source(&self, object: &ObjectCreated) -> Result<bytes::Bytes, StoreError> {
        let store = self.replicator.source_in(&object.region);
        let source = ObjectRef {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
        };
        let size = match object.size {
            0 => match store.head_object(&source, object.etag.as_deref()).await? {
                Some(head) => head.size,
                None => 0,
            },
            size => size,
        };
        if size == 0 {
            return Ok(bytes::Bytes::new());
        }
        crate::retry::with_retries(self.metrics(), || {
            store.get_object_range(&source, object.etag.as_deref(), 0..size)
        })
        .await
    }

    async fn source_has(&self, object: &ObjectCreated, key: &str) -> Result<bool, StoreError> {
        let store = self.replicator.source_in(&object.region);
        let other = ObjectRef {
            bucket: object.bucket.clone(),
            key: key.to_owned(),
            version_id: None,
        };
        Ok(
            crate::retry::with_retries(self.metrics(), || store.head_object(&other, None))
                .await?
                .is_some(),
        )
    }

    /// `target: key` for every needed key a target of `rule` does not hold (or holds with
    /// another size than the log records).
    async fn missing(
        &self,
        rule: &RuleConfig,
        needed: &[(String, Option<u64>)],
    ) -> Result<Vec<String>, StoreError> {
        let pairs: Vec<(&str, &str, Option<u64>)> = needed
            .iter()
            .flat_map(|(key, size)| {
                rule.targets
                    .iter()
                    .map(move |t| (t.as_str(), key.as_str(), *size))
            })
            .collect();
        let mut missing = Vec::new();
        for chunk in pairs.chunks(READS_IN_FLIGHT) {
            let reads = chunk
                .iter()
                .map(|&(target, key, size)| self.lacks(target, key, size));
            for read in futures::future::join_all(reads).await {
                missing.extend(read?);
            }
        }
        Ok(missing)
    }

    /// `target: key` when `target` does not hold `key` (with `size`, when known).
    async fn lacks(
        &self,
        target: &str,
        key: &str,
        size: Option<u64>,
    ) -> Result<Option<String>, StoreError> {
        let head = self.replicator.replica_head(target, key).await?;
        let held = head.is_some_and(|h| size.is_none_or(|s| s == h.size));
        Ok((!held).then(|| format!("{target}: {key}")))
    }

    /// Holds `object`: a re-check message later, an alert past the deadline.
    async fn hold_table(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
        previous: Option<&PartitionRecheck>,
        missing: &[String],
    ) -> Verdict {
        let mut wait = super::partitions::Wait::of(self.clock.now(), previous, rule);
        let (checks, age) = (wait.checks, wait.age);
        info!(message = "Table object held: what it needs is not in every target yet.", rule = %rule.name, bucket = %object.bucket, key = %object.key, missing = missing.len(), checks, age_secs = age.as_secs());
        let stalled = || {
            let shown: Vec<String> = missing.iter().take(MISSING_SHOWN).cloned().collect();
            let mut alert = Alert::new(
                AlertKind::TableCommitStalled,
                format!(
                    "s3://{}/{} is held: {} file(s) it needs are not in every target {}s after it was first checked: {}",
                    object.bucket,
                    object.key,
                    missing.len(),
                    age.as_secs(),
                    shown.join(", ")
                ),
                STALLED_ACTION,
            )
            .rule(&rule.name)
            .source(AlertObject::from_event(object))
            .message_id(&message.id);
            alert.example_keys = shown;
            alert
        };
        if wait.given_up() {
            error!(message = "Table object still held a day past its deadline; its re-check goes to the dead-letter queue.", rule = %rule.name, key = %object.key, missing = missing.len());
            self.alert(stalled()).await;
            return Verdict::Keep;
        }
        if wait.alert_due() {
            self.alert(stalled()).await;
        }
        wait.recheck(rule, object, true)
    }

    async fn table_failed(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
        e: &StoreError,
    ) -> Verdict {
        let disposition = e.disposition();
        error!(message = "Table object could not be checked.", rule = %rule.name, key = %object.key, error = %e, %disposition);
        if Self::alerts_on(message, disposition) {
            let alert = Alert::new(AlertKind::TableCommitStalled, e.to_string(), e.advice())
                .rule(&rule.name)
                .source(AlertObject::from_event(object))
                .message_id(&message.id);
            self.alert(alert).await;
        }
        Verdict::of(disposition)
    }

    /// A commit was copied to every target and its completion published: announce the table
    /// at that version.
    pub(super) async fn table_committed(
        &self,
        at: &Handling<'_>,
        ready: &ReadyCommit,
        completion: &CompletionEvent,
    ) -> Verdict {
        let event = TableCommittedEvent {
            schema: TABLE_COMMITTED_SCHEMA,
            rule: at.rule.name.clone(),
            source_bucket: at.object.bucket.clone(),
            table: ready.root.clone(),
            version: ready.version,
            files_added: ready.commit.files_added,
            bytes_added: ready.commit.bytes_added,
            targets: completion
                .targets
                .iter()
                .map(|t| TableTarget {
                    name: t.name.clone(),
                    bucket: t.bucket.clone(),
                    region: t.region.clone(),
                    table: t
                        .key
                        .strip_suffix(&at.object.key[ready.root.len()..])
                        .unwrap_or(&ready.root)
                        .to_owned(),
                })
                .collect(),
            sequencer: completion.source.sequencer.clone(),
            completed_at: completion.completed_at,
            latency_ms: completion.latency_ms,
        };
        let published = (|| self.publisher.inner().publish_table_committed(&event))
            .retry(retry_policy())
            .when(|e: &PublishError| e.transient)
            .await;
        match published {
            Ok(()) => {
                info!(message = "Table commit published.", rule = %event.rule, bucket = %event.source_bucket, table = %event.table, version = event.version, files_added = event.files_added);
                Verdict::Delete
            }
            Err(e) => {
                error!(message = "Table commit could not be published.", rule = %event.rule, table = %event.table, version = event.version, error = %e);
                let disposition = if e.transient {
                    crate::error::Disposition::Retry
                } else {
                    crate::error::Disposition::Fail
                };
                if Self::alerts_on(at.message, disposition) {
                    self.alert(at.alert(
                        AlertKind::CompletionUnpublished,
                        e.to_string(),
                        super::COMPLETION_UNPUBLISHED_ACTION,
                    ))
                    .await;
                }
                Verdict::of(disposition)
            }
        }
    }
}
