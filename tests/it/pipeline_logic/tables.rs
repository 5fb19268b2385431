//! Delta tables on the in-memory fakes, under tokio's paused clock: a commit that arrives
//! before its data files is held (re-check messages, no receive count spent) and copied once
//! they are in every target; its table-committed event follows; a checkpoint waits for its
//! commit; a commit whose files never come alerts at the deadline. The emulator side, with a
//! table written by a real Delta writer, is in `tables.rs`.

use std::time::Duration;

use s3_replicator::config::{RuleConfig, TableFormat};
use s3_replicator::testkit::memory::StoredObject;
use s3_replicator::testkit::queue::MemoryQueue;

use super::World;

const DEADLINE_SECS: u64 = 600;
const LOG: &str = "tables/orders/_delta_log/";

fn world() -> World {
    super::world_with(RuleConfig {
        name: "orders".into(),
        source_bucket: "lake".into(),
        prefix: Some("tables/".into()),
        targets: vec!["eu".into(), "dr".into()],
        table_format: TableFormat::Delta,
        complete_deadline_secs: DEADLINE_SECS,
        ..Default::default()
    })
}

/// Puts `body` at `key` into the source and returns the S3 event announcing it.
fn put(world: &World, key: &str, body: &[u8]) -> String {
    let etag = world.store.put("lake", key, body, StoredObject::default());
    let encoded: String = key.replace(' ', "+");
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "lake"}, "object": {"key": encoded, "size": body.len(), "eTag": etag}}
    }]})
    .to_string()
}

fn commit(adds: &[(&str, usize)]) -> Vec<u8> {
    let mut lines = vec![r#"{"commitInfo":{"operation":"WRITE"}}"#.to_owned()];
    for (path, size) in adds {
        lines.push(format!(
            r#"{{"add":{{"path":"{path}","size":{size},"partitionValues":{{}},"modificationTime":1,"dataChange":true}}}}"#
        ));
    }
    lines.join("\n").into_bytes()
}

fn version(n: u64) -> String {
    format!("{LOG}{n:020}.json")
}

/// Every target's newest commit (as the key listing shows it) names only files it holds.
fn assert_targets_consistent(world: &World) {
    for target in ["eu", "dr"] {
        for (key, object) in world.store.objects(target, LOG) {
            if !key.ends_with(".json") || key.contains(".checkpoint") {
                continue;
            }
            let text = String::from_utf8(object.body).unwrap();
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(path) = value["add"]["path"].as_str() {
                    let file = format!("tables/orders/{}", path.replace("%20", " "));
                    assert!(
                        world.store.get(target, &file).is_some(),
                        "{target} holds {key} before {file}"
                    );
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_commit_that_arrives_first_waits_for_its_files_then_is_announced() {
    let world = world();
    let queue = MemoryQueue::default();
    let part0 = vec![b'a'; 10];
    let part1 = vec![b'b'; 20];
    // Version 0, then version 1 whose events come before its data file's.
    queue.send(&put(&world, "tables/orders/part-0.parquet", &part0));
    queue.send(&put(
        &world,
        &version(0),
        &commit(&[("part-0.parquet", 10)]),
    ));
    queue.send(&put(
        &world,
        &version(1),
        &commit(&[("region=eu%20west/part-1.parquet", 20)]),
    ));
    let late = put(
        &world,
        "tables/orders/region=eu west/part-1.parquet",
        &part1,
    );
    let sender = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(45)).await;
        sender.send(&late);
    });
    let checker = {
        let world_store = world.store.clone();
        tokio::spawn(async move {
            // The invariant, checked all along: "a target's commit N implies its files".
            for _ in 0..2000 {
                for target in ["eu", "dr"] {
                    if world_store
                        .get(target, &format!("{LOG}{:020}.json", 1))
                        .is_some()
                    {
                        assert!(
                            world_store
                                .get(target, "tables/orders/region=eu west/part-1.parquet")
                                .is_some(),
                            "{target} holds commit 1 before its file"
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    super::run_within(&world, &queue, Duration::from_secs(600), || {
        world.publisher.tables().len() == 2 && queue.remaining() == 0
    })
    .await;
    checker.abort();
    assert_targets_consistent(&world);
    let tables = world.publisher.tables();
    assert_eq!(tables.len(), 2, "{tables:?}");
    let one = tables.iter().find(|t| t.version == 1).expect("version 1");
    assert_eq!(one.table, "tables/orders/");
    assert_eq!(one.files_added, 1);
    assert_eq!(one.bytes_added, 20);
    let targets: Vec<&str> = one.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(targets, ["eu", "dr"]);
    assert!(
        world.publisher.alerts().is_empty(),
        "{:?}",
        world.publisher.alerts()
    );
    // Held by re-check messages: no message was ever delivered twice.
    assert_eq!(queue.max_receive_count(), 1);
    assert!(
        !queue.sent().is_empty(),
        "the commit was held at least once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_waits_for_its_commit_and_a_commit_for_the_one_before() {
    let world = world();
    let queue = MemoryQueue::default();
    queue.send(&put(
        &world,
        &format!("{LOG}00000000000000000001.checkpoint.parquet"),
        b"PAR1",
    ));
    queue.send(&put(&world, &version(1), &commit(&[])));
    let v0 = put(&world, &version(0), &commit(&[]));
    let sender = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        sender.send(&v0);
    });
    super::run_within(&world, &queue, Duration::from_secs(600), || {
        world.publisher.tables().len() == 2 && queue.remaining() == 0
    })
    .await;
    for target in ["eu", "dr"] {
        assert!(world
            .store
            .get(
                target,
                &format!("{LOG}00000000000000000001.checkpoint.parquet")
            )
            .is_some());
    }
    let completions = world.publisher.completions();
    let order: Vec<&str> = completions
        .iter()
        .map(|c| c.source.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "00000000000000000000.json",
            "00000000000000000001.json",
            "00000000000000000001.checkpoint.parquet"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_commit_whose_file_never_arrives_alerts_at_the_deadline_naming_it() {
    let world = world();
    let queue = MemoryQueue::default();
    queue.send(&put(&world, &version(0), &commit(&[("gone.parquet", 5)])));
    let started = tokio::time::Instant::now();
    super::run_within(&world, &queue, Duration::from_secs(3600), || {
        !world.publisher.alerts().is_empty()
    })
    .await;
    let after = started.elapsed();
    assert!(
        after >= Duration::from_secs(DEADLINE_SECS)
            && after < Duration::from_secs(DEADLINE_SECS + 5),
        "{after:?}"
    );
    let alerts = world.publisher.alerts();
    assert_eq!(alerts[0].kind.as_str(), "table_commit_stalled");
    assert!(
        alerts[0].error.contains("tables/orders/gone.parquet"),
        "{}",
        alerts[0].error
    );
    assert!(
        world.store.get("eu", &version(0)).is_none(),
        "never copied early"
    );
    assert!(world.publisher.completions().is_empty());
    assert_eq!(queue.max_receive_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_overwritten_last_checkpoint_is_superseded_not_stalled() {
    let world = world();
    let queue = MemoryQueue::default();
    let key = format!("{LOG}_last_checkpoint");
    let older = put(&world, &key, br#"{"version":2,"size":3}"#);
    // Overwritten (unversioned source) before its event is handled.
    put(&world, &key, br#"{"version":5,"size":3}"#);
    queue.send(&older);
    super::run_within(&world, &queue, Duration::from_secs(60), || {
        queue.remaining() == 0
    })
    .await;
    assert_eq!(queue.remaining(), 0);
    assert!(
        world.publisher.alerts().is_empty(),
        "{:?}",
        world.publisher.alerts()
    );
    assert!(
        world.store.get("eu", &key).is_none(),
        "its newer event copies it"
    );
}
