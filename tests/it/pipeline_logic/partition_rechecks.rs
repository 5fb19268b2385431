//! Partition re-checks on the in-memory fakes, under tokio's paused clock: waiting for a
//! partition must never spend the marker message's receive count, the deadline alert must come
//! on time, and the marker's own completion is published once. The emulator side (the delay of
//! a re-check message on SQS) is in `partition.rs`.

use std::time::Duration;

use s3_replicator::config::RuleConfig;
use s3_replicator::pipeline::Verdict;
use s3_replicator::queue::Message;
use s3_replicator::testkit::memory::StoredObject;
use s3_replicator::testkit::publisher::MemoryPublisher;
use s3_replicator::testkit::queue::MemoryQueue;
use tokio::time::Instant;

use super::World;

const PREFIX: &str = "d/2026-11-21/";
const DEADLINE_SECS: u64 = 600;

/// Source bucket `lake`, rule `daily` (prefix `d/`, closed by `_SUCCESS`, deadline 600 s) →
/// target `eu`.
fn world() -> World {
    super::world_with(RuleConfig {
        name: "daily".into(),
        source_bucket: "lake".into(),
        prefix: Some("d/".into()),
        targets: vec!["eu".into()],
        complete_on: Some("_SUCCESS".into()),
        complete_deadline_secs: DEADLINE_SECS,
        ..Default::default()
    })
}

/// Puts `key` into the source and returns the S3 event announcing it.
fn put(world: &World, key: &str) -> String {
    let etag = world
        .store
        .put("lake", key, key.as_bytes(), StoredObject::default());
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "lake"}, "object": {"key": key, "size": key.len(), "eTag": etag}}
    }]})
    .to_string()
}

/// Runs the daemon over `queue` until `done` holds or `limit` of (virtual) time has passed.
async fn run_until(world: &World, queue: &MemoryQueue, limit: Duration, done: impl Fn() -> bool) {
    super::run_within(world, queue, limit, done).await;
}

fn marker_completions(publisher: &MemoryPublisher) -> usize {
    publisher
        .completions()
        .iter()
        .filter(|c| c.source.key.ends_with("_SUCCESS"))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_partition_completed_after_five_minutes_still_publishes_its_prefix_completion() {
    let world = world();
    let queue = MemoryQueue::default();
    queue.send(&put(&world, &format!("{PREFIX}part-0")));
    queue.send(&put(&world, &format!("{PREFIX}_SUCCESS")));
    // The last part is in the source but its event arrives five minutes late.
    let late = put(&world, &format!("{PREFIX}part-1"));
    let sender = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(300)).await;
        sender.send(&late);
    });

    let started = Instant::now();
    run_until(&world, &queue, Duration::from_secs(3600), || {
        !world.publisher.prefixes().is_empty() && queue.remaining() == 0
    })
    .await;

    let prefixes = world.publisher.prefixes();
    assert_eq!(prefixes.len(), 1, "one prefix completion");
    assert_eq!(prefixes[0].prefix, PREFIX);
    assert_eq!(prefixes[0].objects, 3, "two parts and the marker");
    assert!(
        started.elapsed() < Duration::from_secs(300 + 320),
        "published by the first re-check after the late part: {:?}",
        started.elapsed()
    );
    assert_eq!(
        marker_completions(&world.publisher),
        1,
        "the marker's own completion is published once, not on every re-check"
    );
    assert_eq!(world.publisher.completions().len(), 3);
    assert!(world.publisher.alerts().is_empty(), "before the deadline");
    assert_eq!(queue.remaining(), 0, "the last re-check was deleted");
}

#[tokio::test(start_paused = true)]
async fn a_partition_that_never_completes_alerts_at_its_deadline_and_keeps_being_checked() {
    let world = world();
    let queue = MemoryQueue::default();
    world.store.put(
        "lake",
        &format!("{PREFIX}missing"),
        b"x",
        StoredObject::default(),
    );
    queue.send(&put(&world, &format!("{PREFIX}part-0")));
    queue.send(&put(&world, &format!("{PREFIX}_SUCCESS")));

    let started = Instant::now();
    run_until(&world, &queue, Duration::from_secs(3600), || {
        !world.publisher.alerts().is_empty()
    })
    .await;
    let alerted_after = started.elapsed();
    let deadline = Duration::from_secs(DEADLINE_SECS);
    assert!(
        alerted_after >= deadline && alerted_after < deadline + Duration::from_secs(5),
        "the alert comes at the deadline, not a re-check later: {alerted_after:?}"
    );
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind.as_str(), "partition_incomplete");
    assert!(alerts[0].error.contains("missing"), "{}", alerts[0].error);

    // Checking goes on after the deadline, with a capped delay, and no message is ever
    // delivered twice: nothing moves toward the dead-letter queue.
    run_until(&world, &queue, Duration::from_secs(2300), || false).await;
    let delays: Vec<i32> = queue.sent().iter().map(|(_, delay)| *delay).collect();
    assert_eq!(
        delays,
        [10, 20, 40, 80, 160, 290, 640, 900, 900],
        "doubling, then landing on the deadline (600 s after the first check), then capped"
    );
    assert_eq!(
        queue.max_receive_count(),
        1,
        "every delivery was a first one"
    );
    assert_eq!(queue.remaining(), 1, "one re-check waits in the queue");
    assert_eq!(world.publisher.alerts().len(), 1, "alerted once");
    assert!(world.publisher.prefixes().is_empty(), "never announced");
    assert_eq!(marker_completions(&world.publisher), 1);
}

#[tokio::test(start_paused = true)]
async fn a_re_check_that_cannot_be_sent_keeps_the_original_message() {
    let world = world();
    let queue = MemoryQueue::default();
    world.store.put(
        "lake",
        &format!("{PREFIX}missing"),
        b"x",
        StoredObject::default(),
    );
    let marker = queue.send(&put(&world, &format!("{PREFIX}_SUCCESS")));
    queue.fail_next_sends(usize::MAX);
    run_until(&world, &queue, Duration::from_secs(600), || {
        !queue.visibility_changes().is_empty()
    })
    .await;
    assert!(queue.deleted().is_empty(), "the original is never deleted");
    assert!(queue.sent().is_empty());
    assert_eq!(
        queue.visibility_changes(),
        [(format!("{marker}-r1"), 10)],
        "handed back with the retry delay instead"
    );
    assert_eq!(queue.remaining(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_re_check_past_the_last_day_alerts_and_is_left_for_the_dead_letter_queue() {
    let world = world();
    world.store.put(
        "lake",
        &format!("{PREFIX}missing"),
        b"x",
        StoredObject::default(),
    );
    let marker_event = put(&world, &format!("{PREFIX}_SUCCESS"));
    let s3_replicator::event::Notification::Objects { objects, .. } =
        s3_replicator::event::decode(&marker_event).unwrap()
    else {
        panic!("an object event")
    };
    let recheck = s3_replicator::event::PartitionRecheck {
        rule: "daily".into(),
        marker: objects[0].clone(),
        first_seen: time::OffsetDateTime::now_utc()
            - time::Duration::seconds(DEADLINE_SECS as i64 + 24 * 3600 + 1),
        checks: 100,
        alerted: true,
        table: false,
    };
    let message = Message {
        id: "r1".into(),
        receipt_handle: "r1-handle".into(),
        body: recheck.to_body(),
        receive_count: 1,
    };
    assert_eq!(world.pipeline.handle(&message).await, Verdict::Keep);
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind.as_str(), "partition_incomplete");
    assert!(
        alerts[0].action.contains("dead-letter queue"),
        "{}",
        alerts[0].action
    );
    assert!(
        world.publisher.completions().is_empty(),
        "a re-check does not replicate or announce the marker again"
    );
}
