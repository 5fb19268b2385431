//! A multipart upload that is aborted unless it was completed.
//!
//! Incomplete uploads are invisible in the bucket listing yet billed as storage until a
//! lifecycle rule removes them. Every way out of a multipart copy — an error, a panic, the
//! copy's future being dropped (cancellation, shutdown) — must therefore abort the upload.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use crate::store::{ObjectStore, UploadRef};

/// Aborts started from `Drop` and not finished yet. A shutdown waits for them: the process
/// must not exit (ending the runtime and its tasks) with an abort still on its way.
static ABORTS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Waits until every abort started by a dropped guard has finished, or `timeout` passed;
/// `true` when none is left.
pub async fn aborts_finished(timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while ABORTS_IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Owns an upload in progress; aborts it on [`abort`](Self::abort) or when dropped un-completed.
pub struct UploadGuard<S: ObjectStore> {
    store: S,
    upload: Option<UploadRef>,
}

impl<S: ObjectStore> UploadGuard<S> {
    pub fn new(store: S, upload: UploadRef) -> Self {
        Self {
            store,
            upload: Some(upload),
        }
    }

    pub fn upload(&self) -> &UploadRef {
        self.upload
            .as_ref()
            .expect("the upload is only taken by consuming the guard")
    }

    /// The value of the full-object checksum the upload was created with, known once its parts
    /// were read: what its completion sends.
    pub fn set_checksum_value(&mut self, value: &str) {
        if let Some(checksum) = self.upload.as_mut().and_then(|u| u.checksum.as_mut()) {
            checksum.value = value.to_owned();
        }
    }

    /// The upload was completed: nothing is left to clean up.
    pub fn completed(mut self) {
        self.upload = None;
    }

    /// Aborts the upload now and waits for the answer (the caller is failing anyway).
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take() {
            abort(&self.store, &upload).await;
        }
    }
}

async fn abort<S: ObjectStore>(store: &S, upload: &UploadRef) {
    match store.abort_multipart_upload(upload).await {
        Ok(()) => {
            info!(message = "Incomplete multipart upload aborted.", bucket = %upload.bucket, key = %upload.key, upload_id = %upload.upload_id)
        }
        Err(e) => {
            warn!(message = "Aborting a multipart upload failed; a lifecycle rule (AbortIncompleteMultipartUpload) must remove it.", bucket = %upload.bucket, key = %upload.key, upload_id = %upload.upload_id, error = %e)
        }
    }
}

impl<S: ObjectStore> Drop for UploadGuard<S> {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        // Dropped without completing or aborting: the copy was cancelled or panicked. Drop
        // cannot wait, so the abort runs as a task of its own.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let store = self.store.clone();
                ABORTS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
                runtime.spawn(async move {
                    abort(&store, &upload).await;
                    ABORTS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(_) => {
                warn!(message = "A multipart upload was dropped outside the runtime and could not be aborted.", bucket = %upload.bucket, key = %upload.key, upload_id = %upload.upload_id)
            }
        }
    }
}
