//! Checking a replica after it was written: a copy is a success only when the target holds
//! the source's bytes.
//!
//! ETags cannot be compared in general (multipart and SSE-KMS ETags are not MD5s of the
//! content), so the replica is read back with `HeadObject`: its size must be the source's, it
//! must record the source ETag it was made from, and when both carry a full-object checksum of
//! the same algorithm those must be equal.

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
    // A single-part copy without SSE-KMS keeps the source's MD5 ETag: another ETag means other bytes.
    let source = job.head;
    if operation == Operation::CopyObject
        && !source.etag.contains('-')
        && source.server_side_encryption.as_deref() != Some("aws:kms")
        && job.replica.sse_kms_key_id.is_none()
        && written.etag != source.etag
    {
        return Err(mismatch(format!(
            "the replica's ETag {} differs from the source's {}",
            written.etag, source.etag
        )));
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
