//! The S3 adapter of [`ObjectStore`]: the only place that speaks aws-sdk-s3.

use std::collections::HashMap;

use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, StorageClass, TaggingDirective};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{
    encode_copy_source, encode_tags, unquote_etag, ContentHeaders, CopyRequest, ListPage, Listed,
    ObjectHead, ObjectRef, ObjectStore, Operation, StoreError, StoreErrorKind, Tag, Written,
};
use crate::aws::SdkFailure;

/// One principal in one region.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
}

impl S3Store {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Translates an SDK error into a [`StoreError`] — once, here, so that nobody else has to.
fn translate<E>(
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
        (Some("NoSuchKey" | "NoSuchVersion" | "NotFound"), _) | (None, Some(404)) => {
            StoreErrorKind::NotFound
        }
        (Some("PreconditionFailed"), _) | (_, Some(412)) => StoreErrorKind::PreconditionFailed,
        (Some("InvalidObjectState"), _) => StoreErrorKind::InvalidObjectState,
        _ if failure.is_throttling() => StoreErrorKind::Throttled,
        _ if failure.is_access_denied() => StoreErrorKind::AccessDenied,
        _ if failure.is_transient() => StoreErrorKind::Transient,
        _ => StoreErrorKind::Other,
    };
    StoreError::new(operation, bucket, key, kind, failure.message)
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
        Ok(Some(ObjectHead {
            size: out.content_length().unwrap_or(0).max(0) as u64,
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
        let headers = &request.headers;
        let metadata: HashMap<String, String> = request
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut call = self
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
            .set_metadata(Some(metadata))
            .set_content_type(headers.content_type.clone())
            .set_content_encoding(headers.content_encoding.clone())
            .set_content_disposition(headers.content_disposition.clone())
            .set_content_language(headers.content_language.clone())
            .set_cache_control(headers.cache_control.clone())
            .tagging_directive(TaggingDirective::Replace)
            .set_storage_class(request.storage_class.as_deref().map(StorageClass::from));
        if !request.tags.is_empty() {
            call = call.tagging(encode_tags(&request.tags));
        }
        if let Some(kms_key) = &request.sse_kms_key_id {
            call = call
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key);
        }
        let out = call
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
}
