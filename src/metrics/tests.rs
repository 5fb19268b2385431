//! The registry: families, label escaping, histograms, independence of registries.

use super::*;

const ALL: [&str; 16] = [
    EVENTS,
    OBJECTS_REPLICATED,
    OBJECTS_FAILED,
    BYTES_COPIED,
    REPLICATION_LAG,
    COPY_DURATION,
    MESSAGES_IN_FLIGHT,
    BYTES_IN_FLIGHT,
    MESSAGES_HANDLED,
    RETRIES,
    ALERTS_SENT,
    ALERTS_FAILED,
    AWS_REQUESTS,
    SOURCE_MISSING,
    PARTITION_RECHECKS,
    MESSAGE_DEADLINES_EXCEEDED,
];

/// Every family with at least one series: `prometheus-client` leaves out families that have
/// none yet (a label set not seen since start).
fn every_family_once(m: &Metrics) {
    m.record_target("t", "server_side_copy", 1, 1);
    m.record_failed("t", "Throttled");
    m.record_completion("r", 1);
    m.record_retry("copy");
    m.record_alert("copy_failed", true);
    m.record_alert("copy_failed", false);
    m.record_aws_request("S3", "HeadObject");
    m.record_source_missing("r");
    m.record_partition_recheck("r");
    m.message_in_flight().done(true);
    m.record_event("completed");
}

#[test]
fn every_family_is_rendered_with_help_and_type() {
    let m = Metrics::new();
    every_family_once(&m);
    let text = m.render();
    for name in ALL {
        let family = family(name);
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{name}\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{name}\n{text}"
        );
        assert!(name.starts_with("s3r_"), "{name}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn counters_render_with_escaped_labels() {
    let m = Metrics::new();
    m.record_retry("unit \"quoted\"\\test\n");
    m.record_retry("unit \"quoted\"\\test\n");
    let text = m.render();
    assert!(
        text.contains("s3r_retries_total{operation=\"unit \\\"quoted\\\"\\\\test\\n\"} 2"),
        "{text}"
    );
    assert_eq!(m.counter(RETRIES, &["unit \"quoted\"\\test\n"]), 2);
}

#[test]
fn histograms_are_cumulative_with_sum_and_count() {
    let m = Metrics::new();
    for ms in [50, 300, 7_000, 5_000_000] {
        m.record_completion("unit-histogram", ms);
    }
    let text = m.render();
    let line = |le: &str| {
        format!("s3r_replication_lag_seconds_bucket{{le=\"{le}\",rule=\"unit-histogram\"}}")
    };
    for (le, n) in [
        ("0.1", 1),
        ("0.25", 1),
        ("0.5", 2),
        ("10.0", 3),
        ("3600.0", 3),
        ("+Inf", 4),
    ] {
        assert!(
            text.contains(&format!("{} {n}\n", line(le))),
            "{le}\n{text}"
        );
    }
    assert!(
        text.contains("s3r_replication_lag_seconds_count{rule=\"unit-histogram\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("s3r_replication_lag_seconds_sum{rule=\"unit-histogram\"} 5007.35"),
        "{text}"
    );
}

#[test]
fn targets_count_with_method_bytes_and_duration() {
    let m = Metrics::new();
    m.record_target("unit-ok", "server_side_copy", 1500, 10);
    m.record_target("unit-ok", "already_present", 3, 0);
    m.record_failed("unit-broken", "NoSuchBucket");
    m.record_failed("unit-broken", "NoSuchBucket");
    assert_eq!(
        m.counter(OBJECTS_REPLICATED, &["unit-ok", "server_side_copy"]),
        1
    );
    assert_eq!(
        m.counter(OBJECTS_REPLICATED, &["unit-ok", "already_present"]),
        1
    );
    assert_eq!(m.counter(BYTES_COPIED, &["unit-ok"]), 10);
    assert_eq!(
        m.counter(OBJECTS_FAILED, &["unit-broken", "NoSuchBucket"]),
        2
    );
    let text = m.render();
    assert!(
        text.contains(
            "s3r_copy_duration_seconds_count{target=\"unit-ok\",method=\"server_side_copy\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn aws_requests_count_per_lower_case_service_and_operation() {
    let m = Metrics::new();
    m.record_aws_request("S3", "HeadObject");
    m.record_aws_request("S3", "HeadObject");
    m.record_aws_request("SQS", "ReceiveMessage");
    m.record_aws_request("Other Service", "Call");
    assert_eq!(m.counter(AWS_REQUESTS, &["s3", "HeadObject"]), 2);
    assert_eq!(m.counter(AWS_REQUESTS, &["S3", "HeadObject"]), 0);
    let text = m.render();
    for line in [
        "# HELP s3r_aws_requests AWS API requests sent, by service and operation: every attempt, SDK retries included (not STS).\n",
        "# TYPE s3r_aws_requests counter\n",
        "s3r_aws_requests_total{service=\"s3\",operation=\"HeadObject\"} 2\n",
        "s3r_aws_requests_total{service=\"sqs\",operation=\"ReceiveMessage\"} 1\n",
        "s3r_aws_requests_total{service=\"other service\",operation=\"Call\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn registries_are_independent() {
    let (a, b) = (Metrics::new(), Metrics::new());
    a.record_retry("copy");
    assert_eq!(a.counter(RETRIES, &["copy"]), 1);
    assert_eq!(b.counter(RETRIES, &["copy"]), 0);
}

#[test]
fn in_flight_guards_go_up_and_back_down() {
    let m = Metrics::new();
    let bytes = m.bytes_in_flight(1 << 40);
    let message = m.message_in_flight();
    assert_eq!(m.gauge(BYTES_IN_FLIGHT, &[]), 1 << 40);
    assert_eq!(m.gauge(MESSAGES_IN_FLIGHT, &[]), 1);
    drop(bytes);
    message.done(true);
    assert_eq!(m.gauge(BYTES_IN_FLIGHT, &[]), 0);
    assert_eq!(m.gauge(MESSAGES_IN_FLIGHT, &[]), 0);
    assert_eq!(m.counter(MESSAGES_HANDLED, &["deleted"]), 1);
}
