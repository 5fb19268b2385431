//! Prometheus metrics: every name in one place, recorded from the pipeline, served by
//! [`crate::server`] as text format 0.0.4.
//!
//! One process-wide registry, because the numbers describe the process (what a scrape of this
//! task sees) and because threading a handle through the pipeline's constructors would touch
//! every seam for no gain. Labels stay low-cardinality: target, rule, method, error kind and
//! alert kind are all bounded by the configuration or by an enum; keys, buckets of events and
//! message ids never become labels.
//!
//! Hand-written rather than a metrics crate: a dozen families, three kinds, and a text format
//! that fits on a page; the registry is a few mutex-guarded maps updated a handful of times per
//! object and once per AWS request, far from any contention that would matter next to the
//! request itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex};

use crate::publish::{AlertKind, CompletionEvent, Method};
use crate::replicate::Outcome;

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

/// Upper bounds of the lag histogram, seconds: from a fast copy to a 15-minute backlog.
const LAG_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
/// Upper bounds of the copy-duration histogram, seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Every family: name, kind, help, label names — the order of the `/metrics` page.
const FAMILIES: &[(&str, Kind, &str, &[&str])] = &[
    (
        OBJECTS_REPLICATED,
        Kind::Counter,
        "Objects written to or found present in a target.",
        &["target", "method"],
    ),
    (
        OBJECTS_FAILED,
        Kind::Counter,
        "Objects a target did not get on one delivery, by error kind.",
        &["target", "error"],
    ),
    (
        BYTES_COPIED,
        Kind::Counter,
        "Bytes written into targets.",
        &["target"],
    ),
    (
        REPLICATION_LAG,
        Kind::Histogram(LAG_BUCKETS),
        "Seconds from the S3 event time to the published completion.",
        &["rule"],
    ),
    (
        COPY_DURATION,
        Kind::Histogram(DURATION_BUCKETS),
        "Seconds to put one object into one target.",
        &["target", "method"],
    ),
    (
        MESSAGES_IN_FLIGHT,
        Kind::Gauge,
        "Queue messages being handled.",
        &[],
    ),
    (
        BYTES_IN_FLIGHT,
        Kind::Gauge,
        "Bytes of source objects being copied (size times targets).",
        &[],
    ),
    (
        MESSAGES_HANDLED,
        Kind::Counter,
        "Queue messages handled, by verdict (deleted, or kept for redelivery).",
        &["verdict"],
    ),
    (
        RETRIES,
        Kind::Counter,
        "Retries made by the daemon itself, by operation.",
        &["operation"],
    ),
    (
        ALERTS_SENT,
        Kind::Counter,
        "Alerts published, by kind.",
        &["kind"],
    ),
    (
        ALERTS_FAILED,
        Kind::Counter,
        "Alerts that could not be published, by kind.",
        &["kind"],
    ),
    (
        AWS_REQUESTS,
        Kind::Counter,
        "AWS API requests sent, by service and operation: every attempt, SDK retries included (not STS).",
        &["service", "operation"],
    ),
    (
        SOURCE_MISSING,
        Kind::Counter,
        "Events whose source object did not exist when read (deleted since, or a key decoded wrongly), by rule.",
        &["rule"],
    ),
    (
        PARTITION_RECHECKS,
        Kind::Counter,
        "Partition re-check messages sent to the queue, by rule.",
        &["rule"],
    ),
    (
        MESSAGE_DEADLINES_EXCEEDED,
        Kind::Counter,
        "Messages whose handling passed its deadline and was cancelled (handed back for a retry).",
        &[],
    ),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Vec<String>), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, Vec<String>), Histogram>>,
    messages_in_flight: AtomicI64,
    bytes_in_flight: AtomicI64,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

fn labels(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Adds `by` to the counter `name` with these label values (in the family's label order).
pub fn inc(name: &'static str, label_values: &[&str], by: u64) {
    let mut counters = REGISTRY
        .counters
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *counters.entry((name, labels(label_values))).or_insert(0) += by;
}

/// Records one observation in the histogram `name`.
pub fn observe(name: &'static str, label_values: &[&str], value: f64) {
    let Some(Kind::Histogram(bounds)) = kind_of(name) else {
        debug_assert!(false, "{name} is not a histogram");
        return;
    };
    let mut histograms = REGISTRY
        .histograms
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let h = histograms
        .entry((name, labels(label_values)))
        .or_insert_with(|| Histogram {
            counts: vec![0; bounds.len() + 1],
            ..Histogram::default()
        });
    let slot = bounds
        .iter()
        .position(|b| value <= *b)
        .unwrap_or(bounds.len());
    h.counts[slot] += 1;
    h.sum += value;
    h.count += 1;
}

fn kind_of(name: &str) -> Option<Kind> {
    FAMILIES
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, k, ..)| *k)
}

/// The value of a counter (tests and the `/metrics` page).
pub fn counter(name: &'static str, label_values: &[&str]) -> u64 {
    REGISTRY
        .counters
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&(name, labels(label_values)))
        .copied()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// What the pipeline records

fn method_label(method: Method) -> &'static str {
    method.as_str()
}

/// Records what became of one object under one rule: per target, replicated (with its method,
/// duration and bytes) or failed (with the error kind).
pub fn record_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Replicated { source, targets } => {
            for t in targets {
                record_target(&t.name, t.method, t.duration_ms, source.size);
            }
        }
        Outcome::TargetsFailed { succeeded, failed } => {
            for t in succeeded {
                // The size is not in a target report; a partial success adds its bytes when
                // the redelivery completes (as already_present, i.e. zero bytes). Undercounting
                // here is the price of not holding the source head in the report.
                record_target(&t.name, t.method, t.duration_ms, 0);
            }
            for f in failed {
                inc(OBJECTS_FAILED, &[&f.target, &error_label(&f.error)], 1);
            }
        }
        Outcome::SourceFailed(e) => inc(OBJECTS_FAILED, &["source", &error_label(e)], 1),
        Outcome::Superseded { .. } => {}
        Outcome::SourceMissing { .. } => {}
    }
}

/// Records an event whose source object did not exist.
pub fn record_source_missing(rule: &str) {
    inc(SOURCE_MISSING, &[rule], 1);
}

/// Records a partition re-check sent to the queue.
pub fn record_partition_recheck(rule: &str) {
    inc(PARTITION_RECHECKS, &[rule], 1);
}

fn record_target(target: &str, method: Method, duration_ms: u64, size: u64) {
    let method = method_label(method);
    inc(OBJECTS_REPLICATED, &[target, method], 1);
    observe(
        COPY_DURATION,
        &[target, method],
        duration_ms as f64 / 1000.0,
    );
    if method != "already_present" && size > 0 {
        inc(BYTES_COPIED, &[target], size);
    }
}

fn error_label(error: &crate::store::StoreError) -> String {
    // The Debug name of the kind (`NoSuchBucket`, `Throttled`): a closed set.
    format!("{:?}", error.kind)
}

/// Records a published completion: the replication lag its consumers saw.
pub fn record_completion(event: &CompletionEvent) {
    observe(
        REPLICATION_LAG,
        &[&event.rule],
        event.latency_ms as f64 / 1000.0,
    );
}

/// Records an alert, published or not.
pub fn record_alert(kind: AlertKind, published: bool) {
    let kind = kind.as_str();
    inc(
        if published {
            ALERTS_SENT
        } else {
            ALERTS_FAILED
        },
        &[kind],
        1,
    );
}

/// Records one retry of `operation` (e.g. `delete_messages`, `receive_messages`, `copy`).
pub fn record_retry(operation: &str) {
    inc(RETRIES, &[operation], 1);
}

/// Records one AWS API request attempt, as the SDK names its service (`S3`, `SQS`, …; the label
/// is lower-case) and operation (`HeadObject`, …).
pub fn record_aws_request(service: &str, operation: &str) {
    let service = match service {
        "S3" => "s3",
        "SQS" => "sqs",
        "SNS" => "sns",
        "STS" => "sts",
        other => return inc(AWS_REQUESTS, &[&other.to_ascii_lowercase(), operation], 1),
    };
    inc(AWS_REQUESTS, &[service, operation], 1);
}

/// Records one message whose handling passed its deadline.
pub fn record_deadline_exceeded() {
    inc(MESSAGE_DEADLINES_EXCEEDED, &[], 1);
}

/// Counts a message as in flight until dropped, then records its verdict with [`Self::done`].
#[must_use = "the message counts as in flight only while the guard lives"]
pub struct MessageInFlight(());

impl MessageInFlight {
    pub fn start() -> Self {
        REGISTRY.messages_in_flight.fetch_add(1, Ordering::Relaxed);
        Self(())
    }

    /// Records whether the message is deleted (`true`) or kept for redelivery.
    pub fn done(self, deleted: bool) {
        inc(
            MESSAGES_HANDLED,
            &[if deleted { "deleted" } else { "kept" }],
            1,
        );
    }
}

impl Drop for MessageInFlight {
    fn drop(&mut self) {
        REGISTRY.messages_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts bytes as in flight until dropped.
#[must_use = "the bytes count as in flight only while the guard lives"]
pub struct BytesInFlight(i64);

impl BytesInFlight {
    pub fn hold(bytes: u64) -> Self {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        REGISTRY.bytes_in_flight.fetch_add(bytes, Ordering::Relaxed);
        Self(bytes)
    }
}

impl Drop for BytesInFlight {
    fn drop(&mut self) {
        REGISTRY
            .bytes_in_flight
            .fetch_sub(self.0, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// The text format

/// The whole registry in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    let counters = REGISTRY
        .counters
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let histograms = REGISTRY
        .histograms
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let mut out = String::new();
    for &(name, kind, help, label_names) in FAMILIES {
        let type_name = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {type_name}");
        match kind {
            Kind::Counter => {
                for ((n, values), v) in counters.range((name, Vec::new())..) {
                    if *n != name {
                        break;
                    }
                    let _ = writeln!(out, "{name}{} {v}", label_set(label_names, values, None));
                }
            }
            Kind::Gauge => {
                let v = match name {
                    MESSAGES_IN_FLIGHT => REGISTRY.messages_in_flight.load(Ordering::Relaxed),
                    BYTES_IN_FLIGHT => REGISTRY.bytes_in_flight.load(Ordering::Relaxed),
                    _ => 0,
                };
                let _ = writeln!(out, "{name} {v}");
            }
            Kind::Histogram(bounds) => {
                for ((n, values), h) in histograms.range((name, Vec::new())..) {
                    if *n != name {
                        break;
                    }
                    let mut cumulative = 0;
                    for (i, bound) in bounds.iter().map(|b| b.to_string()).enumerate() {
                        cumulative += h.counts[i];
                        let labels = label_set(label_names, values, Some(&bound));
                        let _ = writeln!(out, "{name}_bucket{labels} {cumulative}");
                    }
                    let labels = label_set(label_names, values, Some("+Inf"));
                    let _ = writeln!(out, "{name}_bucket{labels} {}", h.count);
                    let labels = label_set(label_names, values, None);
                    let _ = writeln!(out, "{name}_sum{labels} {}", h.sum);
                    let _ = writeln!(out, "{name}_count{labels} {}", h.count);
                }
            }
        }
    }
    out
}

/// `{a="x",b="y"}` (with `le` last for histogram buckets), or nothing without labels.
fn label_set(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// Label values escape backslash, double quote and newline (the text format's rule).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_rendered_with_help_and_type() {
        let text = render();
        for (name, ..) in FAMILIES {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(name.starts_with("s3r_"), "{name}");
        }
    }

    #[test]
    fn counters_render_with_escaped_labels() {
        inc(RETRIES, &["unit \"quoted\"\\test\n"], 2);
        let text = render();
        assert!(
            text.contains("s3r_retries_total{operation=\"unit \\\"quoted\\\"\\\\test\\n\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        for v in [0.05, 0.3, 7.0, 5000.0] {
            observe(REPLICATION_LAG, &["unit-histogram"], v);
        }
        let text = render();
        let line = |le: &str| {
            format!("s3r_replication_lag_seconds_bucket{{rule=\"unit-histogram\",le=\"{le}\"}}")
        };
        for (le, n) in [
            ("0.1", 1),
            ("0.25", 1),
            ("0.5", 2),
            ("10", 3),
            ("3600", 3),
            ("+Inf", 4),
        ] {
            assert!(
                text.contains(&format!("{} {n}\n", line(le))),
                "{le}\n{text}"
            );
        }
        assert!(text.contains("s3r_replication_lag_seconds_count{rule=\"unit-histogram\"} 4\n"));
        assert!(text.contains("s3r_replication_lag_seconds_sum{rule=\"unit-histogram\"} 5007.35"));
    }

    #[test]
    fn outcomes_count_per_target_with_method_or_error_kind() {
        use crate::publish::TargetReport;
        use crate::replicate::TargetFailure;
        use crate::store::{Operation, StoreError, StoreErrorKind};

        let report = |name: &str, method| TargetReport {
            name: name.into(),
            bucket: "b".into(),
            key: "secret/key".into(),
            region: "eu-west-1".into(),
            etag: "e".into(),
            version_id: None,
            method,
            duration_ms: 1500,
        };
        let failure = |kind| TargetFailure {
            target: "unit-broken".into(),
            bucket: "b".into(),
            region: "eu-west-1".into(),
            error: StoreError {
                operation: Operation::CopyObject,
                bucket: "b".into(),
                key: "secret/key".into(),
                kind,
                message: "no".into(),
            },
        };
        record_outcome(&Outcome::TargetsFailed {
            succeeded: vec![report("unit-ok", Method::ServerSideCopy)],
            failed: vec![
                failure(StoreErrorKind::NoSuchBucket),
                failure(StoreErrorKind::NoSuchBucket),
                failure(StoreErrorKind::AccessDenied),
            ],
        });
        assert_eq!(counter(OBJECTS_FAILED, &["unit-broken", "NoSuchBucket"]), 2);
        assert_eq!(counter(OBJECTS_FAILED, &["unit-broken", "AccessDenied"]), 1);
        assert_eq!(
            counter(OBJECTS_REPLICATED, &["unit-ok", "server_side_copy"]),
            1
        );
        record_outcome(&Outcome::SourceFailed(
            failure(StoreErrorKind::InvalidObjectState).error,
        ));
        assert!(counter(OBJECTS_FAILED, &["source", "InvalidObjectState"]) >= 1);
        // Keys never become labels.
        assert!(!render().contains("secret/key"));
    }

    #[test]
    fn aws_requests_count_per_lower_case_service_and_operation() {
        // Operation names of this test's own: the daemon's clients never send them.
        record_aws_request("S3", "UnitHeadObject");
        record_aws_request("S3", "UnitHeadObject");
        record_aws_request("SQS", "UnitReceiveMessage");
        record_aws_request("Other Service", "UnitCall");
        assert_eq!(counter(AWS_REQUESTS, &["s3", "UnitHeadObject"]), 2);
        assert_eq!(counter(AWS_REQUESTS, &["S3", "UnitHeadObject"]), 0);
        let text = render();
        for line in [
            "# HELP s3r_aws_requests_total AWS API requests sent, by service and operation: every attempt, SDK retries included (not STS).\n",
            "# TYPE s3r_aws_requests_total counter\n",
            "s3r_aws_requests_total{service=\"s3\",operation=\"UnitHeadObject\"} 2\n",
            "s3r_aws_requests_total{service=\"sqs\",operation=\"UnitReceiveMessage\"} 1\n",
            "s3r_aws_requests_total{service=\"other service\",operation=\"UnitCall\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn in_flight_guards_go_up_and_back_down() {
        // Other tests of this binary may hold guards too: compare within one guard's life.
        let before = REGISTRY.bytes_in_flight.load(Ordering::Relaxed);
        let guard = BytesInFlight::hold(1 << 40);
        assert!(REGISTRY.bytes_in_flight.load(Ordering::Relaxed) >= before + (1 << 40) - (1 << 39));
        drop(guard);
        assert!(REGISTRY.bytes_in_flight.load(Ordering::Relaxed) < 1 << 39);
        let m = MessageInFlight::start();
        m.done(true);
        assert!(counter(MESSAGES_HANDLED, &["deleted"]) >= 1);
    }
}
