//! Replication-time thresholds: completions later than the rule's `lag_alert_secs` are counted
//! and alerted (aggregated), and the backlog gauges follow the queue.

use std::time::Duration;

use s3_replicator::config::RuleConfig;
use s3_replicator::metrics::{OBJECTS_LATE, QUEUE_MESSAGES};
use s3_replicator::pipeline::Verdict;
use s3_replicator::publish::AlertKind;
use s3_replicator::queue::MessageSource;
use s3_replicator::testkit::queue::MemoryQueue;

use super::{message, record, run_within, world_with};

fn rule(lag_alert_secs: Option<u64>) -> RuleConfig {
    RuleConfig {
        name: "all".into(),
        source_bucket: "lake".into(),
        prefix: Some("in/".into()),
        targets: vec!["eu".into(), "dr".into()],
        lag_alert_secs,
        ..Default::default()
    }
}

fn now() -> String {
    s3_replicator::timestamp::format_millis(time::OffsetDateTime::now_utc()).unwrap()
}

#[tokio::test]
async fn late_completions_are_counted_and_alerted_once_per_window_with_the_worst_lag() {
    let world = world_with(rule(Some(60)));
    let mut late = Vec::new();
    for i in 0..3 {
        let key = format!("in/late{i}");
        let etag = world.store.put("lake", &key, b"abc", Default::default());
        // An event time an hour and more ago: later than 60 s, the more so the higher i.
        let mut r = record(&key, &etag);
        let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(60 + 10 * i);
        r["eventTime"] = s3_replicator::timestamp::format_millis(at).unwrap().into();
        late.push(r);
    }
    let on_time = {
        let etag = world
            .store
            .put("lake", "in/fast", b"abc", Default::default());
        let mut r = record("in/fast", &etag);
        r["eventTime"] = now().into();
        r
    };
    for (i, r) in late.into_iter().chain([on_time]).enumerate() {
        let verdict = world
            .pipeline
            .handle(&message(&format!("m{i}"), vec![r]))
            .await;
        assert_eq!(verdict, Verdict::Delete, "late is still done");
    }
    assert_eq!(world.publisher.completions().len(), 4);
    assert_eq!(world.pipeline.metrics().counter(OBJECTS_LATE, &["all"]), 3);
    let alerts: Vec<_> = world
        .publisher
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::ReplicationLate)
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "the first at once, the others held for the summary"
    );
    assert_eq!(alerts[0].rule.as_deref(), Some("all"));
    assert!(alerts[0].lag_ms.unwrap() >= 3_600_000);
    world.pipeline.flush_alerts(true).await;
    let alerts: Vec<_> = world
        .publisher
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::ReplicationLate)
        .collect();
    assert_eq!(alerts.len(), 2);
    let summary = &alerts[1];
    assert_eq!(summary.count, 2);
    assert!(
        summary.lag_ms.unwrap() >= 80 * 60_000,
        "the summary shows the worst lag: {:?}",
        summary.lag_ms
    );
    assert_eq!(summary.example_keys, ["in/late1", "in/late2"]);
    assert!(summary.text().contains("late objects since the last alert"));
}

#[tokio::test]
async fn without_a_threshold_nothing_is_late() {
    let world = world_with(rule(None));
    let etag = world.store.put("lake", "in/a", b"abc", Default::default());
    // An event time long ago (the fixture's).
    world
        .pipeline
        .handle(&message("m0", vec![record("in/a", &etag)]))
        .await;
    assert_eq!(world.pipeline.metrics().counter(OBJECTS_LATE, &["all"]), 0);
    assert!(world.publisher.alerts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_backlog_gauges_follow_the_queue() {
    let world = world_with(rule(None));
    let queue = MemoryQueue::default();
    MessageSource::send(&queue, "{}", 600).await.unwrap();
    MessageSource::send(&queue, "{}", 900).await.unwrap();
    let metrics = std::sync::Arc::clone(world.pipeline.metrics());
    run_within(&world, &queue, Duration::from_secs(1), || {
        metrics.gauge(QUEUE_MESSAGES, &["delayed"]) == 2
    })
    .await;
    assert_eq!(metrics.gauge(QUEUE_MESSAGES, &["delayed"]), 2);
    assert_eq!(metrics.gauge(QUEUE_MESSAGES, &["visible"]), 0);
    assert_eq!(metrics.gauge(QUEUE_MESSAGES, &["in_flight"]), 0);
}
