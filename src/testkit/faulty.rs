//! A failure-injecting wrapper around any [`ObjectStore`], for tests.
//!
//! Some failures cannot be provoked on the local emulator — it enforces no IAM, so a
//! server-side copy is never denied reading the source — and some would need a slow network
//! (a copy that takes minutes). This wrapper injects them at the trait seam, in front of the
//! real S3 adapter or the in-memory fake: deny an operation, fail one part, slow an operation
//! down, corrupt the bytes written, misreport a copy's ETag, act as a bucket encrypted with
//! SSE-KMS by default. Every call is counted.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::store::{
    CompletedPart, CopyRequest, Deleted, ListPage, NewObject, ObjectHead, ObjectRef, ObjectStore,
    Operation, PartCopyRequest, StoreError, StoreErrorKind, Tag, UploadRef, WriteCondition,
    Written,
};

#[derive(Debug, Default)]
struct Faults {
    denied: HashSet<Operation>,
    failing_parts: HashSet<(Operation, u32)>,
    delays: HashMap<Operation, Duration>,
    corrupt_writes: bool,
    /// Copies answer with another ETag than their bytes have.
    misreport_copy_etags: bool,
    /// Written objects get non-MD5 ETags and heads report `aws:kms`.
    kms_by_default: bool,
    calls: HashMap<Operation, usize>,
}

/// `inner` with injected failures; clones share the faults and the counters.
#[derive(Debug, Clone)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Arc<Mutex<Faults>>,
}

impl<S: ObjectStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Arc::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call of `operation` fails with access denied, as S3 answers a principal that may
    /// not read the source of a copy.
    pub fn deny(&self, operation: Operation) -> &Self {
        self.faults().denied.insert(operation);
        self
    }

    /// Part `part_number` of `operation` (`UploadPart`, `UploadPartCopy`) fails.
    pub fn fail_part(&self, operation: Operation, part_number: u32) -> &Self {
        self.faults().failing_parts.insert((operation, part_number));
        self
    }

    /// Every call of `operation` first waits `delay`.
    pub fn delay(&self, operation: Operation, delay: Duration) -> &Self {
        self.faults().delays.insert(operation, delay);
        self
    }

    /// The bodies of `PutObject` and `UploadPart` are altered before they are written.
    pub fn corrupt_writes(&self) -> &Self {
        self.faults().corrupt_writes = true;
        self
    }

    /// `CopyObject` answers with an ETag other than the one of the bytes it wrote, as a copy
    /// that went wrong would.
    pub fn misreport_copy_etags(&self) -> &Self {
        self.faults().misreport_copy_etags = true;
        self
    }

    /// Acts as a bucket whose default encryption is SSE-KMS: every write answers with an ETag
    /// that is not the content's MD5, and `HeadObject` reports `aws:kms`.
    pub fn encrypt_with_kms_by_default(&self) -> &Self {
        self.faults().kms_by_default = true;
        self
    }

    /// How often `operation` was called (including injected failures).
    pub fn calls(&self, operation: Operation) -> usize {
        self.faults().calls.get(&operation).copied().unwrap_or(0)
    }

    async fn before(
        &self,
        operation: Operation,
        bucket: &str,
        key: &str,
        part: Option<u32>,
    ) -> Result<(), StoreError> {
        let (delay, denied, failing) = {
            let mut faults = self.faults();
            *faults.calls.entry(operation).or_default() += 1;
            (
                faults.delays.get(&operation).copied(),
                faults.denied.contains(&operation),
                part.is_some_and(|p| faults.failing_parts.contains(&(operation, p))),
            )
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if denied {
            return Err(StoreError::new(
                operation,
                bucket,
                key,
                StoreErrorKind::AccessDenied,
                "AccessDenied: injected by the test",
            ));
        }
        if failing {
            return Err(StoreError::new(
                operation,
                bucket,
                key,
                StoreErrorKind::Other,
                format!("part {} failed: injected by the test", part.unwrap_or(0)),
            ));
        }
        Ok(())
    }

    /// The ETag a write answers with, after the faults that change it.
    fn answered(&self, mut written: Written, copy: bool) -> Written {
        let faults = self.faults();
        if faults.kms_by_default || (copy && faults.misreport_copy_etags) {
            let first = if written.etag.starts_with('0') {
                "1"
            } else {
                "0"
            };
            written.etag = format!("{first}{}", written.etag.get(1..).unwrap_or_default());
        }
        written
    }

    fn maybe_corrupt(&self, body: Bytes) -> Bytes {
        if !self.faults().corrupt_writes || body.is_empty() {
            return body;
        }
        let mut altered = body.to_vec();
        altered[0] ^= 0xff;
        Bytes::from(altered)
    }
}

impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
    async fn head_object(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
    ) -> Result<Option<ObjectHead>, StoreError> {
        self.before(Operation::HeadObject, &object.bucket, &object.key, None)
            .await?;
        let mut head = self.inner.head_object(object, if_match).await?;
        if self.faults().kms_by_default {
            if let Some(head) = &mut head {
                head.server_side_encryption = Some("aws:kms".into());
            }
        }
        Ok(head)
    }

    async fn get_object_tagging(&self, object: &ObjectRef) -> Result<Vec<Tag>, StoreError> {
        self.before(
            Operation::GetObjectTagging,
            &object.bucket,
            &object.key,
            None,
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
        self.before(Operation::ListObjects, bucket, prefix, None)
            .await?;
        self.inner
            .list_objects(bucket, prefix, start_after, continuation)
            .await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, StoreError> {
        self.before(Operation::CopyObject, &request.bucket, &request.key, None)
            .await?;
        let written = self.inner.copy_object(request).await?;
        Ok(self.answered(written, true))
    }

    async fn get_object_range(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.before(Operation::GetObject, &object.bucket, &object.key, None)
            .await?;
        self.inner.get_object_range(object, if_match, range).await
    }

    async fn put_object(&self, object: &NewObject, body: Bytes) -> Result<Written, StoreError> {
        self.before(Operation::PutObject, &object.bucket, &object.key, None)
            .await?;
        let body = self.maybe_corrupt(body);
        let written = self.inner.put_object(object, body).await?;
        Ok(self.answered(written, false))
    }

    async fn create_multipart_upload(&self, object: &NewObject) -> Result<UploadRef, StoreError> {
        self.before(
            Operation::CreateMultipartUpload,
            &object.bucket,
            &object.key,
            None,
        )
        .await?;
        self.inner.create_multipart_upload(object).await
    }

    async fn upload_part_copy(
        &self,
        request: &PartCopyRequest,
    ) -> Result<CompletedPart, StoreError> {
        let upload = &request.upload;
        self.before(
            Operation::UploadPartCopy,
            &upload.bucket,
            &upload.key,
            Some(request.part_number),
        )
        .await?;
        self.inner.upload_part_copy(request).await
    }

    async fn upload_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, StoreError> {
        self.before(
            Operation::UploadPart,
            &upload.bucket,
            &upload.key,
            Some(part_number),
        )
        .await?;
        let body = self.maybe_corrupt(body);
        self.inner.upload_part(upload, part_number, body).await
    }

    async fn complete_multipart_upload(
        &self,
        upload: &UploadRef,
        parts: &[CompletedPart],
    ) -> Result<Written, StoreError> {
        self.before(
            Operation::CompleteMultipartUpload,
            &upload.bucket,
            &upload.key,
            None,
        )
        .await?;
        let written = self.inner.complete_multipart_upload(upload, parts).await?;
        Ok(self.answered(written, false))
    }

    async fn abort_multipart_upload(&self, upload: &UploadRef) -> Result<(), StoreError> {
        self.before(
            Operation::AbortMultipartUpload,
            &upload.bucket,
            &upload.key,
            None,
        )
        .await?;
        self.inner.abort_multipart_upload(upload).await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<Deleted, StoreError> {
        self.before(Operation::DeleteObject, bucket, key, None)
            .await?;
        self.inner.delete_object(bucket, key, condition).await
    }

    async fn restore_object(
        &self,
        object: &ObjectRef,
        tier: &str,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        self.before(Operation::RestoreObject, &object.bucket, &object.key, None)
            .await?;
        self.inner.restore_object(object, tier, days).await
    }
}
