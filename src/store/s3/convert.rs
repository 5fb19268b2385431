//! Conversions between the SDK's types and the store's: checksums, Object Lock settings,
//! metadata maps, the ETag a write must answer with, and the SDK's errors.

use std::collections::HashMap;

use aws_sdk_s3::types::{ChecksumType, ObjectLockLegalHoldStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::SdkFailure;

use crate::store::{
    unquote_etag, Checksum, ChecksumAlgorithm, ObjectLockSettings, Operation, StoreError,
    StoreErrorKind,
};

/// The Object Lock settings a `HeadObject` showed, if any.
pub(super) fn lock_of(
    mode: Option<&str>,
    retain_until: Option<&aws_smithy_types::DateTime>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
) -> Option<ObjectLockSettings> {
    let legal_hold = legal_hold == Some(&ObjectLockLegalHoldStatus::On);
    if mode.is_none() && retain_until.is_none() && !legal_hold {
        return None;
    }
    Some(ObjectLockSettings {
        mode: mode.map(str::to_owned),
        retain_until: retain_until.and_then(|t| {
            time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos()),
            )
            .ok()
        }),
        legal_hold,
    })
}

/// The SDK's name of a checksum algorithm.
pub(super) fn sdk_algorithm(algorithm: ChecksumAlgorithm) -> aws_sdk_s3::types::ChecksumAlgorithm {
    use aws_sdk_s3::types::ChecksumAlgorithm as Sdk;
    match algorithm {
        ChecksumAlgorithm::Crc32 => Sdk::Crc32,
        ChecksumAlgorithm::Crc32c => Sdk::Crc32C,
        ChecksumAlgorithm::Crc64Nvme => Sdk::Crc64Nvme,
        ChecksumAlgorithm::Sha1 => Sdk::Sha1,
        ChecksumAlgorithm::Sha256 => Sdk::Sha256,
    }
}

pub(super) fn to_map(
    metadata: &std::collections::BTreeMap<String, String>,
) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A write answered without an ETag did not happen: S3 can answer 200 with an error in the body.
pub(super) fn required_etag(
    etag: Option<&str>,
    operation: Operation,
    bucket: &str,
    key: &str,
) -> Result<String, StoreError> {
    etag.map(unquote_etag)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            StoreError::new(
                operation,
                bucket,
                key,
                StoreErrorKind::BadResponse,
                "the answer carries no ETag",
            )
        })
}

/// The first checksum S3 returned, and whether it covers the whole content. Without a
/// `ChecksumType` (older objects, some implementations) a `-N` suffix marks a composite one.
pub(super) fn checksum_of(
    candidates: [(ChecksumAlgorithm, Option<&str>); 5],
    checksum_type: Option<&ChecksumType>,
) -> Option<Checksum> {
    let (algorithm, value) = candidates
        .into_iter()
        .find_map(|(a, v)| Some((a, v.filter(|v| !v.is_empty())?)))?;
    let full_object = match checksum_type {
        Some(ChecksumType::Composite) => false,
        Some(ChecksumType::FullObject) => true,
        _ => !value.contains('-'),
    };
    Some(Checksum {
        algorithm,
        value: value.to_owned(),
        full_object,
    })
}

/// Translates an SDK error into a [`StoreError`] — once, here, so that nobody else has to.
pub(super) fn translate<E>(
    operation: Operation,
    bucket: &str,
    key: &str,
    err: &SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = SdkFailure::from_sdk(err);
    let kind = match (failure.code.as_deref(), failure.status) {
        (Some("NoSuchBucket"), _) => StoreErrorKind::NoSuchBucket,
        (Some("NoSuchKey" | "NoSuchVersion" | "NotFound" | "NoSuchUpload"), _)
        | (None, Some(404)) => StoreErrorKind::NotFound,
        (Some("PreconditionFailed"), _) | (_, Some(412)) => StoreErrorKind::PreconditionFailed,
        // A conditional write that raced another write of the key: S3 asks to retry.
        (Some("ConditionalRequestConflict"), _) | (None, Some(409)) => {
            StoreErrorKind::WriteConflict
        }
        // The bytes S3 received do not match the checksum sent with them: damaged in transit.
        (Some("BadDigest"), _) => StoreErrorKind::Transient,
        // moto 5.2.5 answers a copy of an unrestored archived object with its own code.
        (Some("InvalidObjectState" | "ObjectNotInActiveTierError"), _) => {
            StoreErrorKind::InvalidObjectState
        }
        // "Bucket is missing ObjectLockConfiguration": Object Lock headers on a bucket without it.
        (Some("InvalidRequest"), _) if failure.message.contains("ObjectLockConfiguration") => {
            StoreErrorKind::ObjectLockUnsupported
        }
        // 501: "a header you provided implies functionality that is not implemented" (S3), or
        // an operation another implementation lacks (s3s-fs: GetObjectTagging). It will not
        // pass by itself.
        (Some("NotImplemented"), _) | (_, Some(501)) => StoreErrorKind::Other,
        _ if failure.is_throttling() => StoreErrorKind::Throttled,
        _ if failure.is_access_denied() => StoreErrorKind::AccessDenied,
        _ if failure.is_transient() => StoreErrorKind::Transient,
        _ => StoreErrorKind::Other,
    };
    StoreError::new(operation, bucket, key, kind, failure.message)
}
