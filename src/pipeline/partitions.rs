//! Partition completion (docs/design.md, "Partition completion"): a replicated marker's
//! partition is checked, and checked again through delayed re-check messages until it is
//! complete; and the dispatch of every re-check message, a partition's or a held table
//! object's ([`super::tables`]).

use backon::Retryable;
use tracing::{error, info, warn};

use super::{retry_policy, Pipeline, Recheck, Verdict};
use crate::config::RuleConfig;
use crate::event::{ObjectCreated, PartitionRecheck};
use crate::partition;
use crate::publish::{Alert, AlertKind, AlertObject, PublishError, Publisher};
use crate::queue::Message;
use crate::store::ObjectStore;

const PARTITION_INCOMPLETE_ACTION: &str = "Find out why these objects were not replicated (look \
    for copy_failed alerts, or objects written without an event), then upload them again or run \
    `s3-replicator backfill --prefix` for this prefix. The partition is checked again every few \
    minutes; its completion is published as soon as it is complete.";

const PARTITION_GIVE_UP_ACTION: &str = "The partition has been incomplete for a day past its \
    deadline: re-checks stop and the re-check message goes to the dead-letter queue. Replicate \
    the missing objects (upload them again or run `s3-replicator backfill --prefix`), then redrive \
    the dead-letter queue: the partition is checked again and its completion published.";

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    /// A re-check message: the marker was replicated and its completion published when it was
    /// first handled, so only the partition is checked, under the rule that closes it.
    pub(super) async fn handle_recheck(
        &self,
        message: &Message,
        recheck: &PartitionRecheck,
    ) -> Verdict {
        let marker = &recheck.marker;
        if recheck.table {
            return self.handle_held(message, recheck).await;
        }
        let rule = self
            .router
            .route(&marker.bucket, &marker.key)
            .find(|rule| rule.name == recheck.rule && rule.is_marker(&marker.key));
        match rule {
            Some(rule) => {
                self.complete_partition(message, marker, rule, Some(recheck))
                    .await
            }
            None => {
                // The configuration changed since: no rule closes this partition any more.
                warn!(message = "Partition re-check for a rule that no longer closes this partition; dropped.", rule = %recheck.rule, bucket = %marker.bucket, key = %marker.key, message_id = %message.id);
                Verdict::Delete
            }
        }
    }

    /// The marker of a partition was replicated: publish its completion if every object under
    /// its prefix is in every target, else ask for a re-check later ([`Verdict::Recheck`]).
    /// `previous` is the re-check message being handled, if this is not the first check.
    pub(super) async fn complete_partition(
        &self,
        message: &Message,
        object: &ObjectCreated,
        rule: &RuleConfig,
        previous: Option<&PartitionRecheck>,
    ) -> Verdict {
        let check = partition::check(&self.replicator, rule, object).await;
        match check {
            Ok(partition::Check::Complete(event)) => {
                let published = (|| self.publisher.inner().publish_prefix_completed(&event))
                    .retry(retry_policy())
                    .when(|e: &PublishError| e.transient)
                    .await;
                match published {
                    Ok(()) => {
                        info!(message = "Partition completion published.", rule = %rule.name, bucket = %object.bucket, prefix = %event.prefix, objects = event.objects);
                        Verdict::Delete
                    }
                    Err(e) => {
                        error!(message = "Partition completion could not be published.", rule = %rule.name, prefix = %event.prefix, error = %e);
                        Verdict::Retry
                    }
                }
            }
            Ok(partition::Check::Incomplete {
                prefix,
                missing,
                examples,
            }) => {
                let mut wait = Wait::of(self.clock.now(), previous, rule);
                let (checks, age) = (wait.checks, wait.age);
                info!(message = "Partition not complete yet.", rule = %rule.name, prefix = %prefix, missing, checks, age_secs = age.as_secs());
                let incomplete_alert = |action: &str| {
                    let mut alert = Alert::new(
                        AlertKind::PartitionIncomplete,
                        format!(
                            "{missing} object(s) under s3://{}/{prefix} are not in every target {}s after the partition was first checked: {}",
                            object.bucket,
                            age.as_secs(),
                            examples.join(", ")
                        ),
                        action,
                    )
                    .rule(&rule.name)
                    .source(AlertObject::from_event(object))
                    .message_id(&message.id);
                    alert.example_keys = examples.clone();
                    alert
                };
                if wait.given_up() {
                    // Never silent, never endless: the re-check message is left to the redrive
                    // policy (every delivery still checks, and alerts), so it ends in the DLQ.
                    error!(message = "Partition still incomplete; re-checks stop and the message goes to the dead-letter queue.", rule = %rule.name, prefix = %prefix, missing, age_secs = age.as_secs());
                    self.alert(incomplete_alert(PARTITION_GIVE_UP_ACTION)).await;
                    return Verdict::Keep;
                }
                if wait.alert_due() {
                    self.alert(incomplete_alert(PARTITION_INCOMPLETE_ACTION))
                        .await;
                }
                wait.recheck(rule, object, false)
            }
            Err(e) => {
                let disposition = e.disposition();
                error!(message = "Partition could not be checked.", rule = %rule.name, key = %object.key, error = %e);
                if Self::alerts_on(message, disposition) {
                    self.alert(
                        Alert::new(AlertKind::PartitionIncomplete, e.to_string(), e.advice())
                            .rule(&rule.name)
                            .source(AlertObject::from_event(object))
                            .message_id(&message.id),
                    )
                    .await;
                }
                Verdict::of(disposition)
            }
        }
    }

    /// A held table object's re-check: the object is handled again under its rule, its key
    /// locked as for an event; copied once what it waits for is in every target.
    async fn handle_held(&self, message: &Message, recheck: &PartitionRecheck) -> Verdict {
        let object = &recheck.marker;
        let rule = self.router.route(&object.bucket, &object.key).find(|rule| {
            rule.name == recheck.rule && rule.table_format == crate::config::TableFormat::Delta
        });
        match rule {
            Some(rule) => {
                let _key = self.keys.lock(&object.bucket, &object.key).await;
                self.handle_rule(message, object, rule, Some(recheck)).await
            }
            None => {
                // The configuration changed since: the object is no longer held; it is handled
                // as its own event would be now (its original message is gone).
                warn!(message = "Table re-check for a rule that no longer holds this table; handling the object as an event.", rule = %recheck.rule, bucket = %object.bucket, key = %object.key, message_id = %message.id);
                self.handle_object(message, object).await
            }
        }
    }
}

/// Where a wait stands, a partition's or a held table object's: counted from the first check,
/// against the rule's `complete_deadline_secs`, carried from one re-check message to the next.
pub(super) struct Wait {
    first_seen: time::OffsetDateTime,
    pub(super) checks: u32,
    alerted: bool,
    pub(super) age: std::time::Duration,
    deadline: std::time::Duration,
}

impl Wait {
    /// The wait at `now`: a new one, or the one `previous` carried.
    pub(super) fn of(
        now: time::OffsetDateTime,
        previous: Option<&PartitionRecheck>,
        rule: &RuleConfig,
    ) -> Self {
        let first_seen = previous.map_or(now, |p| p.first_seen);
        Self {
            first_seen,
            checks: previous.map_or(0, |p| p.checks) + 1,
            alerted: previous.is_some_and(|p| p.alerted),
            age: (now - first_seen).try_into().unwrap_or_default(),
            deadline: std::time::Duration::from_secs(rule.complete_deadline_secs),
        }
    }

    /// A day past the deadline: re-checks stop.
    pub(super) fn given_up(&self) -> bool {
        self.age
            >= self
                .deadline
                .saturating_add(partition::RECHECK_GIVE_UP_AFTER_DEADLINE)
    }

    /// The deadline passed and was not alerted yet; from now on it counts as alerted.
    pub(super) fn alert_due(&mut self) -> bool {
        let due = self.age >= self.deadline && !self.alerted;
        self.alerted |= due;
        due
    }

    /// The next re-check message of `object` under `rule` (`table`: a held table object).
    pub(super) fn recheck(
        &self,
        rule: &RuleConfig,
        object: &ObjectCreated,
        table: bool,
    ) -> Verdict {
        let delay = partition::recheck_delay(self.checks, self.age, self.deadline);
        let recheck = PartitionRecheck {
            rule: rule.name.clone(),
            marker: object.clone(),
            first_seen: self.first_seen,
            checks: self.checks,
            alerted: self.alerted,
            table,
        };
        Verdict::Recheck(vec![Recheck {
            rule: rule.name.clone(),
            body: recheck.to_body(),
            delay_secs: delay.as_secs() as i32,
            held_deletes: false,
        }])
    }
}
