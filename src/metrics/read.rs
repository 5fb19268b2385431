//! Reading the registry's own numbers back, by sample name and label values: for tests, and for
//! anything that checks what the daemon recorded.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::*;

impl Metrics {
    /// The value of a counter series, by sample name and label values in the family's label
    /// order (tests, and anything that reads its own numbers back). 0 for an unknown series.
    pub fn counter(&self, name: &str, labels: &[&str]) -> u64 {
        let l = |i: usize| Value::from(labels.get(i).copied().unwrap_or(""));
        fn value<L: Clone + std::hash::Hash + Eq>(family: &Family<L, Counter>, labels: &L) -> u64 {
            family.get(labels).map_or(0, |c| c.get())
        }
        match name {
            OBJECTS_REPLICATED => value(
                &self.objects_replicated,
                &TargetMethod {
                    target: l(0),
                    method: l(1),
                },
            ),
            OBJECTS_FAILED => value(
                &self.objects_failed,
                &TargetError {
                    target: l(0),
                    error: l(1),
                },
            ),
            BYTES_COPIED => value(&self.bytes_copied, &TargetLabel { target: l(0) }),
            MESSAGES_HANDLED => value(&self.messages_handled, &VerdictLabel { verdict: l(0) }),
            RETRIES => value(&self.retries, &OperationLabel { operation: l(0) }),
            ALERTS_SENT => value(&self.alerts_sent, &KindLabel { kind: l(0) }),
            ALERTS_FAILED => value(&self.alerts_failed, &KindLabel { kind: l(0) }),
            AWS_REQUESTS => value(
                &self.aws_requests,
                &ServiceOperation {
                    service: l(0),
                    operation: l(1),
                },
            ),
            SOURCE_MISSING => value(&self.source_missing, &RuleLabel { rule: l(0) }),
            PARTITION_RECHECKS => value(&self.partition_rechecks, &RuleLabel { rule: l(0) }),
            MESSAGE_DEADLINES_EXCEEDED => self.deadlines_exceeded.get(),
            EVENTS => value(&self.events, &ResultLabel { result: l(0) }),
            DELETES => value(
                &self.deletes,
                &RuleResult {
                    rule: l(0),
                    result: l(1),
                },
            ),
            DELETES_HELD => value(&self.deletes_held, &RuleLabel { rule: l(0) }),
            OBJECTS_LATE => value(&self.objects_late, &RuleLabel { rule: l(0) }),
            SOURCES_ARCHIVED => value(
                &self.sources_archived,
                &RuleAction {
                    rule: l(0),
                    action: l(1),
                },
            ),
            _ => 0,
        }
    }

    /// The value of a gauge: [`MESSAGES_IN_FLIGHT`], [`BYTES_IN_FLIGHT`], or with its label
    /// value in `labels`: [`QUEUE_MESSAGES`] (state), [`TARGET_BYTES_PENDING`] (target),
    /// [`TARGET_CAPABILITY_MISSING`] (target, capability).
    pub fn gauge(&self, name: &str, labels: &[&str]) -> i64 {
        let l = |i: usize| Value::from(labels.get(i).copied().unwrap_or(""));
        match name {
            MESSAGES_IN_FLIGHT => self.messages_in_flight.get(),
            BYTES_IN_FLIGHT => self.bytes_in_flight.get(),
            QUEUE_MESSAGES => self
                .queue_messages
                .get(&StateLabel { state: l(0) })
                .map_or(0, |g| g.get()),
            TARGET_BYTES_PENDING => self
                .target_bytes_pending
                .get(&TargetLabel { target: l(0) })
                .map_or(0, |g| g.get()),
            TARGET_CAPABILITY_MISSING => self
                .capability_missing
                .get(&TargetCapability {
                    target: l(0),
                    capability: l(1),
                })
                .map_or(0, |g| g.get()),
            _ => 0,
        }
    }
}
