//! The object store seam.
//!
//! [`ObjectStore`] takes and returns the project's own types, never SDK types, so that the
//! replication logic can be exercised against an in-memory store and the S3 adapter
//! ([`s3::S3Store`]) is the only place that knows the SDK. One store value is one principal
//! in one region: a target reached through an assumed role has a store of its own.

pub mod s3;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;

use bytes::Bytes;

use crate::error::Disposition;

mod archive;
mod digest;
pub use archive::{ArchivedObject, ObjectLockSettings};
pub use digest::{md5_hex, multipart_etag, source_key_digest};

/// Metadata key (after `x-amz-meta-`) recording the source ETag a replica was made from.
pub const META_SOURCE_ETAG: &str = "s3r-source-etag";
/// Metadata key recording the source version id a replica was made from (versioned sources).
pub const META_SOURCE_VERSION: &str = "s3r-source-version-id";
/// Metadata key recording the S3 event sequencer of the event that produced the replica.
pub const META_SEQUENCER: &str = "s3r-sequencer";
/// Metadata key recording the source bucket a replica was made from.
pub const META_SOURCE_BUCKET: &str = "s3r-source-bucket";
/// Metadata key recording the SHA-256 (hex) of the source key a replica was made from. A digest,
/// not the key: keys may be 1,024 bytes of any UTF-8, and metadata is ASCII within 2 KB.
pub const META_SOURCE_KEY_SHA256: &str = "s3r-source-key-sha256";
/// S3's limit on user-defined metadata: the UTF-8 bytes of every key and value, summed.
/// On a target whose ETags are not trusted (its own endpoint), the full-object checksum of the
/// bytes written, as the daemon computed it while streaming (`ALGORITHM:base64`): what a
/// replica on a store that returns no checksums is checked against after the write.
pub const META_CONTENT_CHECKSUM: &str = "s3r-content-checksum";
pub const USER_METADATA_MAX: usize = 2048;

/// The size S3 counts against [`USER_METADATA_MAX`].
pub fn user_metadata_size(metadata: &BTreeMap<String, String>) -> usize {
    metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// The precondition a write to a target carries: a compare-and-swap on what was read there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// No condition (`targets.conditional_writes = false`): the write lands whatever is there.
    #[default]
    None,
    /// `If-None-Match: *`: only if the key holds no object.
    Absent,
    /// `If-Match: <etag>`: only if the key still holds the object that was read.
    Matches(String),
}

impl WriteCondition {
    /// The condition for replacing `existing` (what a read of the key found).
    pub fn replacing(existing: Option<&ObjectHead>) -> Self {
        match existing {
            None => WriteCondition::Absent,
            Some(head) => WriteCondition::Matches(head.etag.clone()),
        }
    }

    /// `If-Match`, quoted as S3 expects.
    pub fn if_match(&self) -> Option<String> {
        match self {
            WriteCondition::Matches(etag) => Some(format!("\"{}\"", unquote_etag(etag))),
            _ => None,
        }
    }

    /// `If-None-Match`.
    pub fn if_none_match(&self) -> Option<String> {
        matches!(self, WriteCondition::Absent).then(|| "*".to_owned())
    }
}

/// An object, optionally pinned to one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// The headers that travel with an object's content and must be preserved on a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
}

/// What `HeadObject` tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    /// Without surrounding quotes.
    pub etag: String,
    pub version_id: Option<String>,
    pub headers: ContentHeaders,
    /// User metadata (`x-amz-meta-*`), keys without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// Number of tags; 0 when the object has none (so the tags need not be fetched).
    pub tag_count: u32,
    /// `aws:kms`, `AES256`, …: KMS-encrypted objects have ETags that are not MD5s.
    pub server_side_encryption: Option<String>,
    /// The additional checksum S3 keeps for the object, when it has one (read with
    /// `ChecksumMode=ENABLED`). Unlike the ETag it does not depend on how the object was written
    /// when it is a full-object checksum, so it is what replicas are verified against.
    pub checksum: Option<Checksum>,
    /// `x-amz-storage-class`; S3 leaves it out for `STANDARD`.
    pub storage_class: Option<String>,
    /// `x-amz-restore`: `ongoing-request="true"` while a restore runs,
    /// `ongoing-request="false", expiry-date="…"` once the restored copy is readable.
    pub restore: Option<String>,
    /// `x-amz-archive-status`: `ARCHIVE_ACCESS` or `DEEP_ARCHIVE_ACCESS` for an object in an
    /// S3 Intelligent-Tiering archive tier.
    pub archive_status: Option<String>,
    /// The object's Object Lock retention and legal hold, as far as the reader may see them
    /// (`s3:GetObjectRetention`, `s3:GetObjectLegalHold`); `None` when it shows none.
    pub object_lock: Option<ObjectLockSettings>,
}

/// An S3 additional checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        })
    }
}

/// An object's additional checksum, base64 as S3 returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: String,
    /// A checksum of the whole content (`FULL_OBJECT`), comparable between objects written in
    /// different ways. A `COMPOSITE` checksum (`…-N`, a checksum of the parts' checksums)
    /// depends on the part layout and says nothing about a replica with other parts.
    pub full_object: bool,
}

impl Checksum {
    /// Whether `self` and `other` must be equal for the contents to be equal.
    pub fn comparable_with(&self, other: &Checksum) -> bool {
        self.full_object && other.full_object && self.algorithm == other.algorithm
    }
}

/// A new object to be written into this store's bucket (a `PutObject` or a multipart upload):
/// everything but the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub headers: ContentHeaders,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub storage_class: Option<String>,
    pub sse_kms_key_id: Option<String>,
    /// The source's full-object checksum, sent with the bytes so that S3 rejects a replica that
    /// differs from the source: with the body of a single `PutObject`, and on
    /// `CompleteMultipartUpload` of an upload created with its algorithm and `FULL_OBJECT`.
    pub expected_checksum: Option<Checksum>,
    /// The compare-and-swap on the target key (`PutObject`, `CompleteMultipartUpload`).
    pub condition: WriteCondition,
    /// Object Lock retention and legal hold to set on the new object (`object_lock = "copy"`).
    pub object_lock: Option<ObjectLockSettings>,
}

impl NewObject {
    /// The checksum a multipart upload of this object is created with: the source's, when it
    /// is a full-object CRC (S3 supports `FULL_OBJECT` for the CRCs only).
    pub fn multipart_checksum(&self) -> Option<&Checksum> {
        self.expected_checksum.as_ref().filter(|c| {
            c.full_object
                && matches!(
                    c.algorithm,
                    ChecksumAlgorithm::Crc32
                        | ChecksumAlgorithm::Crc32c
                        | ChecksumAlgorithm::Crc64Nvme
                )
        })
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRef {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// Created with this full-object checksum: every part carries its checksum in this
    /// algorithm, and the completion the whole value, which S3 checks.
    pub checksum: Option<Checksum>,
    /// The compare-and-swap `CompleteMultipartUpload` carries.
    pub condition: WriteCondition,
}

impl UploadRef {
    /// An upload known only by its id (listings, clean-up).
    pub fn new(bucket: &str, key: &str, upload_id: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            checksum: None,
            condition: WriteCondition::None,
        }
    }
}

/// One part of a multipart upload, as `CompleteMultipartUpload` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1..=10,000.
    pub part_number: u32,
    /// Without surrounding quotes.
    pub etag: String,
    /// The part's checksum in the upload's algorithm (base64), when the upload has one.
    pub checksum: Option<String>,
}

/// `UploadPartCopy`: one byte range of the source becomes one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCopyRequest {
    pub source: ObjectRef,
    /// Every part is pinned to the same source bytes: `x-amz-copy-source-if-match`.
    pub source_if_match: Option<String>,
    pub upload: UploadRef,
    pub part_number: u32,
    /// Half-open byte range of the source.
    pub range: Range<u64>,
}

/// One object tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A server-side copy of one object into this store's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    /// The source, pinned to the announced version when there is one.
    pub source: ObjectRef,
    /// `x-amz-copy-source-if-match`: the copy fails if the source no longer has this ETag.
    pub source_if_match: Option<String>,
    pub bucket: String,
    pub key: String,
    /// Written as given: a copy with replaced metadata does not inherit the source's headers.
    pub headers: ContentHeaders,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub storage_class: Option<String>,
    pub sse_kms_key_id: Option<String>,
    /// The compare-and-swap on the target key (`If-Match` / `If-None-Match`).
    pub condition: WriteCondition,
    /// Object Lock retention and legal hold to set on the copy (`object_lock = "copy"`).
    pub object_lock: Option<ObjectLockSettings>,
}

/// What a successful write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Without surrounding quotes.
    pub etag: String,
    pub version_id: Option<String>,
}

/// What a `DeleteObject` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The bucket is versioned: a delete marker now hides the object, whose versions stay.
    pub delete_marker: bool,
    /// The delete marker's version id.
    pub version_id: Option<String>,
}

/// The S3 operation that failed, for messages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    HeadObject,
    GetObjectTagging,
    CopyObject,
    ListObjects,
    GetObject,
    PutObject,
    CreateMultipartUpload,
    UploadPartCopy,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    DeleteObject,
    RestoreObject,
}

impl Operation {
    /// A server-side copy, which reads the source with the *target's* principal: access denied
    /// here may mean that principal cannot read the source (see `copy_mode = "auto"`).
    pub fn is_server_side_copy(self) -> bool {
        matches!(self, Operation::CopyObject | Operation::UploadPartCopy)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::HeadObject => "HeadObject",
            Operation::GetObjectTagging => "GetObjectTagging",
            Operation::CopyObject => "CopyObject",
            Operation::ListObjects => "ListObjectsV2",
            Operation::GetObject => "GetObject",
            Operation::PutObject => "PutObject",
            Operation::CreateMultipartUpload => "CreateMultipartUpload",
            Operation::UploadPartCopy => "UploadPartCopy",
            Operation::UploadPart => "UploadPart",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::AbortMultipartUpload => "AbortMultipartUpload",
            Operation::DeleteObject => "DeleteObject",
            Operation::RestoreObject => "RestoreObject",
        })
    }
}

/// Why an object store call failed. Throttling and access denied are distinct because
/// callers act differently on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    NoSuchBucket,
    /// The key (or the pinned version) does not exist.
    NotFound,
    AccessDenied,
    /// A precondition failed (HTTP 412): on a source read, the object changed since the event;
    /// on a write, the target key no longer holds what was read (or the copy's source changed).
    PreconditionFailed,
    /// A conditional write raced another write of the same key (HTTP 409
    /// `ConditionalRequestConflict`): read the key again and decide again.
    WriteConflict,
    /// The key holds a replica of another source object: two rules or targets map different
    /// sources onto one key.
    ReplicaConflict,
    /// The replica's user metadata (the source's plus the replica's record) exceeds S3's 2 KB.
    MetadataTooLarge,
    /// `SlowDown`, `Throttling`, HTTP 503.
    Throttled,
    /// Archived object (Glacier, Deep Archive) that must be restored before it can be read.
    InvalidObjectState,
    /// The target bucket cannot take Object Lock settings (no Object Lock configuration).
    ObjectLockUnsupported,
    /// Network failure, timeout, 5xx, expired credentials: likely to pass.
    Transient,
    /// The service accepted the call but its answer is unusable (e.g. a copy without an ETag).
    BadResponse,
    /// Any other error the service returned; not expected to pass by itself.
    Other,
}

/// An object store failure, naming the operation and the object it concerns.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key}: {kind}: {message}")]
pub struct StoreError {
    pub operation: Operation,
    pub bucket: String,
    pub key: String,
    pub kind: StoreErrorKind,
    pub message: String,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::NoSuchBucket => "no such bucket",
            StoreErrorKind::NotFound => "not found",
            StoreErrorKind::AccessDenied => "access denied",
            StoreErrorKind::PreconditionFailed => "precondition failed",
            StoreErrorKind::WriteConflict => "conflicting concurrent write",
            StoreErrorKind::ReplicaConflict => "the key holds a replica of another source",
            StoreErrorKind::MetadataTooLarge => "user metadata too large",
            StoreErrorKind::Throttled => "throttled",
            StoreErrorKind::InvalidObjectState => "invalid object state (archived?)",
            StoreErrorKind::ObjectLockUnsupported => "the bucket has no Object Lock configuration",
            StoreErrorKind::Transient => "transient failure",
            StoreErrorKind::BadResponse => "unusable response",
            StoreErrorKind::Other => "error",
        })
    }
}

impl StoreError {
    pub fn new(
        operation: Operation,
        bucket: &str,
        key: &str,
        kind: StoreErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            kind,
            message: message.into(),
        }
    }

    /// What the pipeline should do about this failure.
    pub fn disposition(&self) -> Disposition {
        match self.kind {
            StoreErrorKind::Throttled
            | StoreErrorKind::Transient
            | StoreErrorKind::WriteConflict => Disposition::Retry,
            StoreErrorKind::NoSuchBucket
            | StoreErrorKind::ReplicaConflict
            | StoreErrorKind::MetadataTooLarge
            | StoreErrorKind::AccessDenied
            | StoreErrorKind::InvalidObjectState
            | StoreErrorKind::ObjectLockUnsupported
            | StoreErrorKind::BadResponse
            | StoreErrorKind::Other => Disposition::Fail,
            // Only meaningful for the source: the caller decides (see `replicate`).
            StoreErrorKind::NotFound | StoreErrorKind::PreconditionFailed => Disposition::Fail,
        }
    }

    /// A hint for the person reading the alert.
    pub fn advice(&self) -> &'static str {
        match self.kind {
            StoreErrorKind::NoSuchBucket => {
                "Create the bucket or fix the bucket name in the configuration; the message will be retried until it reaches the dead-letter queue."
            }
            StoreErrorKind::AccessDenied => {
                "Grant the daemon's role (or the target's assumed role) the missing permission, e.g. s3:GetObject/s3:GetObjectTagging on the source and s3:PutObject/s3:PutObjectTagging/s3:AbortMultipartUpload on the target (kms:Decrypt for checksums of SSE-KMS objects), and check bucket and KMS key policies."
            }
            StoreErrorKind::InvalidObjectState => {
                "The source object is archived; restore it before it can be replicated, then redrive the message from the dead-letter queue."
            }
            StoreErrorKind::ObjectLockUnsupported => {
                "The target is configured with object_lock = \"copy\" but its bucket has no Object Lock configuration. Object Lock can only be enabled on a bucket (ObjectLockEnabledForBucket, or PutObjectLockConfiguration on a versioned bucket); enable it, or set object_lock = \"off\" for this target. The message is retried until it reaches the dead-letter queue."
            }
            StoreErrorKind::ReplicaConflict => {
                "Two rules or targets write different source objects to this target key. Give them separate target buckets or key_prefix values (check-config rejects overlapping destinations), then redrive the message from the dead-letter queue."
            }
            StoreErrorKind::MetadataTooLarge => {
                "The source's user metadata leaves no room for the replica's record of its source (S3 allows 2 KB in all). Shorten the source object's metadata and upload it again; the message goes to the dead-letter queue."
            }
            StoreErrorKind::Throttled | StoreErrorKind::Transient | StoreErrorKind::WriteConflict => {
                "Usually passes by itself; if it persists, check the AWS service health and the network path to S3."
            }
            _ => "Inspect the error; once fixed, redrive the message from the dead-letter queue.",
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// Without surrounding quotes.
    pub etag: String,
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<Listed>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// The operations the replicator needs from an object store.
///
/// Futures are `Send` so that work can be spread over the runtime's threads. Stores are `Clone`
/// (a cheap handle) so that a multipart upload dropped midway can still be aborted by a task
/// of its own (see `copy::multipart`).
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// `HeadObject` with `ChecksumMode=ENABLED`; `if_match` makes the call fail with
    /// [`StoreErrorKind::PreconditionFailed`] when the object's ETag differs. `Ok(None)` when
    /// the object does not exist.
    fn head_object(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<Option<ObjectHead>, StoreError>> + Send;

    fn get_object_tagging(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<Vec<Tag>, StoreError>> + Send;

    /// One page (up to 1,000 keys, in key order) of the objects under `prefix`, after
    /// `start_after`, continuing from `continuation` (a previous page's `next`).
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> impl Future<Output = Result<ListPage, StoreError>> + Send;

    /// Server-side copy (`CopyObject`, up to 5 GiB), replacing metadata and tags with the request's.
    fn copy_object(
        &self,
        request: &CopyRequest,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// Reads `range` (half-open, non-empty) of the object into one buffer of exactly that
    /// size; fails with [`StoreErrorKind::PreconditionFailed`] when the ETag differs from
    /// `if_match`. The caller bounds the memory (see `copy::budget`).
    fn get_object_range(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Bytes, StoreError>> + Send;

    /// `PutObject` of a whole object in one request.
    fn put_object(
        &self,
        object: &NewObject,
        body: Bytes,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// `CreateMultipartUpload` with the object's headers, metadata and tags: the parts carry
    /// none of them, so they are set here, once.
    fn create_multipart_upload(
        &self,
        object: &NewObject,
    ) -> impl Future<Output = Result<UploadRef, StoreError>> + Send;

    fn upload_part_copy(
        &self,
        request: &PartCopyRequest,
    ) -> impl Future<Output = Result<CompletedPart, StoreError>> + Send;

    fn upload_part(
        &self,
        upload: &UploadRef,
        part_number: u32,
        body: Bytes,
    ) -> impl Future<Output = Result<CompletedPart, StoreError>> + Send;

    /// Fails with [`StoreErrorKind::BadResponse`] when S3 answers without an ETag (a 200 can
    /// carry an error in its body).
    fn complete_multipart_upload(
        &self,
        upload: &UploadRef,
        parts: &[CompletedPart],
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    fn abort_multipart_upload(
        &self,
        upload: &UploadRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `DeleteObject` of the current object at `key`, never of a version: in a versioned bucket
    /// it creates a delete marker. `condition` is [`WriteCondition::Matches`] (`If-Match`: fails
    /// with [`StoreErrorKind::PreconditionFailed`] when the key holds another object, or
    /// [`StoreErrorKind::NotFound`] when it holds none) or [`WriteCondition::None`].
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> impl Future<Output = Result<Deleted, StoreError>> + Send;

    /// `RestoreObject` of an archived object: a restored copy readable for `days` (`None` for
    /// an Intelligent-Tiering archive tier, which takes none), retrieved at `tier`. `Ok` also
    /// when a restore is already running (409 `RestoreAlreadyInProgress`).
    fn restore_object(
        &self,
        object: &ObjectRef,
        tier: &str,
        days: Option<u32>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Encodes tags as the query string S3 expects in `x-amz-tagging`.
pub fn encode_tags(tags: &[Tag]) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    tags.iter()
        .map(|t| {
            format!(
                "{}={}",
                utf8_percent_encode(&t.key, COMPONENT),
                utf8_percent_encode(&t.value, COMPONENT)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds `x-amz-copy-source`: the key encoded per path segment (`/` kept), then `?versionId=`.
pub fn encode_copy_source(source: &ObjectRef) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    let mut out = format!(
        "{}/{}",
        source.bucket,
        utf8_percent_encode(&source.key, SEGMENT)
    );
    if let Some(version) = &source.version_id {
        out.push_str("?versionId=");
        out.push_str(&utf8_percent_encode(version, SEGMENT).to_string());
    }
    out
}

/// Removes the quotes S3 puts around ETags, so that ETags from events and from responses compare.
pub fn unquote_etag(etag: &str) -> &str {
    etag.trim_matches('"')
}

#[cfg(test)]
mod tests;
