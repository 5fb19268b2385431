//! The S3 adapter of [`ObjectStore`]: the only place that speaks aws-sdk-s3.
//!
//! Where it sits: below [`crate::store`], whose trait and types it translates to and from the
//! SDK's; built by [`crate::wiring`] with the clients of [`crate::aws`].

use std::ops::Range;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumMode, ChecksumType, CompletedMultipartUpload, MetadataDirective,
    ObjectLockLegalHoldStatus, ObjectLockMode, ServerSideEncryption, StorageClass,
    TaggingDirective,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};

use super::{
    encode_copy_source, encode_tags, unquote_etag, ChecksumAlgorithm, CompletedPart,
    ContentHeaders, CopyRequest, Deleted, ListPage, Listed, NewObject, ObjectHead, ObjectRef,
    ObjectStore, Operation, PartCopyRequest, StoreError, StoreErrorKind, Tag, UploadRef,
    WriteCondition, Written,
};
use crate::aws::SdkFailure;

/// One principal in one region.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    /// Every `PutObject` and `UploadPart` carries `Content-MD5`, which the store checks (a
    /// store on its own endpoint, where the SDK sends no checksum of its own).
    content_md5: bool,
}

impl S3Store {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            content_md5: false,
        }
    }

    /// A store whose uploads carry `Content-MD5` ([`crate::aws::target_s3_client`]).
    pub fn with_content_md5(client: Client) -> Self {
        Self {
            client,
            content_md5: true,
        }
    }

    /// `Content-MD5` of `body`, base64, when this store sends it.
    fn content_md5(&self, body: &[u8]) -> Option<String> {
        use md5::Digest as _;
        self.content_md5
            .then(|| aws_smithy_types::base64::encode(md5::Md5::digest(body)))
    }
}

/// Sets what a replica carries — content headers, user metadata, tags, storage class, SSE-KMS —
/// on a `CopyObject`, `PutObject` or `CreateMultipartUpload` call. A macro because the three
/// SDK builders share these setters by name, not by a trait.
macro_rules! with_replica_attributes {
    ($call:expr, $object:expr) => {{
        let object = $object;
        let headers = &object.headers;
        let mut call = $call
            .set_metadata(Some(to_map(&object.metadata)))
            .set_content_type(headers.content_type.clone())
            .set_content_encoding(headers.content_encoding.clone())
            .set_content_disposition(headers.content_disposition.clone())
            .set_content_language(headers.content_language.clone())
            .set_cache_control(headers.cache_control.clone())
            .set_storage_class(object.storage_class.as_deref().map(StorageClass::from));
        if !object.tags.is_empty() {
            call = call.tagging(encode_tags(&object.tags));
        }
        if let Some(kms_key) = &object.sse_kms_key_id {
            call = call
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key);
        }
        if let Some(lock) = &object.object_lock {
            call = call
                .set_object_lock_mode(lock.mode.as_deref().map(ObjectLockMode::from))
                .set_object_lock_retain_until_date(lock.retain_until.map(|t| {
                    aws_smithy_types::DateTime::from_nanos(t.unix_timestamp_nanos()).unwrap_or_else(
                        |_| aws_smithy_types::DateTime::from_secs(t.unix_timestamp()),
                    )
                }))
                .object_lock_legal_hold_status(if lock.legal_hold {
                    ObjectLockLegalHoldStatus::On
                } else {
                    ObjectLockLegalHoldStatus::Off
                });
        }
        call
    }};
}

/// Sets `value` (base64) as the checksum of `algorithm` on an SDK builder: `PutObject`,
/// `CompleteMultipartUpload` and `CompletedPart` share these setters by name, not by a trait.
macro_rules! set_checksum {
    ($call:expr, $algorithm:expr, $value:expr) => {{
        let (call, value) = ($call, $value);
        match $algorithm {
            ChecksumAlgorithm::Crc32 => call.set_checksum_crc32(value),
            ChecksumAlgorithm::Crc32c => call.set_checksum_crc32_c(value),
            ChecksumAlgorithm::Crc64Nvme => call.set_checksum_crc64_nvme(value),
            ChecksumAlgorithm::Sha1 => call.set_checksum_sha1(value),
            ChecksumAlgorithm::Sha256 => call.set_checksum_sha256(value),
        }
    }};
}

/// The checksum of `algorithm` in an SDK answer (`UploadPart`, `CopyPartResult`), owned.
macro_rules! checksum_in {
    ($out:expr, $algorithm:expr) => {{
        let out = $out;
        match $algorithm {
            ChecksumAlgorithm::Crc32 => out.checksum_crc32(),
            ChecksumAlgorithm::Crc32c => out.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => out.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => out.checksum_sha1(),
            ChecksumAlgorithm::Sha256 => out.checksum_sha256(),
        }
        .map(str::to_owned)
    }};
}

impl ObjectStore for S3Store {
    async fn head_object(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
    ) -> Result<Option<ObjectHead>, StoreError> {
        let result = self
            .client
            .head_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .set_if_match(if_match.map(|etag| format!("\"{}\"", unquote_etag(etag))))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                let err = translate(Operation::HeadObject, &object.bucket, &object.key, &err);
                // HeadObject has no body, so a missing bucket is a bare 404 as well: the
                // caller learns about the bucket from the write that follows.
                return match err.kind {
                    StoreErrorKind::NotFound => Ok(None),
                    _ => Err(err),
                };
            }
        };
        // An answer without Content-Length (some S3-compatible stores) says nothing about the
        // size: reading it as 0 would make an empty object of it.
        let Some(size) = out.content_length().filter(|n| *n >= 0) else {
            return Err(StoreError::new(
                Operation::HeadObject,
                &object.bucket,
                &object.key,
                StoreErrorKind::BadResponse,
                "the HeadObject answer carries no Content-Length",
            ));
        };
        Ok(Some(ObjectHead {
            size: size as u64,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default().to_owned(),
            version_id: out.version_id().map(str::to_owned),
            headers: ContentHeaders {
                content_type: out.content_type().map(str::to_owned),
                content_encoding: out.content_encoding().map(str::to_owned),
                content_disposition: out.content_disposition().map(str::to_owned),
                content_language: out.content_language().map(str::to_owned),
                cache_control: out.cache_control().map(str::to_owned),
            },
            metadata: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            tag_count: out.tag_count().unwrap_or(0).max(0) as u32,
            server_side_encryption: out.server_side_encryption().map(|s| s.as_str().to_owned()),
            checksum: checksum_of(
                [
                    (ChecksumAlgorithm::Crc64Nvme, out.checksum_crc64_nvme()),
                    (ChecksumAlgorithm::Crc32c, out.checksum_crc32_c()),
                    (ChecksumAlgorithm::Crc32, out.checksum_crc32()),
                    (ChecksumAlgorithm::Sha256, out.checksum_sha256()),
                    (ChecksumAlgorithm::Sha1, out.checksum_sha1()),
                ],
                out.checksum_type(),
            ),
            storage_class: out.storage_class().map(|c| c.as_str().to_owned()),
            restore: out.restore().map(str::to_owned),
            archive_status: out.archive_status().map(|s| s.as_str().to_owned()),
            object_lock: lock_of(
                out.object_lock_mode().map(|m| m.as_str()),
                out.object_lock_retain_until_date(),
                out.object_lock_legal_hold_status(),
            ),
        }))
    }

    async fn get_object_tagging(&self, object: &ObjectRef) -> Result<Vec<Tag>, StoreError> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await
            .map_err(|e| translate(Operation::GetObjectTagging, &object.bucket, &object.key, &e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| Tag {
                key: t.key().to_owned(),
                value: t.value().to_owned(),
            })
            .collect())
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<ListPage, StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .set_continuation_token(continuation.map(str::to_owned))
            .send()
            .await
            .map_err(|e| translate(Operation::ListObjects, bucket, prefix, &e))?;
        Ok(ListPage {
            objects: out
                .contents()
                .iter()
                .filter_map(|o| {
                    Some(Listed {
                        key: o.key()?.to_owned(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                        etag: o.e_tag().map(unquote_etag).unwrap_or_default().to_owned(),
                    })
                })
                .collect(),
            next: out
                .is_truncated()
                .unwrap_or(false)
                .then(|| out.next_continuation_token().map(str::to_owned))
                .flatten(),
        })
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, StoreError> {
        let call = self
            .client
            .copy_object()
            .bucket(&request.bucket)
            .key(&request.key)
            .copy_source(encode_copy_source(&request.source))
            .set_copy_source_if_match(
                request
                    .source_if_match
                    .as_deref()
                    .map(|etag| format!("\"{}\"", unquote_etag(etag))),
            )
            // REPLACE, not COPY: the replica records where it came from in its metadata,
            // and COPY for tags is not honoured across accounts by every implementation.
            .metadata_directive(MetadataDirective::Replace)
            .tagging_directive(TaggingDirective::Replace)
            .set_if_match(request.condition.if_match())
            .set_if_none_match(request.condition.if_none_match());
        let out = with_replica_attributes!(call, request)
            .send()
            .await
            .map_err(|e| translate(Operation::CopyObject, &request.bucket, &request.key, &e))?;
        // S3 may answer 200 with an error in the body; a result without an ETag is a failure.
        let etag = out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .map(unquote_etag)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                StoreError::new(
                    Operation::CopyObject,
                    &request.bucket,
                    &request.key,
                    StoreErrorKind::BadResponse,
                    "the copy answered without an ETag",
                )
            })?;
        Ok(Written {
            etag: etag.to_owned(),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn get_object_range(
        &self,
        object: &ObjectRef,
        if_match: Option<&str>,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        let fail = |e| translate(Operation::GetObject, &object.bucket, &object.key, &e);
        let out = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .set_if_match(if_match.map(|etag| format!("\"{}\"", unquote_etag(etag))))
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(fail)?;
        // One buffer of exactly the range's size, filled chunk by chunk: collecting the body
        // and then flattening it would hold the part twice.
        let wanted = (range.end - range.start) as usize;
        let mut buffer = BytesMut::with_capacity(wanted);
        let mut body = out.body;
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => buffer.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Err(StoreError::new(
                        Operation::GetObject,
                        &object.bucket,
                        &object.key,
                        StoreErrorKind::Transient,
                        format!("reading the body failed: {e}"),
                    ))
                }
            }
        }
        if buffer.len() != wanted {
            return Err(StoreError::new(
                Operation::GetObject,
                &object.bucket,
                &object.key,
                StoreErrorKind::Transient,
                format!(
                    "asked for bytes {}..{} ({wanted} bytes), received {}",
                    range.start,
                    range.end,
                    buffer.len()
                ),
            ));
        }
        Ok(buffer.freeze())
    }

    async fn put_object(&self, object: &NewObject, body: Bytes) -> Result<Written, StoreError> {
        let length = body.len() as i64;
        let call = self
            .client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_content_md5(self.content_md5(&body))
            .body(ByteStream::from(body))
            .content_length(length)
            .set_if_match(object.condition.if_match())
            .set_if_none_match(object.condition.if_none_match());
        let mut call = with_replica_attributes!(call, object);
        // S3 checks the body against the checksum it is sent: a streamed copy that differs from
        // the source is refused by S3 itself.
        let full = object.expected_checksum.as_ref().filter(|c| c.full_object);
        if let Some(checksum) = full {
            call = set_checksum!(call, checksum.algorithm, Some(checksum.value.clone()));
        }
        // S3 takes Object Lock settings on an upload only with Content-MD5 or
        // x-amz-sdk-checksum-algorithm, which the SDK sends when the algorithm is named.
        if object.object_lock.is_some() {
            call = call.checksum_algorithm(
                full.map_or(aws_sdk_s3::types::ChecksumAlgorithm::Crc32, |c| {
                    sdk_algorithm(c.algorithm)
                }),
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| translate(Operation::PutObject, &object.bucket, &object.key, &e))?;
        let etag = required_etag(
            out.e_tag(),
            Operation::PutObject,
            &object.bucket,
            &object.key,
        )?;
        Ok(Written {
            etag,
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn create_multipart_upload(&self, object: &NewObject) -> Result<UploadRef, StoreError> {
        let call = self
            .client
            .create_multipart_upload()
            .bucket(&object.bucket)
            .key(&object.key);
        let mut call = with_replica_attributes!(call, object);
        // A full-object checksum in the source's algorithm: every part then carries its
        // checksum, and the completion the source's value, which S3 checks against the parts.
        let checksum = object.multipart_checksum().cloned();
        if let Some(checksum) = &checksum {
            call = call
                .checksum_algorithm(sdk_algorithm(checksum.algorithm))
                .checksum_type(ChecksumType::FullObject);
        }
        let out = call.send().await.map_err(|e| {
            translate(
                Operation::CreateMultipartUpload,
                &object.bucket,
                &object.key,
                &e,
            )
        })?;
        let upload_id = out.upload_id().filter(|id| !id.is_empty()).ok_or_else(|| {
            StoreError::new(
                Operation::CreateMultipartUpload,
                &object.bucket,
                &object.key,
                StoreErrorKind::BadResponse,
                "the answer carries no upload id",
            )
        })?;
        Ok(UploadRef {
            checksum,
            condition: object.condition.clone(),
            ..UploadRef::new(&object.bucket, &object.key, upload_id)
        })
    }

    async fn upload_part_copy(
        &self,
        request: &PartCopyRequest,
    ) -> Result<CompletedPart, StoreError> {
        let upload = &request.upload;
        let out = self
            .client
            .upload_part_copy()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(request.part_number as i32)
            .copy_source(encode_copy_source(&request.source))
            .copy_source_range(format!(
                "bytes={}-{}",
                request.range.start,
                request.range.end - 1
            ))
            .set_copy_source_if_match(
                request
                    .source_if_match
                    .as_deref()
                    .map(|etag| format!("\"{}\"", unquote_etag(etag))),
            )
            .send()
            .await
            .map_err(|e| translate(Operation::UploadPartCopy, &upload.bucket, &upload.key, &e))?;
        // Like CopyObject, UploadPartCopy can answer 200 with an error in the body.
        let result = out.copy_part_result();
        let etag = required_etag(
            result.and_then(|r| r.e_tag()),
            Operation::UploadPartCopy,
            &upload.bucket,
            &upload.key,
        )?;
        let checksum = upload
            .checksum
            .as_ref()
            .and_then(|c| checksum_in!(result?, c.algorithm));
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
        let length = body.len() as i64;
        let out = self
            .client
            .upload_part()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .part_number(part_number as i32)
            .content_length(length)
            .set_content_md5(self.content_md5(&body))
            .body(ByteStream::from(body))
            // The SDK computes the part's checksum in the upload's algorithm and S3 checks it.
            .set_checksum_algorithm(upload.checksum.as_ref().map(|c| sdk_algorithm(c.algorithm)))
            .send()
            .await
            .map_err(|e| translate(Operation::UploadPart, &upload.bucket, &upload.key, &e))?;
        let etag = required_etag(
            out.e_tag(),
            Operation::UploadPart,
            &upload.bucket,
            &upload.key,
        )?;
        let checksum = upload
            .checksum
            .as_ref()
            .and_then(|c| checksum_in!(&out, c.algorithm));
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
        let parts = parts
            .iter()
            .map(|p| {
                let part = aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(p.part_number as i32)
                    .e_tag(format!("\"{}\"", p.etag));
                match &upload.checksum {
                    Some(c) => set_checksum!(part, c.algorithm, p.checksum.clone()),
                    None => part,
                }
                .build()
            })
            .collect();
        let mut call = self
            .client
            .complete_multipart_upload()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .set_if_match(upload.condition.if_match())
            .set_if_none_match(upload.condition.if_none_match());
        // The source's full-object checksum: S3 refuses to complete an object of other bytes.
        if let Some(checksum) = &upload.checksum {
            call = set_checksum!(call, checksum.algorithm, Some(checksum.value.clone()))
                .checksum_type(ChecksumType::FullObject);
        }
        let out = call.send().await.map_err(|e| {
            translate(
                Operation::CompleteMultipartUpload,
                &upload.bucket,
                &upload.key,
                &e,
            )
        })?;
        let etag = required_etag(
            out.e_tag(),
            Operation::CompleteMultipartUpload,
            &upload.bucket,
            &upload.key,
        )?;
        Ok(Written {
            etag,
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn abort_multipart_upload(&self, upload: &UploadRef) -> Result<(), StoreError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = translate(
                    Operation::AbortMultipartUpload,
                    &upload.bucket,
                    &upload.key,
                    &e,
                );
                // NoSuchUpload: already aborted or completed; nothing is left behind.
                match err.kind {
                    StoreErrorKind::NotFound => Ok(()),
                    _ => Err(err),
                }
            }
        }
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<Deleted, StoreError> {
        let out = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(condition.if_match())
            .send()
            .await
            .map_err(|e| translate(Operation::DeleteObject, bucket, key, &e))?;
        Ok(Deleted {
            delete_marker: out.delete_marker().unwrap_or(false),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn restore_object(
        &self,
        object: &ObjectRef,
        tier: &str,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
        let job = GlacierJobParameters::builder()
            .tier(Tier::from(tier))
            .build()
            .map_err(|e| {
                StoreError::new(
                    Operation::RestoreObject,
                    &object.bucket,
                    &object.key,
                    StoreErrorKind::Other,
                    e.to_string(),
                )
            })?;
        let mut request = RestoreRequest::builder();
        request = match days {
            Some(days) => request
                .days(i32::try_from(days).unwrap_or(i32::MAX))
                .glacier_job_parameters(job),
            // Intelligent-Tiering's archive tiers take no days (and no tier: they restore
            // into the Frequent Access tier at the tier of their own).
            None => request,
        };
        let result = self
            .client
            .restore_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .restore_request(request.build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = SdkFailure::from_sdk(&e);
                if failure.code.as_deref() == Some("RestoreAlreadyInProgress") {
                    return Ok(());
                }
                Err(translate(
                    Operation::RestoreObject,
                    &object.bucket,
                    &object.key,
                    &e,
                ))
            }
        }
    }
}

mod convert;
use convert::{checksum_of, lock_of, required_etag, sdk_algorithm, to_map, translate};

#[cfg(test)]
mod tests;
