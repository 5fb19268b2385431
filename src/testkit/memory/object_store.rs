//! [`MemoryStore`] as an [`ObjectStore`]: every S3 operation the daemon uses, on the shared
//! [`World`](super::World).

use super::*;

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
            checksum: (!Self::lacking(&world, &object.bucket).checksums).then(|| stored.checksum()),
            storage_class: stored.storage_class.clone(),
            restore: stored.restore.clone(),
            archive_status: None,
            object_lock: stored.object_lock.clone(),
        }))
    }

    async fn get_object_tagging(&self, object: &ObjectRef) -> Result<Vec<Tag>, StoreError> {
        let mut world = self.world();
        let op = Operation::GetObjectTagging;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        if Self::lacking(&world, &object.bucket).tagging {
            return Err(StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::Other,
                "NotImplemented: GetObjectTagging is not implemented",
            ));
        }
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
        Self::check_readable(op, source, &original)?;
        Self::check_lock(
            &world,
            op,
            &request.bucket,
            &request.key,
            &request.object_lock,
        )?;
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
            restore: None,
            object_lock: request.object_lock.clone(),
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
        Self::check_readable(op, object, &stored)?;
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
        let lacks = Self::lacking(&world, &object.bucket);
        // S3 checks the body against a checksum sent with it.
        if let Some(expected) = object
            .expected_checksum
            .as_ref()
            .filter(|c| c.full_object && !lacks.checksums)
        {
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
        Self::check_lock(&world, op, &object.bucket, &object.key, &object.object_lock)?;
        if !lacks.conditional_writes {
            Self::check_condition(&world, op, &object.bucket, &object.key, &object.condition)?;
        }
        let etag = Self::etag_for(&mut world, &object.bucket, &body);
        let stored = StoredObject {
            body: body.to_vec(),
            etag: etag.clone(),
            headers: object.headers.clone(),
            metadata: object.metadata.clone(),
            tags: if lacks.tagging {
                Vec::new()
            } else {
                object.tags.clone()
            },
            storage_class: object.storage_class.clone(),
            checksum: object
                .expected_checksum
                .as_ref()
                .map(|c| (c.algorithm, true)),
            version_id: None,
            restore: None,
            object_lock: object.object_lock.clone(),
        };
        let version_id = Self::store(&mut world, &object.bucket, &object.key, stored);
        Ok(Written { etag, version_id })
    }

    async fn create_multipart_upload(&self, object: &NewObject) -> Result<UploadRef, StoreError> {
        let mut world = self.world();
        let op = Operation::CreateMultipartUpload;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        Self::check_lock(&world, op, &object.bucket, &object.key, &object.object_lock)?;
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
            Self::check_readable(op, source, &stored)?;
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
        let lacks = Self::lacking(&world, &upload.bucket);
        if !lacks.conditional_writes {
            Self::check_condition(&world, op, &upload.bucket, &upload.key, &upload.condition)?;
        }
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
        // The value is the one the completion sends (none: S3 computes it).
        let checksum = pending
            .object
            .multipart_checksum()
            .cloned()
            .filter(|_| !lacks.checksums);
        let sent = upload.checksum.as_ref().map(|c| c.value.clone());
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
            if sent.as_ref().is_some_and(|sent| {
                !sent.is_empty() && checksum_value(expected.algorithm, &body) != *sent
            }) {
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
        let etag = if lacks.md5_etags {
            Self::etag_for(&mut world, &upload.bucket, &body)
        } else {
            crate::store::multipart_etag(parts.iter().map(|p| p.etag.as_str()))
        };
        let stored = StoredObject {
            body,
            etag: etag.clone(),
            headers: object.headers,
            metadata: object.metadata,
            tags: if lacks.tagging {
                Vec::new()
            } else {
                object.tags
            },
            storage_class: object.storage_class,
            checksum: checksum.map(|c| (c.algorithm, true)),
            version_id: None,
            restore: None,
            object_lock: object.object_lock,
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

    /// As S3: a restore of an object that is not archived is refused (403
    /// `InvalidObjectState`); one already running or done is accepted. The restore finishes
    /// when the test says so ([`MemoryStore::finish_restore`]).
    async fn restore_object(
        &self,
        object: &ObjectRef,
        tier: &str,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        let mut world = self.world();
        let op = Operation::RestoreObject;
        self.check(&mut world, op, &object.bucket, &object.key)?;
        world.restores.push((
            object.bucket.clone(),
            object.key.clone(),
            tier.to_owned(),
            days,
        ));
        let Some(stored) = world
            .buckets
            .get_mut(&object.bucket)
            .and_then(|b| b.get_mut(&object.key))
        else {
            return Err(StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::NotFound,
                "no such key",
            ));
        };
        if !matches!(
            stored.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        ) {
            return Err(StoreError::new(
                op,
                &object.bucket,
                &object.key,
                StoreErrorKind::InvalidObjectState,
                "InvalidObjectState: the object is not archived",
            ));
        }
        if stored.restore.is_none() {
            stored.restore = Some(RESTORING.to_owned());
        }
        Ok(())
    }

    /// As S3: `If-Match` on a missing key is 404, on another object 412; without a condition a
    /// missing key is deleted successfully. A versioned bucket keeps every version and gets a
    /// delete marker (a version of its own, which reads as no object).
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<Deleted, StoreError> {
        let mut world = self.world();
        let op = Operation::DeleteObject;
        self.check(&mut world, op, bucket, key)?;
        if *condition != WriteCondition::None {
            Self::check_condition(&world, op, bucket, key, condition)?;
        }
        if let Some(objects) = world.buckets.get_mut(bucket) {
            objects.remove(key);
        }
        if !world.versioned.contains(bucket) {
            return Ok(Deleted::default());
        }
        world.next_version += 1;
        let marker = format!("v{}", world.next_version);
        world
            .delete_markers
            .push((bucket.to_owned(), key.to_owned(), marker.clone()));
        Ok(Deleted {
            delete_marker: true,
            version_id: Some(marker),
        })
    }
}
