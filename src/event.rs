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
//!    which it sends to the queue itself while a partition is incomplete (README, Partition
//!    completion).
//!
//! The body is parsed as JSON once and then dispatched on the fields that tell the shapes
//! apart, in the order vector uses (SNS envelope first, then S3 event, then EventBridge).
//! Dispatching on fields rather than trying one `serde(untagged)` type after another keeps the
//! errors precise: "record 2: missing s3.object.key" instead of "data did not match any
//! variant", which is what an operator needs when a message lands in the dead-letter queue.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::{Duration, OffsetDateTime, UtcOffset};

/// One object announced by an ObjectCreated event, key already decoded.
///
/// Its serialized form is the `source` object of the completion event (see DESIGN.md), so the
/// field names are part of the published schema.
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
    /// ObjectCreated records, in message order (a message may hold several).
    /// Records of other event types (ObjectRemoved, ...) are skipped and counted in `skipped`.
    Objects {
        objects: Vec<ObjectCreated>,
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
    if !is_sns_notification(&value) {
        return decode_unwrapped(value);
    }
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
        decode_s3_event(value)
    } else if fields.get("Event").and_then(Value::as_str) == Some(S3_TEST_EVENT) {
        Ok(Notification::Test)
    } else if fields.get("schema").and_then(Value::as_str) == Some(PARTITION_RECHECK_SCHEMA) {
        decode_recheck(value)
    } else if fields.contains_key("detail-type") {
        decode_eventbridge(value)
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
struct S3Bucket {
    name: Option<String>,
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

fn decode_s3_event(value: Value) -> Result<Notification, DecodeError> {
    let event: S3Event = from_value(value, Location::S3Event)?;
    let mut objects = Vec::with_capacity(event.records.len());
    let mut skipped = 0;
    for (index, record) in event.records.into_iter().enumerate() {
        let at = Location::Record(index);
        let record: S3EventRecord = from_value(record, at)?;
        let version = required(record.event_version, at, "eventVersion")?;
        check_event_version(&version, index)?;
        let event_name = required(record.event_name, at, "eventName")?;
        if !is_object_created(&event_name) {
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
        objects.push(ObjectCreated {
            bucket,
            key,
            region: record.aws_region.unwrap_or_default(),
            version_id: non_empty(object.version_id),
            etag: clean_etag(object.e_tag),
            size: object.size.unwrap_or(0),
            sequencer: non_empty(object.sequencer).map(Sequencer),
            event_time: parse_rfc3339(&event_time, at, "eventTime")?,
            event_name,
        });
    }
    Ok(Notification::Objects { objects, skipped })
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

/// S3 itself sends `ObjectCreated:Put`; S3-compatible stores (MinIO, Ceph) send
/// `s3:ObjectCreated:Put`. Skipping the latter would silently replicate nothing, so both count.
fn is_object_created(event_name: &str) -> bool {
    event_name
        .strip_prefix("s3:")
        .unwrap_or(event_name)
        .starts_with("ObjectCreated:")
}

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

const EVENTBRIDGE_SOURCE: &str = "aws.s3";
const EVENTBRIDGE_OBJECT_CREATED: &str = "Object Created";

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
fn decode_eventbridge(value: Value) -> Result<Notification, DecodeError> {
    let at = Location::EventBridge;
    let event: EventBridgeEvent = from_value(value, at)?;
    let source = required(event.source, at, "source")?;
    if source != EVENTBRIDGE_SOURCE {
        return Err(DecodeError::UnsupportedEventBridgeSource {
            event_source: source,
        });
    }
    let detail_type = required(event.detail_type, at, "detail-type")?;
    if detail_type != EVENTBRIDGE_OBJECT_CREATED {
        return Ok(Notification::Objects {
            objects: Vec::new(),
            skipped: 1,
        });
    }
    let detail = event.detail;
    let event_time = match required(event.time, at, "time")? {
        EventBridgeTime::Rfc3339(text) => parse_rfc3339(&text, at, "time")?,
        EventBridgeTime::UnixSeconds(seconds) => {
            from_unix_seconds(seconds).ok_or_else(|| DecodeError::InvalidField {
                at,
                field: "time",
                reason: format!("{seconds} is not a representable Unix time"),
            })?
        }
    };
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
            Some(reason) => format!("{EVENTBRIDGE_OBJECT_CREATED}:{reason}"),
            None => EVENTBRIDGE_OBJECT_CREATED.to_owned(),
        },
    };
    Ok(Notification::Objects {
        objects: vec![object],
        skipped: 0,
    })
}

/// Schema name of the daemon's own partition re-check message.
pub const PARTITION_RECHECK_SCHEMA: &str = "s3-replicator.partition-recheck.v1";

/// "Check this partition again": the message the daemon sends itself (with SQS `DelaySeconds`)
/// while a partition is incomplete, instead of handing the marker's message back, so that
/// re-checks never spend the marker message's receive count (README, Partition completion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecheck {
    /// The rule whose partition is checked.
    pub rule: String,
    /// The marker object, as its event announced it (key plain).
    pub marker: ObjectCreated,
    /// When the daemon first found the partition incomplete: the deadline counts from here.
    pub first_seen: OffsetDateTime,
    /// Checks made so far (1 after the first); the next delay grows with it.
    pub checks: u32,
    /// Whether the `partition_incomplete` deadline alert was raised already.
    pub alerted: bool,
}

impl PartitionRecheck {
    /// The message body: JSON, keys plain (this format is the daemon's own, nothing encodes it).
    pub fn to_body(&self) -> String {
        serde_json::json!({
            "schema": PARTITION_RECHECK_SCHEMA,
            "rule": self.rule,
            "marker": self.marker,
            "first_seen": format_millis(self.first_seen).unwrap_or_default(),
            "checks": self.checks,
            "alerted": self.alerted,
        })
        .to_string()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RecheckWire {
    rule: Option<String>,
    marker: Option<MarkerWire>,
    first_seen: Option<String>,
    checks: u32,
    alerted: bool,
}

/// [`ObjectCreated`] as it serializes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MarkerWire {
    bucket: Option<String>,
    key: Option<String>,
    region: Option<String>,
    version_id: Option<String>,
    etag: Option<String>,
    size: Option<u64>,
    sequencer: Option<String>,
    event_time: Option<String>,
    event_name: Option<String>,
}

fn decode_recheck(value: Value) -> Result<Notification, DecodeError> {
    let at = Location::PartitionRecheck;
    let wire: RecheckWire = from_value(value, at)?;
    let marker = wire.marker.ok_or(DecodeError::MissingField {
        at,
        field: "marker",
    })?;
    let event_time = required(marker.event_time, at, "marker.event_time")?;
    let first_seen = required(wire.first_seen, at, "first_seen")?;
    Ok(Notification::Recheck(Box::new(PartitionRecheck {
        rule: required(wire.rule, at, "rule")?,
        marker: ObjectCreated {
            bucket: required(marker.bucket, at, "marker.bucket")?,
            key: required(marker.key, at, "marker.key")?,
            region: marker.region.unwrap_or_default(),
            version_id: non_empty(marker.version_id),
            etag: clean_etag(marker.etag),
            size: marker.size.unwrap_or(0),
            sequencer: non_empty(marker.sequencer).map(Sequencer),
            event_time: parse_rfc3339(&event_time, at, "marker.event_time")?,
            event_name: marker.event_name.unwrap_or_default(),
        },
        first_seen: parse_rfc3339(&first_seen, at, "first_seen")?,
        checks: wire.checks,
        alerted: wire.alerted,
    })))
}

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

trait Presence {
    fn is_present(&self) -> bool;
}

impl Presence for String {
    fn is_present(&self) -> bool {
        !self.is_empty()
    }
}

impl Presence for EventBridgeTime {
    fn is_present(&self) -> bool {
        match self {
            Self::Rfc3339(text) => !text.is_empty(),
            Self::UnixSeconds(_) => true,
        }
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

fn parse_rfc3339(
    text: &str,
    at: Location,
    field: &'static str,
) -> Result<OffsetDateTime, DecodeError> {
    let invalid = |reason: String| DecodeError::InvalidField { at, field, reason };
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|err| invalid(format!("{text:?} is not an RFC 3339 timestamp: {err}")))?;
    parsed
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| invalid(format!("{text:?} is out of range in UTC")))
}

/// Whole seconds and the fraction are converted separately because an f64 cannot hold today's
/// Unix time in nanoseconds exactly; the fraction is rounded to microseconds, the precision
/// moto writes.
fn from_unix_seconds(seconds: f64) -> Option<OffsetDateTime> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    // `as` saturates; a saturated value is rejected by `from_unix_timestamp` below.
    let micros = ((seconds - whole) * 1_000_000.0).round() as i64;
    OffsetDateTime::from_unix_timestamp(whole as i64)
        .ok()?
        .checked_add(Duration::microseconds(micros))
}

/// Fixed width (always three fractional digits, always `Z`) so that timestamps in published
/// completion events sort correctly as strings, as the examples in DESIGN.md show them.
const MILLIS_UTC: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Formats `time` as DESIGN.md's timestamps: RFC 3339, UTC, milliseconds
/// (`2026-11-21T10:00:00.412Z`).
pub fn format_millis(time: OffsetDateTime) -> Result<String, time::error::Format> {
    let utc = time
        .checked_to_offset(UtcOffset::UTC)
        .ok_or(time::error::Format::InvalidComponent("offset"))?;
    utc.format(MILLIS_UTC)
}

/// Serde adapter for [`format_millis`], shared by every published timestamp.
pub fn serialize_millis_utc<S: Serializer>(
    time: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = format_millis(*time).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use time::macros::datetime;

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../tests/fixtures/events/", $name, ".json"))
        };
    }

    fn objects(body: &str) -> (Vec<ObjectCreated>, usize) {
        match decode(body).unwrap() {
            Notification::Objects { objects, skipped } => (objects, skipped),
            other => panic!("expected objects, got {other:?}"),
        }
    }

    fn single(body: &str) -> ObjectCreated {
        let (mut objects, skipped) = objects(body);
        assert_eq!(skipped, 0);
        assert_eq!(objects.len(), 1);
        objects.remove(0)
    }

    /// A minimal S3 event with one record built from `record` (a JSON object).
    fn s3_event(record: Value) -> String {
        serde_json::json!({ "Records": [record] }).to_string()
    }

    fn put_record() -> Value {
        serde_json::json!({
            "eventVersion": "2.1",
            "awsRegion": "us-east-1",
            "eventTime": "2026-11-21T10:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": { "name": "b" },
                "object": { "key": "k", "size": 1, "eTag": "e" }
            }
        })
    }

    fn with(mut record: Value, pointer: &str, value: Value) -> Value {
        *record.pointer_mut(pointer).unwrap() = value;
        record
    }

    fn without(mut record: Value, parent: &str, field: &str) -> Value {
        record
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(field);
        record
    }

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
    fn test_events_plain_and_sns_wrapped() {
        assert_eq!(
            decode(fixture!("s3_test_event")).unwrap(),
            Notification::Test
        );
        assert_eq!(
            decode(fixture!("sns_wrapped_test_event")).unwrap(),
            Notification::Test
        );
    }

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
    fn eventbridge_object_deleted_is_skipped() {
        assert_eq!(
            decode(fixture!("eventbridge_object_deleted")).unwrap(),
            Notification::Objects {
                objects: vec![],
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

    // --- fixtures: rejected messages -------------------------------------------------------

    #[test]
    fn not_json_is_rejected() {
        let err = decode(fixture!("malformed_not_json")).unwrap_err();
        assert!(matches!(err, DecodeError::NotJson(_)), "{err:?}");
        assert!(err.to_string().starts_with("not JSON: "), "{err}");
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
    fn unknown_shapes_are_rejected_with_a_hint() {
        for body in [r#"{"hello":"world"}"#, "[1,2]", "42", "null", "{}"] {
            let err = decode(body).unwrap_err();
            assert!(
                matches!(err, DecodeError::UnrecognisedShape { .. }),
                "{body}"
            );
            assert!(err.to_string().starts_with(
                "unrecognised message shape: expected an S3 event, an SNS notification or an EventBridge event"
            ));
        }
        let err = decode(r#"{"hello":"world"}"#).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("found a JSON object with fields hello"),
            "{err}"
        );
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
        let removed = serde_json::json!({
            "eventVersion": "2.1",
            "eventName": "ObjectRemoved:DeleteMarkerCreated"
        });
        let body = serde_json::json!({ "Records": [removed, put_record()] }).to_string();
        let (objects, skipped) = objects(&body);
        assert_eq!((objects.len(), skipped), (1, 1));
    }

    #[test]
    fn empty_records_is_an_empty_batch() {
        assert_eq!(
            decode(r#"{"Records": []}"#).unwrap(),
            Notification::Objects {
                objects: vec![],
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

    // --- partition re-check ----------------------------------------------------------------

    fn recheck() -> PartitionRecheck {
        let mut marker = single(fixture!("eventbridge_key_special_characters"));
        marker.key = "dir/d=2026-11-21/a b+c%d/_SUCCESS".into();
        marker.event_time = datetime!(2026-11-21 10:05:00.123 UTC);
        PartitionRecheck {
            rule: "daily".into(),
            marker,
            first_seen: datetime!(2026-11-21 10:06:00.5 UTC),
            checks: 3,
            alerted: false,
        }
    }

    #[test]
    fn a_partition_recheck_round_trips_with_its_key_plain() {
        let recheck = recheck();
        let body = recheck.to_body();
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["schema"], PARTITION_RECHECK_SCHEMA);
        assert_eq!(json["marker"]["key"], "dir/d=2026-11-21/a b+c%d/_SUCCESS");
        assert_eq!(json["first_seen"], "2026-11-21T10:06:00.500Z");
        assert_eq!(
            decode(&body).unwrap(),
            Notification::Recheck(Box::new(recheck))
        );
    }

    #[test]
    fn a_partition_recheck_without_its_fields_names_them() {
        let mut json: Value = serde_json::from_str(&recheck().to_body()).unwrap();
        json.as_object_mut().unwrap().remove("first_seen");
        assert_eq!(
            decode(&json.to_string()).unwrap_err().to_string(),
            "partition re-check: missing first_seen"
        );
        json["marker"].as_object_mut().unwrap().remove("key");
        json["first_seen"] = "2026-11-21T10:06:00Z".into();
        assert_eq!(
            decode(&json.to_string()).unwrap_err().to_string(),
            "partition re-check: missing marker.key"
        );
    }

    #[test]
    fn decode_key_cases() {
        let cases = [
            ("plain/key.txt", "plain/key.txt"),
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("a%20b", "a b"),
            ("%2F", "/"),
            ("%2525", "%25"),
            ("%C3%A9", "é"),
            ("%c3%a9", "é"),
            ("100%", "100%"),
            ("a%zzb", "a%zzb"),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode_key(raw).unwrap(), expected, "raw {raw:?}");
        }
    }

    #[test]
    fn decode_key_rejects_invalid_utf8() {
        let err = decode_key("x%FFy").unwrap_err();
        assert!(matches!(&err, DecodeError::InvalidKey { raw } if raw == "x%FFy"));
        assert_eq!(
            err.to_string(),
            "object key \"x%FFy\" is not valid UTF-8 after percent-decoding"
        );
    }

    // --- sequencer -------------------------------------------------------------------------

    fn seq(s: &str) -> Sequencer {
        Sequencer::new(s)
    }

    #[test]
    fn sequencer_orders_same_length_values() {
        assert!(seq("0055AED6DCD90281E5") < seq("0055AED6DCD90281E6"));
        assert!(seq("0055AED6DCD90281E6") > seq("0055AED6DCD90281E5"));
        assert!(seq("0055AED6DCD90281E9") < seq("0055AED6DCD90281EA"));
    }

    #[test]
    fn sequencer_pads_the_shorter_value_with_zeros() {
        assert_eq!(seq("0A"), seq("0A00"));
        assert_eq!(seq("0A").cmp(&seq("0A00")), Ordering::Equal);
        assert!(seq("0B") > seq("0A0F"));
        assert!(seq("0A") < seq("0A01"));
        // As integers 0x0A0F > 0xB, but S3's ordering is by padded string, not by value.
        assert!(seq("0A0F") < seq("0B"));
    }

    #[test]
    fn sequencer_handles_values_longer_than_64_bits() {
        let older = seq("0064D3901D000592420000000000000001");
        let newer = seq("0064D3901D000592420000000000000002");
        assert!(older < newer);
        assert!(seq("0064D3901D00059242") < newer);
        assert_eq!(
            seq("0064D3901D00059242"),
            seq("0064D3901D000592420000000000000000")
        );
    }

    #[test]
    fn sequencer_ignores_hex_case_in_order_eq_and_hash() {
        assert_eq!(seq("617f08299329d189"), seq("617F08299329D189"));
        assert!(seq("617f08299329d189") < seq("617F08299329D18A"));
        let set: HashSet<Sequencer> = ["0a", "0A00", "0a0", "0B"].into_iter().map(seq).collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn sequencer_sorts_a_batch() {
        let mut batch = [
            seq("0B"),
            seq("0A01"),
            seq("0A"),
            seq("00FFFFFFFFFFFFFFFFFF"),
        ];
        batch.sort();
        let sorted: Vec<&str> = batch.iter().map(Sequencer::as_str).collect();
        assert_eq!(sorted, ["00FFFFFFFFFFFFFFFFFF", "0A", "0A01", "0B"]);
    }

    // --- serialization ---------------------------------------------------------------------

    #[test]
    fn object_serializes_as_the_completion_source() {
        let object = single(fixture!("s3_versioned_put"));
        let json = serde_json::to_value(&object).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "bucket": "versioned-source",
                "key": "events/2026/11/21/batch-0001.json.gz",
                "region": "us-west-2",
                "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                "etag": "e7ab36b6e3a3b2d1c9b6e0f2c4d8a1b3",
                "size": 73421,
                "sequencer": "00673F0A1B2C3D4E5F",
                "event_time": "2026-11-21T10:15:30.500Z",
                "event_name": "ObjectCreated:Put"
            })
        );
    }

    #[test]
    fn event_time_serializes_with_fixed_millisecond_width() {
        let mut object = single(fixture!("eventbridge_object_created"));
        assert_eq!(
            serde_json::to_value(&object).unwrap()["event_time"],
            "2026-11-21T12:00:00.000Z"
        );
        object.event_time = datetime!(2026-11-21 14:00:00.123456 +02:00);
        assert_eq!(
            serde_json::to_value(&object).unwrap()["event_time"],
            "2026-11-21T12:00:00.123Z"
        );
    }
}
