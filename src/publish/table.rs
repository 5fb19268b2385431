//! The table-committed event (`s3-replicator.table-committed.v1`): "commit `version` of this
//! Delta table, and every file it adds, is in every target of this rule", published on the
//! completion topic with the attribute `status = "table_committed"` (docs/design.md, "Tables").
//!
//! Where it sits: built by the pipeline once a held commit was copied to every target and its
//! own completion published; published through [`super::Publisher::publish_table_committed`].

use serde::Serialize;
use time::OffsetDateTime;

use crate::timestamp::serialize_millis_utc;

/// Schema name of the table-committed event.
pub const TABLE_COMMITTED_SCHEMA: &str = "s3-replicator.table-committed.v1";

/// One target of a committed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableTarget {
    pub name: String,
    pub bucket: String,
    pub region: String,
    /// The table's root in the target (its `key_prefix` + the source root).
    pub table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCommittedEvent {
    pub schema: &'static str,
    pub rule: String,
    pub source_bucket: String,
    /// The table's root prefix in the source bucket (`tables/orders/`; `""` at the top).
    pub table: String,
    /// The commit's version.
    pub version: u64,
    /// `add` actions of the commit.
    pub files_added: u64,
    /// Their sizes, summed.
    pub bytes_added: u64,
    pub targets: Vec<TableTarget>,
    /// The commit's event sequencer, when the event had one.
    pub sequencer: Option<String>,
    #[serde(serialize_with = "serialize_millis_utc")]
    pub completed_at: OffsetDateTime,
    /// From the commit's S3 event time to `completed_at`.
    pub latency_ms: u64,
}

impl TableCommittedEvent {
    /// SNS message attributes: the completion event's, with `status = table_committed`.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("source_bucket", self.source_bucket.clone()),
            ("rule", self.rule.clone()),
            ("status", "table_committed".to_owned()),
        ]
    }
}
