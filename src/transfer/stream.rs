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
use super::guard::UploadGuard;
use super::multipart::{collect, finish};
use super::parts::PartPlan;
use super::Job;
use crate::store::{md5_hex, multipart_etag, ObjectStore, StoreError, Written};

/// Copies `job` in one `GetObject` → `PutObject` (objects up to the multipart threshold).
/// Returns what was written and the ETag S3 gives the bytes sent (their MD5, without SSE-KMS).
pub async fn copy_whole<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    budget: &Arc<ByteBudget>,
) -> Result<(Written, String), StoreError> {
    let size = job.head.size;
    if size == 0 {
        // A ranged read of an empty object is an invalid range: there is nothing to read.
        let written = target.put_object(&job.replica, Bytes::new()).await?;
        return Ok((written, md5_hex(&[])));
    }
    let _permit = budget.acquire(size).await;
    let body = source
        .get_object_range(job.source, Some(&job.head.etag), 0..size)
        .await?;
    let sent = md5_hex(&body);
    // `job.replica` carries the source's checksum: S3 refuses a body that does not match it.
    let written = target.put_object(&job.replica, body).await?;
    Ok((written, sent))
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
) -> Result<(Written, String), StoreError> {
    let guard = UploadGuard::new(
        target.clone(),
        target.create_multipart_upload(&job.replica).await?,
    );
    let upload = guard.upload().clone();
    // The MD5 of each part as read, by part number: what the parts' ETags must be.
    let sent = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let parts = stream::iter(plan.ranges())
        .map(|(part_number, range)| {
            let upload = upload.clone();
            let sent = &sent;
            async move {
                // Taken before reading: a part's bytes exist only while its permit is held.
                let _permit = budget.acquire(range.end - range.start).await;
                let body = source
                    .get_object_range(job.source, Some(&job.head.etag), range)
                    .await?;
                let md5 = md5_hex(&body);
                sent.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(part_number, md5);
                target.upload_part(&upload, part_number, body).await
            }
        })
        .buffer_unordered(concurrency.max(1));
    let written = finish(target, guard, collect(parts).await).await?;
    let sent = sent.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok((written, multipart_etag(sent.values().map(String::as_str))))
}
