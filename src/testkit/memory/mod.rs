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
    Deleted, ListPage, Listed, NewObject, ObjectHead, ObjectRef, ObjectStore, Operation,
    PartCopyRequest, StoreError, StoreErrorKind, Tag, UploadRef, WriteCondition, Written,
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
    /// `x-amz-restore` of an archived object (`storage_class` `GLACIER` or `DEEP_ARCHIVE`):
    /// `None` until a restore is asked for. An archived object cannot be read or copied until
    /// [`MemoryStore::finish_restore`].
    pub restore: Option<String>,
    /// Object Lock retention and legal hold.
    pub object_lock: Option<crate::store::ObjectLockSettings>,
}

impl StoredObject {
    /// Archived and not restored: reads and copies fail with `InvalidObjectState`, as in S3.
    pub fn unreadable(&self) -> bool {
        matches!(
            self.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        ) && self.restore.as_deref() != Some(RESTORED)
    }
}

/// `x-amz-restore` of a restored copy that is readable.
const RESTORED: &str = "ongoing-request=\"false\", expiry-date=\"Fri, 01 Jan 2100 00:00:00 GMT\"";
/// `x-amz-restore` while a restore runs.
const RESTORING: &str = "ongoing-request=\"true\"";

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
    /// Delete markers created in versioned buckets: (bucket, key, version id), in order.
    delete_markers: Vec<(String, String, String)>,
    /// Every `RestoreObject`: (bucket, key, tier, days).
    restores: Vec<(String, String, String, Option<u32>)>,
    /// Buckets with Object Lock enabled.
    object_lock: HashSet<String>,
    /// Buckets of another S3 implementation, and what it lacks.
    limited: HashMap<String, Lacks>,
    next_opaque: u64,
}

/// What a bucket of another S3 implementation lacks ([`MemoryStore::lacks`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lacks {
    /// Checksums sent with writes are ignored (neither checked nor kept); none is returned.
    pub checksums: bool,
    /// Tags sent with writes are dropped; `GetObjectTagging` answers NotImplemented.
    pub tagging: bool,
    /// `If-None-Match` and `If-Match` on writes are ignored.
    pub conditional_writes: bool,
    /// ETags are not MD5s of the content: a fresh value for every write.
    pub md5_etags: bool,
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

    /// `bucket` has Object Lock enabled: writes may carry retention and legal holds.
    /// Makes `bucket` behave as a bucket of another S3 implementation lacking `lacks`.
    pub fn lacks(&self, bucket: &str, lacks: Lacks) {
        self.world().limited.insert(bucket.to_owned(), lacks);
    }

    /// Gives the object at `key` the ETag `etag`, as another implementation may (any string).
    pub fn set_etag(&self, bucket: &str, key: &str, etag: &str) {
        if let Some(object) = self
            .world()
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.get_mut(key))
        {
            object.etag = etag.to_owned();
        }
    }

    /// What `bucket` lacks (nothing, for an S3 bucket).
    fn lacking(world: &World, bucket: &str) -> Lacks {
        world.limited.get(bucket).copied().unwrap_or_default()
    }

    /// The ETag a write of `body` gets in `bucket`.
    fn etag_for(world: &mut World, bucket: &str, body: &[u8]) -> String {
        if Self::lacking(world, bucket).md5_etags {
            world.next_opaque += 1;
            format!("opaque{:010}", world.next_opaque)
        } else {
            md5_hex(body)
        }
    }

    pub fn enable_object_lock(&self, bucket: &str) {
        self.world().object_lock.insert(bucket.to_owned());
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

    /// The delete markers created in `bucket` at `key`, oldest first (their version ids).
    pub fn delete_markers(&self, bucket: &str, key: &str) -> Vec<String> {
        self.world()
            .delete_markers
            .iter()
            .filter(|(b, k, _)| b == bucket && k == key)
            .map(|(_, _, version)| version.clone())
            .collect()
    }

    /// Every version of `key` in a versioned `bucket` that is still kept, by version id.
    pub fn versions(&self, bucket: &str, key: &str) -> Vec<String> {
        let mut versions: Vec<String> = self
            .world()
            .versions
            .keys()
            .filter(|(b, k, _)| b == bucket && k == key)
            .map(|(_, _, version)| version.clone())
            .collect();
        versions.sort();
        versions
    }

    /// The restore of `bucket/key` (asked for with `RestoreObject`) finishes: the object can
    /// be read until its expiry.
    pub fn finish_restore(&self, bucket: &str, key: &str) {
        if let Some(object) = self
            .world()
            .buckets
            .get_mut(bucket)
            .and_then(|b| b.get_mut(key))
        {
            object.restore = Some(RESTORED.to_owned());
        }
    }

    /// `RestoreObject` calls received so far: (bucket, key, tier, days).
    pub fn restores(&self) -> Vec<(String, String, String, Option<u32>)> {
        self.world().restores.clone()
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

    /// An archived object that is not restored cannot be read (403 `InvalidObjectState`).
    fn check_readable(
        op: Operation,
        object: &ObjectRef,
        stored: &StoredObject,
    ) -> Result<(), StoreError> {
        if stored.unreadable() {
            return Err(StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::InvalidObjectState,
                "InvalidObjectState: the object is archived and not restored",
            ));
        }
        Ok(())
    }

    /// Object Lock settings on a bucket without Object Lock: 400 InvalidRequest, as in S3.
    fn check_lock(
        world: &World,
        op: Operation,
        bucket: &str,
        key: &str,
        lock: &Option<crate::store::ObjectLockSettings>,
    ) -> Result<(), StoreError> {
        if lock.is_some() && !world.object_lock.contains(bucket) {
            return Err(StoreError::new(
                op,
                bucket,
                key,
                StoreErrorKind::ObjectLockUnsupported,
                "InvalidRequest: Bucket is missing ObjectLockConfiguration",
            ));
        }
        Ok(())
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

/// The checksum of `algorithm` over `body`: the real CRC, as S3 computes it (the daemon computes
/// the same while streaming to a store whose ETags it does not trust); for the SHAs a stand-in
/// derived from the content and the algorithm, so other bytes give another value.
fn checksum_value(algorithm: ChecksumAlgorithm, body: &[u8]) -> String {
    if !matches!(
        algorithm,
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256
    ) {
        return crate::transfer::content::checksum_of(algorithm, body).value;
    }
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

/// The [`ObjectStore`] operations, with the S3 semantics the module documentation lists.
mod object_store;
