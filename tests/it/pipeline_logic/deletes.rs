//! Deletes through the pipeline: ignored by default, replicated when the rule says so, held
//! (never dropped) by the mass-delete guard, announced by a deletion event only once every
//! target settled.

use std::sync::Arc;
use std::time::Duration;

use s3_replicator::config::{CopyMode, Deletes, RuleConfig, TargetConfig};
use s3_replicator::pipeline::Pipeline;
use s3_replicator::pipeline::{Recheck, Verdict};
use s3_replicator::publish::{AlertKind, DeleteResult, DELETION_SCHEMA};
use s3_replicator::replicate::{Replicator, Target};
use s3_replicator::route::Router;
use s3_replicator::store::Operation;
use s3_replicator::store::{ObjectStore, WriteCondition};
use s3_replicator::testkit::faulty::FaultyStore;
use s3_replicator::testkit::memory::MemoryStore;
use s3_replicator::testkit::publisher::MemoryPublisher;

use super::{message, record, world_with, World};

fn rule(deletes: Deletes, limit: u32) -> RuleConfig {
    RuleConfig {
        name: "all".into(),
        source_bucket: "lake".into(),
        prefix: Some("in/".into()),
        targets: vec!["eu".into(), "dr".into()],
        deletes,
        max_deletes_per_minute: limit,
        ..Default::default()
    }
}

fn delete_record(key: &str, sequencer: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:05:00.000Z", "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": "lake"}, "object": {"key": key, "sequencer": sequencer}}
    })
}

/// `in/k<i>` for each i, replicated (by events with low sequencers), then deleted at the source.
async fn replicated_then_deleted(world: &World, keys: usize) {
    for i in 0..keys {
        let key = format!("in/k{i}");
        let etag = world.store.put("lake", &key, b"abc", Default::default());
        let mut put = record(&key, &etag);
        put["s3"]["object"]["sequencer"] = "0055AED6DC00000001".into();
        let verdict = world
            .pipeline
            .handle(&message(&format!("p{i}"), vec![put]))
            .await;
        assert_eq!(verdict, Verdict::Delete);
        world
            .store
            .delete_object("lake", &key, &WriteCondition::None)
            .await
            .unwrap();
    }
}

/// The delete of `in/k0` (newer than its put), handled once.
async fn delete_k0(world: &World) -> Verdict {
    world
        .pipeline
        .handle(&message(
            "d0",
            vec![delete_record("in/k0", "0055AED6DC00000002")],
        ))
        .await
}

#[tokio::test]
async fn deletes_are_ignored_unless_the_rule_replicates_them() {
    let world = world_with(rule(Deletes::Ignore, 1000));
    replicated_then_deleted(&world, 1).await;
    let verdict = delete_k0(&world).await;
    assert_eq!(verdict, Verdict::Delete);
    assert!(
        world.store.get("eu", "in/k0").is_some(),
        "the replica stays"
    );
    assert!(world.publisher.deletions().is_empty());
}

#[tokio::test]
async fn a_replicated_delete_removes_every_replica_then_announces_it() {
    let world = world_with(rule(Deletes::Replicate, 1000));
    replicated_then_deleted(&world, 1).await;
    let verdict = delete_k0(&world).await;
    assert_eq!(verdict, Verdict::Delete);
    assert!(world.store.get("eu", "in/k0").is_none());
    assert!(world.store.get("dr", "in/k0").is_none());
    let deletions = world.publisher.deletions();
    assert_eq!(deletions.len(), 1);
    let event = &deletions[0];
    assert_eq!(event.schema, DELETION_SCHEMA);
    assert_eq!(event.rule, "all");
    assert_eq!(event.source.key, "in/k0");
    assert_eq!(
        event.source.sequencer.as_deref(),
        Some("0055AED6DC00000002")
    );
    assert!(event
        .targets
        .iter()
        .all(|t| t.result == DeleteResult::Deleted));
    assert_eq!(event.targets.len(), 2);
}

#[tokio::test]
async fn a_failed_target_keeps_the_message_and_announces_nothing() {
    let world = world_with(rule(Deletes::Replicate, 1000));
    replicated_then_deleted(&world, 1).await;
    world.store.principal("dr-role").deny("dr");
    let verdict = delete_k0(&world).await;
    assert_eq!(verdict, Verdict::Keep);
    assert!(world.publisher.deletions().is_empty());
    assert!(world
        .publisher
        .alerts()
        .iter()
        .any(|a| a.kind == AlertKind::DeleteFailed
            && a.target.as_ref().is_some_and(|t| t.name == "dr")));
}

#[tokio::test(start_paused = true)]
async fn the_guard_holds_deletes_past_its_limit_and_admits_them_a_minute_later() {
    let world = world_with(rule(Deletes::Replicate, 2));
    replicated_then_deleted(&world, 4).await;
    let mut held = Vec::new();
    for i in 0..4 {
        let m = message(
            &format!("d{i}"),
            vec![delete_record(&format!("in/k{i}"), "0055AED6DC00000002")],
        );
        match world.pipeline.handle(&m).await {
            Verdict::Delete => {}
            Verdict::Recheck(rechecks) => held.push((m, rechecks)),
            other => panic!("unexpected verdict {other:?}"),
        }
    }
    assert_eq!(
        world.publisher.deletions().len(),
        2,
        "the limit: two per minute"
    );
    assert_eq!(held.len(), 2, "the others are held, not dropped");
    for (m, rechecks) in &held {
        let [Recheck {
            body,
            delay_secs,
            held_deletes,
            ..
        }] = rechecks.as_slice()
        else {
            panic!("one re-send expected: {rechecks:?}");
        };
        assert!(held_deletes);
        assert_eq!(body, &m.body, "the message itself comes back");
        assert!((60..=90).contains(delay_secs), "{delay_secs}");
    }
    let storms: Vec<_> = world
        .publisher
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::DeleteStorm)
        .collect();
    assert_eq!(
        storms.len(),
        1,
        "one alert for the storm, not one per delete"
    );
    assert_eq!(storms[0].rule.as_deref(), Some("all"));
    assert!(
        world.store.get("eu", "in/k2").is_some(),
        "held: still there"
    );
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter("s3r_deletes_held_total", &["all"]),
        2
    );
    // A minute later the rate has fallen: the held deletes go through.
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    for (m, _) in &held {
        assert_eq!(world.pipeline.handle(m).await, Verdict::Delete);
    }
    assert_eq!(world.publisher.deletions().len(), 4);
    assert!(world.store.get("eu", "in/k3").is_none());
}

#[tokio::test]
async fn a_delete_of_one_version_is_not_replicated() {
    let world = world_with(rule(Deletes::Replicate, 1000));
    replicated_then_deleted(&world, 1).await;
    let mut version_delete = delete_record("in/k0", "0055AED6DC00000002");
    version_delete["s3"]["object"]["versionId"] = "v1".into();
    let verdict = world
        .pipeline
        .handle(&message("d0", vec![version_delete]))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert!(world.store.get("eu", "in/k0").is_some());
    assert!(world.publisher.deletions().is_empty());
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter("s3r_deletes_total", &["all", "version_ignored"]),
        1
    );
}

/// `in/v` put in the (now versioned) source and deleted (a delete marker); the put's event.
async fn versioned_put_then_deleted(world: &World) -> serde_json::Value {
    world.store.enable_versioning("lake");
    let (etag, version) = world
        .store
        .put_version("lake", "in/v", b"abc", Default::default());
    world
        .store
        .delete_object("lake", "in/v", &WriteCondition::None)
        .await
        .unwrap();
    let mut put = record("in/v", &etag);
    put["s3"]["object"]["versionId"] = version.expect("a version").into();
    put
}

/// A versioned source keeps the deleted object's version readable: a late (or redelivered)
/// event of that version must not bring the object back on targets whose delete is replicated.
#[tokio::test]
async fn a_late_event_of_a_version_deleted_since_is_not_copied_back() {
    let world = world_with(rule(Deletes::Replicate, 1000));
    let put = versioned_put_then_deleted(&world).await;
    let verdict = world
        .pipeline
        .handle(&message("p0", vec![put.clone()]))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert!(world.store.get("eu", "in/v").is_none(), "not brought back");
    assert!(world.publisher.completions().is_empty());
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter("s3r_events_total", &["superseded"]),
        1
    );
    // A rule that ignores deletes copies the version, as before.
    let world = world_with(rule(Deletes::Ignore, 1000));
    let put = versioned_put_then_deleted(&world).await;
    world.pipeline.handle(&message("p0", vec![put])).await;
    assert!(world.store.get("eu", "in/v").is_some());
}

type Daemon = Arc<Pipeline<FaultyStore<MemoryStore>, MemoryPublisher>>;

/// A daemon on `store` under rule `all` with `deletes = "replicate"`, targets `eu` and `dr`
/// streamed (the source is read before a target is written), each target write delayed by
/// `writes` and each source `HeadObject` by `source_heads`.
fn daemon(
    store: &MemoryStore,
    publisher: &MemoryPublisher,
    writes: Option<Duration>,
    source_heads: Option<Duration>,
) -> Daemon {
    let target = |name: &str| {
        let faulty = FaultyStore::new(store.clone());
        if let Some(delay) = writes {
            faulty.delay(Operation::CopyObject, delay);
            faulty.delay(Operation::PutObject, delay);
        }
        let mut config = TargetConfig::new(name, name, "eu-west-1");
        config.copy_mode = CopyMode::Stream;
        Target {
            config,
            store: faulty,
        }
    };
    let source = FaultyStore::new(store.clone());
    if let Some(delay) = source_heads {
        source.delay(Operation::HeadObject, delay);
    }
    let replicator = Replicator::new(source, [target("eu"), target("dr")]);
    let router = Router::from_rules(vec![rule(Deletes::Replicate, 1000)]);
    Arc::new(Pipeline::new(router, replicator, publisher.clone()))
}

fn buckets() -> MemoryStore {
    let store = MemoryStore::new("daemon");
    for bucket in ["lake", "eu", "dr"] {
        store.create_bucket(bucket);
    }
    store
}

/// A delete that lands while a copy is under way (found by the simulation, seeds 1275 and
/// 1604: a copy retried, or waiting for a stalled capability probe, for seconds): the delete's
/// own handling, by another daemon, finds no replica yet and announces the deletion; the copy
/// then lands. The copy must not leave a replica of the deleted object behind, nor announce it.
/// Daemon A's target writes take 10 s (paused clock); daemon B handles the delete meanwhile.
async fn a_delete_during_the_copy(versioned: bool) {
    let store = buckets();
    if versioned {
        store.enable_versioning("lake");
    }
    let publisher = MemoryPublisher::default();
    let slow = daemon(&store, &publisher, Some(Duration::from_secs(10)), None);
    let quick = daemon(&store, &publisher, None, None);

    let (etag, version) = store.put_version("lake", "in/k0", b"abc", Default::default());
    let mut put = record("in/k0", &etag);
    put["s3"]["object"]["sequencer"] = "0055AED6DC00000001".into();
    if let Some(version) = version {
        put["s3"]["object"]["versionId"] = version.into();
    }
    let copying = tokio::spawn(async move { slow.handle(&message("p0", vec![put])).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    store
        .delete_object("lake", "in/k0", &WriteCondition::None)
        .await
        .unwrap();
    let deleted = quick
        .handle(&message(
            "d0",
            vec![delete_record("in/k0", "0055AED6DC00000002")],
        ))
        .await;
    assert_eq!(deleted, Verdict::Delete);
    assert_eq!(publisher.deletions().len(), 1, "the delete is announced");
    assert!(store.get("eu", "in/k0").is_none(), "no replica yet");

    assert_eq!(copying.await.unwrap(), Verdict::Delete);
    for target in ["eu", "dr"] {
        assert!(
            store.get(target, "in/k0").is_none(),
            "{target} holds a replica of an object deleted (and announced so) before the copy landed"
        );
    }
    assert!(
        publisher.completions().is_empty(),
        "a completion announced a deleted object: {:?}",
        publisher.completions()
    );
}

/// The source read after the copy is slow (retries; simulation seeds 444, 459, 1368, 1663), and
/// meanwhile a newer write of the key replaces a replica: the older completion must not go out
/// over it. Each source `HeadObject` takes 1 s (paused clock); the newer write lands half-way
/// through the second one.
#[tokio::test(start_paused = true)]
async fn a_slow_source_read_after_the_copy_reads_the_targets_again() {
    let store = buckets();
    let publisher = MemoryPublisher::default();
    let slow = daemon(&store, &publisher, None, Some(Duration::from_secs(1)));
    let etag = store.put("lake", "in/k0", b"abc", Default::default());
    let mut put = record("in/k0", &etag);
    put["s3"]["object"]["sequencer"] = "0055AED6DC00000001".into();
    let copying = tokio::spawn(async move { slow.handle(&message("p0", vec![put])).await });
    // Polled in virtual time: the replicas land after the first read (1 s).
    let landed = tokio::time::timeout(Duration::from_secs(60), async {
        while store.get("eu", "in/k0").is_none() || store.get("dr", "in/k0").is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(landed.is_ok(), "the copy never landed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !copying.is_finished(),
        "the second read should still be under way"
    );
    // Another task's newer write of the key, to the source and to one target.
    store.put("lake", "in/k0", b"newer", Default::default());
    store.put("eu", "in/k0", b"newer", Default::default());

    assert_eq!(copying.await.unwrap(), Verdict::Retry);
    assert!(
        publisher.completions().is_empty(),
        "a completion announced bytes a target no longer holds: {:?}",
        publisher.completions()
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_during_the_copy_leaves_no_replica_and_no_completion() {
    a_delete_during_the_copy(false).await;
}

#[tokio::test(start_paused = true)]
async fn a_delete_during_the_copy_of_a_version_leaves_no_replica_and_no_completion() {
    a_delete_during_the_copy(true).await;
}

/// A put's message delivered again after its object was deleted at the source (simulation seed
/// 5230: an attempt wrote a target, lost the answer, and found the source gone on its next
/// read): the copy finds no source, and under a rule that replicates deletes the replicas
/// written from it go too, rather than outlive a delete whose own handling found none.
#[tokio::test]
async fn a_put_redelivered_after_its_source_was_deleted_leaves_no_replica() {
    let world = world_with(rule(Deletes::Replicate, 1000));
    replicated_then_deleted(&world, 1).await;
    assert!(world.store.get("eu", "in/k0").is_some(), "replicated first");
    let etag = world.publisher.completions()[0].source.etag.clone();
    let mut put = record("in/k0", &etag);
    put["s3"]["object"]["sequencer"] = "0055AED6DC00000001".into();
    let mut again = message("p0", vec![put]);
    again.receive_count = 2;
    assert_eq!(world.pipeline.handle(&again).await, Verdict::Delete);
    for target in ["eu", "dr"] {
        assert!(
            world.store.get(target, "in/k0").is_none(),
            "{target} keeps a replica of a deleted object"
        );
    }
    assert_eq!(world.publisher.completions().len(), 1, "nothing announced");
    // A rule that ignores deletes keeps them, as before.
    let world = world_with(rule(Deletes::Ignore, 1000));
    replicated_then_deleted(&world, 1).await;
    let etag = world.publisher.completions()[0].source.etag.clone();
    let mut again = message("p0", vec![record("in/k0", &etag)]);
    again.receive_count = 2;
    assert_eq!(world.pipeline.handle(&again).await, Verdict::Delete);
    assert!(world.store.get("eu", "in/k0").is_some());
}
