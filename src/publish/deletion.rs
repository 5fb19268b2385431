//! The deletion event (`s3-replicator.deletion.v1`): "the replicas of this deleted source
//! object are gone from every target of this rule", published on the completion topic with the
//! attribute `status = "deleted"` (docs/design.md, "The deletion event").
//!
//! Where it sits: built by the pipeline's delete handling from what each target reported,
//! published through [`super::Publisher::publish_deletion`].

use serde::Serialize;
use time::OffsetDateTime;

use crate::event::ObjectRemoved;
use crate::timestamp::serialize_millis_utc;

/// Schema name of the deletion event.
pub const DELETION_SCHEMA: &str = "s3-replicator.deletion.v1";

/// The deleted source object, as the event announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedSource {
    pub bucket: String,
    pub key: String,
    pub region: String,
    /// The delete marker's version id (versioned source), else `None`.
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub event_time: OffsetDateTime,
    /// The delete created a delete marker (versioned source).
    pub delete_marker: bool,
}

impl DeletedSource {
    pub fn of(removed: &ObjectRemoved) -> Self {
        Self {
            bucket: removed.bucket.clone(),
            key: removed.key.clone(),
            region: removed.region.clone(),
            version_id: removed.version_id.clone(),
            sequencer: removed.sequencer.as_ref().map(|s| s.as_str().to_owned()),
            event_time: removed.event_time,
            delete_marker: removed.delete_marker,
        }
    }
}

/// What became of one target's replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteResult {
    /// The replica was deleted (a delete marker on a versioned target).
    Deleted,
    /// The target held nothing at the replica's key.
    AlreadyAbsent,
    /// The target holds a replica of a newer write of this source key (by sequencer), or the
    /// source key was written again since the delete: kept, and that write's own event
    /// decides what the target holds.
    KeptNewer,
    /// The target holds an object this source key did not produce (no replica record, or a
    /// replica of another source): never deleted.
    KeptForeign,
}

impl DeleteResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeleteResult::Deleted => "deleted",
            DeleteResult::AlreadyAbsent => "already_absent",
            DeleteResult::KeptNewer => "kept_newer",
            DeleteResult::KeptForeign => "kept_foreign",
        }
    }
}

/// One target of a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionTarget {
    pub name: String,
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub result: DeleteResult,
}

/// The deletion event, one per deleted source object and rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionEvent {
    pub schema: &'static str,
    pub rule: String,
    pub source: DeletedSource,
    pub targets: Vec<DeletionTarget>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub completed_at: OffsetDateTime,
    /// From the delete's S3 event time to `completed_at`.
    pub latency_ms: u64,
}

impl DeletionEvent {
    pub fn new(rule: &str, source: DeletedSource, targets: Vec<DeletionTarget>) -> Self {
        let (completed_at, latency_ms) = super::completed_since(source.event_time);
        Self {
            schema: DELETION_SCHEMA,
            rule: rule.to_owned(),
            source,
            targets,
            completed_at,
            latency_ms,
        }
    }

    /// SNS message attributes: the completion event's, with `status = deleted`.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("source_bucket", self.source.bucket.clone()),
            ("rule", self.rule.clone()),
            ("status", "deleted".to_owned()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_event_has_the_documented_fields() {
        let event = DeletionEvent {
            schema: DELETION_SCHEMA,
            rule: "lake".into(),
            source: DeletedSource {
                bucket: "src".into(),
                key: "a b.txt".into(),
                region: "us-east-1".into(),
                version_id: Some("m1".into()),
                sequencer: Some("00AB".into()),
                event_time: datetime!(2026-12-01 10:00:00 UTC),
                delete_marker: true,
            },
            targets: vec![DeletionTarget {
                name: "eu".into(),
                bucket: "dst".into(),
                key: "a b.txt".into(),
                region: "eu-west-1".into(),
                result: DeleteResult::KeptNewer,
            }],
            completed_at: datetime!(2026-12-01 10:00:01.5 UTC),
            latency_ms: 1500,
        };
        let json: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schema": "s3-replicator.deletion.v1",
                "rule": "lake",
                "source": {"bucket": "src", "key": "a b.txt", "region": "us-east-1",
                    "version_id": "m1", "sequencer": "00AB",
                    "event_time": "2026-12-01T10:00:00.000Z", "delete_marker": true},
                "targets": [{"name": "eu", "bucket": "dst", "key": "a b.txt",
                    "region": "eu-west-1", "result": "kept_newer"}],
                "completed_at": "2026-12-01T10:00:01.500Z",
                "latency_ms": 1500
            })
        );
        assert!(event
            .attributes()
            .contains(&("status", "deleted".to_owned())));
    }
}
