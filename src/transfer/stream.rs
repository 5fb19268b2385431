//! Streamed copy: ranged `GetObject` with the source's credentials, `UploadPart` (or one
//! `PutObject`) with the target's.
//!
//! For targets whose principal cannot read the source (another account, no shared role).
//! Parts are read and written concurrently, so reading one part overlaps writing another;
//! every part first takes its size from the process-wide [`ByteBudget`], which bounds the
//! object bytes all streamed copies hold together.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt};

use super::budget::ByteBudget;
use super::content;
use super::guard::UploadGuard;
use super::multipart::{collect, finish};
use super::parts::PartPlan;
use super::Job;
use crate::store::{
    md5_hex, multipart_etag, Checksum, CompletedPart, ObjectStore, Operation, StoreError,
    StoreErrorKind, Written, META_CONTENT_CHECKSUM,
};

/// What a streamed copy knows about the bytes it sent, for the check of the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The ETag S3 gives them (their MD5, or the multipart ETag of their parts' MD5s).
    Etag(String),
    /// Their full-object checksum, as the daemon computed it.
    Checksum(Checksum),
}

/// Copies `job` in one `GetObject` → `PutObject` (objects up to the multipart threshold).
/// Returns what was written and the ETag S3 gives the bytes sent (their MD5, without SSE-KMS).
pub async fn copy_whole<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    budget: &Arc<ByteBudget>,
) -> Result<(Written, Sent), StoreError> {
    let size = job.head.size;
    if size == 0 {
        // A ranged read of an empty object is an invalid range: there is nothing to read.
        let written = target.put_object(&job.replica, Bytes::new()).await?;
        return Ok((written, Sent::Etag(md5_hex(&[]))));
    }
    let _permit = budget.acquire(size).await;
    let body = source
        .get_object_range(job.source, Some(&job.head.etag), 0..size)
        .await?;
    let sent = md5_hex(&body);
    // `job.replica` carries the source's checksum: S3 refuses a body that does not match it.
    let written = target.put_object(&job.replica, body).await?;
    Ok((written, Sent::Etag(sent)))
}

/// [`copy_whole`] for a store whose ETags are not trusted: the body's full-object checksum is
/// computed as read, compared with the source's when it has one of the same algorithm, recorded
/// in the replica's metadata ([`META_CONTENT_CHECKSUM`]) and, when the store takes checksums,
/// sent with the body for the store to check.
pub async fn copy_whole_checksummed<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    budget: &Arc<ByteBudget>,
) -> Result<(Written, Sent), StoreError> {
    let size = job.head.size;
    let _permit = budget.acquire(size).await;
    let body = if size == 0 {
        Bytes::new()
    } else {
        source
            .get_object_range(job.source, Some(&job.head.etag), 0..size)
            .await?
    };
    let computed = content::checksum_of(content::algorithm_for(job.head), &body);
    same_as_source(job, &computed)?;
    let mut replica = job.replica.clone();
    replica.metadata.insert(
        META_CONTENT_CHECKSUM.to_owned(),
        content::recorded(&computed),
    );
    replica.expected_checksum = job.integrity.checksums.then(|| computed.clone());
    let written = target.put_object(&replica, body).await?;
    Ok((written, Sent::Checksum(computed)))
}

/// Fails when `computed` (over the bytes read) is not the source's full-object checksum of the
/// same algorithm: the bytes read are not the source's.
fn same_as_source(job: &Job<'_>, computed: &Checksum) -> Result<(), StoreError> {
    match &job.head.checksum {
        Some(expected) if expected.comparable_with(computed) && expected.value != computed.value => {
            Err(StoreError::new(
                Operation::GetObject,
                &job.source.bucket,
                &job.source.key,
                StoreErrorKind::BadResponse,
                format!(
                    "the bytes read have {} checksum {}, the source's is {}: they were damaged on the way",
                    computed.algorithm, computed.value, expected.value
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Copies `job` part by part, at most `concurrency` parts of it in flight, each within `budget`.
/// Returns what was written and the ETag S3 gives an object of the parts sent.
pub async fn copy_parts<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    plan: PartPlan,
    concurrency: usize,
    budget: &Arc<ByteBudget>,
) -> Result<(Written, Sent), StoreError> {
    let guard = UploadGuard::new(
        target.clone(),
        target.create_multipart_upload(&job.replica).await?,
    );
    // The MD5 of each part as read, by part number: what the parts' ETags must be.
    let (parts, md5s) = stream_parts(
        source,
        target,
        job,
        &guard,
        plan,
        concurrency,
        budget,
        |body| md5_hex(body),
    )
    .await;
    let written = finish(target, guard, parts).await?;
    Ok((
        written,
        Sent::Etag(multipart_etag(md5s.values().map(String::as_str))),
    ))
}

/// Reads each part of `plan` from the source (under the byte budget: a part's bytes exist only
/// while its permit is held), takes its `digest` as read, and uploads it to `guard`'s upload,
/// `concurrency` at a time: the parts (in order, or the first failure) and the digests by part
/// number.
#[allow(clippy::too_many_arguments)]
async fn stream_parts<S: ObjectStore, D: Send>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    guard: &UploadGuard<S>,
    plan: PartPlan,
    concurrency: usize,
    budget: &Arc<ByteBudget>,
    digest: impl Fn(&Bytes) -> D + Sync,
) -> (
    Result<Vec<CompletedPart>, StoreError>,
    std::collections::BTreeMap<u32, D>,
) {
    let upload = guard.upload().clone();
    let digests = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let parts = stream::iter(plan.ranges())
        .map(|(part_number, range)| {
            let upload = upload.clone();
            let (digests, digest) = (&digests, &digest);
            async move {
                // Taken before reading: a part's bytes exist only while its permit is held.
                let _permit = budget.acquire(range.end - range.start).await;
                let body = source
                    .get_object_range(job.source, Some(&job.head.etag), range)
                    .await?;
                let value = digest(&body);
                digests
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(part_number, value);
                target.upload_part(&upload, part_number, body).await
            }
        })
        .buffer_unordered(concurrency.max(1));
    let parts = collect(parts).await;
    (
        parts,
        digests.into_inner().unwrap_or_else(|e| e.into_inner()),
    )
}

/// [`copy_parts`] for a store whose ETags are not trusted: each part's CRC is computed as read
/// and the parts' CRCs combined into the object's full-object checksum, which must be the
/// source's when it has one of the same algorithm before the upload is completed. When the
/// store takes checksums, the upload is a `FULL_OBJECT` one of that algorithm and its completion
/// carries the value; the replica's metadata records it when it was known before the upload
/// began (the source's).
pub async fn copy_parts_checksummed<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    plan: PartPlan,
    concurrency: usize,
    budget: &Arc<ByteBudget>,
) -> Result<(Written, Sent), StoreError> {
    let algorithm = content::algorithm_for(job.head);
    let known = job
        .head
        .checksum
        .clone()
        .filter(|c| c.full_object && c.algorithm == algorithm);
    let mut replica = job.replica.clone();
    if let Some(known) = &known {
        replica
            .metadata
            .insert(META_CONTENT_CHECKSUM.to_owned(), content::recorded(known));
    }
    // The value is set once the parts are read, before the completion.
    replica.expected_checksum = job.integrity.checksums.then(|| Checksum {
        algorithm,
        value: String::new(),
        full_object: true,
    });
    let mut guard = UploadGuard::new(
        target.clone(),
        target.create_multipart_upload(&replica).await?,
    );
    let (parts, crcs) = stream_parts(
        source,
        target,
        job,
        &guard,
        plan,
        concurrency,
        budget,
        |body| content::crc(algorithm, body),
    )
    .await;
    let computed = content::full_object(algorithm, content::combine(algorithm, crcs.into_values()));
    let parts = parts.and_then(|parts| {
        same_as_source(job, &computed)?;
        Ok(parts)
    });
    guard.set_checksum_value(&computed.value);
    let written = finish(target, guard, parts).await?;
    Ok((written, Sent::Checksum(computed)))
}
