//! Partition completion: "every object under this prefix is in every target".
//!
//! Jobs that read a whole partition (`d=2026-11-21/`) wait for its marker (`_SUCCESS`). When a
//! rule has `complete_on`, replicating the marker triggers a check of the marker's prefix:
//! the source is listed as it is now and compared with every target (the same merge as
//! `verify`). Complete → one `s3-replicator.prefix-completed.v1` event. Incomplete → the
//! marker's message is handed back and checked again later, with the queue's growing delay;
//! past the rule's deadline an alert names what is missing. No state is kept anywhere but in
//! the queue, so this works with several daemons and across restarts.

use futures::StreamExt;

use crate::config::RuleConfig;
use crate::publish::{PrefixCompletedEvent, PrefixTarget, PREFIX_COMPLETED_SCHEMA};
use crate::replicate::Replicator;
use crate::store::{list_all, ObjectStore, StoreError};
use crate::verify::{self, Difference};

/// Missing keys named in an alert.
const MISSING_SHOWN: usize = 10;

/// The result of checking a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Complete(PrefixCompletedEvent),
    Incomplete {
        prefix: String,
        /// Objects missing or different, counted once per target.
        missing: u64,
        /// A few of them, as `target: key`.
        examples: Vec<String>,
    },
}

/// The partition a marker closes: its key without the marker's name.
pub fn partition_of(marker_key: &str, marker: &str) -> String {
    marker_key
        .strip_suffix(marker)
        .unwrap_or(marker_key)
        .to_owned()
}

/// Checks the partition that `marker_key` closes for `rule`.
pub async fn check<S: ObjectStore>(
    replicator: &Replicator<S>,
    rule: &RuleConfig,
    marker_key: &str,
    source_region: &str,
) -> Result<Check, StoreError> {
    let prefix = partition_of(marker_key, rule.complete_on.as_deref().unwrap_or(""));
    let mut examples = Vec::new();
    let report = verify::run(replicator, &[rule], Some(&prefix), |finding| {
        if finding.difference != Difference::OnlyInTarget && examples.len() < MISSING_SHOWN {
            examples.push(format!("{}: {}", finding.target, finding.key));
        }
    })
    .await?;
    let missing = report.missing + report.size_differs + report.content_differs;
    if missing > 0 {
        return Ok(Check::Incomplete {
            prefix,
            missing,
            examples,
        });
    }
    let (mut objects, mut bytes) = (0, 0);
    {
        let listing = list_all(replicator.source(), &rule.source_bucket, &prefix, None);
        tokio::pin!(listing);
        while let Some(listed) = listing.next().await {
            let listed = listed?;
            if rule.covers(&listed.key) {
                objects += 1;
                bytes += listed.size;
            }
        }
    }
    let targets = rule
        .targets
        .iter()
        .filter_map(|name| replicator.target(name))
        .map(|t| PrefixTarget {
            name: t.config.name.clone(),
            bucket: t.config.bucket.clone(),
            prefix: format!("{}{prefix}", t.config.key_prefix.as_deref().unwrap_or("")),
            region: t.config.region.clone(),
        })
        .collect();
    Ok(Check::Complete(PrefixCompletedEvent {
        schema: PREFIX_COMPLETED_SCHEMA,
        rule: rule.name.clone(),
        source_bucket: rule.source_bucket.clone(),
        source_region: source_region.to_owned(),
        prefix,
        marker: marker_key.to_owned(),
        objects,
        bytes,
        targets,
        completed_at: time::OffsetDateTime::now_utc(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_is_the_markers_prefix() {
        assert_eq!(
            partition_of("curated/d=2026-11-21/_SUCCESS", "_SUCCESS"),
            "curated/d=2026-11-21/"
        );
        assert_eq!(partition_of("_SUCCESS", "_SUCCESS"), "");
    }
}
