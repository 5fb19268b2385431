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
//! going almost entirely into the SDK's per-request work (docs/performance.md).

use tracing::debug;

use super::stream::Sent;
use super::{content, Job};
use crate::store::{
    ObjectHead, ObjectRef, ObjectStore, Operation, StoreError, StoreErrorKind, Written,
    META_CONTENT_CHECKSUM, META_SOURCE_ETAG,
};

/// What the content of a replica is known to be, next to its source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Proven equal: the same MD5 ETag, or the same full-object checksum.
    Same,
    /// Proven different, and why.
    Differs(String),
    /// Nothing comparable: no MD5 ETags on both sides, no full-object checksums of one algorithm.
    Unknown,
}

/// Compares a replica's content with its source's by what S3 computed over the bytes, never by
/// the metadata the replica records: MD5 ETags when both are single-part without SSE-KMS, else
/// full-object checksums of the same algorithm. Both the post-write check and the decision that
/// a target already holds an object use this, so a replica that once failed its check can never
/// later be taken for a good one.
pub fn proof(source: &ObjectHead, replica: &ObjectHead) -> Proof {
    proof_on(source, replica, true)
}

/// [`proof`] on a store whose ETags are trusted (`trusts_etags`: S3) or not (another
/// implementation, whose ETags may be anything): then only full-object checksums prove.
pub fn proof_on(source: &ObjectHead, replica: &ObjectHead, trusts_etags: bool) -> Proof {
    if replica.size != source.size {
        return Proof::Differs(format!(
            "the replica has {} bytes, the source {}",
            replica.size, source.size
        ));
    }
    if trusts_etags && etag_is_md5(source) && etag_is_md5(replica) {
        return if replica.etag == source.etag {
            Proof::Same
        } else {
            Proof::Differs(format!(
                "the replica's ETag {} differs from the source's {}",
                replica.etag, source.etag
            ))
        };
    }
    match (&source.checksum, &replica.checksum) {
        (Some(expected), Some(actual)) if expected.comparable_with(actual) => {
            if expected.value == actual.value {
                Proof::Same
            } else {
                Proof::Differs(format!(
                    "the replica's {} checksum {} differs from the source's {}",
                    expected.algorithm, actual.value, expected.value
                ))
            }
        }
        _ => Proof::Unknown,
    }
}

/// Fails with [`StoreErrorKind::BadResponse`] when the replica differs from the source.
///
/// `sent` is the ETag S3 gives the bytes a streamed copy sent (their MD5, or the multipart ETag
/// of their parts' MD5s): the daemon read them from the pinned source, so a replica without
/// SSE-KMS that has this ETag holds the source's bytes, and one with another ETag does not —
/// whatever checksums the source has.
pub async fn verify<S: ObjectStore>(
    store: &S,
    job: &Job<'_>,
    written: &Written,
    operation: Operation,
    sent: Option<&Sent>,
) -> Result<(), StoreError> {
    if !job.integrity.trusts_etags {
        return verify_by_checksum(store, job, operation, sent).await;
    }
    let sent = match sent {
        Some(Sent::Etag(etag)) => Some(etag.as_str()),
        _ => None,
    };
    let bucket = &job.replica.bucket;
    let key = &job.replica.key;
    let mismatch =
        |what: String| StoreError::new(operation, bucket, key, StoreErrorKind::BadResponse, what);
    let source = job.head;
    // A single-part copy without SSE-KMS keeps the source's MD5 ETag: the same ETag means the
    // same bytes. Another ETag is read back first: a target bucket whose default encryption is
    // SSE-KMS gives every replica a non-MD5 ETag without the request asking for it.
    let md5_copy = operation == Operation::CopyObject
        && etag_is_md5(source)
        && job.replica.sse_kms_key_id.is_none();
    if md5_copy && written.etag == source.etag {
        return Ok(());
    }
    let replica = written_replica(store, job, operation).await?;
    if md5_copy && etag_is_md5(&replica) {
        // The copy answered with another ETag than the source's MD5: other bytes were written.
        return Err(mismatch(format!(
            "the replica's ETag {} differs from the source's {}",
            written.etag, source.etag
        )));
    }
    if replica.metadata.get(META_SOURCE_ETAG) != Some(&source.etag) {
        return Err(mismatch(format!(
            "the replica records source ETag {:?}, expected {}",
            replica.metadata.get(META_SOURCE_ETAG),
            source.etag
        )));
    }
    if let Some(sent) = sent.filter(|_| !is_kms(replica.server_side_encryption.as_deref())) {
        return if replica.etag == sent {
            Ok(())
        } else {
            Err(mismatch(format!(
                "the replica's ETag {} is not the one of the bytes sent ({sent}): they were damaged on the way",
                replica.etag
            )))
        };
    }
    match proof(source, &replica) {
        Proof::Same => Ok(()),
        Proof::Differs(why) => Err(mismatch(why)),
        Proof::Unknown => {
            // Written just now by S3 from the pinned source (or with the source's checksum,
            // which S3 checked): trusted for this write. A later delivery does not trust it
            // (see `replicate`): without a proof the replica is written again.
            debug!(message = "The replica has nothing comparable with the source's content; verified by the write itself, size and source record.", bucket = %bucket, key = %key);
            Ok(())
        }
    }
}

/// The check of a replica on a store whose ETags are not trusted, written by a streamed copy
/// that computed the full-object checksum of the bytes it sent (`sent`). Read back, the replica
/// must have the source's size and record the source's ETag, and then:
/// - a full-object checksum of the same algorithm returned by the store must be the one
///   computed (the store computed it over what it holds, or at least accepted it with them);
/// - without one, the checksum recorded in its metadata must be the one computed, which proves
///   that this write is what the key holds, not its bytes;
/// - a multipart replica of a source without a full-object checksum records none: size and
///   source record only.
async fn verify_by_checksum<S: ObjectStore>(
    store: &S,
    job: &Job<'_>,
    operation: Operation,
    sent: Option<&Sent>,
) -> Result<(), StoreError> {
    let bucket = &job.replica.bucket;
    let key = &job.replica.key;
    let mismatch =
        |what: String| StoreError::new(operation, bucket, key, StoreErrorKind::BadResponse, what);
    let Some(Sent::Checksum(computed)) = sent else {
        return Err(mismatch(
            "a replica on a store whose ETags are not trusted was not written with a checksum"
                .into(),
        ));
    };
    let replica = written_replica(store, job, operation).await?;
    if replica.size != job.head.size {
        return Err(mismatch(format!(
            "the replica has {} bytes, the source {}",
            replica.size, job.head.size
        )));
    }
    if replica.metadata.get(META_SOURCE_ETAG) != Some(&job.head.etag) {
        return Err(mismatch(format!(
            "the replica records source ETag {:?}, expected {}",
            replica.metadata.get(META_SOURCE_ETAG),
            job.head.etag
        )));
    }
    if let Some(returned) = replica
        .checksum
        .as_ref()
        .filter(|c| c.comparable_with(computed))
    {
        return if returned.value == computed.value {
            Ok(())
        } else {
            Err(mismatch(format!(
                "the store reports {} checksum {} for the replica, the bytes sent have {}",
                computed.algorithm, returned.value, computed.value
            )))
        };
    }
    match replica.metadata.get(META_CONTENT_CHECKSUM) {
        Some(recorded) if *recorded == content::recorded(computed) => {
            debug!(message = "The store returns no checksum; the replica is verified by its size and the checksum it records.", bucket = %bucket, key = %key);
            Ok(())
        }
        Some(recorded) => Err(mismatch(format!(
            "the replica records checksum {recorded}, the bytes sent have {}",
            content::recorded(computed)
        ))),
        None => {
            debug!(message = "The store returns no checksum; the replica is verified by its size and source record.", bucket = %bucket, key = %key);
            Ok(())
        }
    }
}

/// Whether an object's ETag is the MD5 of its content: single-part (multipart ETags end in
/// `-N`) and not SSE-KMS.
pub fn etag_is_md5(head: &ObjectHead) -> bool {
    !head.etag.contains('-') && !is_kms(head.server_side_encryption.as_deref())
}

/// The replica just written, read back: the current object, not the write's version id
/// (unversioned buckets may answer the write with version "null", which not every
/// implementation accepts back).
async fn written_replica<S: ObjectStore>(
    store: &S,
    job: &Job<'_>,
    operation: Operation,
) -> Result<ObjectHead, StoreError> {
    let (bucket, key) = (&job.replica.bucket, &job.replica.key);
    let replica_ref = ObjectRef {
        bucket: bucket.clone(),
        key: key.clone(),
        version_id: None,
    };
    store.head_object(&replica_ref, None).await?.ok_or_else(|| {
        StoreError::new(
            operation,
            bucket,
            key,
            StoreErrorKind::BadResponse,
            "the replica is missing right after it was written",
        )
    })
}

/// `aws:kms` and `aws:kms:dsse`: encryptions whose ETags are not the MD5 of the content.
fn is_kms(server_side_encryption: Option<&str>) -> bool {
    server_side_encryption.is_some_and(|s| s.starts_with("aws:kms"))
}
