//! Archived sources: alerted and acknowledged, or restored and copied when the restore
//! completes; and Object Lock settings carried to the replicas.

use s3_replicator::config::{Archived, ObjectLock, RestoreTier, RuleConfig};
use s3_replicator::metrics::SOURCES_ARCHIVED;
use s3_replicator::pipeline::Verdict;
use s3_replicator::publish::AlertKind;
use s3_replicator::store::ObjectLockSettings;
use s3_replicator::testkit::memory::StoredObject;

use super::{message, record, world_with};

fn rule(archived: Archived) -> RuleConfig {
    RuleConfig {
        name: "all".into(),
        source_bucket: "lake".into(),
        prefix: Some("in/".into()),
        targets: vec!["eu".into(), "dr".into()],
        archived,
        restore_tier: RestoreTier::Bulk,
        restore_days: 2,
        ..Default::default()
    }
}

fn glacier() -> StoredObject {
    StoredObject {
        storage_class: Some("GLACIER".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_archived_source_is_alerted_acknowledged_and_not_copied() {
    let world = world_with(rule(Archived::Alert));
    let etag = world.store.put("lake", "in/cold", b"abc", glacier());
    let verdict = world
        .pipeline
        .handle(&message("m0", vec![record("in/cold", &etag)]))
        .await;
    assert_eq!(
        verdict,
        Verdict::Delete,
        "redelivery cannot make it readable"
    );
    assert!(world.store.get("eu", "in/cold").is_none());
    assert!(world.publisher.completions().is_empty());
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::SourceArchived);
    assert!(alerts[0].error.contains("GLACIER"), "{}", alerts[0].error);
    assert!(
        alerts[0].action.contains("restore-object"),
        "{}",
        alerts[0].action
    );
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter(SOURCES_ARCHIVED, &["all", "alerted"]),
        1
    );
    assert!(
        world.store.restores().is_empty(),
        "alert mode restores nothing"
    );
}

#[tokio::test]
async fn restore_mode_restores_then_copies_on_the_restore_completed_event() {
    let world = world_with(rule(Archived::Restore));
    let etag = world.store.put("lake", "in/cold", b"abc", glacier());
    let verdict = world
        .pipeline
        .handle(&message("m0", vec![record("in/cold", &etag)]))
        .await;
    assert_eq!(verdict, Verdict::Delete);
    assert_eq!(
        world.store.restores(),
        [("lake".into(), "in/cold".into(), "Bulk".into(), Some(2))]
    );
    assert!(world.publisher.alerts().is_empty());
    // The event again while the restore runs: nothing more is asked.
    world
        .pipeline
        .handle(&message("m1", vec![record("in/cold", &etag)]))
        .await;
    assert_eq!(world.store.restores().len(), 1);
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter(SOURCES_ARCHIVED, &["all", "restore_in_progress"]),
        1
    );
    world.store.finish_restore("lake", "in/cold");
    let mut completed = record("in/cold", &etag);
    completed["eventName"] = "ObjectRestore:Completed".into();
    let verdict = world.pipeline.handle(&message("m2", vec![completed])).await;
    assert_eq!(verdict, Verdict::Delete);
    assert_eq!(world.store.get("eu", "in/cold").unwrap().body, b"abc");
    assert_eq!(
        world.store.get("eu", "in/cold").unwrap().storage_class,
        None,
        "the replica is in the target's class, not the archive's"
    );
    let completions = world.publisher.completions();
    assert_eq!(completions.len(), 1);
    assert_eq!(
        completions[0].source.restored_from.as_deref(),
        Some("GLACIER")
    );
}

#[tokio::test]
async fn object_lock_settings_are_copied_where_the_target_asks_and_refused_clearly_without_lock() {
    let mut config = rule(Archived::Alert);
    config.targets = vec!["eu".into(), "dr".into()];
    let world = super::world_with_targets(config, |t| t.object_lock = ObjectLock::Copy);
    world.store.enable_object_lock("eu");
    let lock = ObjectLockSettings {
        mode: Some("COMPLIANCE".into()),
        retain_until: Some(time::macros::datetime!(2030-01-01 00:00:00 UTC)),
        legal_hold: true,
    };
    let etag = world.store.put(
        "lake",
        "in/locked",
        b"abc",
        StoredObject {
            object_lock: Some(lock.clone()),
            ..Default::default()
        },
    );
    let verdict = world
        .pipeline
        .handle(&message("m0", vec![record("in/locked", &etag)]))
        .await;
    assert_eq!(
        world.store.get("eu", "in/locked").unwrap().object_lock,
        Some(lock)
    );
    // dr has no Object Lock: its copy fails, clearly, and the message stays.
    assert_eq!(verdict, Verdict::Keep);
    assert!(world.store.get("dr", "in/locked").is_none());
    assert!(world.publisher.completions().is_empty());
    assert!(world
        .publisher
        .alerts()
        .iter()
        .any(|a| a.kind == AlertKind::ObjectLockUnsupported
            && a.target.as_ref().is_some_and(|t| t.name == "dr")
            && a.action.contains("Object Lock")));
}
