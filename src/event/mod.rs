//! Turns an SQS message body into the objects it announces.
//!
//! This is the parsing boundary of the daemon: everything behind it works with plain, decoded
//! keys and never sees the wire formats. Four shapes reach the queue, depending on how the
//! bucket notification was wired:
//!
//! 1. an S3 event (`{"Records": [...]}`), sent by S3 straight to SQS or through SNS with raw
//!    message delivery;
//! 2. the same event wrapped in an SNS envelope (`{"Type": "Notification", "Message": "..."}`);
//! 3. an EventBridge event (`"source": "aws.s3"`, `"detail-type": "Object Created"`);
//! 4. `s3:TestEvent`, which S3 sends once when a notification configuration is saved;
//! 5. the daemon's own partition re-check (`"schema": "s3-replicator.partition-recheck.v1"`),
//!    which it sends to the queue itself while a partition is incomplete (docs/design.md,
//!    "Partition completion").
//!
//! The body is parsed as JSON once and then dispatched on the fields that tell the shapes
//! apart, in the order vector uses (SNS envelope first, then S3 event, then EventBridge).
//! Dispatching on fields rather than trying one `serde(untagged)` type after another keeps the
//! errors precise: "record 2: missing s3.object.key" instead of "data did not match any
//! variant", which is what an operator needs when a message lands in the dead-letter queue.
//!
//! Where it sits: the first step of the pipeline ([`crate::pipeline`] decodes every message
//! body here before routing); it uses only [`crate::timestamp`]. This file holds the decoded
//! types, the dispatch and the helpers the decoders share; each wire format has a file of its
//! own: [`s3`] (S3 event records and the SNS envelope), [`eventbridge`], [`recheck`] (the
//! daemon's own partition re-check).

mod eventbridge;
mod recheck;
mod s3;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::timestamp;

pub use recheck::{PartitionRecheck, PARTITION_RECHECK_SCHEMA};
// The published timestamp format, also at the paths it had before `crate::timestamp` held it.
use crate::timestamp::serialize_millis_utc;

/// One object announced by an ObjectCreated event, key already decoded.
///
/// Its serialized form is the `source` object of the completion event (docs/design.md, "The
/// completion event"), so the field names are part of the published schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectCreated {
    pub bucket: String,
    /// The plain key, as S3's object APIs expect it: the event's form-URL-encoding has been
    /// undone (S3 events) or was never applied (EventBridge).
    pub key: String,
    /// `awsRegion` (S3 event) or `region` (EventBridge); empty if the event has none.
    pub region: String,
    /// Present for versioned buckets. Copying this exact version (rather than "the current
    /// object") is what keeps a slow copy from picking up a later overwrite.
    pub version_id: Option<String>,
    /// The ETag as announced, without surrounding quotes, so that it can be sent as
    /// `x-amz-copy-source-if-match` and compared with ETags from other APIs. `None` when the
    /// event carries no (or an empty) ETag.
    pub etag: Option<String>,
    /// Object size in bytes; 0 when the event does not say.
    pub size: u64,
    pub sequencer: Option<Sequencer>,
    /// When S3 finished the request, normalised to UTC.
    #[serde(serialize_with = "serialize_millis_utc")]
    pub event_time: OffsetDateTime,
    /// The event type as the source names it: `ObjectCreated:Put`,
    /// `ObjectCreated:CompleteMultipartUpload`, … for S3 events (verbatim, so an `s3:` prefix
    /// from an S3-compatible store is kept). EventBridge events have no such name; they get
    /// `Object Created:<detail.reason>` (e.g. `Object Created:PutObject`), or just
    /// `Object Created` without a reason, so that logs still tell the two sources apart.
    pub event_name: String,
}

/// The `eventName` of the daemon's own events for objects that existed before it (`backfill
/// --enqueue`, `verify --repair`): S3 never sends it (its names are `Put`, `Post`, `Copy` and
/// `CompleteMultipartUpload`). docs/design.md, "Backfill through the queue".
pub const BACKFILL_EVENT_NAME: &str = "ObjectCreated:Backfill";

/// Where an object's event came from, as its completion event says (`origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A notification of S3 (or EventBridge).
    Event,
    /// A backfill or a repair: the object existed before, and was listed.
    Backfill,
}

impl ObjectCreated {
    /// Whether S3 announced this object or a backfill did ([`BACKFILL_EVENT_NAME`]).
    pub fn origin(&self) -> Origin {
        if self.event_name == BACKFILL_EVENT_NAME {
            Origin::Backfill
        } else {
            Origin::Event
        }
    }
}

/// The S3 event the daemon sends to its own queue for a listed object (`backfill --enqueue`,
/// `verify --repair`): shaped as S3 shapes one (the key form-URL-encoded as S3 encodes it),
/// named [`BACKFILL_EVENT_NAME`], without a sequencer (a listing has none), pinned to the listed
/// ETag, timed now.
pub fn backfill_event(bucket: &str, key: &str, size: u64, etag: &str) -> String {
    let event_time = timestamp::format_millis(OffsetDateTime::now_utc()).unwrap_or_default();
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event_time,
        "eventName": BACKFILL_EVENT_NAME,
        "s3": {
            "bucket": { "name": bucket },
            "object": { "key": encode_key(key), "size": size, "eTag": etag }
        }
    }]})
    .to_string()
}

/// A key form-URL-encoded as S3 encodes keys in its notifications (`/` kept, space as `+`):
/// what [`decode_key`] undoes.
pub fn encode_key(key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const FORM: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/')
        .remove(b' ');
    utf8_percent_encode(key, FORM).to_string().replace(' ', "+")
}

/// One object announced by an ObjectRemoved event (or EventBridge "Object Deleted"), key
/// already decoded as for [`ObjectCreated`]. Replicated only by rules with `deletes =
/// "replicate"` (docs/design.md, "Deletes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRemoved {
    pub bucket: String,
    pub key: String,
    pub region: String,
    /// The version the request deleted (`DeleteObject?versionId=`), or the delete marker it
    /// created; `None` for an unversioned bucket.
    pub version_id: Option<String>,
    pub sequencer: Option<Sequencer>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub event_time: OffsetDateTime,
    /// `ObjectRemoved:Delete`, `ObjectRemoved:DeleteMarkerCreated` (verbatim), or
    /// `Object Deleted:<deletion-type>` for EventBridge.
    #[serde(skip)]
    pub event_name: String,
    /// The delete created a delete marker (a versioned bucket, no version in the request).
    pub delete_marker: bool,
}

impl ObjectRemoved {
    /// A delete of one named version (`ObjectRemoved:Delete` with a version id): it removes
    /// that version for good and leaves the current object as it is, or uncovers an older one.
    /// Not replicated, as in S3 Replication (docs/design.md, "Deletes").
    pub fn deletes_a_version(&self) -> bool {
        !self.delete_marker && self.version_id.is_some()
    }
}

/// S3's `sequencer`: the order of events for one key.
///
/// S3 documents it as a hex string whose values of different lengths are compared after
/// right-padding the shorter one with `0`. It is never parsed as an integer because real
/// values exceed 64 bits. Comparison ignores ASCII case because the same value has been seen
/// upper-case (S3 events) and lower-case (EventBridge examples). `Eq` and `Hash` follow the same
/// rule, so `"0A"` and `"0a00"` are the same sequencer.
///
/// No hex validation happens here: an event with an odd sequencer should still be replicated,
/// and non-hex characters simply compare by their byte values.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Sequencer(String);

impl Sequencer {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison alphabet: upper-cased bytes, padded with `'0'` up to `len`.
    fn padded(&self, len: usize) -> impl Iterator<Item = u8> + '_ {
        self.0
            .bytes()
            .map(|b| b.to_ascii_uppercase())
            .chain(std::iter::repeat(b'0'))
            .take(len)
    }
}

impl Ord for Sequencer {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        self.padded(len).cmp(other.padded(len))
    }
}

impl PartialOrd for Sequencer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Sequencer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Sequencer {}

impl Hash for Sequencer {
    /// Values equal under padding differ only in trailing zeros and case, so hashing the
    /// upper-cased value without trailing zeros keeps `Hash` consistent with `Eq`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.trim_end_matches('0').bytes() {
            state.write_u8(b.to_ascii_uppercase());
        }
    }
}

impl fmt::Display for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one SQS message means for the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// s3:TestEvent (plain or SNS-wrapped): acknowledge and ignore.
    Test,
    /// The daemon's own message: check a partition again (its marker was replicated and its
    /// completion published already).
    Recheck(Box<PartitionRecheck>),
    /// ObjectCreated (and ObjectRestore:Completed) records in `objects`, ObjectRemoved records
    /// in `removed`, each in message order (a message may hold several). Records of other event
    /// types (ObjectRestore:Post, lifecycle transitions, ...) are skipped and counted in
    /// `skipped`.
    Objects {
        objects: Vec<ObjectCreated>,
        removed: Vec<ObjectRemoved>,
        skipped: usize,
    },
}

/// Where in a message a decoding error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The top level of an S3 event (`{"Records": ...}`).
    S3Event,
    /// One entry of `Records`, counted from 0.
    Record(usize),
    /// An EventBridge event.
    EventBridge,
    /// The SNS envelope itself (not the message it carries).
    SnsNotification,
    /// The daemon's own partition re-check message.
    PartitionRecheck,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3Event => f.write_str("S3 event"),
            Self::Record(index) => write!(f, "record {index}"),
            Self::EventBridge => f.write_str("EventBridge event"),
            Self::SnsNotification => f.write_str("SNS notification"),
            Self::PartitionRecheck => f.write_str("partition re-check"),
        }
    }
}

/// Why a message body could not be decoded.
///
/// Every variant is permanent: the same body will fail the same way on redelivery, so the
/// caller should alert and let the message go to the dead-letter queue rather than retry.
/// The messages say what is wrong and where, because they end up in alerts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),

    #[error(
        "unrecognised message shape: expected an S3 event, an SNS notification or an \
         EventBridge event, found {found}"
    )]
    UnrecognisedShape { found: String },

    #[error("{at}: missing {field}")]
    MissingField { at: Location, field: &'static str },

    #[error("{at}: invalid {field}: {reason}")]
    InvalidField {
        at: Location,
        field: &'static str,
        reason: String,
    },

    /// A field has the wrong JSON type (e.g. `size` as a string).
    #[error("{at}: unexpected structure: {reason}")]
    Malformed { at: Location, reason: String },

    /// A new major version may change the meaning of fields we rely on, so it is refused
    /// loudly instead of being half-understood.
    #[error("unsupported eventVersion {version} in record {record} (only major version 2 is understood)")]
    UnsupportedEventVersion { record: usize, version: String },

    #[error(
        "unsupported EventBridge source {event_source:?}: only \"aws.s3\" events are understood"
    )]
    UnsupportedEventBridgeSource { event_source: String },

    #[error("object key {raw:?} is not valid UTF-8 after percent-decoding")]
    InvalidKey { raw: String },

    /// The SNS envelope was fine but the S3 event inside it was not.
    #[error("in SNS notification {message_id}: {inner}")]
    InSnsNotification {
        message_id: String,
        inner: Box<DecodeError>,
    },
}

/// Decode one SQS message body.
pub fn decode(body: &str) -> Result<Notification, DecodeError> {
    let value = parse_json(body)?;
    if is_sns_notification(&value) {
        s3::decode_sns_notification(value)
    } else {
        decode_unwrapped(value)
    }
}

/// Decode an S3 event key: '+' -> space first, then percent-decoding, once; invalid UTF-8
/// after decoding is an error.
///
/// S3 encodes keys in events as `application/x-www-form-urlencoded`, so a literal `+` arrives
/// as `%2B` and only a bare `+` means a space. Replacing `+` after percent-decoding would turn
/// real pluses into spaces; decoding twice would turn a literal `%25` into `%` and then eat the
/// next two characters. The emulators' variants decode to the same key: moto also encodes `/`
/// as `%2F`, LocalStack writes spaces as `%20`. A `%` not followed by two hex digits is kept as
/// it is, since no encoder produces it and guessing would only move the problem.
pub fn decode_key(raw: &str) -> Result<String, DecodeError> {
    let plus_as_space = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| DecodeError::InvalidKey {
            raw: raw.to_owned(),
        })
}

fn parse_json(body: &str) -> Result<Value, DecodeError> {
    serde_json::from_str(body).map_err(DecodeError::NotJson)
}

fn from_value<T: DeserializeOwned>(value: Value, at: Location) -> Result<T, DecodeError> {
    serde_json::from_value(value).map_err(|err| DecodeError::Malformed {
        at,
        reason: err.to_string(),
    })
}

fn is_sns_notification(value: &Value) -> bool {
    value.get("Type").and_then(Value::as_str) == Some("Notification")
}

/// Dispatch a body that is not (or no longer) an SNS envelope.
fn decode_unwrapped(value: Value) -> Result<Notification, DecodeError> {
    let Value::Object(fields) = &value else {
        return Err(DecodeError::UnrecognisedShape {
            found: describe(&value),
        });
    };
    if fields.contains_key("Records") {
        s3::decode_s3_event(value)
    } else if fields.get("Event").and_then(Value::as_str) == Some(S3_TEST_EVENT) {
        Ok(Notification::Test)
    } else if fields.get("schema").and_then(Value::as_str) == Some(PARTITION_RECHECK_SCHEMA) {
        recheck::decode_recheck(value)
    } else if fields.contains_key("detail-type") {
        eventbridge::decode_eventbridge(value)
    } else {
        Err(DecodeError::UnrecognisedShape {
            found: describe(&value),
        })
    }
}

/// A short description of unexpected JSON for the error message, without echoing a possibly
/// large body into alerts.
fn describe(value: &Value) -> String {
    const SHOWN_FIELDS: usize = 8;
    match value {
        Value::Object(fields) if fields.is_empty() => "an empty JSON object".to_owned(),
        Value::Object(fields) => {
            let mut names: Vec<&str> = fields
                .keys()
                .take(SHOWN_FIELDS)
                .map(String::as_str)
                .collect();
            if fields.len() > SHOWN_FIELDS {
                names.push("…");
            }
            format!("a JSON object with fields {}", names.join(", "))
        }
        Value::Array(_) => "a JSON array".to_owned(),
        Value::String(_) => "a JSON string".to_owned(),
        Value::Number(_) => "a JSON number".to_owned(),
        Value::Bool(_) => "a JSON boolean".to_owned(),
        Value::Null => "JSON null".to_owned(),
    }
}

const S3_TEST_EVENT: &str = "s3:TestEvent";

/// A required field, present and not empty: an empty bucket, key or timestamp is as useless
/// as a missing one and would otherwise fail much later, far from the message.
fn required<T: Presence>(
    value: Option<T>,
    at: Location,
    field: &'static str,
) -> Result<T, DecodeError> {
    match value {
        Some(value) if value.is_present() => Ok(value),
        _ => Err(DecodeError::MissingField { at, field }),
    }
}

/// What [`required`] calls present.
trait Presence {
    fn is_present(&self) -> bool;
}

impl Presence for String {
    fn is_present(&self) -> bool {
        !self.is_empty()
    }
}

/// Emulators send `""` where AWS omits a field; an empty version ID or sequencer must not be
/// passed on as if it meant something.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

/// S3 events carry the ETag bare, but hand-written events and some stores quote it as the HTTP
/// header does. Normalising here means every comparison downstream sees one form.
fn clean_etag(etag: Option<String>) -> Option<String> {
    let etag = etag?;
    let bare = etag
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(&etag);
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// An RFC 3339 timestamp of the message, in UTC; the error names where it was.
fn parse_time(
    text: &str,
    at: Location,
    field: &'static str,
) -> Result<OffsetDateTime, DecodeError> {
    timestamp::parse_rfc3339(text).map_err(|err| DecodeError::InvalidField {
        at,
        field,
        reason: err.to_string(),
    })
}
