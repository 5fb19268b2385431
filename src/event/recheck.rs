//! The daemon's own message: "check this partition again".
//!
//! Where it sits: one of the wire formats of [`crate::event`], the only one the daemon writes
//! as well as reads: [`crate::pipeline`] sends it to the queue, with a delay, while a
//! partition ([`crate::partition`]) is incomplete.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{
    clean_etag, from_value, non_empty, parse_time, required, DecodeError, Location, Notification,
    ObjectCreated, Sequencer,
};
use crate::timestamp::format_millis;

/// Schema name of the daemon's own partition re-check message.
pub const PARTITION_RECHECK_SCHEMA: &str = "s3-replicator.partition-recheck.v1";

/// "Check this partition again": the message the daemon sends itself (with SQS `DelaySeconds`)
/// while a partition is incomplete, instead of handing the marker's message back, so that
/// re-checks never spend the marker message's receive count (docs/design.md, "Partition
/// completion").
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
    /// The object is a held object of a Delta table (a commit waiting for its files), not a
    /// partition marker: the object itself is copied once what it waits for is in every
    /// target (docs/design.md, "Tables"). On the wire: `"hold": "table"`.
    pub table: bool,
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
            "hold": if self.table { "table" } else { "partition" },
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
    hold: Option<String>,
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

pub(super) fn decode_recheck(value: Value) -> Result<Notification, DecodeError> {
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
            event_time: parse_time(&event_time, at, "marker.event_time")?,
            event_name: marker.event_name.unwrap_or_default(),
        },
        first_seen: parse_time(&first_seen, at, "first_seen")?,
        checks: wire.checks,
        alerted: wire.alerted,
        table: wire.hold.as_deref() == Some("table"),
    })))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use time::macros::datetime;

    use super::*;
    use crate::event::decode;
    use crate::event::tests::{fixture, single};

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
            table: false,
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
            Notification::Recheck(Box::new(recheck.clone()))
        );
        let table = PartitionRecheck {
            table: true,
            ..recheck
        };
        assert_eq!(
            decode(&table.to_body()).unwrap(),
            Notification::Recheck(Box::new(table))
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
}
