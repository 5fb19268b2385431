//! Partition completion: "every object under this prefix is in every target".
//!
//! Jobs that read a whole partition (`d=2026-11-21/`) wait for its marker (`_SUCCESS`). When a
//! rule has `complete_on`, replicating the marker triggers a check of the marker's prefix:
//! the source is listed as it is now and compared with every target (the same merge as
//! `verify`). Complete → one `s3-replicator.prefix-completed.v1` event. Incomplete → a new
//! re-check message ([`crate::event::PartitionRecheck`]) is sent to the queue with a growing
//! `DelaySeconds` and the marker's message deleted, so that waiting never spends a receive
//! count; a re-check only checks the partition again (the marker's own completion was published
//! already). The rule's deadline counts from the first check; reaching it raises one
//! `partition_incomplete` alert naming what is missing, and checks go on (every 15 minutes at
//! most) until [`RECHECK_GIVE_UP_AFTER_DEADLINE`] past it. No state is kept anywhere but in the
//! queue, so this works with several daemons and across restarts.

use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::RuleConfig;
use crate::event::ObjectCreated;
use crate::listing::list_all;
use crate::publish::{PrefixCompletedEvent, PrefixTarget, PREFIX_COMPLETED_SCHEMA};
use crate::replicate::Replicator;
use crate::store::{ObjectStore, StoreError};
use crate::verify::{self, Difference};

/// Missing keys named in an alert.
const MISSING_SHOWN: usize = 10;

/// The first re-check comes this long after the first check; each further one waits twice as
/// long, up to [`RECHECK_DELAY_MAX`].
pub const RECHECK_DELAY_MIN: Duration = Duration::from_secs(10);
/// SQS's largest `DelaySeconds` (15 minutes): the longest a re-check message can wait.
pub const RECHECK_DELAY_MAX: Duration = Duration::from_secs(900);
/// How long re-checks go on after the rule's deadline. Past it the re-check message raises a
/// final `partition_incomplete` alert on every delivery and is left to the queue's redrive
/// policy, i.e. it ends in the dead-letter queue, where a redrive starts the checks again.
pub const RECHECK_GIVE_UP_AFTER_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// The delay before re-check number `checks + 1`, when the partition was first found
/// incomplete `age` ago: doubling from [`RECHECK_DELAY_MIN`] up to [`RECHECK_DELAY_MAX`], but
/// never past the deadline while it is ahead, so that the deadline alert fires on time.
pub fn recheck_delay(checks: u32, age: Duration, deadline: Duration) -> Duration {
    let backoff = crate::retry::doubling(checks, RECHECK_DELAY_MIN, RECHECK_DELAY_MAX);
    match deadline.checked_sub(age) {
        Some(left) if !left.is_zero() => {
            // Whole seconds (DelaySeconds), rounded up so that the check lands past it.
            let left = Duration::from_secs(
                left.as_secs()
                    .saturating_add(u64::from(left.subsec_nanos() > 0)),
            );
            backoff.min(left)
        }
        _ => backoff,
    }
}

/// Wall-clock time that advances with tokio's clock: anchored to the wall clock once, then
/// moved on by tokio's monotonic [`Instant`]. In production the two agree; under a paused test
/// clock the deadline of a re-check follows the test's virtual time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: OffsetDateTime,
    at: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            wall: OffsetDateTime::now_utc(),
            at: Instant::now(),
        }
    }

    /// A clock that reads `wall` now: for a simulation, whose runs must not depend on when
    /// they ran (a re-check carries its first check's time to the millisecond, so a wall anchor
    /// taken from the system moves re-check delays across a second now and then).
    pub fn anchored(wall: OffsetDateTime) -> Self {
        Self {
            wall,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.wall + self.at.elapsed()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

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
    marker: &ObjectCreated,
) -> Result<Check, StoreError> {
    let marker_key = marker.key.as_str();
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
        let listing = list_all(
            replicator.source(),
            replicator.metrics(),
            &rule.source_bucket,
            &prefix,
            None,
        );
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
        source_region: marker.region.clone(),
        prefix,
        marker: marker_key.to_owned(),
        marker_sequencer: marker.sequencer.as_ref().map(|s| s.as_str().to_owned()),
        marker_event_time: marker.event_time,
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
    fn recheck_delays_double_up_to_the_sqs_maximum_and_land_on_the_deadline() {
        let deadline = Duration::from_secs(900);
        let delays: Vec<u64> = (1..=8)
            .map(|checks| recheck_delay(checks, Duration::ZERO, Duration::MAX).as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 900]);
        // 895 s after the first check, the next waits only for the deadline (rounded up).
        assert_eq!(
            recheck_delay(6, Duration::from_millis(895_500), deadline),
            Duration::from_secs(5)
        );
        // Past the deadline: the capped backoff, never zero.
        assert_eq!(
            recheck_delay(3, Duration::from_secs(901), deadline),
            Duration::from_secs(40)
        );
        assert_eq!(
            recheck_delay(30, Duration::from_secs(9000), deadline),
            RECHECK_DELAY_MAX
        );
    }

    #[test]
    fn the_partition_is_the_markers_prefix() {
        assert_eq!(
            partition_of("curated/d=2026-11-21/_SUCCESS", "_SUCCESS"),
            "curated/d=2026-11-21/"
        );
        assert_eq!(partition_of("_SUCCESS", "_SUCCESS"), "");
    }
}
