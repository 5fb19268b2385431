//! Moving one object's bytes into one target: which copy method, and doing it.
//!
//! | method             | when                                                            |
//! |--------------------|-----------------------------------------------------------------|
//! | `server_side_copy` | `CopyObject`, objects up to `copy.multipart_threshold`          |
//! | `multipart_copy`   | `UploadPartCopy`, parts in parallel, above the threshold        |
//! | `streamed_copy`    | ranged `GetObject` → `PutObject` / `UploadPart`, through memory |
//!
//! Server-side copies are done by S3 with the *target's* principal, which must be able to read
//! the source. `copy_mode = "stream"` reads with the daemon's own (source) credentials and
//! writes with the target's instead; `copy_mode = "auto"` tries server-side and, when that is
//! denied, streams — and remembers the decision for the target, so that it is paid once.
//! Every replica is verified before it counts (see [`verify`]).

pub mod budget;
pub mod content;
pub mod guard;
pub mod multipart;
pub mod parts;
pub mod stream;
pub mod verify;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::warn;

use crate::config::{CopyConfig, CopyMode};
use crate::store::{
    CopyRequest, NewObject, ObjectHead, ObjectRef, ObjectStore, Operation, StoreError,
    StoreErrorKind, Written,
};
use budget::ByteBudget;
use parts::PartPlan;

/// How a target came to hold the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// One `CopyObject`, done by S3 itself.
    ServerSideCopy,
    /// A multipart upload of `UploadPartCopy` parts, done by S3 itself (large objects).
    MultipartCopy,
    /// Read from the source and written to the target through the daemon's memory (the target's
    /// principal cannot read the source, or `copy_mode = "stream"`).
    StreamedCopy,
    /// The target already held this exact source version (a redelivery, or another rule).
    AlreadyPresent,
}

impl Method {
    /// The stable name, as in the completion event (`server_side_copy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ServerSideCopy => "server_side_copy",
            Method::MultipartCopy => "multipart_copy",
            Method::StreamedCopy => "streamed_copy",
            Method::AlreadyPresent => "already_present",
        }
    }
}

/// `UploadPartCopy` calls in flight per multipart copy. They move no bytes through the daemon,
/// so only S3's per-prefix request rate bounds them; eight is what the SDKs' transfer managers
/// use by default.
const PART_COPIES_IN_FLIGHT: usize = 8;
/// Streamed parts in flight per copy, at most. The byte budget is the real bound; this one only
/// keeps a single huge object from queueing thousands of waiting futures.
const STREAMED_PARTS_IN_FLIGHT: usize = 16;

/// The copy limits of `[copy]`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub max_inflight_bytes: u64,
}

impl From<&CopyConfig> for Limits {
    fn from(config: &CopyConfig) -> Self {
        Self {
            multipart_threshold: config.multipart_threshold.0,
            part_size: config.part_size.0,
            max_inflight_bytes: config.max_inflight_bytes.0,
        }
    }
}

/// What a target's store is trusted with, and what it takes, for one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integrity {
    /// Its ETags are the ones S3 gives (an MD5 of the content for a single-part object without
    /// SSE-KMS). `false` for another S3 implementation: its replicas are streamed with a
    /// full-object checksum the daemon computes over the bytes, and proven by that.
    pub trusts_etags: bool,
    /// It takes a full-object checksum with the bytes (and checks it), and returns it.
    pub checksums: bool,
}

impl Default for Integrity {
    /// S3's.
    fn default() -> Self {
        Self {
            trusts_etags: true,
            checksums: true,
        }
    }
}

/// One object to write into one target.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The source, pinned to the announced version when there is one.
    pub source: &'a ObjectRef,
    /// The source as read: every read and part copy is pinned to its ETag.
    pub head: &'a ObjectHead,
    /// The replica: bucket, key, content headers, metadata (with the source record) and tags.
    pub replica: NewObject,
    /// How the target's replicas are proven.
    pub integrity: Integrity,
}

/// The copy machinery shared by every target of a process: limits, the byte budget and which
/// `auto` targets stream.
#[derive(Debug)]
pub struct Transfer {
    limits: Limits,
    budget: Arc<ByteBudget>,
    /// `auto` targets whose server-side copies were denied reading the source.
    streaming: Mutex<HashSet<String>>,
}

impl Default for Transfer {
    fn default() -> Self {
        Self::new(Limits::from(&CopyConfig::default()))
    }
}

impl Transfer {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            budget: ByteBudget::new(limits.max_inflight_bytes),
            streaming: Mutex::default(),
        }
    }

    /// The copy limits (`[copy]`).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The byte budget of streamed copies (its peak is what tests and benchmarks look at).
    pub fn budget(&self) -> &Arc<ByteBudget> {
        &self.budget
    }

    fn streams(&self, target: &str) -> bool {
        self.streaming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(target)
    }

    /// Writes `job` into `target_store` (the target named `target`, copied per `mode`),
    /// reading from `source` when streaming, and verifies the replica.
    pub async fn write<S: ObjectStore>(
        &self,
        source: &S,
        target_store: &S,
        target: &str,
        mode: CopyMode,
        job: &Job<'_>,
    ) -> Result<(Written, Method), StoreError> {
        let stream = match mode {
            CopyMode::Stream => true,
            CopyMode::ServerSide => false,
            CopyMode::Auto => self.streams(target),
        };
        if stream {
            return self.streamed(source, target_store, job).await;
        }
        match self.server_side(target_store, job).await {
            Err(e)
                if mode == CopyMode::Auto
                    && e.kind == StoreErrorKind::AccessDenied
                    && e.operation.is_server_side_copy() =>
            {
                let result = self.streamed(source, target_store, job).await;
                // Remembered only when streaming worked: a denial that also stops the stream is
                // about writing the target, not about reading the source.
                if result.is_ok()
                    && self
                        .streaming
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(target.to_owned())
                {
                    warn!(message = "The target's principal may not read the source; this target's copies are streamed from now on.", target = %target, denied = %e);
                }
                result
            }
            other => other,
        }
    }

    async fn server_side<S: ObjectStore>(
        &self,
        store: &S,
        job: &Job<'_>,
    ) -> Result<(Written, Method), StoreError> {
        let (written, operation, method) = if job.head.size <= self.limits.multipart_threshold {
            let replica = &job.replica;
            let request = CopyRequest {
                source: job.source.clone(),
                source_if_match: Some(job.head.etag.clone()),
                bucket: replica.bucket.clone(),
                key: replica.key.clone(),
                headers: replica.headers.clone(),
                metadata: replica.metadata.clone(),
                tags: replica.tags.clone(),
                storage_class: replica.storage_class.clone(),
                sse_kms_key_id: replica.sse_kms_key_id.clone(),
                condition: replica.condition.clone(),
                object_lock: replica.object_lock.clone(),
            };
            let written = store.copy_object(&request).await?;
            (written, Operation::CopyObject, Method::ServerSideCopy)
        } else {
            let plan = self.plan(job, Operation::UploadPartCopy)?;
            let written = multipart::copy(store, job, plan, PART_COPIES_IN_FLIGHT).await?;
            (
                written,
                Operation::CompleteMultipartUpload,
                Method::MultipartCopy,
            )
        };
        verify::verify(store, job, &written, operation, None).await?;
        Ok((written, method))
    }

    async fn streamed<S: ObjectStore>(
        &self,
        source: &S,
        target: &S,
        job: &Job<'_>,
    ) -> Result<(Written, Method), StoreError> {
        // One request only for an object that also fits the budget: a threshold above
        // max_inflight_bytes must not let one whole object exceed the memory bound.
        let size = job.head.size;
        let whole = size <= self.limits.multipart_threshold && size <= self.budget.capacity();
        let ((written, sent), operation) = if whole && !job.integrity.trusts_etags {
            let written = stream::copy_whole_checksummed(source, target, job, &self.budget).await?;
            (written, Operation::PutObject)
        } else if whole {
            let written = stream::copy_whole(source, target, job, &self.budget).await?;
            (written, Operation::PutObject)
        } else {
            let plan = self.plan(job, Operation::UploadPart)?;
            let in_flight = (self.budget.capacity() / plan.part_size)
                .clamp(2, STREAMED_PARTS_IN_FLIGHT as u64) as usize;
            let written = if job.integrity.trusts_etags {
                stream::copy_parts(source, target, job, plan, in_flight, &self.budget).await?
            } else {
                stream::copy_parts_checksummed(source, target, job, plan, in_flight, &self.budget)
                    .await?
            };
            (written, Operation::CompleteMultipartUpload)
        };
        verify::verify(target, job, &written, operation, Some(&sent)).await?;
        Ok((written, Method::StreamedCopy))
    }

    fn plan(&self, job: &Job<'_>, operation: Operation) -> Result<PartPlan, StoreError> {
        PartPlan::new(job.head.size, self.limits.part_size).map_err(|e| {
            StoreError::new(
                operation,
                &job.replica.bucket,
                &job.replica.key,
                StoreErrorKind::Other,
                e.to_string(),
            )
        })
    }
}
