//! Checking a replica after it was written: a copy is a success only when the target holds
//! the source's bytes.
//!
//! ETags cannot be compared in general (multipart and SSE-KMS ETags are not MD5s of the
//! content), so the replica is read back with `HeadObject`: its size must be the source's, it
//! must record the source ETag it was made from, and when both carry a full-object checksum of
//! the same algorithm those must be equal.
//!
//! One case needs no read-back: a single-request `CopyObject` of a single-part source without
//! SSE-KMS on either side. Its answer's ETag is then the MD5 of the bytes written, so an ETag
//! equal to the source's proves the content (and with it the size), and the metadata that
//! records the source is the one the request replaced it with (S3 answers 200 with an ETag only
//! for a write that took place). That is the common small-object copy, and the read-back would
//! be one `HeadObject` in four of its requests: the benchmark's profile showed the daemon's CPU
//! going almost entirely into the SDK's per-request work (README, Performance).

use tracing::debug;

use super::Job;
use crate::store::{
    ObjectRef, ObjectStore, Operation, StoreError, StoreErrorKind, Written, META_SOURCE_ETAG,
};

/// Fails with [`StoreErrorKind::BadResponse`] when the replica differs from the source.
pub async fn verify<S: ObjectStore>(
    store: &S,
    job: &Job<'_>,
    written: &Written,
    operation: Operation,
) -> Result<(), StoreError> {
    let bucket = &job.replica.bucket;
    let key = &job.replica.key;
    let mismatch =
        |what: String| StoreError::new(operation, bucket, key, StoreErrorKind::BadResponse, what);
    // A single-part copy without SSE-KMS keeps the source's MD5 ETag: the same ETag means the
    // same bytes, another ETag other bytes.
    let source = job.head;
    // Another ETag is read back first: a target bucket whose default encryption is SSE-KMS
    // gives every replica a non-MD5 ETag without the request asking for it.
    let md5_copy = operation == Operation::CopyObject && etag_is_md5(job);
    if md5_copy && written.etag == source.etag {
        return Ok(());
    }
    // The current object, not `written.version_id`: unversioned buckets may answer the write
    // with version "null", which not every implementation accepts back.
    let replica_ref = ObjectRef {
        bucket: bucket.clone(),
        key: key.clone(),
        version_id: None,
    };
    let Some(replica) = store.head_object(&replica_ref, None).await? else {
        return Err(mismatch(
            "the replica is missing right after it was written".into(),
        ));
    };
    if md5_copy && !is_kms(replica.server_side_encryption.as_deref()) {
        return Err(mismatch(format!(
            "the replica's ETag {} differs from the source's {}",
            written.etag, source.etag
        )));
    }
    if replica.size != source.size {
        return Err(mismatch(format!(
            "the replica has {} bytes, the source {}",
            replica.size, source.size
        )));
    }
    if replica.metadata.get(META_SOURCE_ETAG) != Some(&source.etag) {
        return Err(mismatch(format!(
            "the replica records source ETag {:?}, expected {}",
            replica.metadata.get(META_SOURCE_ETAG),
            source.etag
        )));
    }
    match (&source.checksum, &replica.checksum) {
        (Some(expected), Some(actual)) if expected.comparable_with(actual) => {
            if expected.value != actual.value {
                return Err(mismatch(format!(
                    "the replica's {} checksum {} differs from the source's {}",
                    expected.algorithm, actual.value, expected.value
                )));
            }
        }
        (Some(expected), _) => {
            debug!(message = "The replica has no checksum comparable with the source's; verified by size and source ETag.", bucket = %bucket, key = %key, algorithm = %expected.algorithm);
        }
        (None, _) => {}
    }
    Ok(())
}

/// Whether the source's and the replica's ETags are both the MD5 of the content: a single-part
/// source (multipart ETags end in `-N`) and no SSE-KMS on either side.
fn etag_is_md5(job: &Job<'_>) -> bool {
    !job.head.etag.contains('-')
        && !is_kms(job.head.server_side_encryption.as_deref())
        && job.replica.sse_kms_key_id.is_none()
}

/// `aws:kms` and `aws:kms:dsse`: encryptions whose ETags are not the MD5 of the content.
fn is_kms(server_side_encryption: Option<&str>) -> bool {
    server_side_encryption.is_some_and(|s| s.starts_with("aws:kms"))
}
