//! Deterministic simulation: the daemon's real code (daemon loop, pipeline, replicator,
//! transfer) against a simulated world, one seed at a time, every history checked against the
//! completion promise.
//!
//! The world runs on a single-threaded tokio runtime with a paused clock, so the seed alone
//! decides the workload, the faults and (through the runtime's and backon's seeded jitter) the
//! interleavings. It is built from the project's in-memory fakes behind its own traits:
//! `MemoryStore` (S3: versioned and unversioned buckets, ETags, full-object checksums,
//! multipart uploads, conditional writes, listings) under a fault layer, `MemoryQueue` (SQS:
//! visibility timeouts, receive counts, a redrive policy, reordering) and a publisher that
//! records each event with its simulated instant and can act as a FIFO topic (deduplication
//! by ID within five minutes). `tests/replication/contract.rs` holds the fakes to the emulator.
//!
//! What it does not model: objects large enough for several parts (the copy limits are
//! lowered so that multipart uploads of one part run on small objects), SSE-KMS, object tags,
//! other regions and credentials, the SDK's own retries and timeouts (faults are injected at
//! the trait seam), deletes of one version (only deletes and delete markers of the current
//! object are).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use s3_replicator::config::Deletes;
use s3_replicator::config::{CopyMode, RuleConfig, TableFormat, TargetConfig};
use s3_replicator::daemon::{run_with_deadline, MessageDeadline, Settings};
use s3_replicator::event::{decode, Notification};
use s3_replicator::pipeline::Pipeline;
use s3_replicator::publish::{
    Alert, CompletionEvent, DeleteResult, DeletionEvent, PrefixCompletedEvent, PublishError,
    Publisher, TableCommittedEvent,
};
use s3_replicator::replicate::{Replicator, Target};
use s3_replicator::route::Router;
use s3_replicator::store::{
    source_key_digest, META_SEQUENCER, META_SOURCE_BUCKET, META_SOURCE_KEY_SHA256,
};
use s3_replicator::store::{
    CompletedPart, CopyRequest, Deleted, ListPage, NewObject, ObjectHead, ObjectRef, ObjectStore,
    Operation, PartCopyRequest, StoreError, StoreErrorKind, Tag, UploadRef, WriteCondition,
    Written,
};
use s3_replicator::testkit::memory::{Lacks, MemoryStore, StoredObject};
use s3_replicator::testkit::queue::MemoryQueue;
use s3_replicator::transfer::Limits;
use serde_json::Value;
use tokio::time::Instant;

pub use s3_replicator::bugs::Bug;

/// How long after its last action the world may take to become quiet.
const QUIET_LIMIT: Duration = Duration::from_secs(2 * 24 * 3600);
/// `maxReceiveCount` of the queue's redrive policy.
const MAX_RECEIVES: u32 = 5;
/// `alerts.window_secs` of the simulated daemons.
const ALERT_WINDOW: Duration = Duration::from_secs(60);
/// A stall lasts this long: past the message deadline below.
const STALL: Duration = Duration::from_secs(600);
const MESSAGE_DEADLINE: Duration = Duration::from_secs(120);
/// SNS FIFO topics drop a message whose deduplication ID was seen this recently.
const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);

/// What one seed produced.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub violations: Vec<String>,
    /// Every step, with its simulated instant.
    pub history: Vec<String>,
    pub completions: usize,
    pub dead_letters: usize,
}

impl Report {
    /// The violations, each with the seed and the last lines of the history about its key.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for violation in &self.violations {
            let _ = writeln!(out, "seed {}: {violation}", self.seed);
            let key = violation.split('`').nth(1).unwrap_or_default().to_owned();
            let related: Vec<&String> = self
                .history
                .iter()
                .filter(|line| !key.is_empty() && line.contains(&key))
                .collect();
            for line in related.iter().rev().take(12).rev() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

/// Runs seed `seed` (with `bug` switched back on, if any) on a runtime of its own.
pub fn run(seed: u64, bug: Option<Bug>) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    // backon's jitter draws from the thread's generator: seeded, it replays.
    fastrand::seed(seed);
    s3_replicator::bugs::set(bug);
    let report = runtime.block_on(simulate(seed));
    s3_replicator::bugs::set(None);
    report
}

// ---------------------------------------------------------------------------------------------
// The record of what happened

#[derive(Debug, Clone)]
struct Put {
    at: Instant,
    bucket: String,
    key: String,
    etag: String,
    version: Option<String>,
    sequencer: String,
}

/// A delete of a source object (a delete marker in a versioned bucket).
#[derive(Debug, Clone)]
struct Delete {
    at: Instant,
    bucket: String,
    key: String,
    sequencer: String,
}

#[derive(Debug, Default)]
struct Record {
    start: Option<Instant>,
    history: Vec<String>,
    violations: Vec<String>,
    /// Bodies by ETag (the fake's ETags are derived from the content).
    contents: HashMap<String, Vec<u8>>,
    puts: Vec<Put>,
    deletes: Vec<Delete>,
    completions: Vec<(Instant, CompletionEvent)>,
    deletions: Vec<(Instant, DeletionEvent)>,
    /// When the object at (bucket, key) was last written, by any store handle.
    landed: HashMap<(String, String), Instant>,
    prefixes: Vec<(Instant, PrefixCompletedEvent)>,
    /// Table-committed events, as published.
    tables: Vec<(Instant, TableCommittedEvent)>,
    /// What each commit (by key) needs in a target first, as its writer knows it.
    table_needs: HashMap<String, Vec<String>>,
    /// What a `_last_checkpoint` naming version N needs in a target first.
    last_checkpoint_needs: HashMap<u64, Vec<String>>,
    /// Alerts, with the daemon instance that sent each.
    alerts: Vec<(Instant, usize, Alert)>,
}

#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Record>>);

impl Log {
    fn with<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn note(&self, line: impl AsRef<str>) {
        self.with(|r| {
            let since = r.start.map_or(Duration::ZERO, |s| Instant::now() - s);
            r.history
                .push(format!("[{:>9.3}s] {}", since.as_secs_f64(), line.as_ref()));
        });
    }

    fn violation(&self, what: String) {
        self.note(format!("VIOLATION {what}"));
        self.with(|r| r.violations.push(what));
    }
}

// ---------------------------------------------------------------------------------------------
// S3: the in-memory store under seeded faults

/// Fault probabilities of one store, per call (per mille).
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    /// `SlowDown` before the call.
    throttle: u32,
    /// A 500 or a reset before the call.
    fail: u32,
    /// The write lands, its answer is lost.
    lost_answer: u32,
    /// The call stalls past every deadline, then goes through.
    stall: u32,
    /// Written bytes are damaged on the way (one flipped, or cut short).
    corrupt: u32,
}

#[derive(Debug, Clone)]
struct SimStore {
    inner: MemoryStore,
    name: String,
    faults: Faults,
    rng: Arc<Mutex<fastrand::Rng>>,
    log: Log,
    /// Writes of keys under this prefix are denied: a failure that never passes.
    poison: Option<String>,
    /// Refuses every conditional write (a store without them).
    rejects_conditions: bool,
}

impl SimStore {
    fn roll(&self, per_mille: u32) -> bool {
        per_mille > 0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .u32(0..1000)
                < per_mille
    }

    fn error(
        &self,
        op: Operation,
        bucket: &str,
        key: &str,
        kind: StoreErrorKind,
        what: &str,
    ) -> StoreError {
        self.log.note(format!(
            "{} {op} {bucket}/`{key}`: injected {what}",
            self.name
        ));
        StoreError::new(op, bucket, key, kind, format!("injected: {what}"))
    }

    /// Faults that strike before a call reaches the store.
    async fn before(
        &self,
        op: Operation,
        bucket: &str,
        key: &str,
        write: bool,
    ) -> Result<(), StoreError> {
        // Every request takes a while: what lets two daemons' steps interleave.
        let latency = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .u64(1..40);
        tokio::time::sleep(Duration::from_millis(latency)).await;
        if self.roll(self.faults.stall) {
            self.log
                .note(format!("{} {op} {bucket}/`{key}`: stalls", self.name));
            tokio::time::sleep(STALL).await;
        }
        if self.roll(self.faults.throttle) {
            return Err(self.error(op, bucket, key, StoreErrorKind::Throttled, "SlowDown"));
        }
        if self.roll(self.faults.fail) {
            return Err(self.error(op, bucket, key, StoreErrorKind::Transient, "500 / reset"));
        }
        if write && self.poison.as_deref().is_some_and(|p| key.contains(p)) {
            return Err(self.error(
                op,
                bucket,
                key,
                StoreErrorKind::AccessDenied,
                "AccessDenied",
            ));
        }
        Ok(())
    }

    /// Faults that strike after a write landed: its answer is lost.
    fn after<T: std::fmt::Debug>(
        &self,
        op: Operation,
        bucket: &str,
        key: &str,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &result {
            Ok(written) => {
                self.log.note(format!(
                    "{} {op} {bucket}/`{key}` -> {written:?}",
                    self.name
                ));
                self.log.with(|r| {
                    r.landed
                        .insert((bucket.to_owned(), key.to_owned()), Instant::now())
                });
                self.check_table_commit(bucket, key);
            }
            Err(e) => self.log.note(format!(
                "{} {op} {bucket}/`{key}` failed: {:?} {}",
                self.name, e.kind, e.message
            )),
        }
        if result.is_ok() && self.roll(self.faults.lost_answer) {
            return Err(self.error(
                op,
                bucket,
                key,
                StoreErrorKind::Transient,
                "lost answer after the write landed",
            ));
        }
        result
    }

    fn check_conditions(
        &self,
        op: Operation,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<(), StoreError> {
        if self.rejects_conditions && *condition != WriteCondition::None {
            return Err(self.error(
                op,
                bucket,
                key,
                StoreErrorKind::Other,
                "NotImplemented: conditional writes",
            ));
        }
        Ok(())
    }

    /// An object of the table that lands in a target: a commit finds there every file it
    /// adds and the commit before it ("a target's commit N implies its files"), a checkpoint its
    /// commit, `_last_checkpoint` the commit and checkpoint it names. What each needs is what
    /// the writer recorded, not what the daemon's parser says.
    fn check_table_commit(&self, bucket: &str, key: &str) {
        if bucket == TABLE_BUCKET || !key.starts_with(TABLE_ROOT) {
            return;
        }
        let Some(name) = key.strip_prefix(&format!("{TABLE_ROOT}_delta_log/")) else {
            return;
        };
        let Some(written) = self.inner.get(bucket, key) else {
            return;
        };
        let needed = if name == "_last_checkpoint" {
            let version = serde_json::from_slice::<Value>(&written.body)
                .ok()
                .and_then(|v| v.get("version").and_then(Value::as_u64));
            let needs =
                version.and_then(|v| self.log.with(|r| r.last_checkpoint_needs.get(&v).cloned()));
            let Some(needs) = needs else {
                self.log.violation(format!(
                    "{} wrote {bucket}/`{key}`, which names no checkpoint written",
                    self.name
                ));
                return;
            };
            needs
        } else if name.contains(".checkpoint.") {
            vec![s3_replicator::table::commit_key(
                TABLE_ROOT,
                name[..20].parse().unwrap_or(u64::MAX),
            )]
        } else {
            let Some(needs) = self.log.with(|r| r.table_needs.get(key).cloned()) else {
                return;
            };
            needs
        };
        for file in needed {
            if self.inner.get(bucket, &file).is_none() {
                self.log.violation(format!(
                    "{} wrote {bucket}/`{key}` while {bucket} lacks `{file}`",
                    self.name
                ));
            }
        }
    }

    /// A replica may be removed only for a delete of its source key newer than the write it was
    /// made from: never a newer put's replica.
    fn check_removal(&self, bucket: &str, key: &str, replica: &StoredObject) {
        // The capability probe's own object (a target on another store).
        if replica.metadata.contains_key("s3r-probe") {
            return;
        }
        let (Some(source_bucket), Some(digest)) = (
            replica.metadata.get(META_SOURCE_BUCKET),
            replica.metadata.get(META_SOURCE_KEY_SHA256),
        ) else {
            self.log.violation(format!(
                "{} deleted {bucket}/`{key}`, which is no replica",
                self.name
            ));
            return;
        };
        let made = replica
            .metadata
            .get(META_SEQUENCER)
            .cloned()
            .unwrap_or_default();
        let justified = self.log.with(|r| {
            r.deletes.iter().any(|d| {
                d.bucket == *source_bucket
                    && source_key_digest(&d.key) == *digest
                    && d.sequencer > made
            })
        });
        if !justified {
            self.log.violation(format!(
                "{} deleted {bucket}/`{key}`, a replica of seq {made}, which no newer delete of its source justifies",
                self.name
            ));
        }
    }

    /// Bytes damaged on the way to the store: S3 refuses them, because the SDK sends a
    /// checksum of what it read with every upload (its default) and S3 checks it.
    fn damaged(
        &self,
        op: Operation,
        bucket: &str,
        key: &str,
        body: &Bytes,
    ) -> Result<(), StoreError> {
        if body.is_empty() || !self.roll(self.faults.corrupt) {
            return Ok(());
        }
        Err(self.error(
            op,
            bucket,
            key,
            StoreErrorKind::Transient,
            "BadDigest: bytes damaged on the way",
        ))
    }
}

impl ObjectStore for SimStore {
    async fn head_object(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
    ) -> Result<Option<ObjectHead>, StoreError> {
        self.before(Operation::HeadObject, &object.bucket, &object.key, false)
            .await?;
        self.inner.head_object(object, if_match).await
    }

    async fn get_object_tagging(&self, object: &ObjectRef) -> Result<Vec<Tag>, StoreError> {
        self.before(
            Operation::GetObjectTagging,
            &object.bucket,
            &object.key,
            false,
        )
        .await?;
        self.inner.get_object_tagging(object).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<ListPage, StoreError> {
        self.before(Operation::ListObjects, bucket, prefix, false)
            .await?;
        self.inner
            .list_objects(bucket, prefix, start_after, continuation)
            .await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, StoreError> {
        let (op, bucket, key) = (Operation::CopyObject, &request.bucket, &request.key);
        self.before(op, bucket, key, true).await?;
        self.check_conditions(op, bucket, key, &request.condition)?;
        let result = self.inner.copy_object(request).await;
        self.after(op, bucket, key, result)
    }

    async fn get_object_range(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.before(Operation::GetObject, &object.bucket, &object.key, false)
            .await?;
        self.inner.get_object_range(object, if_match, range).await
    }

    async fn put_object(&self, object: &NewObject, body: Bytes) -> Result<Written, StoreError> {
        let (op, bucket, key) = (Operation::PutObject, &object.bucket, &object.key);
        self.before(op, bucket, key, true).await?;
        self.check_conditions(op, bucket, key, &object.condition)?;
        self.damaged(op, bucket, key, &body)?;
        let result = self.inner.put_object(object, body).await;
        self.after(op, bucket, key, result)
    }

    async fn create_multipart_upload(&self, object: &NewObject) -> Result<UploadRef, StoreError> {
        self.before(
            Operation::CreateMultipartUpload,
            &object.bucket,
            &object.key,
            true,
        )
        .await?;
        self.inner.create_multipart_upload(object).await
    }

    async fn upload_part_copy(
        &self,
        request: &PartCopyRequest,
    ) -> Result<CompletedPart, StoreError> {
        let upload = &request.upload;
        self.before(Operation::UploadPartCopy, &upload.bucket, &upload.key, true)
            .await?;
        self.inner.upload_part_copy(request).await
    }

    async fn upload_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, StoreError> {
        let (op, bucket, key) = (Operation::UploadPart, &upload.bucket, &upload.key);
        self.before(op, bucket, key, true).await?;
        self.damaged(op, bucket, key, &body)?;
        self.inner.upload_part(upload, part_number, body).await
    }

    async fn complete_multipart_upload(
        &self,
        upload: &UploadRef,
        parts: &[CompletedPart],
    ) -> Result<Written, StoreError> {
        let (op, bucket, key) = (
            Operation::CompleteMultipartUpload,
            &upload.bucket,
            &upload.key,
        );
        self.before(op, bucket, key, true).await?;
        self.check_conditions(op, bucket, key, &upload.condition)?;
        let result = self.inner.complete_multipart_upload(upload, parts).await;
        self.after(op, bucket, key, result)
    }

    async fn abort_multipart_upload(&self, upload: &UploadRef) -> Result<(), StoreError> {
        // Aborts are what cleans up: faults here would only test the lifecycle rule.
        self.inner.abort_multipart_upload(upload).await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<Deleted, StoreError> {
        let op = Operation::DeleteObject;
        self.before(op, bucket, key, true).await?;
        self.check_conditions(op, bucket, key, condition)?;
        let replica = self.inner.get(bucket, key);
        let result = self.inner.delete_object(bucket, key, condition).await;
        if let (Ok(_), Some(replica)) = (&result, &replica) {
            self.check_removal(bucket, key, replica);
        }
        self.after(op, bucket, key, result)
    }

    async fn restore_object(
        &self,
        object: &ObjectRef,
        tier: &str,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        self.inner.restore_object(object, tier, days).await
    }
}

// ---------------------------------------------------------------------------------------------
// SNS: a topic that records every event with its instant and checks it against the world

#[derive(Debug, Clone)]
struct SimTopic {
    log: Log,
    world: MemoryStore,
    rules: Arc<Vec<RuleConfig>>,
    targets: Arc<BTreeMap<String, TargetConfig>>,
    fifo: bool,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    rng: Arc<Mutex<fastrand::Rng>>,
    /// Per mille of completion publishes that fail.
    fail: u32,
    /// Per mille of entries of an accepted `PublishBatch` that fail on their own.
    fail_entry: u32,
    /// How long a publish takes to answer (the completions are accepted when it is sent):
    /// completions that arrive meanwhile gather into the next batch.
    latency: Duration,
    /// A window in which every completion publish fails (the topic unreachable).
    outage: Option<(Instant, Instant)>,
    /// Which daemon instance publishes through this handle (alerts are aggregated per process).
    daemon: usize,
}

impl SimTopic {
    fn roll(&self, per_mille: u32) -> bool {
        per_mille > 0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .u32(0..1000)
                < per_mille
    }

    /// A FIFO topic drops an ID it saw within five minutes: `false` when dropped.
    fn deduplicate(&self, id: String) -> bool {
        if !self.fifo {
            return true;
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(&id) {
            Some(at) if now - *at < DEDUPLICATION_WINDOW => false,
            _ => {
                seen.insert(id, now);
                true
            }
        }
    }

    /// Bytes of `bucket/key` in the world now.
    fn held(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.world.get(bucket, key).map(|o| o.body)
    }

    fn bytes_of(&self, etag: &str) -> Option<Vec<u8>> {
        self.log.with(|r| r.contents.get(etag).cloned())
    }

    /// The completion promise, at the instant of publishing: every target of the rule holds
    /// exactly the announced bytes.
    fn check_completion(&self, event: &CompletionEvent) {
        let key = &event.source.key;
        let Some(rule) = self.rules.iter().find(|r| r.name == event.rule) else {
            self.log.violation(format!(
                "completion for `{key}` names unknown rule {}",
                event.rule
            ));
            return;
        };
        let named: BTreeSet<&str> = event.targets.iter().map(|t| t.name.as_str()).collect();
        let wanted: BTreeSet<&str> = rule.targets.iter().map(String::as_str).collect();
        if named != wanted {
            self.log.violation(format!(
                "completion for `{key}` names targets {named:?}, the rule has {wanted:?}"
            ));
        }
        let Some(bytes) = self.bytes_of(&event.source.etag) else {
            self.log.violation(format!(
                "completion for `{key}` announces ETag {} that was never written",
                event.source.etag
            ));
            return;
        };
        for name in &rule.targets {
            let target = &self.targets[name];
            let target_key = format!("{}{key}", target.key_prefix.as_deref().unwrap_or(""));
            if self.held(&target.bucket, &target_key).as_deref() != Some(bytes.as_slice()) {
                if self.newer_just_landed(&target.bucket, &target_key, event) {
                    continue;
                }
                self.log.violation(format!(
                    "completion for `{key}` (ETag {}) published while target {name} does not hold those bytes",
                    event.source.etag
                ));
            }
        }
    }

    /// The one gap no writer that does not lock the target can close (docs/design.md, "A
    /// completion is never stale"): a newer write of the key (by sequencer), handled by another
    /// process, landed between this completion's last read of the target and its publish,
    /// milliseconds ago. That write's own completion follows.
    fn newer_just_landed(&self, bucket: &str, key: &str, event: &CompletionEvent) -> bool {
        const GAP: Duration = Duration::from_millis(250);
        let Some(held) = self.world.get(bucket, key) else {
            return false;
        };
        let newer = match (held.metadata.get(META_SEQUENCER), &event.source.sequencer) {
            (Some(theirs), Some(ours)) => theirs > ours,
            _ => false,
        };
        let recent = self.log.with(|r| {
            r.landed
                .get(&(bucket.to_owned(), key.to_owned()))
                .is_some_and(|at| Instant::now() - *at < GAP)
        });
        if newer && recent {
            self.log.note(format!(
                "completion for `{key}` (ETag {}) published just after a newer write landed on {bucket} (tolerated: the read-to-publish gap)",
                event.source.etag
            ));
        }
        newer && recent
    }

    /// A deletion, at the instant of publishing: no target of the rule holds a replica of the
    /// deleted key made before the delete, unless the key was written again since.
    fn check_deletion(&self, event: &DeletionEvent) {
        let key = &event.source.key;
        let Some(rule) = self.rules.iter().find(|r| r.name == event.rule) else {
            self.log.violation(format!(
                "deletion of `{key}` names unknown rule {}",
                event.rule
            ));
            return;
        };
        let ours = event.source.sequencer.clone().unwrap_or_default();
        let digest = source_key_digest(key);
        for name in &rule.targets {
            let target = &self.targets[name];
            let target_key = format!("{}{key}", target.key_prefix.as_deref().unwrap_or(""));
            let Some(held) = self.world.get(&target.bucket, &target_key) else {
                continue;
            };
            let replica_of_key = held.metadata.get(META_SOURCE_BUCKET)
                == Some(&event.source.bucket)
                && held.metadata.get(META_SOURCE_KEY_SHA256) == Some(&digest);
            let made = held
                .metadata
                .get(META_SEQUENCER)
                .cloned()
                .unwrap_or_default();
            // Unless the key was written again since the delete: that write's event decides.
            let put_since = self.log.with(|r| {
                r.puts
                    .iter()
                    .any(|p| p.bucket == event.source.bucket && p.key == *key && p.sequencer > ours)
            });
            if replica_of_key && made < ours && !put_since {
                self.log.violation(format!(
                    "deletion of `{key}` (seq {ours}) published while target {name} holds a replica of seq {made}"
                ));
            }
        }
        if event
            .targets
            .iter()
            .any(|t| t.result == DeleteResult::KeptForeign)
        {
            self.log.violation(format!(
                "deletion of `{key}` found an object that is no replica (nobody else writes here)"
            ));
        }
    }

    /// A partition completion: every object under the prefix in the source now is in every
    /// target, with the same bytes.
    fn check_prefix(&self, event: &PrefixCompletedEvent) {
        let Some(rule) = self.rules.iter().find(|r| r.name == event.rule) else {
            return;
        };
        let objects = self.world.objects(&event.source_bucket, &event.prefix);
        for (key, object) in objects {
            if !rule.covers(&key) {
                continue;
            }
            for name in &rule.targets {
                let target = &self.targets[name];
                let target_key = format!("{}{key}", target.key_prefix.as_deref().unwrap_or(""));
                if self.held(&target.bucket, &target_key).as_deref() != Some(object.body.as_slice())
                {
                    self.log.violation(format!(
                        "partition `{}` announced complete while target {name} lacks `{key}`",
                        event.prefix
                    ));
                }
            }
        }
    }
}

impl SimTopic {
    /// Whether the topic is unreachable now, or this call fails: every entry is refused.
    fn refuses_call(&self) -> bool {
        let now = Instant::now();
        let down = self
            .outage
            .is_some_and(|(from, to)| from <= now && now < to);
        down || self.roll(self.fail)
    }

    fn refused(&self, event: &CompletionEvent, why: &str) -> PublishError {
        self.log.note(format!(
            "completion for `{}` refused ({why}, injected)",
            event.source.key
        ));
        PublishError {
            topic_arn: "sim:completions".into(),
            message: format!("injected: {why}"),
            transient: true,
        }
    }

    /// The topic takes `event` now: it is checked against the world and recorded, unless a
    /// FIFO topic drops it as a duplicate.
    fn accept(&self, event: &CompletionEvent) {
        self.check_completion(event);
        let id = s3_replicator::publish::sns::completion_deduplication_id(event);
        if self.deduplicate(id) {
            self.log.note(format!(
                "completion {} `{}` etag={} seq={}",
                event.rule,
                event.source.key,
                event.source.etag,
                event.source.sequencer.as_deref().unwrap_or("-")
            ));
            self.log
                .with(|r| r.completions.push((Instant::now(), event.clone())));
        } else {
            self.log.note(format!(
                "completion {} `{}` etag={} dropped as a FIFO duplicate",
                event.rule, event.source.key, event.source.etag
            ));
        }
    }
}

impl Publisher for SimTopic {
    async fn publish_completion(&self, event: &CompletionEvent) -> Result<(), PublishError> {
        let result = if self.refuses_call() {
            Err(self.refused(event, "500"))
        } else {
            self.accept(event);
            Ok(())
        };
        tokio::time::sleep(self.latency).await;
        result
    }

    /// `PublishBatch`: refused whole (an outage, a failed call) or accepted entry by entry,
    /// some entries failing on their own; the answer takes `latency` to come back.
    async fn publish_completions(
        &self,
        events: &[CompletionEvent],
    ) -> Vec<Result<(), PublishError>> {
        self.log
            .note(format!("PublishBatch of {} completion(s)", events.len()));
        let whole = self.refuses_call();
        let results = events
            .iter()
            .map(|event| {
                if whole {
                    Err(self.refused(event, "500 on the batch"))
                } else if self.roll(self.fail_entry) {
                    Err(self.refused(event, "entry failed"))
                } else {
                    self.accept(event);
                    Ok(())
                }
            })
            .collect();
        tokio::time::sleep(self.latency).await;
        results
    }

    async fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> Result<(), PublishError> {
        self.check_prefix(event);
        let id = s3_replicator::publish::sns::prefix_deduplication_id(event);
        if self.deduplicate(id) {
            self.log.note(format!(
                "partition `{}` completed ({} objects)",
                event.prefix, event.objects
            ));
            self.log
                .with(|r| r.prefixes.push((Instant::now(), event.clone())));
        }
        Ok(())
    }

    async fn publish_deletion(&self, event: &DeletionEvent) -> Result<(), PublishError> {
        let key = &event.source.key;
        let result = if self.refuses_call() {
            self.log
                .note(format!("deletion of `{key}` refused (500, injected)"));
            Err(PublishError {
                topic_arn: "sim:completions".into(),
                message: "injected: 500".into(),
                transient: true,
            })
        } else {
            self.check_deletion(event);
            let results: Vec<&str> = event.targets.iter().map(|t| t.result.as_str()).collect();
            self.log.note(format!(
                "deletion {} `{key}` seq={} {results:?}",
                event.rule,
                event.source.sequencer.as_deref().unwrap_or("-")
            ));
            self.log
                .with(|r| r.deletions.push((Instant::now(), event.clone())));
            Ok(())
        };
        tokio::time::sleep(self.latency).await;
        result
    }

    async fn publish_table_committed(
        &self,
        event: &TableCommittedEvent,
    ) -> Result<(), PublishError> {
        let result = if self.refuses_call() {
            self.log.note(format!(
                "table {} v{} refused (500, injected)",
                event.table, event.version
            ));
            Err(PublishError {
                topic_arn: "sim:completions".into(),
                message: "injected: 500".into(),
                transient: true,
            })
        } else {
            let commit = s3_replicator::table::commit_key(&event.table, event.version);
            for target in &event.targets {
                if self.world.get(&target.bucket, &commit).is_none() {
                    self.log.violation(format!(
                        "table {} v{} announced while {} lacks its commit",
                        event.table, event.version, target.name
                    ));
                }
            }
            self.log.note(format!(
                "table {} v{} committed ({} files)",
                event.table, event.version, event.files_added
            ));
            self.log
                .with(|r| r.tables.push((Instant::now(), event.clone())));
            Ok(())
        };
        tokio::time::sleep(self.latency).await;
        result
    }

    async fn publish_alert(&self, alert: &Alert) -> Result<(), PublishError> {
        let key = alert
            .source
            .as_ref()
            .map(|s| s.key.clone())
            .unwrap_or_default();
        self.log.note(format!(
            "alert {} `{key}` target={} count={}",
            alert.kind.as_str(),
            alert.target.as_ref().map_or("-", |t| t.name.as_str()),
            alert.count
        ));
        self.log
            .with(|r| r.alerts.push((Instant::now(), self.daemon, alert.clone())));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The workload

/// Keys that have broken replication tools, and a few plain ones.
/// The source bucket of the table workload (rule `tables`, `table_format = "delta"`).
const TABLE_BUCKET: &str = "tlake";
/// The table's root in it.
const TABLE_ROOT: &str = "t/orders/";

const KEYS: &[&str] = &[
    "plain/part-0.csv",
    "plain/part-1.csv",
    "with space/a+b c.csv",
    "percent/100%25 done.txt",
    "unicode/données/ü.json",
    "deep/a/b/c/d/e.bin",
];

/// An S3 notification for one write, its key form-encoded as S3 encodes it.
fn s3_event(
    bucket: &str,
    key: &str,
    etag: &str,
    size: usize,
    version: Option<&str>,
    sequencer: &str,
    event_time: &str,
) -> String {
    let encoded = s3_replicator::event::encode_key(key);
    let mut object = serde_json::json!({
        "key": encoded, "size": size, "eTag": etag, "sequencer": sequencer,
    });
    if let Some(version) = version {
        object["versionId"] = version.into();
    }
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": event_time, "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": bucket }, "object": object }
    }]})
    .to_string()
}

/// An S3 notification for a delete: `ObjectRemoved:DeleteMarkerCreated` with the marker's
/// version in a versioned bucket, `ObjectRemoved:Delete` otherwise.
fn s3_removed_event(
    bucket: &str,
    key: &str,
    marker: Option<&str>,
    sequencer: &str,
    event_time: &str,
) -> String {
    let encoded = s3_replicator::event::encode_key(key);
    let mut object = serde_json::json!({ "key": encoded, "sequencer": sequencer });
    let name = match marker {
        Some(version) => {
            object["versionId"] = version.into();
            "ObjectRemoved:DeleteMarkerCreated"
        }
        None => "ObjectRemoved:Delete",
    };
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": event_time, "eventName": name,
        "s3": { "bucket": { "name": bucket }, "object": object }
    }]})
    .to_string()
}

/// One simulated daemon: its pipeline over its own stores, and how to stop it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

struct World {
    seed: u64,
    rng: fastrand::Rng,
    log: Log,
    memory: MemoryStore,
    queue: MemoryQueue,
    topic: SimTopic,
    rules: Arc<Vec<RuleConfig>>,
    targets: Arc<BTreeMap<String, TargetConfig>>,
    target_faults: Faults,
    source_faults: Faults,
    faults_rng: Arc<Mutex<fastrand::Rng>>,
    poison: Option<String>,
    rejecting_target: Option<String>,
    sequencer: u64,
    /// Daemon instances started so far (a restart is a new instance).
    instances: std::cell::Cell<usize>,
    /// Deletes: whether and how often this seed deletes source objects, from an RNG of their
    /// own, so that the rest of a seed's world stays as it was before deletes were simulated.
    delete_rng: fastrand::Rng,
    delete_per_mille: u32,
    /// Backfill events (`backfill --enqueue`, `verify --repair`): a key listed as it is now,
    /// its event delivered later. From an RNG of their own, like deletes.
    backfill_rng: fastrand::Rng,
    /// A Delta table written version by version, its events in an adversarial order (a
    /// commit's before its data files'), in one seed of two. From an RNG of its own.
    table_rng: fastrand::Rng,
    table_versions: u64,
    table_written: u64,
    /// The table's data files so far: the path as logged, and the size.
    table_files: Vec<(String, usize)>,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let log = Log::default();
        log.with(|r| r.start = Some(Instant::now()));
        let memory = MemoryStore::new("daemon");
        for bucket in ["lake", "vlake", "eu", "dr", "arch", TABLE_BUCKET] {
            memory.create_bucket(bucket);
        }
        memory.enable_versioning("vlake");
        let rules = vec![
            RuleConfig {
                name: "lake".into(),
                source_bucket: "lake".into(),
                targets: vec!["eu".into(), "dr".into()],
                complete_on: Some("_SUCCESS".into()),
                complete_deadline_secs: 120,
                ..Default::default()
            },
            RuleConfig {
                name: "versioned".into(),
                source_bucket: "vlake".into(),
                targets: vec!["arch".into()],
                ..Default::default()
            },
            RuleConfig {
                name: "tables".into(),
                source_bucket: TABLE_BUCKET.into(),
                prefix: Some("t/".into()),
                targets: vec!["eu".into(), "dr".into()],
                table_format: TableFormat::Delta,
                complete_deadline_secs: 120,
                ..Default::default()
            },
        ];
        let mode = |rng: &mut fastrand::Rng| {
            [CopyMode::Auto, CopyMode::Auto, CopyMode::Stream][rng.usize(0..3)]
        };
        let mut targets = BTreeMap::new();
        for (name, prefix) in [("eu", None), ("dr", None), ("arch", Some("v/"))] {
            let mut config = TargetConfig::new(name, name, "eu-west-1");
            config.key_prefix = prefix.map(str::to_owned);
            config.copy_mode = mode(&mut rng);
            targets.insert(name.to_owned(), config);
        }
        // Some seeds: a target whose store refuses conditional writes, configured as such.
        let rejecting_target = rng
            .bool()
            .then(|| "eu".to_owned())
            .filter(|_| rng.u32(0..4) == 0);
        if let Some(name) = &rejecting_target {
            targets.get_mut(name).expect("target").conditional_writes = false;
        }
        // One seed in three: target eu is on another S3 implementation (its own endpoint), whose
        // ETags are not MD5s and which may keep no checksums and no tags. From an RNG of its
        // own, so that the rest of a seed's world stays as it was.
        let mut store_rng = fastrand::Rng::with_seed(seed ^ 0xf0e1_5702);
        let foreign = (store_rng.u32(0..3) == 0).then(|| Lacks {
            checksums: store_rng.bool(),
            tagging: store_rng.bool(),
            conditional_writes: false,
            md5_etags: true,
        });
        if let Some(lacks) = foreign {
            memory.lacks("eu", lacks);
            targets.get_mut("eu").expect("target").endpoint_url =
                Some("http://127.0.0.1:9".to_owned());
        }
        let level = rng.u32(0..4);
        let target_faults = Faults {
            throttle: 20 * level,
            fail: 15 * level,
            lost_answer: 20 * level,
            stall: 2 * level,
            corrupt: 15 * level,
        };
        let source_faults = Faults {
            throttle: 10 * level,
            fail: 10 * level,
            ..Faults::default()
        };
        let poison = (rng.u32(0..3) == 0).then(|| "poison/".to_owned());
        let faults_rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed)));
        // Deletes replicated in two seeds of three; a mass-delete guard of a few per minute in a
        // quarter of those, so that deletes are held and come back.
        let mut delete_rng = fastrand::Rng::with_seed(seed ^ 0xde1e7e);
        let delete_per_mille = if delete_rng.u32(0..3) == 0 {
            0
        } else {
            delete_rng.u32(100..300)
        };
        let mut rules = rules;
        if delete_per_mille > 0 {
            let limit = if delete_rng.u32(0..4) == 0 {
                delete_rng.u32(1..4)
            } else {
                1000
            };
            for rule in &mut rules {
                rule.deletes = Deletes::Replicate;
                rule.max_deletes_per_minute = limit;
            }
        }
        let rules = Arc::new(rules);
        let targets = Arc::new(targets);
        let topic = SimTopic {
            log: log.clone(),
            world: memory.clone(),
            rules: Arc::clone(&rules),
            targets: Arc::clone(&targets),
            fifo: rng.bool(),
            seen: Arc::default(),
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed ^ 0x7091c))),
            fail: 10 * level,
            // From an RNG of their own, so that the rest of a seed's world stays as it was.
            fail_entry: 10 * level,
            latency: Duration::from_millis(fastrand::Rng::with_seed(seed ^ 0xba7c).u64(0..=20)),
            daemon: 0,
            outage: (level > 0 && rng.bool()).then(|| {
                let from = Instant::now() + Duration::from_secs(rng.u64(0..60));
                (from, from + Duration::from_secs(rng.u64(10..90)))
            }),
        };
        let queue = MemoryQueue::with_order_seed(seed).redrive(MAX_RECEIVES);
        log.note(format!(
            "seed {seed}: fault level {level}, fifo {}, poison {:?}, no-conditions target {:?}, eu on another store {:?}, modes {:?}, deletes {delete_per_mille}‰ (limit {}/min)",
            topic.fifo,
            poison,
            rejecting_target,
            foreign,
            targets.values().map(|t| (t.name.as_str(), t.copy_mode.as_str())).collect::<Vec<_>>(),
            rules[0].max_deletes_per_minute
        ));
        Self {
            seed,
            rng,
            log,
            memory,
            queue,
            topic,
            rules,
            targets,
            target_faults,
            source_faults,
            faults_rng,
            poison,
            rejecting_target,
            sequencer: 0,
            instances: std::cell::Cell::new(0),
            delete_rng,
            delete_per_mille,
            backfill_rng: fastrand::Rng::with_seed(seed ^ 0xbacf11),
            table_versions: {
                let mut r = fastrand::Rng::with_seed(seed ^ 0x7ab1e);
                if r.bool() {
                    r.u64(2..7)
                } else {
                    0
                }
            },
            table_rng: fastrand::Rng::with_seed(seed ^ 0x7ab1e ^ 1),
            table_written: 0,
            table_files: Vec::new(),
        }
    }

    fn store(&self, principal: &str, name: &str, faults: Faults, rejects: bool) -> SimStore {
        SimStore {
            inner: self.memory.principal(principal),
            name: name.to_owned(),
            faults,
            rng: Arc::clone(&self.faults_rng),
            log: self.log.clone(),
            poison: self.poison.clone().filter(|_| name.ends_with("dr")),
            rejects_conditions: rejects,
        }
    }

    /// Starts daemon `n`: its own stores, replicator and pipeline on the shared queue and topic.
    fn start(&self, n: usize) -> Running {
        let source = self.store("daemon", &format!("d{n}/source"), self.source_faults, false);
        let targets = self.targets.values().map(|config| Target {
            config: config.clone(),
            store: self.store(
                if config.name == "dr" {
                    "dr-role"
                } else {
                    "daemon"
                },
                &format!("d{n}/{}", config.name),
                self.target_faults,
                self.rejecting_target.as_deref() == Some(config.name.as_str()),
            ),
        });
        let replicator = Replicator::new(source, targets).with_limits(Limits {
            // Multipart uploads of one 5 MiB part on objects of a few KiB: the multipart
            // paths run without moving megabytes.
            multipart_threshold: 1024,
            part_size: 5 * 1024 * 1024,
            max_inflight_bytes: 64 * 1024 * 1024,
        });
        let instance = self.instances.get() + 1;
        self.instances.set(instance);
        let topic = SimTopic {
            daemon: instance,
            ..self.topic.clone()
        };
        let pipeline = Arc::new(
            Pipeline::new(Router::from_rules(self.rules.to_vec()), replicator, topic)
                .with_alert_window(ALERT_WINDOW)
                .with_clock(s3_replicator::partition::Clock::anchored(self.wall_now())),
        );
        let settings = Settings {
            max_messages: 10,
            wait_time_secs: 20,
            visibility_timeout_secs: 30,
            concurrency: 4,
            shutdown_timeout: Duration::from_secs(5),
        };
        let deadline = MessageDeadline {
            after: MESSAGE_DEADLINE,
            alert_window: ALERT_WINDOW,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_with_deadline(
            Arc::new(self.queue.clone()),
            pipeline,
            settings,
            deadline,
            async {
                let _ = stopped.await;
            },
        ));
        self.log
            .note(format!("daemon {n} started (instance {instance})"));
        Running { stop, task }
    }

    fn next_sequencer(&mut self) -> String {
        self.sequencer += 1;
        format!("0055AED6DC{:08X}", self.sequencer)
    }

    /// Puts `body` at `bucket/key` now; returns the event S3 would send for it.
    fn put(&mut self, bucket: &str, key: &str, body: Vec<u8>) -> String {
        // Some sources have no full-object checksum (a composite one, as multipart uploads of
        // older SDKs): their replicas are proven by MD5 ETags alone.
        let composite = self.rng.u32(0..4) == 0;
        self.put_with(bucket, key, body, composite)
    }

    /// [`put`](Self::put), the source's checksum composite or not as `composite` says.
    fn put_with(&mut self, bucket: &str, key: &str, body: Vec<u8>, composite: bool) -> String {
        let stored = StoredObject {
            checksum: composite.then_some((s3_replicator::store::ChecksumAlgorithm::Crc32, false)),
            ..StoredObject::default()
        };
        let (etag, version) = self.memory.put_version(bucket, key, &body, stored);
        let sequencer = self.next_sequencer();
        self.log.note(format!(
            "put {bucket}/`{key}` etag={etag} version={} seq={sequencer} ({} bytes)",
            version.as_deref().unwrap_or("-"),
            body.len()
        ));
        let event_time = self.event_time();
        let event = s3_event(
            bucket,
            key,
            &etag,
            body.len(),
            version.as_deref(),
            &sequencer,
            &event_time,
        );
        let size = body.len();
        self.log.with(|r| {
            r.contents.insert(etag.clone(), body);
            r.puts.push(Put {
                at: Instant::now(),
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                etag: etag.clone(),
                version: version.clone(),
                sequencer: sequencer.clone(),
            });
        });
        let _ = size;
        event
    }

    /// The S3 event time of a request made now.
    fn event_time(&self) -> String {
        s3_replicator::timestamp::format_millis(self.wall_now()).expect("a time")
    }

    /// The world's wall-clock time: a fixed start moved on by the (virtual) time since, to the
    /// millisecond, so that a seed replays whenever it runs.
    fn wall_now(&self) -> time::OffsetDateTime {
        let elapsed = self
            .log
            .with(|r| r.start.map_or(Duration::ZERO, |s| Instant::now() - s));
        time::OffsetDateTime::UNIX_EPOCH
            + time::Duration::seconds(1_795_000_000)
            + time::Duration::milliseconds(elapsed.as_millis() as i64)
    }

    /// Deletes `bucket/key` now (a delete marker in a versioned bucket); returns the event S3
    /// would send, or `None` when there was nothing to delete.
    async fn remove(&mut self, bucket: &str, key: &str) -> Option<String> {
        self.memory.get(bucket, key)?;
        let deleted = self
            .memory
            .delete_object(bucket, key, &WriteCondition::None)
            .await
            .expect("the source accepts the delete");
        let sequencer = self.next_sequencer();
        let marker = deleted.version_id.filter(|_| deleted.delete_marker);
        self.log.note(format!(
            "delete {bucket}/`{key}` marker={} seq={sequencer}",
            marker.as_deref().unwrap_or("-")
        ));
        self.log.with(|r| {
            r.deletes.push(Delete {
                at: Instant::now(),
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                sequencer: sequencer.clone(),
            })
        });
        let event_time = self.event_time();
        Some(s3_removed_event(
            bucket,
            key,
            marker.as_deref(),
            &sequencer,
            &event_time,
        ))
    }

    /// Now and then (as the seed says), a delete of a key that was written.
    async fn maybe_delete(&mut self, pending: &mut Vec<(Instant, String)>) {
        if self.delete_per_mille == 0 || self.delete_rng.u32(0..1000) >= self.delete_per_mille {
            return;
        }
        // Not the table's files: a writer never deletes a file its log still adds.
        let keys: Vec<(String, String)> = self.log.with(|r| {
            r.puts
                .iter()
                .filter(|p| p.bucket != TABLE_BUCKET)
                .map(|p| (p.bucket.clone(), p.key.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        });
        if keys.is_empty() {
            return;
        }
        let (bucket, key) = keys[self.delete_rng.usize(0..keys.len())].clone();
        if let Some(event) = self.remove(&bucket, &key).await {
            // As `deliver`, from the deletes' own RNG.
            let at = Instant::now() + Duration::from_millis(self.delete_rng.u64(0..3000));
            if self.delete_rng.u32(0..10) == 0 {
                let again = at + Duration::from_millis(self.delete_rng.u64(0..60_000));
                pending.push((again, event.clone()));
            }
            pending.push((at, event));
        }
    }

    /// Now and then, a key of the source listed as it is now, and its backfill event sent:
    /// shaped as `backfill --enqueue` shapes it (the listed ETag, no sequencer), delivered a
    /// while later, when the key may have been overwritten or deleted meanwhile.
    fn maybe_backfill(&mut self, pending: &mut Vec<(Instant, String)>) {
        if self.backfill_rng.u32(0..10) != 0 {
            return;
        }
        let keys: Vec<(String, String)> = self.log.with(|r| {
            r.puts
                .iter()
                .map(|p| (p.bucket.clone(), p.key.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        });
        if keys.is_empty() {
            return;
        }
        let (bucket, key) = keys[self.backfill_rng.usize(0..keys.len())].clone();
        let Some(listed) = self.memory.get(&bucket, &key) else {
            return;
        };
        let event = s3_replicator::event::backfill_event(
            &bucket,
            &key,
            listed.body.len() as u64,
            &listed.etag,
        );
        self.log.note(format!(
            "backfill {bucket}/`{key}` listed etag={}",
            listed.etag
        ));
        let at = Instant::now() + Duration::from_millis(self.backfill_rng.u64(0..10_000));
        pending.push((at, event));
    }

    fn body(&mut self) -> Vec<u8> {
        let len = if self.rng.u32(0..4) == 0 {
            self.rng.usize(1025..4096) // multipart: above the lowered threshold
        } else {
            self.rng.usize(0..1024)
        };
        (0..len).map(|_| self.rng.u8(..)).collect()
    }

    /// Now and then, the next version of the table: its data files, change data and deletion
    /// vectors, and its commit (and now and then a checkpoint, then `_last_checkpoint`), their
    /// events delivered in an adversarial order: the commit's often before its files'. What
    /// each commit needs is recorded here, by the writer, not read back with the daemon's
    /// parser: the invariant must not share the code it checks.
    fn maybe_table(&mut self, pending: &mut Vec<(Instant, String)>) {
        if self.table_written >= self.table_versions || self.table_rng.u32(0..3) != 0 {
            return;
        }
        let version = self.table_written;
        self.table_written += 1;
        let mut actions = vec![format!(
            r#"{{"commitInfo":{{"operation":"WRITE","version":{version}}}}}"#
        )];
        if version == 0 {
            actions.push(r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors","changeDataFeed"]}}"#.into());
            actions.push(r#"{"metaData":{"id":"sim","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":["region"],"configuration":{},"createdTime":1}}"#.into());
        }
        // Source keys this commit needs in a target before it may land there.
        let mut needs = Vec::new();
        for i in 0..self.table_rng.usize(0..3) {
            // A partition value with a space: as delta-rs writes it (encoded once in the key,
            // twice in the log), or a plain space in the key (encoded once in the log); now and
            // then an absolute path within the bucket.
            let (dir, logged) = [
                ("", ""),
                ("region=eu%20west/", "region=eu%2520west/"),
                ("region=eu west/", "region=eu%20west/"),
            ][self.table_rng.usize(0..3)];
            let name = format!("part-{version}-{i}.parquet");
            let len = self.table_rng.usize(1..2048);
            let key = format!("{TABLE_ROOT}{dir}{name}");
            let logged = if self.table_rng.u32(0..5) == 0 {
                format!("s3://{TABLE_BUCKET}/{TABLE_ROOT}{logged}{name}")
            } else {
                format!("{logged}{name}")
            };
            self.table_file(&key, len, pending);
            needs.push(key);
            self.table_files.push((logged.clone(), len));
            actions.push(format!(
                r#"{{"add":{{"path":"{logged}","size":{len},"partitionValues":{{}},"modificationTime":1,"dataChange":true}}}}"#
            ));
        }
        // An earlier file removed (nothing to wait for), or given a deletion vector: removed
        // and added again with the vector, which the commit needs.
        if version > 0 && !self.table_files.is_empty() && self.table_rng.u32(0..3) != 0 {
            let (path, len) =
                self.table_files[self.table_rng.usize(0..self.table_files.len())].clone();
            actions.push(format!(
                r#"{{"remove":{{"path":"{path}","deletionTimestamp":1,"dataChange":true}}}}"#
            ));
            if self.table_rng.u32(0..3) != 0 {
                let (descriptor, file) = self.deletion_vector(version);
                if let Some(file) = file {
                    self.table_file(&file, 40, pending);
                    needs.push(file);
                }
                actions.push(format!(
                    r#"{{"add":{{"path":"{path}","size":{len},"partitionValues":{{}},"modificationTime":2,"dataChange":true,"deletionVector":{descriptor}}}}}"#
                ));
            }
        }
        // Change data, as a writer with the change data feed on writes it.
        if self.table_rng.u32(0..4) == 0 {
            let key = format!("{TABLE_ROOT}_change_data/cdc-{version}.parquet");
            self.table_file(&key, 64, pending);
            needs.push(key);
            actions.push(format!(
                r#"{{"cdc":{{"path":"_change_data/cdc-{version}.parquet","partitionValues":{{}},"size":64,"dataChange":false}}}}"#
            ));
        }
        let key = s3_replicator::table::commit_key(TABLE_ROOT, version);
        if version > 0 {
            needs.push(s3_replicator::table::commit_key(TABLE_ROOT, version - 1));
        }
        self.log.with(|r| r.table_needs.insert(key.clone(), needs));
        let event = self.put_with(TABLE_BUCKET, &key, actions.join("\n").into_bytes(), false);
        let at = Instant::now() + Duration::from_millis(self.table_rng.u64(0..1500));
        pending.push((at, event));
        if self.table_rng.u32(0..3) == 0 {
            // A checkpoint, in one file or in parts, and now and then `_last_checkpoint`
            // naming it.
            let parts = [1u64, 1, 2][self.table_rng.usize(0..3)];
            let mut files = Vec::new();
            for i in 1..=parts {
                let key = if parts == 1 {
                    format!("{TABLE_ROOT}_delta_log/{version:020}.checkpoint.parquet")
                } else {
                    format!("{TABLE_ROOT}_delta_log/{version:020}.checkpoint.{i:010}.{parts:010}.parquet")
                };
                let event = self.put_with(TABLE_BUCKET, &key, b"PAR1 checkpoint".to_vec(), false);
                let at = Instant::now() + Duration::from_millis(self.table_rng.u64(0..3000));
                pending.push((at, event));
                files.push(key);
            }
            if self.table_rng.bool() {
                let body = if parts == 1 {
                    format!(r#"{{"version":{version},"size":3}}"#)
                } else {
                    format!(r#"{{"version":{version},"size":3,"parts":{parts}}}"#)
                };
                let key = format!("{TABLE_ROOT}_delta_log/_last_checkpoint");
                files.push(s3_replicator::table::commit_key(TABLE_ROOT, version));
                self.log
                    .with(|r| r.last_checkpoint_needs.insert(version, files));
                let event = self.put_with(TABLE_BUCKET, &key, body.into_bytes(), false);
                let at = Instant::now() + Duration::from_millis(self.table_rng.u64(0..3000));
                pending.push((at, event));
            }
        }
    }

    /// A file of the table, its event delivered within 8 s.
    fn table_file(&mut self, key: &str, len: usize, pending: &mut Vec<(Instant, String)>) {
        let body: Vec<u8> = (0..len).map(|_| self.table_rng.u8(..)).collect();
        let event = self.put_with(TABLE_BUCKET, key, body, false);
        let at = Instant::now() + Duration::from_millis(self.table_rng.u64(0..8000));
        pending.push((at, event));
    }

    /// A deletion-vector descriptor of one of the protocol's three storage types, and the key
    /// of the file it names (none when inline). Encoded here independently of the daemon.
    fn deletion_vector(&mut self, version: u64) -> (String, Option<String>) {
        match self.table_rng.u32(0..3) {
            0 => (
                r#"{"storageType":"i","pathOrInlineDv":"wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L","sizeInBytes":40,"cardinality":6}"#.into(),
                None,
            ),
            1 => {
                let uuid: [u8; 16] = std::array::from_fn(|_| self.table_rng.u8(..));
                let prefix = ["", "ab", "z9"][self.table_rng.usize(0..3)];
                let dir = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
                let uuid_text = format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                );
                let encoded = z85(&uuid);
                (
                    format!(
                        r#"{{"storageType":"u","pathOrInlineDv":"{prefix}{encoded}","offset":1,"sizeInBytes":36,"cardinality":2}}"#
                    ),
                    Some(format!("{TABLE_ROOT}{dir}deletion_vector_{uuid_text}.bin")),
                )
            }
            _ => {
                let name = format!("dv-{version}.bin");
                (
                    format!(
                        r#"{{"storageType":"p","pathOrInlineDv":"s3://{TABLE_BUCKET}/{TABLE_ROOT}{name}","offset":1,"sizeInBytes":36,"cardinality":2}}"#
                    ),
                    Some(format!("{TABLE_ROOT}{name}")),
                )
            }
        }
    }

    /// Delivers `event` to the queue after S3's notification latency (possibly out of order
    /// with other events), sometimes twice.
    fn deliver(&mut self, event: String, pending: &mut Vec<(Instant, String)>) {
        let at = Instant::now() + Duration::from_millis(self.rng.u64(0..3000));
        if self.rng.u32(0..10) == 0 {
            let again = at + Duration::from_millis(self.rng.u64(0..60_000));
            pending.push((again, event.clone()));
        }
        pending.push((at, event));
    }
}

async fn simulate(seed: u64) -> Report {
    let mut world = World::new(seed);
    let daemons_wanted = world.rng.usize(1..=3);
    let mut daemons: Vec<Option<Running>> =
        (0..daemons_wanted).map(|n| Some(world.start(n))).collect();
    let mut pending: Vec<(Instant, String)> = Vec::new();
    let mut history_of_keys: Vec<(String, String)> = Vec::new();
    // The newest event of each key of `lake`, to announce it again after a tampering.
    let mut last_event: BTreeMap<String, String> = BTreeMap::new();
    let actions = world.rng.usize(10..40);
    let mut partitions = 0;
    for _ in 0..actions {
        // Deliver what is due, then wait for the next action.
        let step = Duration::from_millis(world.rng.u64(0..4000));
        deliver_due(&world, &mut pending, Instant::now() + step).await;
        world.maybe_delete(&mut pending).await;
        world.maybe_backfill(&mut pending);
        world.maybe_table(&mut pending);
        match world.rng.u32(0..100) {
            0..=44 => {
                let key = if world.poison.is_some() && world.rng.u32(0..10) == 0 {
                    "poison/never.csv".to_owned()
                } else {
                    KEYS[world.rng.usize(0..KEYS.len())].to_owned()
                };
                // X → Y → X: sometimes the bytes of an earlier write of this key again.
                let earlier: Vec<_> = history_of_keys
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, e)| e.clone())
                    .collect();
                let body = if !earlier.is_empty() && world.rng.u32(0..3) == 0 {
                    let etag = &earlier[world.rng.usize(0..earlier.len())];
                    world.log.with(|r| r.contents[etag].clone())
                } else {
                    world.body()
                };
                let event = world.put("lake", &key, body);
                let etag = world
                    .log
                    .with(|r| r.puts.last().map(|p| p.etag.clone()).unwrap_or_default());
                history_of_keys.push((key.clone(), etag));
                last_event.insert(key, event.clone());
                world.deliver(event, &mut pending);
            }
            45..=64 => {
                // Versions of one key, sometimes two in a burst: their events then race each
                // other through different daemons (a versioned source pins each version, so
                // only the targets' compare-and-swap keeps the older from landing last).
                let key = format!("tables/{}", KEYS[world.rng.usize(0..3)]);
                for _ in 0..world.rng.usize(1..3) {
                    let body = world.body();
                    let event = world.put("vlake", &key, body);
                    world.deliver(event, &mut pending);
                }
            }
            65..=79 => {
                // A partition: its objects, then its marker; the events in any order.
                partitions += 1;
                let prefix = format!("d/p={partitions}/");
                let mut events = Vec::new();
                for i in 0..world.rng.usize(1..4) {
                    let body = world.body();
                    events.push(world.put("lake", &format!("{prefix}part-{i}.parquet"), body));
                }
                events.push(world.put("lake", &format!("{prefix}_SUCCESS"), Vec::new()));
                world.rng.shuffle(&mut events);
                for event in events {
                    world.deliver(event, &mut pending);
                }
            }
            80..=84 => {
                // Someone else replaces a replica with other bytes of the same size and keeps
                // its metadata (the record of its source), then the key is announced again:
                // the daemon must prove the content, not trust the record.
                // Only while nothing is in flight: a replica changed by someone else between
                // its verification and the completion cannot be told from a good one by any
                // writer that does not lock the target, and that is not what this tests.
                let keys: Vec<String> = last_event.keys().cloned().collect();
                if keys.is_empty() || !pending.is_empty() || world.queue.remaining() > 0 {
                    continue;
                }
                let key = keys[world.rng.usize(0..keys.len())].clone();
                let target = ["eu", "dr"][world.rng.usize(0..2)];
                if let Some(replica) = world
                    .memory
                    .get(target, &key)
                    .filter(|r| !r.body.is_empty())
                {
                    let mut body = replica.body.clone();
                    body[0] ^= 0xff;
                    let tampered = world.memory.put(
                        target,
                        &key,
                        &body,
                        StoredObject {
                            metadata: replica.metadata.clone(),
                            ..StoredObject::default()
                        },
                    );
                    world.log.note(format!(
                        "{target}/`{key}` tampered with (etag {tampered}), its record kept"
                    ));
                    world.deliver(last_event[&key].clone(), &mut pending);
                }
            }
            85..=89 => {
                // A test event, as S3 sends when a notification is configured.
                let at = Instant::now();
                pending.push((at, r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00.000Z","Bucket":"lake","RequestId":"r","HostId":"h"}"#.to_owned()));
            }
            _ => {
                // A restart: the daemon's futures are dropped mid-copy, a new one starts.
                let n = world.rng.usize(0..daemons.len());
                if let Some(running) = daemons[n].take() {
                    running.task.abort();
                    let _ = running.task.await;
                    world.log.note(format!("daemon {n} killed"));
                }
                tokio::time::sleep(Duration::from_millis(world.rng.u64(0..5000))).await;
                daemons[n] = Some(world.start(n));
            }
        }
    }
    // Everything delivered; then wait for quiet.
    let far = Instant::now() + Duration::from_secs(120);
    deliver_due(&world, &mut pending, far).await;
    let limit = Instant::now() + QUIET_LIMIT;
    while world.queue.remaining() > 0 && Instant::now() < limit {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    if world.queue.remaining() > 0 {
        world.log.violation(format!(
            "`queue` not quiet {} s after the last action: {} messages remain",
            QUIET_LIMIT.as_secs(),
            world.queue.remaining()
        ));
    }
    for (n, running) in daemons.iter_mut().enumerate() {
        if let Some(running) = running.take() {
            let _ = running.stop.send(());
            let _ = running.task.await;
            world.log.note(format!("daemon {n} stopped"));
        }
    }
    // Aborted uploads finish in tasks of their own.
    tokio::time::sleep(Duration::from_secs(1)).await;
    check_quiet(&world);
    let (violations, history, completions) = world
        .log
        .with(|r| (r.violations.clone(), r.history.clone(), r.completions.len()));
    Report {
        seed,
        violations,
        history,
        completions,
        dead_letters: world.queue.dead_letters().len(),
    }
}

/// Sends the events due before `until` to the queue, at their instants.
async fn deliver_due(world: &World, pending: &mut Vec<(Instant, String)>, until: Instant) {
    pending.sort_by_key(|(at, _)| *at);
    while let Some((at, _)) = pending.first() {
        if *at > until {
            break;
        }
        let (at, body) = pending.remove(0);
        tokio::time::sleep_until(at).await;
        let id = world.queue.send(&body);
        world
            .log
            .note(format!("event {id} queued: {}", summary(&body)));
    }
    tokio::time::sleep_until(until).await;
}

/// `bucket/key etag` of each record of a message body, for the history.
fn summary(body: &str) -> String {
    match decode(body) {
        Ok(Notification::Objects {
            objects, removed, ..
        }) => objects
            .iter()
            .map(|o| {
                format!(
                    "{}/`{}` etag={}",
                    o.bucket,
                    o.key,
                    o.etag.as_deref().unwrap_or("-")
                )
            })
            .chain(removed.iter().map(|o| {
                format!(
                    "delete {}/`{}` seq={}",
                    o.bucket,
                    o.key,
                    o.sequencer.as_ref().map_or("-", |s| s.as_str())
                )
            }))
            .collect::<Vec<_>>()
            .join(", "),
        Ok(_) => "a test event or a re-check".to_owned(),
        Err(e) => format!("undecodable: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The checker, once the world is quiet

/// `bucket/key` was deleted last: under every rule that replicates its deletes, no target
/// holds a replica of it, and the delete was announced (unless its message is dead-lettered).
fn check_deleted(world: &World, bucket: &str, key: &str, excused: bool) {
    let log = &world.log;
    let Some(delete) = log.with(|r| {
        r.deletes
            .iter()
            .filter(|d| d.bucket == bucket && d.key == key)
            .max_by(|a, b| a.sequencer.cmp(&b.sequencer))
            .cloned()
    }) else {
        return;
    };
    let digest = source_key_digest(key);
    for rule in world
        .rules
        .iter()
        .filter(|r| r.source_bucket == bucket && r.covers(key) && r.deletes == Deletes::Replicate)
    {
        if excused {
            continue;
        }
        for name in &rule.targets {
            let target = &world.targets[name];
            let target_key = format!("{}{key}", target.key_prefix.as_deref().unwrap_or(""));
            let Some(held) = world.memory.get(&target.bucket, &target_key) else {
                continue;
            };
            if held.metadata.get(META_SOURCE_BUCKET).map(String::as_str) == Some(bucket)
                && held.metadata.get(META_SOURCE_KEY_SHA256) == Some(&digest)
            {
                log.violation(format!(
                    "quiet: `{key}` was deleted (seq {}), target {name} still holds a replica of seq {}",
                    delete.sequencer,
                    held.metadata.get(META_SEQUENCER).map_or("-", String::as_str)
                ));
            }
        }
        let announced = log.with(|r| {
            r.deletions.iter().any(|(_, d)| {
                d.rule == rule.name
                    && d.source.key == key
                    && d.source.sequencer.as_deref() == Some(delete.sequencer.as_str())
            })
        });
        if !announced {
            log.violation(format!(
                "quiet: the delete of `{key}` (seq {}) under rule {} was never announced",
                delete.sequencer, rule.name
            ));
        }
    }
}

fn check_quiet(world: &World) {
    let log = &world.log;
    let (puts, deletes, completions, alerts) = log.with(|r| {
        (
            r.puts.clone(),
            r.deletes.clone(),
            r.completions.clone(),
            r.alerts.clone(),
        )
    });
    let dead: Vec<(String, String)> = world.queue.dead_letters();
    let dead_keys: BTreeSet<(String, String)> = dead
        .iter()
        .flat_map(|(_, body)| match decode(body) {
            Ok(Notification::Objects {
                objects, removed, ..
            }) => objects
                .into_iter()
                .map(|o| (o.bucket, o.key))
                .chain(removed.into_iter().map(|o| (o.bucket, o.key)))
                .collect::<Vec<_>>(),
            // A re-check carries its partition marker or held table object.
            Ok(Notification::Recheck(r)) => vec![(r.marker.bucket, r.marker.key)],
            _ => Vec::new(),
        })
        .collect();
    let alerted = |key: &str| {
        alerts.iter().any(|(_, _, a)| {
            a.source.as_ref().is_some_and(|s| s.key == key)
                || a.example_keys.iter().any(|e| e.contains(key))
                || a.count > 1
        })
    };
    // A message that cannot succeed ends in the DLQ with an alert.
    for (bucket, key) in &dead_keys {
        if !alerted(key) {
            log.violation(format!(
                "message for {bucket}/`{key}` dead-lettered without an alert"
            ));
        }
    }
    // Every target holds the newest version of every key, and the newest completion names it.
    let keys: BTreeSet<(String, String)> = puts
        .iter()
        .map(|p| (p.bucket.clone(), p.key.clone()))
        .collect();
    for (bucket, key) in &keys {
        let Some(newest) = world.memory.get(bucket, key) else {
            check_deleted(
                world,
                bucket,
                key,
                dead_keys.contains(&(bucket.clone(), key.clone())),
            );
            continue;
        };
        for rule in world
            .rules
            .iter()
            .filter(|r| r.source_bucket == *bucket && r.covers(key))
        {
            let excused = dead_keys.contains(&(bucket.clone(), key.clone()));
            for name in &rule.targets {
                let target = &world.targets[name];
                let target_key = format!("{}{key}", target.key_prefix.as_deref().unwrap_or(""));
                let held = world
                    .memory
                    .get(&target.bucket, &target_key)
                    .map(|o| o.body);
                if held.as_deref() != Some(newest.body.as_slice()) && !excused {
                    log.violation(format!(
                        "quiet: target {name} does not hold the newest `{key}` (etag {})",
                        newest.etag
                    ));
                }
            }
            let last = completions
                .iter()
                .filter(|(_, c)| {
                    c.rule == rule.name && c.source.bucket == *bucket && c.source.key == *key
                })
                .max_by_key(|(at, _)| *at);
            match last {
                Some((_, c)) => {
                    let announced = log.with(|r| r.contents.get(&c.source.etag).cloned());
                    if announced.as_deref() != Some(newest.body.as_slice()) && !excused {
                        log.violation(format!(
                            "quiet: the last completion of `{key}` names etag {}, the newest is {}",
                            c.source.etag, newest.etag
                        ));
                    }
                }
                None if !excused => {
                    log.violation(format!(
                        "quiet: no completion ever published for `{key}` under rule {}",
                        rule.name
                    ));
                }
                None => {}
            }
        }
    }
    // Every commit of the table was announced by a table-committed event.
    let commits: Vec<String> = log.with(|r| r.table_needs.keys().cloned().collect());
    for commit in commits {
        let Some(version) = commit
            .strip_prefix(&format!("{TABLE_ROOT}_delta_log/"))
            .and_then(|n| n.get(..20))
            .and_then(|v| v.parse::<u64>().ok())
        else {
            continue;
        };
        let announced = log.with(|r| {
            r.tables
                .iter()
                .any(|(_, t)| t.rule == "tables" && t.version == version)
        });
        if !announced && !dead_keys.contains(&(TABLE_BUCKET.to_owned(), commit.clone())) {
            log.violation(format!(
                "quiet: commit {version} of {TABLE_ROOT} was never announced"
            ));
        }
    }
    // No message is acknowledged without its completion or a reason (superseded: the source
    // moved on; test events and re-checks carry no object).
    // A held table object's message is handed over to a re-check message carrying it (then to
    // the next re-check): it is acknowledged when the last message of that chain is deleted.
    let deleted: Vec<(String, Instant, Notification)> = world
        .queue
        .deletions()
        .into_iter()
        .filter_map(|(id, at)| {
            let body = world.queue.body_of(&id)?;
            decode(&body).ok().map(|n| (id, at, n))
        })
        .collect();
    // Or the chain ends in the dead-letter queue (checked above: alerted).
    let dead_rechecks: Vec<Box<s3_replicator::event::PartitionRecheck>> = dead
        .iter()
        .filter_map(|(_, body)| match decode(body) {
            Ok(Notification::Recheck(r)) if r.table => Some(r),
            _ => None,
        })
        .collect();
    let held = |key: &str, etag: &Option<String>, after: Instant| {
        deleted.iter().any(|(_, at, n)| {
            matches!(n, Notification::Recheck(r)
                if r.table && r.marker.key == key && r.marker.etag == *etag && *at > after)
        }) || dead_rechecks
            .iter()
            .any(|r| r.marker.key == key && r.marker.etag == *etag)
    };
    for (id, at, notification) in &deleted {
        let (id, at) = (id.clone(), *at);
        let objects = match notification {
            Notification::Objects { objects, .. } => objects.clone(),
            Notification::Recheck(r) if r.table => vec![r.marker.clone()],
            _ => continue,
        };
        for object in objects {
            if held(&object.key, &object.etag, at) {
                continue;
            }
            let etag = object.etag.clone().unwrap_or_default();
            let completed = completions
                .iter()
                .any(|(_, c)| c.source.key == object.key && c.source.etag == etag);
            // Superseded: a later write of the key (by sequencer) happened before the delete;
            // its own event announces the key.
            let sequencer = object
                .sequencer
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let superseded = puts.iter().any(|p| {
                p.bucket == object.bucket
                    && p.key == object.key
                    && p.at <= at
                    && p.sequencer > sequencer
            }) || deletes.iter().any(|d| {
                // Or deleted since: nothing is left to announce (the delete is announced).
                d.bucket == object.bucket
                    && d.key == object.key
                    && d.at <= at
                    && d.sequencer > sequencer
            });
            if !completed && !superseded {
                log.violation(format!(
                    "message {id} for `{}` (etag {etag}) acknowledged without a completion",
                    object.key
                ));
            }
        }
    }
    // No alert storm: at most a first alert and a summary per (kind, target) per window, in
    // each daemon process (aggregation is per process).
    let mut by_kind: BTreeMap<(usize, String, String), Vec<Instant>> = BTreeMap::new();
    for (at, daemon, alert) in &alerts {
        // Grouped as the daemon groups them: by target, or by rule for an alert about no target.
        let group = match &alert.target {
            Some(target) => target.name.clone(),
            None => format!("rule {}", alert.rule.as_deref().unwrap_or("-")),
        };
        by_kind
            .entry((*daemon, alert.kind.as_str().to_owned(), group))
            .or_default()
            .push(*at);
    }
    for ((_, kind, target), instants) in by_kind {
        for (i, start) in instants.iter().enumerate() {
            let within = instants[i..]
                .iter()
                .take_while(|t| **t - *start < ALERT_WINDOW)
                .count();
            if within > 2 {
                log.violation(format!("`alerts` storm: {within} {kind} alerts for target {target:?} within one window"));
                break;
            }
        }
    }
    // No multipart upload is left behind.
    let open = world.memory.open_uploads();
    if open > 0 {
        log.violation(format!("`uploads`: {open} multipart uploads left open"));
    }
}

/// Runs `seeds` and returns the reports with violations.
pub fn run_many(seeds: Range<u64>, bug: Option<Bug>) -> Vec<Report> {
    seeds
        .map(|seed| run(seed, bug))
        .filter(|r| !r.violations.is_empty())
        .collect()
}

/// Whether two runs of `seed` recorded the same history.
pub fn replays(seed: u64) -> bool {
    run(seed, None).history == run(seed, None).history
}

/// Z85 (ZeroMQ RFC 32) of 16 bytes: 20 characters, as Delta encodes a deletion vector's UUID.
fn z85(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 85] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    let mut out = String::with_capacity(20);
    for chunk in bytes.chunks(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        out.extend(digits.iter().map(|&d| d as char));
    }
    out
}
