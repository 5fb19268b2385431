//! An in-memory [`ObjectStore`] for testing the replication logic without a network.
//!
//! Several [`MemoryStore`] handles share one [`World`], as several principals share S3:
//! each handle is a principal, and access can be denied per principal and bucket.
//!
//! What it models of S3, because the replication logic relies on it: conditional writes
//! (`If-Match`, `If-None-Match: *` on `CopyObject`, `PutObject` and `CompleteMultipartUpload`,
//! and `x-amz-copy-source-if-match`, all of which moto ignores on `CopyObject`), full-object
//! checksums checked on `PutObject` and `CompleteMultipartUpload` (moto stores checksums but
//! never checks them), composite checksums, and versioned buckets (every put a new version,
//! reads by version id).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::store::{
    md5_hex, unquote_etag, Checksum, ChecksumAlgorithm, CompletedPart, ContentHeaders, CopyRequest,
    ListPage, Listed, NewObject, ObjectHead, ObjectRef, ObjectStore, Operation, PartCopyRequest,
    StoreError, StoreErrorKind, Tag, UploadRef, WriteCondition, Written,
};

/// One stored object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub etag: String,
    pub headers: ContentHeaders,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub storage_class: Option<String>,
    /// The object's additional checksum: its algorithm, and whether it is a full-object one.
    /// `None` is S3's default for new objects: a full-object CRC64NVME.
    pub checksum: Option<(ChecksumAlgorithm, bool)>,
    /// Its version id, in a versioned bucket.
    pub version_id: Option<String>,
}

impl StoredObject {
    /// The checksum S3 reports for this object.
    fn checksum(&self) -> Checksum {
        let (algorithm, full_object) = self
            .checksum
            .unwrap_or((ChecksumAlgorithm::Crc64Nvme, true));
        let mut value = checksum_value(algorithm, &self.body);
        if !full_object {
            value.push_str("-2");
        }
        Checksum {
            algorithm,
            value,
            full_object,
        }
    }
}

/// Buckets, objects and injected failures, shared by every handle.
#[derive(Debug, Default)]
pub struct World {
    buckets: HashMap<String, BTreeMap<String, StoredObject>>,
    denied: HashSet<(String, String)>,
    /// Injected failures per bucket: (kind, how many calls still fail).
    failing: HashMap<String, (StoreErrorKind, usize)>,
    /// Buckets whose copies never finish (to test cancellation).
    stalled: HashSet<String>,
    copies: usize,
    /// Multipart uploads in progress, by upload id.
    uploads: BTreeMap<String, Upload>,
    next_upload: u64,
    /// Versioned buckets, and every version ever put in them, by (bucket, key, version id).
    versioned: HashSet<String>,
    versions: HashMap<(String, String, String), StoredObject>,
    next_version: u64,
}

/// A multipart upload in progress: the object it will become and the parts received so far.
#[derive(Debug, Clone)]
struct Upload {
    object: NewObject,
    parts: BTreeMap<u32, Vec<u8>>,
}

/// One principal's view of the shared [`World`].
#[derive(Debug, Clone)]
pub struct MemoryStore {
    world: Arc<Mutex<World>>,
    principal: String,
}

impl MemoryStore {
    /// A new, empty world and its first principal.
    pub fn new(principal: &str) -> Self {
        Self {
            world: Arc::default(),
            principal: principal.to_owned(),
        }
    }

    /// Another principal in the same world.
    pub fn principal(&self, principal: &str) -> Self {
        Self {
            world: Arc::clone(&self.world),
            principal: principal.to_owned(),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.world().buckets.entry(bucket.to_owned()).or_default();
    }

    /// Stores an object with an MD5-like ETag derived from its content.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8], object: StoredObject) -> String {
        let etag = md5_hex(body);
        let stored = StoredObject {
            body: body.to_vec(),
            etag: etag.clone(),
            ..object
        };
        Self::store(&mut self.world(), bucket, key, stored);
        etag
    }

    /// Like [`put`](Self::put), returning the new version id too (versioned buckets).
    pub fn put_version(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        object: StoredObject,
    ) -> (String, Option<String>) {
        let etag = self.put(bucket, key, body, object);
        let version = self.get(bucket, key).and_then(|o| o.version_id);
        (etag, version)
    }

    /// Every put into `bucket` creates a new version from now on; older versions stay readable
    /// by their id.
    pub fn enable_versioning(&self, bucket: &str) {
        self.world().versioned.insert(bucket.to_owned());
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.world().buckets.get(bucket)?.get(key).cloned()
    }

    /// The current objects under `prefix` in `bucket`, in key order.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, StoredObject)> {
        self.world()
            .buckets
            .get(bucket)
            .map(|objects| {
                objects
                    .iter()
                    .filter(|(key, _)| key.starts_with(prefix))
                    .map(|(key, object)| (key.clone(), object.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every request of this principal on `bucket` is denied from now on.
    pub fn deny(&self, bucket: &str) {
        self.world()
            .denied
            .insert((self.principal.clone(), bucket.to_owned()));
    }

    /// The next `times` calls touching `bucket` fail with `kind`, for every principal.
    pub fn fail_next(&self, bucket: &str, kind: StoreErrorKind, times: usize) {
        self.world()
            .failing
            .insert(bucket.to_owned(), (kind, times));
    }

    /// Copies into `bucket` never finish from now on (until the caller gives up).
    pub fn stall(&self, bucket: &str) {
        self.world().stalled.insert(bucket.to_owned());
    }

    /// Number of copies performed so far, across principals.
    pub fn copies(&self) -> usize {
        self.world().copies
    }

    /// Multipart uploads started and neither completed nor aborted, in every bucket.
    pub fn open_uploads(&self) -> usize {
        self.world().uploads.len()
    }

    /// Makes `object` the current one at `key`; in a versioned bucket, a new version.
    fn store(
        world: &mut World,
        bucket: &str,
        key: &str,
        mut object: StoredObject,
    ) -> Option<String> {
        object.version_id = None;
        if world.versioned.contains(bucket) {
            world.next_version += 1;
            let version = format!("v{}", world.next_version);
            object.version_id = Some(version.clone());
            world
                .versions
                .insert((bucket.to_owned(), key.to_owned(), version), object.clone());
        }
        let version = object.version_id.clone();
        world
            .buckets
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
        version
    }

    /// The object `object` names: its version when pinned, else the current one.
    fn lookup(world: &World, object: &ObjectRef) -> Option<StoredObject> {
        match &object.version_id {
            Some(version) => world
                .versions
                .get(&(object.bucket.clone(), object.key.clone(), version.clone()))
                .cloned(),
            None => world.buckets.get(&object.bucket)?.get(&object.key).cloned(),
        }
    }

    /// Checks a write's compare-and-swap against what `key` holds now, as S3 does: 412 when
    /// the key holds something else than the condition expects.
    fn check_condition(
        world: &World,
        op: Operation,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<(), StoreError> {
        let current = world.buckets.get(bucket).and_then(|b| b.get(key));
        let holds = match (condition, current) {
            (WriteCondition::None, _) => true,
            (WriteCondition::Absent, current) => current.is_none(),
            (WriteCondition::Matches(etag), Some(current)) => unquote_etag(etag) == current.etag,
            // S3 answers 404 NoSuchKey to If-Match on a missing key.
            (WriteCondition::Matches(_), None) => {
                return Err(StoreError::new(
                    op,
                    bucket,
                    key,
                    StoreErrorKind::NotFound,
                    "NoSuchKey: If-Match on a missing key",
                ))
            }
        };
        if holds {
            Ok(())
        } else {
            Err(StoreError::new(
                op,
                bucket,
                key,
                StoreErrorKind::PreconditionFailed,
                format!("PreconditionFailed: the key no longer matches {condition:?}"),
            ))
        }
    }

    fn no_upload(op: Operation, upload: &UploadRef) -> StoreError {
        StoreError::new(
            op,
            &upload.bucket,
            &upload.key,
            StoreErrorKind::NotFound,
            "NoSuchUpload",
        )
    }

    fn check(
        &self,
        world: &mut World,
        op: Operation,
        bucket: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        if let Some((kind, times)) = world.failing.get_mut(bucket) {
            if *times > 0 {
                *times -= 1;
                return Err(StoreError::new(op, bucket, key, *kind, "injected failure"));
            }
        }
        if world
            .denied
            .contains(&(self.principal.clone(), bucket.to_owned()))
        {
            return Err(StoreError::new(
                op,
                bucket,
                key,
                StoreErrorKind::AccessDenied,
                "denied by test",
            ));
        }
        if !world.buckets.contains_key(bucket) {
            return Err(StoreError::new(
                op,
                bucket,
                key,
                StoreErrorKind::NoSuchBucket,
                "no such bucket",
            ));
        }
        Ok(())
    }
}

/// A stand-in for a checksum of `algorithm` over `body`: derived from the content and the
/// algorithm, so other bytes (or another algorithm) give another value.
fn checksum_value(algorithm: ChecksumAlgorithm, body: &[u8]) -> String {
    let mut salted = algorithm.to_string().into_bytes();
    salted.push(0);
    salted.extend_from_slice(body);
    format!("{:016x}", fnv1a(&salted) as u64)
}

/// A part's checksum in its upload's algorithm, as S3 returns it for each part.
fn part_checksum(object: &NewObject, body: &[u8]) -> Option<String> {
    object
        .multipart_checksum()
        .map(|c| checksum_value(c.algorithm, body))
}

/// The hash behind the checksum stand-ins: deterministic, content-derived, good enough to tell
/// bodies apart.
fn fnv1a(bytes: &[u8]) -> u128 {
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in bytes {
        hash ^= u128::from(*b);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    hash
}

impl ObjectStore for MemoryStore {
    async fn head_object(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
    ) -> Result<Option<ObjectHead>, StoreError> {
        let mut world = self.world();
        let op = Operation::HeadObject;
        if let Err(e) = self.check(&mut world, op, &object.bucket, &object.key) {
            return match e.kind {
                StoreErrorKind::NoSuchBucket => Ok(None),
                _ => Err(e),
            };
        }
        let Some(stored) = Self::lookup(&world, object) else {
            return Ok(None);
        };
        if let Some(expected) = if_match {
            if unquote_etag(expected) != stored.etag {
                return Err(StoreError::new(
                    op,
                    &object.bucket,
                    &object.key,
                    StoreErrorKind::PreconditionFailed,
                    "etag differs",
                ));
            }
        }
        Ok(Some(ObjectHead {
            size: stored.body.len() as u64,
            etag: stored.etag.clone(),
            version_id: stored.version_id.clone(),
            headers: stored.headers.clone(),
            metadata: stored.metadata.clone(),
            tag_count: stored.tags.len() as u32,
            server_side_encryption: None,
            checksum: Some(stored.checksum()),
        }))
    }

    async fn get_object_tagging(&self, object: &ObjectRef) -> Result<Vec<Tag>, StoreError> {
        let mut world = self.world();
        let op = Operation::GetObjectTagging;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        Self::lookup(&world, object)
            .map(|o| o.tags.clone())
            .ok_or_else(|| {
                StoreError::new(
                    op,
                    &object.bucket,
                    &object.key,
                    StoreErrorKind::NotFound,
                    "no such key",
                )
            })
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<ListPage, StoreError> {
        /// Small pages, so that tests cross page boundaries.
        const PAGE: usize = 3;
        let mut world = self.world();
        self.check(&mut world, Operation::ListObjects, bucket, prefix)?;
        let after = continuation.or(start_after).unwrap_or("");
        let mut objects: Vec<Listed> = world.buckets[bucket]
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .filter(|(key, _)| key.starts_with(prefix))
            .take(PAGE + 1)
            .map(|(key, o)| Listed {
                key: key.clone(),
                size: o.body.len() as u64,
                etag: o.etag.clone(),
            })
            .collect();
        let next = (objects.len() > PAGE).then(|| {
            objects.truncate(PAGE);
            objects[PAGE - 1].key.clone()
        });
        Ok(ListPage { objects, next })
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, StoreError> {
        let stalled = self.world().stalled.contains(&request.bucket);
        if stalled {
            std::future::pending::<()>().await;
        }
        let mut world = self.world();
        let op = Operation::CopyObject;
        let source = &request.source;
        self.check(&mut world, op, &source.bucket, &source.key)?;
        self.check(&mut world, op, &request.bucket, &request.key)?;
        let Some(original) = Self::lookup(&world, source) else {
            return Err(StoreError::new(
                op,
                &source.bucket,
                &source.key,
                StoreErrorKind::NotFound,
                "no such key",
            ));
        };
        if let Some(expected) = &request.source_if_match {
            if unquote_etag(expected) != original.etag {
                return Err(StoreError::new(
                    op,
                    &source.bucket,
                    &source.key,
                    StoreErrorKind::PreconditionFailed,
                    "etag differs",
                ));
            }
        }
        Self::check_condition(
            &world,
            op,
            &request.bucket,
            &request.key,
            &request.condition,
        )?;
        let copy = StoredObject {
            body: original.body,
            etag: original.etag.clone(),
            headers: request.headers.clone(),
            metadata: request.metadata.clone(),
            tags: request.tags.clone(),
            storage_class: request.storage_class.clone(),
            // A copy keeps the source's checksum algorithm, recomputed over the whole object.
            checksum: original.checksum.map(|(algorithm, _)| (algorithm, true)),
            version_id: None,
        };
        let version_id = Self::store(&mut world, &request.bucket, &request.key, copy);
        world.copies += 1;
        Ok(Written {
            etag: original.etag,
            version_id,
        })
    }

    async fn get_object_range(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        let mut world = self.world();
        let op = Operation::GetObject;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        let stored = Self::lookup(&world, object).ok_or_else(|| {
            StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::NotFound,
                "no such key",
            )
        })?;
        if if_match.is_some_and(|e| unquote_etag(e) != stored.etag) {
            return Err(StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::PreconditionFailed,
                "etag differs",
            ));
        }
        let end = (range.end as usize).min(stored.body.len());
        let start = (range.start as usize).min(end);
        Ok(Bytes::copy_from_slice(&stored.body[start..end]))
    }

    async fn put_object(&self, object: &NewObject, body: Bytes) -> Result<Written, StoreError> {
        let mut world = self.world();
        self.check(
            &mut world,
            Operation::PutObject,
            &object.bucket,
            &object.key,
        )?;
        let op = Operation::PutObject;
        // S3 checks the body against a checksum sent with it.
        if let Some(expected) = object.expected_checksum.as_ref().filter(|c| c.full_object) {
            if checksum_value(expected.algorithm, &body) != expected.value {
                return Err(StoreError::new(
                    op,
                    &object.bucket,
                    &object.key,
                    StoreErrorKind::Transient,
                    format!(
                        "BadDigest: the body does not match its {} checksum",
                        expected.algorithm
                    ),
                ));
            }
        }
        Self::check_condition(&world, op, &object.bucket, &object.key, &object.condition)?;
        let etag = md5_hex(&body);
        let stored = StoredObject {
            body: body.to_vec(),
            etag: etag.clone(),
            headers: object.headers.clone(),
            metadata: object.metadata.clone(),
            tags: object.tags.clone(),
            storage_class: object.storage_class.clone(),
            checksum: object
                .expected_checksum
                .as_ref()
                .map(|c| (c.algorithm, true)),
            version_id: None,
        };
        let version_id = Self::store(&mut world, &object.bucket, &object.key, stored);
        Ok(Written { etag, version_id })
    }

    async fn create_multipart_upload(&self, object: &NewObject) -> Result<UploadRef, StoreError> {
        let mut world = self.world();
        let op = Operation::CreateMultipartUpload;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        world.next_upload += 1;
        let upload_id = format!("upload-{}", world.next_upload);
        world.uploads.insert(
            upload_id.clone(),
            Upload {
                object: object.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(UploadRef {
            checksum: object.multipart_checksum().cloned(),
            condition: object.condition.clone(),
            ..UploadRef::new(&object.bucket, &object.key, &upload_id)
        })
    }

    async fn upload_part_copy(
        &self,
        request: &PartCopyRequest,
    ) -> Result<CompletedPart, StoreError> {
        let op = Operation::UploadPartCopy;
        let source = &request.source;
        let body = {
            let mut world = self.world();
            self.check(&mut world, op, &source.bucket, &source.key)?;
            self.check(&mut world, op, &request.upload.bucket, &request.upload.key)?;
            let stored = Self::lookup(&world, source).ok_or_else(|| {
                StoreError::new(
                    op,
                    &source.bucket,
                    &source.key,
                    StoreErrorKind::NotFound,
                    "no such key",
                )
            })?;
            if request
                .source_if_match
                .as_deref()
                .is_some_and(|e| unquote_etag(e) != stored.etag)
            {
                return Err(StoreError::new(
                    op,
                    &source.bucket,
                    &source.key,
                    StoreErrorKind::PreconditionFailed,
                    "etag differs",
                ));
            }
            let end = (request.range.end as usize).min(stored.body.len());
            let start = (request.range.start as usize).min(end);
            stored.body[start..end].to_vec()
        };
        let etag = md5_hex(&body);
        let mut world = self.world();
        let upload = world
            .uploads
            .get_mut(&request.upload.upload_id)
            .ok_or_else(|| Self::no_upload(op, &request.upload))?;
        let checksum = part_checksum(&upload.object, &body);
        upload.parts.insert(request.part_number, body);
        Ok(CompletedPart {
            part_number: request.part_number,
            etag,
            checksum,
        })
    }

    async fn upload_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, StoreError> {
        let op = Operation::UploadPart;
        let mut world = self.world();
        self.check(&mut world, op, &upload.bucket, &upload.key)?;
        let etag = md5_hex(&body);
        let pending = world
            .uploads
            .get_mut(&upload.upload_id)
            .ok_or_else(|| Self::no_upload(op, upload))?;
        let checksum = part_checksum(&pending.object, &body);
        pending.parts.insert(part_number, body.to_vec());
        Ok(CompletedPart {
            part_number,
            etag,
            checksum,
        })
    }

    async fn complete_multipart_upload(
        &self,
        upload: &UploadRef,
        parts: &[CompletedPart],
    ) -> Result<Written, StoreError> {
        let op = Operation::CompleteMultipartUpload;
        let mut world = self.world();
        self.check(&mut world, op, &upload.bucket, &upload.key)?;
        // Every refusal leaves the upload in place, as on S3: it can be retried or aborted.
        let pending = world
            .uploads
            .get(&upload.upload_id)
            .ok_or_else(|| Self::no_upload(op, upload))?;
        Self::check_condition(&world, op, &upload.bucket, &upload.key, &upload.condition)?;
        let mut body = Vec::new();
        for part in parts {
            let Some(bytes) = pending.parts.get(&part.part_number) else {
                return Err(StoreError::new(
                    op,
                    &upload.bucket,
                    &upload.key,
                    StoreErrorKind::Other,
                    format!("InvalidPart: part {} was never uploaded", part.part_number),
                ));
            };
            body.extend_from_slice(bytes);
        }
        // Created with a full-object checksum: every part must carry its checksum, and the
        // whole must match the value sent with the completion (S3's InvalidRequest / BadDigest).
        let checksum = pending.object.multipart_checksum().cloned();
        if let Some(expected) = &checksum {
            if let Some(part) = parts.iter().find(|p| p.checksum.is_none()) {
                return Err(StoreError::new(
                    op,
                    &upload.bucket,
                    &upload.key,
                    StoreErrorKind::Other,
                    format!(
                        "InvalidRequest: the upload was created with a {} checksum; part {} carries none",
                        expected.algorithm, part.part_number
                    ),
                ));
            }
            if checksum_value(expected.algorithm, &body) != expected.value {
                return Err(StoreError::new(
                    op,
                    &upload.bucket,
                    &upload.key,
                    StoreErrorKind::Transient,
                    format!(
                        "BadDigest: the parts do not match the object's {} checksum",
                        expected.algorithm
                    ),
                ));
            }
        }
        let object = pending.object.clone();
        world.uploads.remove(&upload.upload_id);
        let etag = crate::store::multipart_etag(parts.iter().map(|p| p.etag.as_str()));
        let stored = StoredObject {
            body,
            etag: etag.clone(),
            headers: object.headers,
            metadata: object.metadata,
            tags: object.tags,
            storage_class: object.storage_class,
            checksum: checksum.map(|c| (c.algorithm, true)),
            version_id: None,
        };
        let version_id = Self::store(&mut world, &upload.bucket, &upload.key, stored);
        world.copies += 1;
        Ok(Written { etag, version_id })
    }

    async fn abort_multipart_upload(&self, upload: &UploadRef) -> Result<(), StoreError> {
        let mut world = self.world();
        self.check(
            &mut world,
            Operation::AbortMultipartUpload,
            &upload.bucket,
            &upload.key,
        )?;
        world.uploads.remove(&upload.upload_id);
        Ok(())
    }
}
