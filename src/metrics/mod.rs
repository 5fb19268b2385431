//! Prometheus metrics: every family in one place, a registry per [`Metrics`] value, rendered in
//! the OpenMetrics text format for `/metrics`.
//!
//! A leaf module: it takes plain label values (target and rule names, a method's or an error
//! kind's stable name), so every other module can record without this one knowing their types.
//! There is no process-wide registry: the wiring makes one [`Metrics`] for the daemon and hands
//! it to everything that records; a test makes its own and reads exactly what it caused.
//!
//! Labels stay low-cardinality: target, rule, method, error kind and alert kind are all bounded
//! by the configuration or by an enum; keys, buckets of events and message ids never become
//! labels. Label values are escaped here (`\\`, `"`, newline): `prometheus-client` writes them
//! as given.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Objects written to (or found present in) a target: `target`, `method`.
pub const OBJECTS_REPLICATED: &str = "s3r_objects_replicated_total";
/// Objects a target did not get on this delivery: `target`, `error` (the store's error kind;
/// `target` is `source` when the source could not be read).
pub const OBJECTS_FAILED: &str = "s3r_objects_failed_total";
/// Bytes written into targets (server-side copies count the object's size): `target`.
pub const BYTES_COPIED: &str = "s3r_bytes_copied_total";
/// S3 event time → completion published, seconds: `rule`.
pub const REPLICATION_LAG: &str = "s3r_replication_lag_seconds";
/// One object into one target, seconds: `target`, `method`.
pub const COPY_DURATION: &str = "s3r_copy_duration_seconds";
/// Messages being handled right now.
pub const MESSAGES_IN_FLIGHT: &str = "s3r_messages_in_flight";
/// Bytes of source objects being copied right now (size × targets).
pub const BYTES_IN_FLIGHT: &str = "s3r_bytes_in_flight";
/// Messages handled: `verdict` (`deleted` or `kept`).
pub const MESSAGES_HANDLED: &str = "s3r_messages_handled_total";
/// Retries made by the daemon itself (not the SDK's transport retries): `operation`.
pub const RETRIES: &str = "s3r_retries_total";
/// Alerts published on the alerts topic: `kind`.
pub const ALERTS_SENT: &str = "s3r_alerts_sent_total";
/// Alerts that could not be published: `kind`.
pub const ALERTS_FAILED: &str = "s3r_alerts_failed_total";
/// AWS API requests sent, every attempt (the SDK's transport retries included): `service`
/// (`s3`, `sqs`, `sns`), `operation` (the SDK's name: `HeadObject`, `ReceiveMessage`, …).
pub const AWS_REQUESTS: &str = "s3r_aws_requests_total";
/// Events whose source object did not exist when it was read: `rule`.
pub const SOURCE_MISSING: &str = "s3r_source_missing_total";
/// Partition re-checks sent to the queue: `rule`.
pub const PARTITION_RECHECKS: &str = "s3r_partition_rechecks_total";
/// Messages whose handling passed `timeouts.message_deadline_secs` and was cancelled.
pub const MESSAGE_DEADLINES_EXCEEDED: &str = "s3r_message_deadlines_exceeded_total";

/// What became of each S3 event (and of test and malformed messages): `result` — `completed`,
/// `superseded`, `source_missing`, `archived`, `failed`, `unmatched` (no rule), `test_event`,
/// `malformed`; for deletes `deleted` (announced) and `delete_ignored` (no rule replicates it).
pub const EVENTS: &str = "s3r_events_total";
/// Replica deletions of deleted source objects, per target: `rule`, `result` (`deleted`,
/// `already_absent`, `kept_newer`, `kept_foreign`, `failed`), and `version_ignored` for deletes
/// of one version, which are not replicated.
pub const DELETES: &str = "s3r_deletes_total";
/// Messages of deletes held back by the mass-delete guard: `rule`.
pub const DELETES_HELD: &str = "s3r_deletes_held_total";
/// Objects whose completion came later than the rule's `lag_alert_secs`: `rule`.
pub const OBJECTS_LATE: &str = "s3r_objects_late_total";
/// Events whose source was archived and not restored: `rule`, `action` (`alerted`,
/// `restore_requested`, `restore_in_progress`).
pub const SOURCES_ARCHIVED: &str = "s3r_sources_archived_total";
/// Gauge: the queue's messages by `state` (`visible`, `in_flight`, `delayed`), from its
/// attributes, sampled.
pub const QUEUE_MESSAGES: &str = "s3r_queue_messages";
/// Gauge: bytes of objects being written to a target right now: `target`.
pub const TARGET_BYTES_PENDING: &str = "s3r_target_bytes_pending";
/// Gauge, 1 per feature a target's store lacks (declared or detected): its replicas go without
/// it. Labels: target, capability (`tagging`, `conditional_writes`, `checksums`,
/// `storage_classes`).
pub const TARGET_CAPABILITY_MISSING: &str = "s3r_target_capability_missing";
/// Gauge: seconds from process start to the first `ReceiveMessage` sent (set once).
pub const STARTUP: &str = "s3r_startup_seconds";

/// The content type of [`Metrics::render`]'s page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the lag histogram, seconds: from a fast copy to a 15-minute backlog.
const LAG_BUCKETS: [f64; 13] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
/// Upper bounds of the copy-duration histogram, seconds.
const DURATION_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A label value, escaped as the text formats require.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Value(String);

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl EncodeLabelValue for Value {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetMethod {
    target: Value,
    method: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetError {
    target: Value,
    error: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetCapability {
    target: Value,
    capability: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleResult {
    rule: Value,
    result: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleAction {
    rule: Value,
    action: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: Value,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceOperation {
    service: Value,
    operation: Value,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The daemon's metrics and their registry. Cheap to share behind an `Arc`; every recording
/// method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    objects_replicated: Family<TargetMethod, Counter>,
    objects_failed: Family<TargetError, Counter>,
    bytes_copied: Family<TargetLabel, Counter>,
    replication_lag: HistogramFamily<RuleLabel>,
    copy_duration: HistogramFamily<TargetMethod>,
    messages_in_flight: Gauge,
    bytes_in_flight: Gauge,
    messages_handled: Family<VerdictLabel, Counter>,
    retries: Family<OperationLabel, Counter>,
    alerts_sent: Family<KindLabel, Counter>,
    alerts_failed: Family<KindLabel, Counter>,
    aws_requests: Family<ServiceOperation, Counter>,
    source_missing: Family<RuleLabel, Counter>,
    partition_rechecks: Family<RuleLabel, Counter>,
    deadlines_exceeded: Counter,
    events: Family<ResultLabel, Counter>,
    deletes: Family<RuleResult, Counter>,
    deletes_held: Family<RuleLabel, Counter>,
    objects_late: Family<RuleLabel, Counter>,
    sources_archived: Family<RuleAction, Counter>,
    queue_messages: Family<StateLabel, Gauge>,
    target_bytes_pending: Family<TargetLabel, Gauge>,
    capability_missing: Family<TargetCapability, Gauge>,
    startup: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When the process started, if it said so ([`Metrics::process_started`]).
    process_start: std::sync::OnceLock<std::time::Instant>,
    first_receive: std::sync::Once,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A counter's family name: the sample name without the `_total` the encoder appends.
fn family(sample: &str) -> &str {
    sample.strip_suffix("_total").unwrap_or(sample)
}

impl Metrics {
    /// Every family registered, in the order of the `/metrics` page; no series yet.
    pub fn new() -> Self {
        let m = Self {
            registry: Registry::default(),
            objects_replicated: Family::default(),
            objects_failed: Family::default(),
            bytes_copied: Family::default(),
            replication_lag: Family::new_with_constructor(lag_histogram),
            copy_duration: Family::new_with_constructor(duration_histogram),
            messages_in_flight: Gauge::default(),
            bytes_in_flight: Gauge::default(),
            messages_handled: Family::default(),
            retries: Family::default(),
            alerts_sent: Family::default(),
            alerts_failed: Family::default(),
            aws_requests: Family::default(),
            source_missing: Family::default(),
            partition_rechecks: Family::default(),
            deadlines_exceeded: Counter::default(),
            events: Family::default(),
            deletes: Family::default(),
            deletes_held: Family::default(),
            objects_late: Family::default(),
            sources_archived: Family::default(),
            queue_messages: Family::default(),
            target_bytes_pending: Family::default(),
            capability_missing: Family::default(),
            startup: Gauge::default(),
            process_start: std::sync::OnceLock::new(),
            first_receive: std::sync::Once::new(),
        };
        let mut registry = Registry::default();
        macro_rules! register {
            ($name:expr, $help:expr, $metric:ident) => {
                registry.register(family($name), $help, m.$metric.clone())
            };
        }
        register!(
            OBJECTS_REPLICATED,
            "Objects written to or found present in a target",
            objects_replicated
        );
        register!(
            OBJECTS_FAILED,
            "Objects a target did not get on one delivery, by error kind",
            objects_failed
        );
        register!(BYTES_COPIED, "Bytes written into targets", bytes_copied);
        register!(
            REPLICATION_LAG,
            "Seconds from the S3 event time to the published completion",
            replication_lag
        );
        register!(
            COPY_DURATION,
            "Seconds to put one object into one target",
            copy_duration
        );
        register!(
            MESSAGES_IN_FLIGHT,
            "Queue messages being handled",
            messages_in_flight
        );
        register!(
            BYTES_IN_FLIGHT,
            "Bytes of source objects being copied (size times targets)",
            bytes_in_flight
        );
        register!(
            MESSAGES_HANDLED,
            "Queue messages handled, by verdict (deleted, or kept for redelivery)",
            messages_handled
        );
        register!(
            RETRIES,
            "Retries made by the daemon itself, by operation",
            retries
        );
        register!(ALERTS_SENT, "Alerts published, by kind", alerts_sent);
        register!(
            ALERTS_FAILED,
            "Alerts that could not be published, by kind",
            alerts_failed
        );
        register!(
            AWS_REQUESTS,
            "AWS API requests sent, by service and operation: every attempt, SDK retries included (not STS)",
            aws_requests
        );
        register!(
            SOURCE_MISSING,
            "Events whose source object did not exist when read (deleted since, or a key decoded wrongly), by rule",
            source_missing
        );
        register!(
            PARTITION_RECHECKS,
            "Partition re-check messages sent to the queue, by rule",
            partition_rechecks
        );
        register!(
            MESSAGE_DEADLINES_EXCEEDED,
            "Messages whose handling passed its deadline and was cancelled (handed back for a retry)",
            deadlines_exceeded
        );
        register!(
            EVENTS,
            "S3 events (and test or malformed messages) by what became of them",
            events
        );
        register!(
            DELETES,
            "Replicas of deleted source objects, per target, by rule and result",
            deletes
        );
        register!(
            DELETES_HELD,
            "Delete messages held back by the mass-delete guard, by rule",
            deletes_held
        );
        register!(
            OBJECTS_LATE,
            "Objects completed later than the rule's lag_alert_secs after their S3 event",
            objects_late
        );
        register!(
            SOURCES_ARCHIVED,
            "Events whose source was archived and not restored, by rule and action",
            sources_archived
        );
        register!(
            QUEUE_MESSAGES,
            "Messages in the queue by state (visible, in_flight, delayed), sampled from its attributes",
            queue_messages
        );
        register!(
            TARGET_BYTES_PENDING,
            "Bytes of objects being written to a target",
            target_bytes_pending
        );
        register!(
            TARGET_CAPABILITY_MISSING,
            "Features a target's store lacks (declared or detected), 1 each: its replicas go without them",
            capability_missing
        );
        register!(
            STARTUP,
            "Seconds from process start to the first ReceiveMessage sent",
            startup
        );
        Self { registry, ..m }
    }

    /// The whole registry in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a label.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(message = "Encoding the metrics failed.", error = %e);
        }
        out
    }

    /// One object into one target: replicated by `method` (its stable name, e.g.
    /// `server_side_copy`) in `duration_ms`, `bytes` written (0 when nothing was copied).
    pub fn record_target(&self, target: &str, method: &str, duration_ms: u64, bytes: u64) {
        let labels = TargetMethod {
            target: target.into(),
            method: method.into(),
        };
        self.objects_replicated.get_or_create(&labels).inc();
        self.copy_duration
            .get_or_create(&labels)
            .observe(duration_ms as f64 / 1000.0);
        if bytes > 0 {
            self.bytes_copied
                .get_or_create(&TargetLabel {
                    target: target.into(),
                })
                .inc_by(bytes);
        }
    }

    /// One object a target (or `source`) did not get, by the store's error kind.
    pub fn record_failed(&self, target: &str, error_kind: &str) {
        self.objects_failed
            .get_or_create(&TargetError {
                target: target.into(),
                error: error_kind.into(),
            })
            .inc();
    }

    /// An event whose source object did not exist.
    pub fn record_source_missing(&self, rule: &str) {
        self.source_missing
            .get_or_create(&RuleLabel { rule: rule.into() })
            .inc();
    }

    /// A partition re-check sent to the queue.
    pub fn record_partition_recheck(&self, rule: &str) {
        self.partition_rechecks
            .get_or_create(&RuleLabel { rule: rule.into() })
            .inc();
    }

    /// A published completion: the replication lag its consumers saw.
    pub fn record_completion(&self, rule: &str, latency_ms: u64) {
        self.replication_lag
            .get_or_create(&RuleLabel { rule: rule.into() })
            .observe(latency_ms as f64 / 1000.0);
    }

    /// An alert of `kind`, published or not.
    pub fn record_alert(&self, kind: &str, published: bool) {
        let family = if published {
            &self.alerts_sent
        } else {
            &self.alerts_failed
        };
        family.get_or_create(&KindLabel { kind: kind.into() }).inc();
    }

    /// One retry of `operation` (e.g. `delete_messages`, `receive_messages`, `CopyObject`).
    pub fn record_retry(&self, operation: &str) {
        self.retries
            .get_or_create(&OperationLabel {
                operation: operation.into(),
            })
            .inc();
    }

    /// The process started at `at`: the first `ReceiveMessage` then sets [`STARTUP`] (and
    /// logs it).
    pub fn process_started(&self, at: std::time::Instant) {
        let _ = self.process_start.set(at);
    }

    /// One AWS API request attempt, as the SDK names its service (`S3`, `SQS`, …; the label is
    /// lower-case) and operation (`HeadObject`, …).
    pub fn record_aws_request(&self, service: &str, operation: &str) {
        let service = match service {
            "S3" => "s3".to_owned(),
            "SQS" => "sqs".to_owned(),
            "SNS" => "sns".to_owned(),
            "STS" => "sts".to_owned(),
            other => other.to_ascii_lowercase(),
        };
        if service == "sqs" && operation == "ReceiveMessage" {
            if let Some(start) = self.process_start.get() {
                self.first_receive.call_once(|| {
                    let startup = start.elapsed();
                    self.startup.set(startup.as_secs_f64());
                    tracing::info!(
                        message = "First ReceiveMessage sent.",
                        startup_ms = startup.as_millis() as u64
                    );
                });
            }
        }
        self.aws_requests
            .get_or_create(&ServiceOperation {
                service: service.as_str().into(),
                operation: operation.into(),
            })
            .inc();
    }

    /// One S3 event (or test or malformed message) and what became of it (see [`EVENTS`]).
    pub fn record_event(&self, result: &str) {
        self.events
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    /// One target's result for a deleted source object (see [`DELETES`]).
    pub fn record_delete(&self, rule: &str, result: &str) {
        self.deletes
            .get_or_create(&RuleResult {
                rule: rule.into(),
                result: result.into(),
            })
            .inc();
    }

    /// A message of deletes held back by the mass-delete guard.
    pub fn record_deletes_held(&self, rule: &str) {
        self.deletes_held
            .get_or_create(&RuleLabel { rule: rule.into() })
            .inc();
    }

    /// An object completed later than its rule's `lag_alert_secs`.
    pub fn record_late(&self, rule: &str) {
        self.objects_late
            .get_or_create(&RuleLabel { rule: rule.into() })
            .inc();
    }

    /// An archived source, and what was done about it (see [`SOURCES_ARCHIVED`]).
    pub fn record_archived(&self, rule: &str, action: &str) {
        self.sources_archived
            .get_or_create(&RuleAction {
                rule: rule.into(),
                action: action.into(),
            })
            .inc();
    }

    /// The queue's messages in `state`, as its attributes said.
    pub fn set_queue_messages(&self, state: &str, messages: i64) {
        self.queue_messages
            .get_or_create(&StateLabel {
                state: state.into(),
            })
            .set(messages);
    }

    /// Marks `capability` as missing from `target`'s store.
    pub fn set_capability_missing(&self, target: &str, capability: &str) {
        self.capability_missing
            .get_or_create(&TargetCapability {
                target: target.into(),
                capability: capability.into(),
            })
            .set(1);
    }

    /// Counts `bytes` as pending for `target` until the guard is dropped.
    pub fn target_bytes_pending(&self, target: &str, bytes: u64) -> BytesInFlight {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let gauge = self
            .target_bytes_pending
            .get_or_create(&TargetLabel {
                target: target.into(),
            })
            .clone();
        gauge.inc_by(bytes);
        BytesInFlight { gauge, bytes }
    }

    /// One message whose handling passed its deadline.
    pub fn record_deadline_exceeded(&self) {
        self.deadlines_exceeded.inc();
    }

    /// Counts a message as in flight until the guard is dropped.
    pub fn message_in_flight(&self) -> MessageInFlight {
        self.messages_in_flight.inc();
        MessageInFlight {
            gauge: self.messages_in_flight.clone(),
            handled: self.messages_handled.clone(),
        }
    }

    /// Counts `bytes` as in flight until the guard is dropped.
    pub fn bytes_in_flight(&self, bytes: u64) -> BytesInFlight {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.bytes_in_flight.inc_by(bytes);
        BytesInFlight {
            gauge: self.bytes_in_flight.clone(),
            bytes,
        }
    }
}

/// A message counted as in flight until dropped; [`Self::done`] records its verdict.
#[must_use = "the message counts as in flight only while the guard lives"]
pub struct MessageInFlight {
    gauge: Gauge,
    handled: Family<VerdictLabel, Counter>,
}

impl MessageInFlight {
    /// Records whether the message is deleted (`true`) or kept for redelivery.
    pub fn done(self, deleted: bool) {
        let verdict = if deleted { "deleted" } else { "kept" };
        self.handled
            .get_or_create(&VerdictLabel {
                verdict: verdict.into(),
            })
            .inc();
    }
}

impl Drop for MessageInFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Bytes counted as in flight until dropped.
#[must_use = "the bytes count as in flight only while the guard lives"]
pub struct BytesInFlight {
    gauge: Gauge,
    bytes: i64,
}

impl Drop for BytesInFlight {
    fn drop(&mut self) {
        self.gauge.dec_by(self.bytes);
    }
}

mod read;
#[cfg(test)]
mod tests;
