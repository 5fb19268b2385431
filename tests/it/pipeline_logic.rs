//! The daemon loop and the pipeline's decisions, on in-memory fakes behind the project's own
//! traits (queue, object store, publisher). What crosses the AWS API is tested against the
//! emulator in `replication.rs`; this file covers the logic those tests cannot steer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3_replicator::config::{RuleConfig, TargetConfig};
use s3_replicator::daemon::{run, Settings};
use s3_replicator::pipeline::{Pipeline, Verdict};
use s3_replicator::queue::Message;
use s3_replicator::replicate::{Replicator, Target};
use s3_replicator::route::Router;
use s3_replicator::store::StoreErrorKind;
use s3_replicator::testkit::memory::{MemoryStore, StoredObject};
use s3_replicator::testkit::publisher::MemoryPublisher;
use s3_replicator::testkit::queue::MemoryQueue;

/// Archived sources, and Object Lock settings.
mod archived;
/// Deletes of source objects: replicated or not, the mass-delete guard, the deletion event.
mod deletes;
/// Completions later than `lag_alert_secs`, and the backlog gauges.
mod lag;
/// The deadline of one message's handling.
mod message_deadline;
/// Partition re-checks that never spend the marker message's receive count.
mod partition_rechecks;
/// The deterministic simulation's seeds (its world is `crate::sim`).
mod simulation;
/// Events whose source object does not exist.
mod source_missing;
/// Delta tables: commits held until their files are in every target.
mod tables;

fn target(name: &str, bucket: &str, store: MemoryStore) -> Target<MemoryStore> {
    Target {
        config: TargetConfig::new(name, bucket, "eu-west-1"),
        store,
    }
}

struct World {
    store: MemoryStore,
    publisher: MemoryPublisher,
    pipeline: Arc<Pipeline<MemoryStore, MemoryPublisher>>,
}

/// Source bucket `lake` with rule `all` (prefix `in/`) → targets `eu` and `dr` (another
/// principal).
fn world() -> World {
    world_with(RuleConfig {
        name: "all".into(),
        source_bucket: "lake".into(),
        prefix: Some("in/".into()),
        suffix: None,
        targets: vec!["eu".into(), "dr".into()],
        ..Default::default()
    })
}

/// Source bucket `lake` with `rule`, whose targets may be `eu` and `dr` (another principal).
fn world_with(rule: RuleConfig) -> World {
    world_with_targets(rule, |_| {})
}

/// [`world_with`], each target's configuration changed by `configure`.
fn world_with_targets(rule: RuleConfig, configure: impl Fn(&mut TargetConfig)) -> World {
    let store = MemoryStore::new("daemon");
    for bucket in ["lake", "eu", "dr"] {
        store.create_bucket(bucket);
    }
    let dr = store.principal("dr-role");
    let publisher = MemoryPublisher::default();
    let router = Router::from_rules(vec![rule]);
    let mut targets = [target("eu", "eu", store.clone()), target("dr", "dr", dr)];
    for t in &mut targets {
        configure(&mut t.config);
    }
    let replicator = Replicator::new(store.clone(), targets);
    let pipeline = Arc::new(Pipeline::new(router, replicator, publisher.clone()));
    World {
        store,
        publisher,
        pipeline,
    }
}

/// The body of an S3 notification of one object `key_encoded` (as S3 encodes keys).
fn event_body(key_encoded: &str, etag: &str) -> String {
    serde_json::json!({ "Records": [record(key_encoded, etag)] }).to_string()
}

fn record(key_encoded: &str, etag: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "lake"}, "object": {"key": key_encoded, "size": 3, "eTag": etag}}
    })
}

fn message(id: &str, records: Vec<serde_json::Value>) -> Message {
    Message {
        id: id.into(),
        receipt_handle: format!("{id}-handle"),
        body: serde_json::json!({ "Records": records }).to_string(),
        receive_count: 1,
    }
}

fn settings() -> Settings {
    Settings {
        max_messages: 10,
        wait_time_secs: 1,
        visibility_timeout_secs: 30,
        concurrency: 4,
        shutdown_timeout: Duration::from_millis(200),
    }
}

/// Starts the daemon over `queue`; it runs until the sender is used (or dropped).
fn spawn_daemon(
    world: &World,
    queue: &MemoryQueue,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(
        Arc::new(queue.clone()),
        Arc::clone(&world.pipeline),
        settings(),
        async {
            let _ = stopped.await;
        },
    ));
    (stop, daemon)
}

/// Runs the daemon over `queue` until `done` holds (or a deadline passes), then stops it.
async fn run_until(world: &World, queue: &MemoryQueue, done: impl Fn() -> bool) {
    run_within(world, queue, Duration::from_secs(10), done).await;
}

/// Runs the daemon over `queue` until `done` holds or `limit` has passed (on tokio's clock,
/// virtual in paused tests), then stops it.
async fn run_within(world: &World, queue: &MemoryQueue, limit: Duration, done: impl Fn() -> bool) {
    let (stop, daemon) = spawn_daemon(world, queue);
    let deadline = tokio::time::Instant::now() + limit;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(());
    daemon.await.expect("daemon");
}

#[tokio::test]
async fn every_message_is_replicated_completed_and_deleted_in_batches() {
    let world = world();
    let queue = MemoryQueue::default();
    for i in 0..25 {
        let etag = world.store.put(
            "lake",
            &format!("in/{i} x"),
            b"abc",
            StoredObject::default(),
        );
        queue.send(
            &serde_json::json!({ "Records": [record(&format!("in/{i}+x"), &etag)] }).to_string(),
        );
    }
    run_until(&world, &queue, || queue.deleted().len() == 25).await;
    assert_eq!(queue.deleted().len(), 25);
    assert_eq!(queue.remaining(), 0);
    assert_eq!(world.publisher.completions().len(), 25);
    assert!(
        world.store.get("dr", "in/7 x").is_some(),
        "key decoded before copying"
    );
    assert!(
        queue.delete_calls() < 25,
        "deletes are batched: {} calls",
        queue.delete_calls()
    );
}

#[tokio::test]
async fn a_failed_delete_is_retried_and_a_stale_handle_is_left_for_redelivery() {
    let world = world();
    let queue = MemoryQueue::default();
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    let body = serde_json::json!({ "Records": [record("in/a", &etag)] }).to_string();
    let flaky = queue.send(&body);
    let stale = queue.send(&body);
    queue.fail_next_delete(&flaky, "InternalError");
    queue.fail_next_delete(&stale, "ReceiptHandleIsInvalid");
    run_until(&world, &queue, || {
        queue.deleted().contains(&flaky) && world.publisher.completions().len() == 2
    })
    .await;
    assert_eq!(
        queue.deleted(),
        [flaky],
        "the retryable failure was retried, the stale one not"
    );
    assert_eq!(
        queue.remaining(),
        1,
        "the stale message stays for redelivery"
    );
    // Its redelivery is harmless: both targets are found already holding the object.
    queue.expire_visibility();
    run_until(&world, &queue, || queue.remaining() == 0).await;
    let last = world.publisher.completions().pop().expect("completion");
    assert!(last
        .targets
        .iter()
        .all(|t| t.method == s3_replicator::transfer::Method::AlreadyPresent));
}

#[tokio::test]
async fn a_denied_target_publishes_no_completion_keeps_the_message_and_alerts() {
    let world = world();
    world.store.principal("dr-role").deny("dr");
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    let verdict = world
        .pipeline
        .handle(&message("m1", vec![record("in/a", &etag)]))
        .await;
    assert_eq!(verdict, Verdict::Keep);
    assert!(world.publisher.completions().is_empty());
    assert!(
        world.store.get("eu", "in/a").is_some(),
        "the healthy target is written"
    );
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].target.as_ref().map(|t| t.name.as_str()),
        Some("dr")
    );
    assert!(
        alerts[0].error.contains("access denied"),
        "{}",
        alerts[0].error
    );
    assert_eq!(alerts[0].message_id.as_deref(), Some("m1"));
}

#[tokio::test]
async fn each_record_is_its_own_object_and_one_failure_keeps_the_message() {
    let world = world();
    let good = world
        .store
        .put("lake", "in/good", b"abc", StoredObject::default());
    // The second record names an object that is not in the bucket (deleted since): superseded.
    let verdict = world
        .pipeline
        .handle(&message(
            "m1",
            vec![record("in/good", &good), record("in/gone", "ffff")],
        ))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert_eq!(world.publisher.completions().len(), 1);

    world.store.principal("dr-role").deny("dr");
    let other = world
        .store
        .put("lake", "in/other", b"xyz", StoredObject::default());
    let verdict = world
        .pipeline
        .handle(&message(
            "m2",
            vec![record("in/good", &good), record("in/other", &other)],
        ))
        .await;
    assert_eq!(
        verdict,
        Verdict::Keep,
        "one failed object keeps the whole message"
    );
}

#[tokio::test]
async fn unmatched_objects_and_test_events_are_acknowledged_without_completion() {
    let world = world();
    let etag = world
        .store
        .put("lake", "out/a", b"abc", StoredObject::default());
    assert_eq!(
        world
            .pipeline
            .handle(&message("m1", vec![record("out/a", &etag)]))
            .await,
        Verdict::Delete
    );
    let test_event = Message {
        body: r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00.000Z","Bucket":"lake","RequestId":"r","HostId":"h"}"#.into(),
        ..message("m2", vec![])
    };
    assert_eq!(world.pipeline.handle(&test_event).await, Verdict::Delete);
    assert!(world.publisher.completions().is_empty());
    assert!(world.publisher.alerts().is_empty());
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter(s3_replicator::metrics::EVENTS, &["unmatched"]),
        1
    );
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter(s3_replicator::metrics::EVENTS, &["test_event"]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_completion_that_cannot_be_published_keeps_the_message() {
    let world = world();
    world.publisher.fail_completions(true);
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    let verdict = world
        .pipeline
        .handle(&message("m1", vec![record("in/a", &etag)]))
        .await;
    // A passing failure: handed back for a retry, never deleted.
    assert_eq!(
        verdict,
        Verdict::Retry,
        "without its completion the message must come back"
    );
    world.publisher.fail_completions(false);
    let verdict = world
        .pipeline
        .handle(&message("m1", vec![record("in/a", &etag)]))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert_eq!(world.publisher.completions().len(), 1);
}

/// Found by the simulator (seed 177 of its first workload): a completion retried for seconds
/// went out after a newer version's and announced bytes the targets no longer held.
#[tokio::test(start_paused = true)]
async fn a_completion_is_not_retried_over_a_replica_that_changed_meanwhile() {
    let world = world();
    world.publisher.fail_completions(true);
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    let handling = {
        let pipeline = Arc::clone(&world.pipeline);
        let message = message("m1", vec![record("in/a", &etag)]);
        tokio::spawn(async move { pipeline.handle(&message).await })
    };
    // While the completion is retried, a newer write replaces the replica in `eu`, and the
    // topic comes back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    world
        .store
        .put("eu", "in/a", b"newer bytes", StoredObject::default());
    world.publisher.fail_completions(false);
    let verdict = handling.await.expect("handled");
    assert!(
        world.publisher.completions().is_empty(),
        "a completion announced bytes `eu` no longer holds"
    );
    assert_eq!(verdict, Verdict::Retry, "decided again on the redelivery");
}

#[tokio::test]
async fn a_malformed_message_is_kept_and_alerted_with_its_body() {
    let world = world();
    let bad = Message {
        body: "{\"Records\": [{\"eventVersion\": \"2.1\"}]}".into(),
        ..message("m9", vec![])
    };
    assert_eq!(world.pipeline.handle(&bad).await, Verdict::Keep);
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].body_excerpt.as_deref(), Some(bad.body.as_str()));
    assert_eq!(alerts[0].message_id.as_deref(), Some("m9"));
}

#[tokio::test(start_paused = true)]
async fn a_passing_failure_is_retried_in_process() {
    let world = world();
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    world.store.fail_next("dr", StoreErrorKind::Throttled, 2);
    let verdict = world
        .pipeline
        .handle(&message("m1", vec![record("in/a", &etag)]))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert_eq!(world.publisher.completions().len(), 1);
    assert!(
        world.publisher.alerts().is_empty(),
        "a blip is not worth an alert"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lasting_passing_failure_hands_the_message_back_with_a_growing_delay() {
    let world = world();
    let queue = MemoryQueue::default();
    let etag = world
        .store
        .put("lake", "in/a", b"abc", StoredObject::default());
    world
        .store
        .fail_next("dr", StoreErrorKind::Transient, 1_000);
    let id = queue.send(&serde_json::json!({ "Records": [record("in/a", &etag)] }).to_string());
    run_until(&world, &queue, || !queue.visibility_changes().is_empty()).await;
    assert_eq!(
        queue.visibility_changes(),
        [(format!("{id}-r1"), 10)],
        "first delivery: 10 s"
    );
    assert!(world.publisher.completions().is_empty());
    assert_eq!(queue.remaining(), 1, "never deleted");
    assert!(
        world.publisher.alerts().is_empty(),
        "not yet worth an alert"
    );
    // Third delivery: a longer delay, and now a person hears of it.
    queue.expire_visibility();
    run_until(&world, &queue, || queue.visibility_changes().len() == 2).await;
    queue.expire_visibility();
    run_until(&world, &queue, || queue.visibility_changes().len() == 3).await;
    let delays: Vec<i32> = queue.visibility_changes().iter().map(|(_, d)| *d).collect();
    assert_eq!(delays, [10, 20, 40]);
    assert_eq!(world.publisher.alerts().len(), 1);
    assert_eq!(
        s3_replicator::daemon::retry_delay(30),
        Duration::from_secs(900),
        "capped"
    );
}

#[tokio::test]
async fn shutdown_hands_back_a_message_whose_copy_does_not_finish_in_time() {
    let world = world();
    let queue = MemoryQueue::default();
    let etag = world
        .store
        .put("lake", "in/slow", b"abc", StoredObject::default());
    world.store.stall("dr");
    let id = queue.send(&serde_json::json!({ "Records": [record("in/slow", &etag)] }).to_string());
    let (stop, daemon) = spawn_daemon(&world, &queue);
    let deadline = Instant::now() + Duration::from_secs(10);
    while world.store.get("eu", "in/slow").is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(());
    // The shutdown timeout (200 ms) bounds the wait for the stalled copy.
    tokio::time::timeout(Duration::from_secs(5), daemon)
        .await
        .expect("the daemon stops within its shutdown timeout")
        .expect("daemon task");
    assert!(world.publisher.completions().is_empty(), "never early");
    assert_eq!(
        queue.visible(),
        1,
        "handed back at once for another consumer"
    );
    assert_eq!(queue.visibility_changes(), [(format!("{id}-r1"), 0)]);
}

/// The receiver asks for what fits in the free slots, and never waits for a whole batch's
/// worth: three messages whose copies never finish hold three of the four slots, and the
/// twenty behind them still go through the one slot left.
#[tokio::test]
async fn messages_that_never_finish_do_not_hold_back_the_others() {
    let store = MemoryStore::new("daemon");
    for bucket in ["lake", "eu", "stuck"] {
        store.create_bucket(bucket);
    }
    store.stall("stuck");
    let publisher = MemoryPublisher::default();
    let rule = |name: &str, prefix: &str, target: &str| RuleConfig {
        name: name.into(),
        source_bucket: "lake".into(),
        prefix: Some(prefix.into()),
        suffix: None,
        targets: vec![target.into()],
        ..Default::default()
    };
    let router = Router::from_rules(vec![
        rule("all", "in/", "eu"),
        rule("stuck", "stuck/", "stuck"),
    ]);
    let replicator = Replicator::new(
        store.clone(),
        [
            target("eu", "eu", store.clone()),
            target("stuck", "stuck", store.clone()),
        ],
    );
    let world = World {
        store: store.clone(),
        publisher: publisher.clone(),
        pipeline: Arc::new(Pipeline::new(router, replicator, publisher.clone())),
    };
    let queue = MemoryQueue::default();
    let send = |key: &str| {
        let etag = store.put("lake", key, b"abc", StoredObject::default());
        queue.send(&serde_json::json!({ "Records": [record(key, &etag)] }).to_string());
    };
    for i in 0..3 {
        send(&format!("stuck/{i}"));
    }
    for i in 0..20 {
        send(&format!("in/{i}"));
    }
    // settings(): four slots, batches of up to ten.
    run_until(&world, &queue, || queue.deleted().len() == 20).await;
    assert_eq!(
        queue.deleted().len(),
        20,
        "every message behind the stuck ones"
    );
    assert_eq!(publisher.completions().len(), 20);
    assert_eq!(queue.remaining(), 3, "the stuck ones are still the queue's");
}
