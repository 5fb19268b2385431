//! Server-side multipart copy: `UploadPartCopy` for every part, several at once.
//!
//! No object byte passes through the daemon. The upload is created with the replica's content
//! headers, metadata and tags (a multipart upload inherits none of them from its parts), each
//! part is pinned to the source ETag, and the upload is aborted whatever goes wrong.

use futures::stream::{self, StreamExt};

use super::guard::UploadGuard;
use super::parts::PartPlan;
use super::Job;
use crate::store::{CompletedPart, ObjectStore, PartCopyRequest, StoreError, Written};

/// Copies `job` into `store`'s bucket with `UploadPartCopy`, `concurrency` parts at a time.
pub async fn copy<S: ObjectStore>(
    store: &S,
    job: &Job<'_>,
    plan: PartPlan,
    concurrency: usize,
) -> Result<Written, StoreError> {
    let guard = UploadGuard::new(
        store.clone(),
        store.create_multipart_upload(&job.replica).await?,
    );
    let upload = guard.upload().clone();
    let copies = stream::iter(plan.ranges())
        .map(|(part_number, range)| {
            let request = PartCopyRequest {
                source: job.source.clone(),
                source_if_match: Some(job.head.etag.clone()),
                upload: upload.clone(),
                part_number,
                range,
            };
            async move { store.upload_part_copy(&request).await }
        })
        .buffer_unordered(concurrency.max(1));
    finish(store, guard, collect(copies).await).await
}

/// Collects the parts in order; the first failure stops the others (dropping their futures).
pub(super) async fn collect(
    parts: impl futures::Stream<Item = Result<CompletedPart, StoreError>>,
) -> Result<Vec<CompletedPart>, StoreError> {
    futures::pin_mut!(parts);
    let mut done = Vec::new();
    while let Some(part) = parts.next().await {
        done.push(part?);
    }
    done.sort_by_key(|p| p.part_number);
    Ok(done)
}

/// Completes the upload with `parts`, or aborts it when the parts or the completion failed.
pub(super) async fn finish<S: ObjectStore>(
    store: &S,
    guard: UploadGuard<S>,
    parts: Result<Vec<CompletedPart>, StoreError>,
) -> Result<Written, StoreError> {
    let parts = match parts {
        Ok(parts) => parts,
        Err(e) => {
            guard.abort().await;
            return Err(e);
        }
    };
    match store
        .complete_multipart_upload(guard.upload(), &parts)
        .await
    {
        Ok(written) => {
            guard.completed();
            Ok(written)
        }
        Err(e) => {
            // Also after a completion whose answer was lost: aborting a completed upload
            // answers NoSuchUpload, which is ignored, and the replica is then verified.
            guard.abort().await;
            Err(e)
        }
    }
}
