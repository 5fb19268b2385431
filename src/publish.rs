//! Completion events and alerts: their formats, and the [`Publisher`] seam with its SNS adapter.
//!
//! A completion event says "this object is now in every target of this rule"; downstream
//! jobs start on it, so it is only ever built from successful target reports. Alerts say
//! what failed, for whom, and what to do, in two renderings: text for email, JSON for machines.

pub mod batch;
pub mod deletion;
pub mod sns;
pub mod table;

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::truncate;
use crate::event::ObjectCreated;
use crate::timestamp::{format_millis, serialize_millis_utc};
use crate::transfer::Method;

pub use deletion::{DeleteResult, DeletedSource, DeletionEvent, DeletionTarget, DELETION_SCHEMA};
pub use table::{TableCommittedEvent, TableTarget, TABLE_COMMITTED_SCHEMA};

/// Schema name of the completion event.
pub const COMPLETION_SCHEMA: &str = "s3-replicator.completion.v1";
/// Schema name of the partition completion event.
pub const PREFIX_COMPLETED_SCHEMA: &str = "s3-replicator.prefix-completed.v1";
/// Schema name of the alert's JSON rendering.
pub const ALERT_SCHEMA: &str = "s3-replicator.alert.v1";
/// SNS subjects are limited to 100 characters.
const SUBJECT_MAX: usize = 100;
/// How much of a raw message body an alert carries.
pub const BODY_EXCERPT_MAX: usize = 1024;

/// The source object as announced and as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub version_id: Option<String>,
    pub etag: String,
    pub size: u64,
    pub sequencer: Option<String>,
    /// When S3 said the object was created.
    #[serde(serialize_with = "serialize_millis_utc")]
    pub event_time: OffsetDateTime,
    /// The source is archived (`GLACIER`, `DEEP_ARCHIVE`, `INTELLIGENT_TIERING`) and was copied
    /// from its restored copy (`archived = "restore"`). Left out otherwise: an addition
    /// consumers of `s3-replicator.completion.v1` may ignore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
}

/// One target that holds the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub etag: String,
    pub version_id: Option<String>,
    pub method: Method,
    pub duration_ms: u64,
}

/// The completion event (docs/design.md, "The completion event"), one per source object and rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompletionEvent {
    pub schema: &'static str,
    pub rule: String,
    pub source: SourceReport,
    pub targets: Vec<TargetReport>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub completed_at: OffsetDateTime,
    /// From the S3 event time to `completed_at`: the replication lag a consumer saw.
    pub latency_ms: u64,
    /// `event` (S3 announced the object) or `backfill` (it was listed: `backfill`, `verify
    /// --repair`). Added to `s3-replicator.completion.v1` backward-compatibly.
    pub origin: crate::event::Origin,
}

impl CompletionEvent {
    pub fn new(rule: &str, source: SourceReport, targets: Vec<TargetReport>) -> Self {
        let (completed_at, latency_ms) = completed_since(source.event_time);
        Self {
            schema: COMPLETION_SCHEMA,
            rule: rule.to_owned(),
            source,
            targets,
            completed_at,
            latency_ms,
            origin: crate::event::Origin::Event,
        }
    }

    /// The same event, from `origin`.
    pub fn with_origin(mut self, origin: crate::event::Origin) -> Self {
        self.origin = origin;
        self
    }

    /// SNS message attributes, for subscription filter policies.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("source_bucket", self.source.bucket.clone()),
            ("rule", self.rule.clone()),
            ("status", "completed".to_owned()),
        ]
    }

    /// What this event counts against a batch's 256 KiB: its JSON body and its message
    /// attributes (name, data type and value, as SNS counts them).
    pub fn batch_size(&self) -> usize {
        let body = serde_json::to_string(self).map_or(0, |body| body.len());
        let attributes: usize = self
            .attributes()
            .iter()
            .map(|(name, value)| name.len() + "String".len() + value.len())
            .sum();
        body + attributes
    }
}

/// Now, and the milliseconds since `event_time` (0 if it lies ahead: clocks differ).
pub(crate) fn completed_since(event_time: OffsetDateTime) -> (OffsetDateTime, u64) {
    let now = OffsetDateTime::now_utc();
    (now, (now - event_time).whole_milliseconds().max(0) as u64)
}

/// One target of a completed prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixTarget {
    pub name: String,
    pub bucket: String,
    /// The prefix in the target (its `key_prefix` + the source prefix).
    pub prefix: String,
    pub region: String,
}

/// "Every object under this prefix is in every target": published once the partition marker
/// (the rule's `complete_on`) was replicated and the prefix checked, on the completion topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixCompletedEvent {
    pub schema: &'static str,
    pub rule: String,
    pub source_bucket: String,
    pub source_region: String,
    /// The partition, e.g. `curated/d=2026-11-21/`.
    pub prefix: String,
    /// The marker object's key.
    pub marker: String,
    /// The marker's event `sequencer`, when the event had one.
    pub marker_sequencer: Option<String>,
    /// When S3 said the marker was created.
    #[serde(serialize_with = "serialize_millis_utc")]
    pub marker_event_time: OffsetDateTime,
    /// Objects under the prefix (marker included) as listed when the check passed.
    pub objects: u64,
    pub bytes: u64,
    pub targets: Vec<PrefixTarget>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub completed_at: OffsetDateTime,
}

impl PrefixCompletedEvent {
    /// SNS message attributes: the completion event's, with `status = prefix_completed`.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("source_bucket", self.source_bucket.clone()),
            ("rule", self.rule.clone()),
            ("status", "prefix_completed".to_owned()),
        ]
    }
}

/// What went wrong, as a stable name for filters and runbooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Copying to one target failed.
    CopyFailed,
    /// The source object could not be read (every target of the rule is affected).
    SourceUnreadable,
    /// A queue message could not be decoded.
    MalformedMessage,
    /// Every target holds the object, but the completion event could not be published.
    CompletionUnpublished,
    /// A partition marker arrived, but objects under its prefix are still missing from a
    /// target after the rule's `complete_deadline_secs`.
    PartitionIncomplete,
    /// The handling of a message took longer than `timeouts.message_deadline_secs`: it was
    /// cancelled and the message handed back for a retry.
    DeadlineExceeded,
    /// The event's source object does not exist: deleted after the event, or the event's key
    /// does not name an object (a key encoding problem).
    SourceMissing,
    /// A target key holds a replica of another source object (overlapping destinations).
    ReplicaConflict,
    /// The source's user metadata plus the replica's record exceed S3's 2 KB.
    MetadataTooLarge,
    /// Deleting a replica failed on one target.
    DeleteFailed,
    /// A rule's deletes went past its `max_deletes_per_minute`: they are held.
    DeleteStorm,
    /// Completions came later than the rule's `lag_alert_secs` after the S3 event.
    ReplicationLate,
    /// The source is archived and not restored: it cannot be copied yet.
    SourceArchived,
    /// A target cannot take the source's Object Lock settings (no Object Lock on its bucket).
    ObjectLockUnsupported,
    /// A Delta commit (or checkpoint) is held past the rule's `complete_deadline_secs`: files it
    /// needs are not in every target.
    TableCommitStalled,
}

impl AlertKind {
    /// The stable name, as in the alert's JSON (`copy_failed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::CopyFailed => "copy_failed",
            AlertKind::SourceUnreadable => "source_unreadable",
            AlertKind::MalformedMessage => "malformed_message",
            AlertKind::CompletionUnpublished => "completion_unpublished",
            AlertKind::PartitionIncomplete => "partition_incomplete",
            AlertKind::ReplicaConflict => "replica_conflict",
            AlertKind::MetadataTooLarge => "metadata_too_large",
            AlertKind::SourceMissing => "source_missing",
            AlertKind::DeadlineExceeded => "deadline_exceeded",
            AlertKind::DeleteFailed => "delete_failed",
            AlertKind::DeleteStorm => "delete_storm",
            AlertKind::ReplicationLate => "replication_late",
            AlertKind::SourceArchived => "source_archived",
            AlertKind::ObjectLockUnsupported => "object_lock_unsupported",
            AlertKind::TableCommitStalled => "table_commit_stalled",
        }
    }

    fn title(self) -> &'static str {
        match self {
            AlertKind::CopyFailed => "copy failed",
            AlertKind::SourceUnreadable => "source unreadable",
            AlertKind::MalformedMessage => "malformed message",
            AlertKind::CompletionUnpublished => "completion not published",
            AlertKind::PartitionIncomplete => "partition incomplete",
            AlertKind::ReplicaConflict => "replica of another source at the target key",
            AlertKind::MetadataTooLarge => "metadata too large",
            AlertKind::SourceMissing => "source missing",
            AlertKind::DeadlineExceeded => "message deadline exceeded",
            AlertKind::DeleteFailed => "delete failed",
            AlertKind::DeleteStorm => "deletes held (mass-delete guard)",
            AlertKind::ReplicationLate => "replication late",
            AlertKind::SourceArchived => "source archived",
            AlertKind::ObjectLockUnsupported => "object lock not supported by target",
            AlertKind::TableCommitStalled => "table commit stalled",
        }
    }
}

/// The object an alert concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

impl AlertObject {
    /// A deleted object, as its event announced it (no ETag: deletes carry none).
    pub fn from_removed(removed: &crate::event::ObjectRemoved) -> Self {
        Self {
            bucket: removed.bucket.clone(),
            key: removed.key.clone(),
            version_id: removed.version_id.clone(),
            etag: None,
        }
    }

    pub fn from_event(object: &ObjectCreated) -> Self {
        Self {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            etag: object.etag.clone(),
        }
    }
}

/// The target an alert concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertTarget {
    pub name: String,
    pub bucket: String,
    pub region: String,
}

/// An alert, rendered for email and for machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub schema: &'static str,
    pub kind: AlertKind,
    pub rule: Option<String>,
    pub source: Option<AlertObject>,
    pub target: Option<AlertTarget>,
    /// The error, as the daemon saw it.
    pub error: String,
    /// What a person should do about it.
    pub action: String,
    /// The SQS message concerned, to find it in the dead-letter queue.
    pub message_id: Option<String>,
    /// The start of the raw message body, for malformed messages.
    pub body_excerpt: Option<String>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub occurred_at: OffsetDateTime,
    /// How many failures of this kind (and target) this alert stands for: 1 for the first of a
    /// window, the number held back for a summary (see [`crate::alerts`]).
    pub count: u64,
    /// A few of the keys concerned, for a summary.
    pub example_keys: Vec<String>,
    /// `replication_late`: how late the completion came, from the S3 event time. A summary
    /// shows the worst of the alerts it counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

impl Alert {
    pub fn new(kind: AlertKind, error: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            schema: ALERT_SCHEMA,
            kind,
            rule: None,
            source: None,
            target: None,
            error: error.into(),
            action: action.into(),
            message_id: None,
            body_excerpt: None,
            occurred_at: OffsetDateTime::now_utc(),
            count: 1,
            example_keys: Vec::new(),
            lag_ms: None,
        }
    }

    /// A short subject line (≤ 100 characters) for email.
    pub fn subject(&self) -> String {
        let mut subject = format!("s3-replicator: {}", self.kind.title());
        if let Some(target) = &self.target {
            subject.push_str(&format!(" → {}", target.name));
        }
        if self.count > 1 {
            subject.push_str(&format!(": {} failures", self.count));
        } else if let Some(source) = &self.source {
            subject.push_str(&format!(": {}/{}", source.bucket, source.key));
        }
        // Subjects must be ASCII-printable or UTF-8 without line breaks; keys may hold anything.
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        truncate_chars(&subject, SUBJECT_MAX)
    }

    /// The readable body for email subscribers.
    pub fn text(&self) -> String {
        let mut text = format!("s3-replicator alert: {}\n\n", self.kind.title());
        if self.count > 1 {
            text.push_str(&match self.lag_ms {
                Some(lag) => format!(
                    "{} late objects since the last alert; the worst ({} ms lag) is shown below.\n",
                    self.count, lag
                ),
                None => format!(
                    "{} failures of this kind since the last alert; the last one is shown below.\n",
                    self.count
                ),
            });
            if !self.example_keys.is_empty() {
                text.push_str("Some of the objects concerned:\n");
                for key in &self.example_keys {
                    text.push_str(&format!("  {key}\n"));
                }
            }
            text.push('\n');
        }
        if let Some(rule) = &self.rule {
            text.push_str(&format!("Rule:    {rule}\n"));
        }
        if let Some(source) = &self.source {
            text.push_str(&format!("Object:  s3://{}/{}\n", source.bucket, source.key));
            if let Some(version) = &source.version_id {
                text.push_str(&format!("Version: {version}\n"));
            }
        }
        if let Some(target) = &self.target {
            text.push_str(&format!(
                "Target:  {} (s3://{} in {})\n",
                target.name, target.bucket, target.region
            ));
        }
        if let Some(id) = &self.message_id {
            text.push_str(&format!("Message: {id}\n"));
        }
        text.push_str(&format!(
            "When:    {}\n\n",
            format_millis(self.occurred_at).unwrap_or_else(|_| self.occurred_at.to_string())
        ));
        text.push_str(&format!("Error:\n  {}\n\n", self.error));
        if let Some(body) = &self.body_excerpt {
            text.push_str(&format!("Message body (start):\n  {body}\n\n"));
        }
        text.push_str(&format!("What to do:\n  {}\n", self.action));
        text
    }

    /// The JSON rendering for SQS, Lambda and HTTP subscribers.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The SNS message for `MessageStructure = "json"`: text for email, JSON for everyone else.
    pub fn sns_message(&self) -> String {
        let json = self.json();
        serde_json::json!({
            "default": json,
            "email": self.text(),
            "email-json": json,
            "sqs": json,
            "lambda": json,
            "http": json,
            "https": json,
        })
        .to_string()
    }

    /// SNS message attributes, for subscription filter policies.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = vec![
            ("kind", self.kind.as_str().to_owned()),
            ("status", "failed".to_owned()),
        ];
        if let Some(source) = &self.source {
            attributes.push(("source_bucket", source.bucket.clone()));
        }
        if let Some(rule) = &self.rule {
            attributes.push(("rule", rule.clone()));
        }
        attributes
    }

    /// Builder-style setters, so that call sites read as a description of the alert.
    pub fn rule(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_owned());
        self
    }
    pub fn source(mut self, source: AlertObject) -> Self {
        self.source = Some(source);
        self
    }
    pub fn target(mut self, target: AlertTarget) -> Self {
        self.target = Some(target);
        self
    }
    pub fn message_id(mut self, id: &str) -> Self {
        self.message_id = Some(id.to_owned());
        self
    }
    pub fn body_excerpt(mut self, body: &str) -> Self {
        self.body_excerpt = Some(truncate(body, BODY_EXCERPT_MAX));
        self
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Failure to publish, with whether trying again may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("publishing to {topic_arn}: {message}")]
pub struct PublishError {
    pub topic_arn: String,
    pub message: String,
    pub transient: bool,
}

/// Where completion events and alerts go.
pub trait Publisher: Send + Sync + 'static {
    fn publish_completion(
        &self,
        event: &CompletionEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Publishes several completions, in one request where the topic takes batches (SNS
    /// `PublishBatch`: 10 entries, 256 KiB in all): one result per event, in their order, so
    /// that each message is acknowledged only on its own completion's acceptance. By default
    /// they are published one by one.
    fn publish_completions(
        &self,
        events: &[CompletionEvent],
    ) -> impl Future<Output = Vec<Result<(), PublishError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                results.push(self.publish_completion(event).await);
            }
            results
        }
    }

    fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    fn publish_alert(&self, alert: &Alert)
        -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Publishes a deletion event on the completion topic (docs/design.md, "Deletes").
    fn publish_deletion(
        &self,
        event: &DeletionEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Publishes a table-committed event on the completion topic (docs/design.md, "Tables").
    fn publish_table_committed(
        &self,
        event: &TableCommittedEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn source() -> SourceReport {
        SourceReport {
            bucket: "data-lake-curated".into(),
            key: "curated/d=2026-11-21/part-0.parquet".into(),
            region: "us-east-1".into(),
            version_id: None,
            etag: "abc".into(),
            size: 1_048_576,
            sequencer: Some("0055AED6DCD90281E5".into()),
            event_time: datetime!(2026-11-21 10:00:00.000 UTC),
            restored_from: None,
        }
    }

    #[test]
    fn completion_event_has_the_documented_shape() {
        let target = TargetReport {
            name: "analytics-eu".into(),
            bucket: "analytics-eu-west-1".into(),
            key: "curated/d=2026-11-21/part-0.parquet".into(),
            region: "eu-west-1".into(),
            etag: "abc".into(),
            version_id: None,
            method: Method::ServerSideCopy,
            duration_ms: 85,
        };
        let mut event = CompletionEvent::new("curated", source(), vec![target]);
        event.completed_at = datetime!(2026-11-21 10:00:00.412 UTC);
        event.latency_ms = 412;
        let json: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(json["schema"], "s3-replicator.completion.v1");
        assert_eq!(json["source"]["event_time"], "2026-11-21T10:00:00.000Z");
        assert_eq!(json["source"]["version_id"], serde_json::Value::Null);
        assert_eq!(json["source"]["sequencer"], "0055AED6DCD90281E5");
        assert_eq!(json["targets"][0]["method"], "server_side_copy");
        assert_eq!(json["completed_at"], "2026-11-21T10:00:00.412Z");
        assert_eq!(json["latency_ms"], 412);
        assert_eq!(
            event.attributes(),
            [
                ("source_bucket", "data-lake-curated".to_owned()),
                ("rule", "curated".to_owned()),
                ("status", "completed".to_owned())
            ]
        );
    }

    #[test]
    fn alert_kind_names_match_their_json() {
        for kind in [
            AlertKind::CopyFailed,
            AlertKind::SourceUnreadable,
            AlertKind::MalformedMessage,
            AlertKind::CompletionUnpublished,
            AlertKind::PartitionIncomplete,
            AlertKind::ReplicaConflict,
            AlertKind::MetadataTooLarge,
            AlertKind::SourceMissing,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn alert_subject_is_short_and_text_says_what_to_do() {
        let alert = Alert::new(
            AlertKind::CopyFailed,
            "CopyObject s3://t/k: no such bucket: …",
            "Create the bucket.",
        )
        .rule("curated")
        .source(AlertObject {
            bucket: "lake".into(),
            key: format!("{}\nend", "deep/".repeat(40)),
            version_id: None,
            etag: None,
        })
        .target(AlertTarget {
            name: "dr".into(),
            bucket: "t".into(),
            region: "us-west-2".into(),
        });
        let subject = alert.subject();
        assert!(subject.chars().count() <= 100, "{subject}");
        assert!(
            subject.starts_with("s3-replicator: copy failed → dr: lake/deep/"),
            "{subject}"
        );
        assert!(!subject.contains('\n'));
        let text = alert.text();
        assert!(text.contains("Target:  dr (s3://t in us-west-2)"), "{text}");
        assert!(text.contains("What to do:\n  Create the bucket."), "{text}");
        let message: serde_json::Value = serde_json::from_str(&alert.sns_message()).unwrap();
        let for_sqs: serde_json::Value =
            serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(for_sqs["schema"], "s3-replicator.alert.v1");
        assert_eq!(for_sqs["kind"], "copy_failed");
        assert_eq!(message["email"].as_str().unwrap(), text);
    }
}
