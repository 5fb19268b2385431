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
use crate::store::{ObjectStore, StoreError, Written};

/// Copies `job` in one `GetObject` → `PutObject` (objects up to the multipart threshold).
pub async fn copy_whole<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    budget: &Arc<ByteBudget>,
) -> Result<Written, StoreError> {
    let size = job.head.size;
    if size == 0 {
        // A ranged read of an empty object is an invalid range: there is nothing to read.
        return target.put_object(&job.replica, Bytes::new()).await;
    }
    let _permit = budget.acquire(size).await;
    let body = source
        .get_object_range(job.source, Some(&job.head.etag), 0..size)
        .await?;
    let mut replica = job.replica.clone();
    replica.expected_checksum = job.head.checksum.clone();
    target.put_object(&replica, body).await
}

/// Copies `job` part by part, at most `concurrency` parts of it in flight, each within `budget`.
pub async fn copy_parts<S: ObjectStore>(
    source: &S,
    target: &S,
    job: &Job<'_>,
    plan: PartPlan,
    concurrency: usize,
    budget: &Arc<ByteBudget>,
) -> Result<Written, StoreError> {
    let guard = UploadGuard::new(
        target.clone(),
        target.create_multipart_upload(&job.replica).await?,
    );
    let upload = guard.upload().clone();
    let parts = stream::iter(plan.ranges())
        .map(|(part_number, range)| {
            let upload = upload.clone();
            async move {
                // Taken before reading: a part's bytes exist only while its permit is held.
                let _permit = budget.acquire(range.end - range.start).await;
                let body = source
                    .get_object_range(job.source, Some(&job.head.etag), range)
                    .await?;
                target.upload_part(&upload, part_number, body).await
            }
        })
        .buffer_unordered(concurrency.max(1));
    finish(target, guard, collect(parts).await).await
}
