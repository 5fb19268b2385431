//! EventBridge events from S3 (`"source": "aws.s3"`, `"detail-type": "Object Created"`).
//!
//! Where it sits: one of the wire formats of [`crate::event`], which dispatches here. The
//! key is taken verbatim (see [`decode_eventbridge`] for why), and the time is RFC 3339 from
//! AWS or Unix seconds from moto.

use serde::Deserialize;
use serde_json::Value;

use super::s3::S3Bucket;
use super::{
    clean_etag, from_value, non_empty, parse_time, required, DecodeError, Location, Notification,
    ObjectCreated, ObjectRemoved, Presence, Sequencer,
};
use crate::timestamp;

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventBridgeEvent {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    source: Option<String>,
    time: Option<EventBridgeTime>,
    region: Option<String>,
    detail: EventBridgeDetail,
}

/// AWS sends an RFC 3339 string. moto (5.2.5) sends Unix seconds as a float; accepting that
/// lets the EventBridge path be tested against the emulator the project uses.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EventBridgeTime {
    Rfc3339(String),
    UnixSeconds(f64),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventBridgeDetail {
    bucket: S3Bucket,
    object: EventBridgeObject,
    reason: Option<String>,
    /// "Object Deleted": `Permanently Deleted` or `Delete Marker Created`.
    #[serde(rename = "deletion-type")]
    deletion_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventBridgeObject {
    key: Option<String>,
    size: Option<u64>,
    /// moto (5.2.5) spells it `eTag` as in S3 events; AWS spells it `etag`.
    #[serde(alias = "eTag")]
    etag: Option<String>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

impl Presence for EventBridgeTime {
    fn is_present(&self) -> bool {
        match self {
            Self::Rfc3339(text) => !text.is_empty(),
            Self::UnixSeconds(_) => true,
        }
    }
}

const EVENTBRIDGE_SOURCE: &str = "aws.s3";
const EVENTBRIDGE_OBJECT_CREATED: &str = "Object Created";
const EVENTBRIDGE_OBJECT_DELETED: &str = "Object Deleted";
const EVENTBRIDGE_RESTORE_COMPLETED: &str = "Object Restore Completed";
const EVENTBRIDGE_DELETE_MARKER: &str = "Delete Marker Created";
/// The `reason` of an "Object Deleted" event that a lifecycle rule caused: not a delete to
/// replicate, as in S3 Replication.
const EVENTBRIDGE_LIFECYCLE: &str = "Lifecycle Expiration";

/// Decode an EventBridge event from S3.
///
/// Each envelope is decoded exactly as S3 encodes it:
///
/// - S3 notifications (straight to SQS, or through SNS, whose envelope only JSON-escapes the
///   S3 event as a string) form-URL-encode the key: AWS documents that "red flower.jpg"
///   becomes "red+flower.jpg" ("Event message structure",
///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>),
///   and reported events show `:` as `%3A` (aws/aws-sdk-js#837) and a literal `+` as `%2B`
///   next to spaces as `+` (aws/aws-sdk-net#640). [`decode_key`] undoes exactly that, once.
/// - EventBridge `detail.object.key` is the plain key, taken verbatim. The EventBridge page
///   ("EventBridge event message structure",
///   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>) describes no
///   encoding for it, unlike the notification page, and its examples are plain. A real
///   EventBridge event published in a gist (vincentclaes, "s3-eventbridge-event-object", 2023)
///   carries `raw/health-check/2023-08-08T14:03:40.532432.zip` with its colons as they are,
///   where an S3 notification would send `%3A` (fixture `eventbridge_colon_key`). moto applies
///   `quote_plus` only to its SQS/SNS/Lambda notifications (getmoto/moto#9060) and sends the
///   raw key to EventBridge. One dissenting signal: AWS Lambda Powertools for Python applies
///   `unquote_plus` to this key (`S3EventBridgeNotificationObject.key`), which would corrupt a
///   key with a literal `+` or `%` if the key is plain, as the sample shows.
///
/// Verbatim also has the safer failure mode: were a key ever encoded, the object would not be
/// found and the `source_missing` alert would say so; decoding a plain key would turn `a+b`
/// into `a b` and could replicate a different object without a word.
pub(super) fn decode_eventbridge(value: Value) -> Result<Notification, DecodeError> {
    let at = Location::EventBridge;
    let event: EventBridgeEvent = from_value(value, at)?;
    let source = required(event.source, at, "source")?;
    if source != EVENTBRIDGE_SOURCE {
        return Err(DecodeError::UnsupportedEventBridgeSource {
            event_source: source,
        });
    }
    let detail_type = required(event.detail_type, at, "detail-type")?;
    let skipped = || {
        Ok(Notification::Objects {
            objects: Vec::new(),
            removed: Vec::new(),
            skipped: 1,
        })
    };
    match detail_type.as_str() {
        EVENTBRIDGE_OBJECT_CREATED | EVENTBRIDGE_RESTORE_COMPLETED => {}
        EVENTBRIDGE_OBJECT_DELETED
            if event.detail.reason.as_deref() != Some(EVENTBRIDGE_LIFECYCLE) => {}
        _ => return skipped(),
    }
    let detail = event.detail;
    let event_time = match required(event.time, at, "time")? {
        EventBridgeTime::Rfc3339(text) => parse_time(&text, at, "time")?,
        EventBridgeTime::UnixSeconds(seconds) => {
            timestamp::from_unix_seconds(seconds).ok_or_else(|| DecodeError::InvalidField {
                at,
                field: "time",
                reason: format!("{seconds} is not a representable Unix time"),
            })?
        }
    };
    if detail_type == EVENTBRIDGE_OBJECT_DELETED {
        let deletion_type = detail.deletion_type.unwrap_or_default();
        let removed = ObjectRemoved {
            bucket: required(detail.bucket.name, at, "detail.bucket.name")?,
            key: required(detail.object.key, at, "detail.object.key")?,
            region: event.region.unwrap_or_default(),
            version_id: non_empty(detail.object.version_id),
            sequencer: non_empty(detail.object.sequencer).map(Sequencer),
            event_time,
            delete_marker: deletion_type == EVENTBRIDGE_DELETE_MARKER,
            event_name: format!("{EVENTBRIDGE_OBJECT_DELETED}:{deletion_type}"),
        };
        return Ok(Notification::Objects {
            objects: Vec::new(),
            removed: vec![removed],
            skipped: 0,
        });
    }
    let object = ObjectCreated {
        bucket: required(detail.bucket.name, at, "detail.bucket.name")?,
        key: required(detail.object.key, at, "detail.object.key")?,
        region: event.region.unwrap_or_default(),
        version_id: non_empty(detail.object.version_id),
        etag: clean_etag(detail.object.etag),
        size: detail.object.size.unwrap_or(0),
        sequencer: non_empty(detail.object.sequencer).map(Sequencer),
        event_time,
        event_name: match detail.reason {
            Some(reason) => format!("{detail_type}:{reason}"),
            None => detail_type,
        },
    };
    Ok(Notification::Objects {
        objects: vec![object],
        removed: Vec::new(),
        skipped: 0,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use time::macros::datetime;

    use crate::event::tests::{fixture, single};
    use crate::event::{decode, DecodeError, Notification, ObjectCreated, Sequencer};

    #[test]
    fn eventbridge_object_created_key_taken_verbatim() {
        let object = single(fixture!("eventbridge_object_created"));
        assert_eq!(
            object,
            ObjectCreated {
                bucket: "data-lake-curated".into(),
                key: "curated/d=2026-11-21/a+b c.parquet".into(),
                region: "ca-central-1".into(),
                version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e".into()),
                etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
                size: 5,
                sequencer: Some(Sequencer::new("617f08299329d189")),
                event_time: datetime!(2026-11-21 12:00:00 UTC),
                event_name: "Object Created:PutObject".into(),
            }
        );
    }

    #[test]
    fn eventbridge_object_deleted_is_a_removed_object() {
        let Notification::Objects {
            objects, removed, ..
        } = decode(fixture!("eventbridge_object_deleted")).unwrap()
        else {
            panic!("objects expected")
        };
        assert!(objects.is_empty());
        assert_eq!(
            removed,
            vec![crate::event::ObjectRemoved {
                bucket: "data-lake-curated".into(),
                key: "curated/d=2026-11-20/part-0.parquet".into(),
                region: "ca-central-1".into(),
                version_id: Some("1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF".into()),
                sequencer: Some(Sequencer::new("617f0837b476e463")),
                event_time: datetime!(2026-11-21 12:05:00 UTC),
                event_name: "Object Deleted:Delete Marker Created".into(),
                delete_marker: true,
            }]
        );
    }

    #[test]
    fn eventbridge_restore_completed_is_an_object_to_copy() {
        // AWS's example: no sequencer, the storage class it was restored from.
        let body = r#"{"version":"0","id":"1","detail-type":"Object Restore Completed","source":"aws.s3","account":"111122223333","time":"2021-11-12T00:00:00Z","region":"ca-central-1","resources":[],"detail":{"version":"0","bucket":{"name":"DOC-EXAMPLE-BUCKET1"},"object":{"key":"example-key","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","version-id":"KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3"},"request-id":"189F19CB7FB1B6A4","requester":"s3.amazonaws.com","restore-expiry-time":"2021-11-13T00:00:00Z","source-storage-class":"GLACIER"}}"#;
        let object = single(body);
        assert_eq!(object.key, "example-key");
        assert_eq!(object.event_name, "Object Restore Completed");
        assert_eq!(object.sequencer, None);
        assert_eq!(
            object.version_id.as_deref(),
            Some("KKsjUC1.6gIjqtvhfg5AdMI0eCePIiT3")
        );
    }

    #[test]
    fn eventbridge_lifecycle_expirations_are_skipped() {
        let mut event: Value =
            serde_json::from_str(fixture!("eventbridge_object_deleted")).unwrap();
        event["detail"]["reason"] = "Lifecycle Expiration".into();
        assert_eq!(
            decode(&event.to_string()).unwrap(),
            Notification::Objects {
                objects: vec![],
                removed: vec![],
                skipped: 1
            }
        );
    }

    #[test]
    fn eventbridge_from_moto_with_float_time_and_etag_spelling() {
        let object = single(fixture!("eventbridge_moto_object_created"));
        assert_eq!(
            object,
            ObjectCreated {
                bucket: "src-bucket".into(),
                key: "plain key+plus.txt".into(),
                region: "us-east-1".into(),
                version_id: None,
                etag: Some("5d41402abc4b2a76b9719d911017c592".into()),
                size: 5,
                sequencer: Some(Sequencer::new("617f08299329d189")),
                event_time: datetime!(2026-11-21 12:00:00.250 UTC),
                event_name: "Object Created:ObjectCreated".into(),
            }
        );
    }

    #[test]
    fn eventbridge_from_other_sources_is_refused() {
        let body = r#"{"version":"0","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}"#;
        let err = decode(body).unwrap_err();
        assert!(
            matches!(&err, DecodeError::UnsupportedEventBridgeSource { event_source } if event_source == "aws.ec2"),
            "{err:?}"
        );
    }

    #[test]
    fn eventbridge_missing_key_is_named() {
        let mut event: Value =
            serde_json::from_str(fixture!("eventbridge_object_created")).unwrap();
        event["detail"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        let err = decode(&event.to_string()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EventBridge event: missing detail.object.key"
        );
    }

    #[test]
    fn eventbridge_keys_are_taken_verbatim() {
        let object = single(fixture!("eventbridge_key_special_characters"));
        // '+' stays a plus, '%2B' and '%25' stay as written: nothing is decoded.
        assert_eq!(object.key, "dir/d=2026-11-21/a b+c%2Bd%25e?f#g/été €.txt");
        assert_eq!(object.sequencer, Some(Sequencer::new("0062E99A88DC407462")));
    }

    #[test]
    fn eventbridge_keys_from_aws_carry_colons_unencoded() {
        let object = single(fixture!("eventbridge_colon_key"));
        assert_eq!(
            object.key,
            "raw/health-check/2023-08-08T14:03:40.532432.zip"
        );
        assert_eq!(object.event_name, "Object Created:CompleteMultipartUpload");
    }
}
