//! S3 event notifications: the `{"Records": [...]}` event S3 sends to SQS (or through SNS with
//! raw message delivery), and the SNS envelope that carries it otherwise.
//!
//! Where it sits: one of the wire formats of [`crate::event`], which dispatches here; the
//! records become [`ObjectCreated`] values with their keys form-URL-decoded ([`decode_key`]).

use serde::Deserialize;
use serde_json::Value;

use super::{
    clean_etag, decode_key, decode_unwrapped, from_value, is_sns_notification, non_empty,
    parse_json, parse_time, required, DecodeError, Location, Notification, ObjectCreated,
    ObjectRemoved, Sequencer,
};

/// Decodes an SNS notification (`{"Type": "Notification", "Message": "..."}`) whose message is
/// one of the other shapes; errors inside it name the notification.
pub(super) fn decode_sns_notification(value: Value) -> Result<Notification, DecodeError> {
    let envelope: SnsNotification = from_value(value, Location::SnsNotification)?;
    let message = envelope.message.ok_or(DecodeError::MissingField {
        at: Location::SnsNotification,
        field: "Message",
    })?;
    let in_envelope = |inner| DecodeError::InSnsNotification {
        message_id: envelope.message_id.clone().unwrap_or_default(),
        inner: Box::new(inner),
    };
    let inner = parse_json(&message).map_err(in_envelope)?;
    if is_sns_notification(&inner) {
        // AWS never nests envelopes; refusing keeps a crafted message from recursing.
        return Err(in_envelope(DecodeError::UnrecognisedShape {
            found: "an SNS notification nested inside another".to_owned(),
        }));
    }
    decode_unwrapped(inner).map_err(in_envelope)
}

// https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsNotification {
    message: Option<String>,
    message_id: Option<String>,
}

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
//
// Every field is optional at the serde level so that a missing one is reported by name (and
// only when the record is an ObjectCreated record: skipped records are not held to our needs).
#[derive(Debug, Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct S3EventRecord {
    event_version: Option<String>,
    aws_region: Option<String>,
    event_time: Option<String>,
    event_name: Option<String>,
    s3: S3Entity,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct S3Bucket {
    pub(super) name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct S3Object {
    key: Option<String>,
    size: Option<u64>,
    e_tag: Option<String>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

pub(super) fn decode_s3_event(value: Value) -> Result<Notification, DecodeError> {
    let event: S3Event = from_value(value, Location::S3Event)?;
    let mut objects = Vec::with_capacity(event.records.len());
    let mut removed = Vec::new();
    let mut skipped = 0;
    for (index, record) in event.records.into_iter().enumerate() {
        let at = Location::Record(index);
        let record: S3EventRecord = from_value(record, at)?;
        let version = required(record.event_version, at, "eventVersion")?;
        check_event_version(&version, index)?;
        let event_name = required(record.event_name, at, "eventName")?;
        let kind = kind_of(&event_name);
        if kind == Kind::Other {
            skipped += 1;
            continue;
        }
        let bucket = required(record.s3.bucket.name, at, "s3.bucket.name")?;
        let object = record.s3.object;
        let raw_key = required(object.key, at, "s3.object.key")?;
        let key = decode_key(&raw_key).map_err(|err| DecodeError::InvalidField {
            at,
            field: "s3.object.key",
            reason: err.to_string(),
        })?;
        let event_time = required(record.event_time, at, "eventTime")?;
        if let Kind::Removed { delete_marker } = kind {
            removed.push(ObjectRemoved {
                bucket,
                key,
                region: record.aws_region.unwrap_or_default(),
                version_id: non_empty(object.version_id),
                sequencer: non_empty(object.sequencer).map(Sequencer),
                event_time: parse_time(&event_time, at, "eventTime")?,
                event_name,
                delete_marker,
            });
            continue;
        }
        objects.push(ObjectCreated {
            bucket,
            key,
            region: record.aws_region.unwrap_or_default(),
            version_id: non_empty(object.version_id),
            etag: clean_etag(object.e_tag),
            size: object.size.unwrap_or(0),
            sequencer: non_empty(object.sequencer).map(Sequencer),
            event_time: parse_time(&event_time, at, "eventTime")?,
            event_name,
        });
    }
    Ok(Notification::Objects {
        objects,
        removed,
        skipped,
    })
}

/// S3 promises compatible minor versions (2.1 … 2.3 today, more later) and only adds fields,
/// which serde ignores; a different major version is refused.
fn check_event_version(version: &str, record: usize) -> Result<(), DecodeError> {
    let major = version.split_once('.').map_or(version, |(major, _)| major);
    if major.parse::<u32>() == Ok(2) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedEventVersion {
            record,
            version: version.to_owned(),
        })
    }
}

/// What a record's `eventName` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An object to copy: `ObjectCreated:*`, or `ObjectRestore:Completed` (an archived object
    /// can be read now; docs/design.md, "Archived sources").
    Created,
    /// `ObjectRemoved:Delete` or `ObjectRemoved:DeleteMarkerCreated`.
    Removed { delete_marker: bool },
    /// Anything else (`ObjectRestore:Post`, `LifecycleExpiration:*`, `Replication:*`, ...).
    Other,
}

/// S3 itself sends `ObjectCreated:Put`; S3-compatible stores (MinIO, Ceph) send
/// `s3:ObjectCreated:Put`. Skipping the latter would silently replicate nothing, so both count.
/// Lifecycle expirations have names of their own (`LifecycleExpiration:*`) and are not deletes
/// to replicate, as in S3 Replication.
fn kind_of(event_name: &str) -> Kind {
    let name = event_name.strip_prefix("s3:").unwrap_or(event_name);
    if name.starts_with("ObjectCreated:") || name == "ObjectRestore:Completed" {
        Kind::Created
    } else if name == "ObjectRemoved:Delete" {
        Kind::Removed {
            delete_marker: false,
        }
    } else if name == "ObjectRemoved:DeleteMarkerCreated" {
        Kind::Removed {
            delete_marker: true,
        }
    } else {
        Kind::Other
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use time::macros::datetime;
    use time::UtcOffset;

    use crate::event::tests::{fixture, objects, put_record, s3_event, single, with, without};
    use crate::event::{decode, DecodeError, Location, Notification, ObjectCreated, Sequencer};

    // --- fixtures: accepted shapes ---------------------------------------------------------

    #[test]
    fn several_records_keep_order_and_skip_removed() {
        let (objects, skipped) = objects(fixture!("s3_put_multiple_records"));
        assert_eq!(skipped, 1);
        assert_eq!(
            objects,
            vec![
                ObjectCreated {
                    bucket: "data-lake-curated".into(),
                    key: "curated/d=2026-11-21/part-0.parquet".into(),
                    region: "us-east-1".into(),
                    version_id: None,
                    etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                    size: 1_048_576,
                    sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
                    event_time: datetime!(2026-11-21 10:00:00.000 UTC),
                    event_name: "ObjectCreated:Put".into(),
                },
                ObjectCreated {
                    bucket: "data-lake-curated".into(),
                    key: "curated/d=2026-11-21/part-1.parquet".into(),
                    region: "us-east-1".into(),
                    version_id: None,
                    etag: Some("0cc175b9c0f1b6a831c399e269772661".into()),
                    size: 2048,
                    sequencer: Some(Sequencer::new("0055AED6DCD90281E7")),
                    event_time: datetime!(2026-11-21 10:00:02.500 UTC),
                    event_name: "ObjectCreated:Copy".into(),
                },
            ]
        );
    }

    #[test]
    fn key_with_special_characters_is_decoded_once() {
        let object = single(fixture!("s3_key_special_characters"));
        assert_eq!(object.key, "dir/a b+c%d?e#f/é.txt");
        assert_eq!(object.bucket, "uploads-eu");
        assert_eq!(object.region, "eu-west-1");
        assert_eq!(object.size, 11);
        assert_eq!(object.event_time, datetime!(2026-11-21 10:05:00.123 UTC));
    }

    #[test]
    fn moto_event_with_encoded_slashes() {
        let object = single(fixture!("moto_put_encoded_slash"));
        assert_eq!(
            object,
            ObjectCreated {
                bucket: "src-bucket".into(),
                key: "curated/d=2026-11-21/my report (1).csv".into(),
                region: "us-east-1".into(),
                version_id: None,
                etag: Some("5d41402abc4b2a76b9719d911017c592".into()),
                size: 5,
                sequencer: None,
                event_time: datetime!(2026-11-21 10:10:00.042 UTC),
                event_name: "ObjectCreated:Put".into(),
            }
        );
    }

    #[test]
    fn localstack_event_with_percent20_spaces_and_null_version() {
        let object = single(fixture!("localstack_put_percent20"));
        assert_eq!(object.key, "my dir/x+y.txt");
        assert_eq!(object.version_id, None);
        assert_eq!(
            object.etag.as_deref(),
            Some("acbd18db4cc2f85cedef654fccc4a4d8")
        );
    }

    #[test]
    fn versioned_object_with_sequencer() {
        let object = single(fixture!("s3_versioned_put"));
        assert_eq!(
            object,
            ObjectCreated {
                bucket: "versioned-source".into(),
                key: "events/2026/11/21/batch-0001.json.gz".into(),
                region: "us-west-2".into(),
                version_id: Some("096fKKXTRTtl3on89fVO.nfljtsv6qko".into()),
                etag: Some("e7ab36b6e3a3b2d1c9b6e0f2c4d8a1b3".into()),
                size: 73_421,
                sequencer: Some(Sequencer::new("00673F0A1B2C3D4E5F")),
                event_time: datetime!(2026-11-21 10:15:30.500 UTC),
                event_name: "ObjectCreated:Put".into(),
            }
        );
    }

    #[test]
    fn newer_minor_version_with_unknown_fields_and_quoted_etag() {
        let object = single(fixture!("s3_event_version_2_3_extra_fields"));
        assert_eq!(
            object,
            ObjectCreated {
                bucket: "forms-upload".into(),
                key: "submissions/form-42.pdf".into(),
                region: "ap-southeast-2".into(),
                version_id: None,
                etag: Some("9b2cf535f27731c974343645a3985328".into()),
                size: 98_304,
                sequencer: Some(Sequencer::new("0067AB12CD34EF5678")),
                event_time: datetime!(2026-11-21 10:20:00 UTC),
                event_name: "ObjectCreated:Post".into(),
            }
        );
    }

    #[test]
    fn multipart_upload_beyond_4_gib_with_long_sequencer() {
        let object = single(fixture!("s3_complete_multipart_upload"));
        assert_eq!(object.event_name, "ObjectCreated:CompleteMultipartUpload");
        assert_eq!(object.size, 6_442_450_944);
        assert_eq!(
            object.etag.as_deref(),
            Some("4af981f98d22a0b9979da24b259e5e42-97")
        );
        assert_eq!(
            object.sequencer.as_ref().map(Sequencer::as_str),
            Some("0064D3901D0005924200000000000000A1")
        );
        assert_eq!(object.event_time, datetime!(2026-11-21 11:00:00.999 UTC));
    }

    #[test]
    fn sns_wrapped_event_decodes_like_the_plain_one() {
        let wrapped = decode(fixture!("sns_wrapped_put")).unwrap();
        let plain = decode(fixture!("s3_versioned_put")).unwrap();
        assert_eq!(wrapped, plain);
    }

    #[test]
    fn missing_key_names_record_and_field() {
        let err = decode(fixture!("malformed_missing_key")).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::MissingField {
                    at: Location::Record(2),
                    field: "s3.object.key"
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "record 2: missing s3.object.key");
    }

    #[test]
    fn major_version_3_is_rejected() {
        let err = decode(fixture!("malformed_event_version_3")).unwrap_err();
        assert!(
            matches!(&err, DecodeError::UnsupportedEventVersion { record: 0, version } if version == "3.0"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("unsupported eventVersion 3.0 in record 0"),
            "{err}"
        );
    }

    // --- inline cases ----------------------------------------------------------------------

    #[test]
    fn any_minor_of_major_2_is_accepted() {
        for version in ["2.0", "2.1", "2.2", "2.3", "2.9", "2.10", "2"] {
            let body = s3_event(with(put_record(), "/eventVersion", version.into()));
            assert_eq!(single(&body).key, "k", "eventVersion {version}");
        }
    }

    #[test]
    fn other_major_versions_are_rejected() {
        for version in ["1.0", "3.0", "10.1", "two", ".2"] {
            let body = s3_event(with(put_record(), "/eventVersion", version.into()));
            assert!(
                matches!(
                    decode(&body),
                    Err(DecodeError::UnsupportedEventVersion { record: 0, .. })
                ),
                "eventVersion {version:?}"
            );
        }
    }

    #[test]
    fn required_fields_are_named_when_missing_or_empty() {
        let cases = [
            (without(put_record(), "", "eventTime"), "eventTime"),
            (without(put_record(), "", "eventVersion"), "eventVersion"),
            (without(put_record(), "", "eventName"), "eventName"),
            (
                without(put_record(), "/s3/bucket", "name"),
                "s3.bucket.name",
            ),
            (
                with(put_record(), "/s3/object/key", "".into()),
                "s3.object.key",
            ),
            (
                with(put_record(), "/s3/bucket/name", "".into()),
                "s3.bucket.name",
            ),
            (
                with(put_record(), "/eventVersion", "".into()),
                "eventVersion",
            ),
        ];
        for (record, field) in cases {
            let err = decode(&s3_event(record)).unwrap_err();
            assert_eq!(err.to_string(), format!("record 0: missing {field}"));
        }
        let err = decode(&s3_event(without(put_record(), "", "s3"))).unwrap_err();
        assert_eq!(err.to_string(), "record 0: missing s3.bucket.name");
    }

    #[test]
    fn invalid_event_time_is_reported() {
        let body = s3_event(with(put_record(), "/eventTime", "yesterday".into()));
        let err = decode(&body).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidField {
                    at: Location::Record(0),
                    field: "eventTime",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn event_time_with_offset_is_normalised_to_utc() {
        let body = s3_event(with(
            put_record(),
            "/eventTime",
            "2026-11-21T12:00:00.5+02:00".into(),
        ));
        let object = single(&body);
        assert_eq!(object.event_time, datetime!(2026-11-21 10:00:00.5 UTC));
        assert_eq!(object.event_time.offset(), UtcOffset::UTC);
    }

    #[test]
    fn wrong_json_type_names_the_record() {
        let body = s3_event(with(put_record(), "/s3/object/size", "12".into()));
        let err = decode(&body).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    at: Location::Record(0),
                    ..
                }
            ),
            "{err:?}"
        );
        let err = decode(r#"{"Records": {"not": "an array"}}"#).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    at: Location::S3Event,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_utf8_key_is_reported_for_its_record() {
        let body = s3_event(with(put_record(), "/s3/object/key", "bad%FF".into()));
        let err = decode(&body).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidField {
                    at: Location::Record(0),
                    field: "s3.object.key",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn skipped_records_need_only_version_and_name() {
        let posted = serde_json::json!({
            "eventVersion": "2.1",
            "eventName": "ObjectRestore:Post"
        });
        let body = serde_json::json!({ "Records": [posted, put_record()] }).to_string();
        let (objects, skipped) = objects(&body);
        assert_eq!((objects.len(), skipped), (1, 1));
        // A delete is acted upon (for rules that replicate deletes): held to the same needs.
        let removed = serde_json::json!({
            "eventVersion": "2.1",
            "eventName": "ObjectRemoved:DeleteMarkerCreated"
        });
        let body = serde_json::json!({ "Records": [removed] }).to_string();
        assert_eq!(
            decode(&body).unwrap_err().to_string(),
            "record 0: missing s3.bucket.name"
        );
    }

    #[test]
    fn empty_records_is_an_empty_batch() {
        assert_eq!(
            decode(r#"{"Records": []}"#).unwrap(),
            Notification::Objects {
                objects: vec![],
                removed: vec![],
                skipped: 0
            }
        );
    }

    #[test]
    fn s3_compatible_event_names_with_prefix_count_as_created() {
        let body = s3_event(with(
            put_record(),
            "/eventName",
            "s3:ObjectCreated:Put".into(),
        ));
        assert_eq!(single(&body).event_name, "s3:ObjectCreated:Put");
    }

    #[test]
    fn optional_fields_default_sensibly() {
        let record = without(
            without(put_record(), "/s3/object", "eTag"),
            "/s3/object",
            "size",
        );
        let record = without(record, "", "awsRegion");
        let object = single(&s3_event(record));
        assert_eq!(object.etag, None);
        assert_eq!(object.size, 0);
        assert_eq!(object.region, "");
        assert_eq!(object.version_id, None);
        assert_eq!(object.sequencer, None);

        for etag in ["", "\"\""] {
            let body = s3_event(with(put_record(), "/s3/object/eTag", etag.into()));
            assert_eq!(single(&body).etag, None, "eTag {etag:?}");
        }
        let body = s3_event(with(put_record(), "/s3/object/eTag", Value::Null));
        assert_eq!(single(&body).etag, None);
    }

    #[test]
    fn sns_envelope_errors_name_the_notification() {
        let body = serde_json::json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "Message": "{\"Records\":[{\"eventVersion\":\"3.0\",\"eventName\":\"ObjectCreated:Put\"}]}"
        })
        .to_string();
        let err = decode(&body).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("in SNS notification m-1: unsupported eventVersion 3.0 in record 0"),
            "{err}"
        );

        let body = r#"{"Type":"Notification","MessageId":"m-2","Message":"not json"}"#;
        let err = decode(body).unwrap_err();
        assert!(
            matches!(&err, DecodeError::InSnsNotification { inner, .. } if matches!(**inner, DecodeError::NotJson(_))),
            "{err:?}"
        );

        let err = decode(r#"{"Type":"Notification","MessageId":"m-3"}"#).unwrap_err();
        assert_eq!(err.to_string(), "SNS notification: missing Message");
    }

    #[test]
    fn nested_sns_envelopes_are_refused() {
        let inner = serde_json::json!({
            "Type": "Notification",
            "Message": fixture!("s3_test_event")
        })
        .to_string();
        let outer =
            serde_json::json!({ "Type": "Notification", "MessageId": "m", "Message": inner })
                .to_string();
        let err = decode(&outer).unwrap_err();
        assert!(
            matches!(&err, DecodeError::InSnsNotification { inner, .. } if matches!(**inner, DecodeError::UnrecognisedShape { .. })),
            "{err:?}"
        );
    }

    // --- key encoding, per envelope -----------------------------------------------------

    /// The key every fixture below names, in plain form.
    const SPECIAL_KEY: &str = "dir/d=2026-11-21/a b+c%d?e#f/été €.txt";

    #[test]
    fn sns_wrapped_keys_are_form_decoded_like_plain_s3_events() {
        let object = single(fixture!("sns_wrapped_key_special_characters"));
        assert_eq!(object.key, SPECIAL_KEY);
        assert_eq!(object.bucket, "uploads-eu");
        // Same encoding inside and outside the SNS envelope.
        let inner: Value = serde_json::from_str(
            serde_json::from_str::<Value>(fixture!("sns_wrapped_key_special_characters")).unwrap()
                ["Message"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(single(&inner.to_string()).key, SPECIAL_KEY);
    }

    fn removed(body: &str) -> Vec<crate::event::ObjectRemoved> {
        match decode(body).unwrap() {
            Notification::Objects { removed, .. } => removed,
            other => panic!("expected objects, got {other:?}"),
        }
    }

    #[test]
    fn deletes_and_delete_markers_are_decoded_with_their_keys() {
        // As AWS sends them: no eTag or size; a delete marker has the marker's version.
        let body = serde_json::json!({ "Records": [
            { "eventVersion": "2.1", "awsRegion": "us-east-1", "eventTime": "2026-12-01T10:00:00.000Z",
              "eventName": "ObjectRemoved:Delete",
              "s3": { "bucket": { "name": "src" }, "object": { "key": "a+b%2Bc.txt", "sequencer": "0055AED6DC00000002" } } },
            { "eventVersion": "2.1", "awsRegion": "us-east-1", "eventTime": "2026-12-01T10:00:01.000Z",
              "eventName": "ObjectRemoved:DeleteMarkerCreated",
              "s3": { "bucket": { "name": "src" }, "object": { "key": "v.txt", "versionId": "m1", "sequencer": "0055AED6DC00000003" } } },
            { "eventVersion": "2.1", "awsRegion": "us-east-1", "eventTime": "2026-12-01T10:00:02.000Z",
              "eventName": "ObjectRemoved:Delete",
              "s3": { "bucket": { "name": "src" }, "object": { "key": "v.txt", "versionId": "v7", "sequencer": "0055AED6DC00000004" } } },
        ]})
        .to_string();
        let removed = removed(&body);
        assert_eq!(removed.len(), 3);
        assert_eq!(removed[0].key, "a b+c.txt");
        assert_eq!(removed[0].version_id, None);
        assert!(!removed[0].delete_marker && !removed[0].deletes_a_version());
        assert_eq!(
            removed[0].sequencer,
            Some(Sequencer::new("0055AED6DC00000002"))
        );
        assert!(removed[1].delete_marker && !removed[1].deletes_a_version());
        assert_eq!(removed[1].version_id.as_deref(), Some("m1"));
        assert!(
            removed[2].deletes_a_version(),
            "a delete of a named version is told apart, and not replicated"
        );
    }

    #[test]
    fn a_delete_from_moto_without_sequencer_is_decoded() {
        // moto 5.2.5: `{key, size, eTag}` only, keys quote_plus-encoded.
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-01T10:00:00.000Z","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"src"},"object":{"key":"dir%2Fx.txt","size":3,"eTag":"acbd18db4cc2f85cedef654fccc4a4d8"}}}]}"#;
        let removed = removed(body);
        assert_eq!(removed[0].key, "dir/x.txt");
        assert_eq!(removed[0].sequencer, None);
    }

    #[test]
    fn a_completed_restore_is_an_object_to_copy_and_other_restore_events_are_skipped() {
        let restore = |name: &str| s3_event(with(put_record(), "/eventName", name.into()));
        assert_eq!(
            single(&restore("ObjectRestore:Completed")).event_name,
            "ObjectRestore:Completed"
        );
        let (posted, skipped) = objects(&restore("ObjectRestore:Post"));
        assert_eq!((posted.len(), skipped), (0, 1));
        let (expired, skipped) = objects(&restore("LifecycleExpiration:Delete"));
        assert_eq!(
            (expired.len(), skipped),
            (0, 1),
            "lifecycle deletes are not replicated"
        );
    }
}
