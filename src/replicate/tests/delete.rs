//! Deleting replicas of a deleted source object: only this source key's replicas, only when
//! made by a write older than the delete, only when the source holds no newer object, and on
//! the condition that the replica is still the one read.

use super::*;
use crate::event::ObjectRemoved;
use crate::publish::DeleteResult;
use crate::store::{StoreErrorKind, WriteCondition};
use crate::testkit::faulty::FaultyStore;

fn removed(key: &str, sequencer: Option<&str>) -> ObjectRemoved {
    ObjectRemoved {
        bucket: "src".into(),
        key: key.into(),
        region: "us-east-1".into(),
        version_id: None,
        sequencer: sequencer.map(Sequencer::new),
        event_time: time::OffsetDateTime::now_utc(),
        event_name: "ObjectRemoved:Delete".into(),
        delete_marker: false,
    }
}

fn names() -> Vec<String> {
    vec!["eu".to_owned(), "dr".to_owned()]
}

/// The world of `super::world`, replicated by an event of `sequencer`, then deleted at the
/// source.
async fn replicated_then_deleted(sequencer: &str) -> (MemoryStore, Replicator<MemoryStore>) {
    let (source, etag) = world();
    let replicator = Replicator::new(
        source.clone(),
        [
            target("eu", "eu", source.clone()),
            target("dr", "dr", source.principal("dr-role")),
        ],
    );
    let object = ObjectCreated {
        sequencer: Some(Sequencer::new(sequencer)),
        ..event("src", "a b.txt", &etag)
    };
    let outcome = replicator.replicate(&object, &names()).await;
    assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
    source
        .delete_object("src", "a b.txt", &WriteCondition::None)
        .await
        .unwrap();
    (source, replicator)
}

fn results(outcome: &DeleteOutcome) -> Vec<DeleteResult> {
    match outcome {
        DeleteOutcome::Done(targets) => targets.iter().map(|t| t.result).collect(),
        DeleteOutcome::Failed { failed, .. } => panic!("failed: {failed:?}"),
    }
}

#[tokio::test]
async fn a_delete_newer_than_the_replicas_removes_them_and_a_repeat_finds_them_absent() {
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000001").await;
    let delete = removed("a b.txt", Some("0055AED6DC00000002"));
    let outcome = replicator.delete(&delete, &names()).await;
    assert_eq!(results(&outcome), [DeleteResult::Deleted; 2]);
    assert!(memory.get("eu", "a b.txt").is_none());
    assert!(memory.get("dr", "a b.txt").is_none());
    let again = replicator.delete(&delete, &names()).await;
    assert_eq!(results(&again), [DeleteResult::AlreadyAbsent; 2]);
}

#[tokio::test]
async fn a_delete_older_than_the_replicas_keeps_them() {
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000005").await;
    let outcome = replicator
        .delete(&removed("a b.txt", Some("0055AED6DC00000004")), &names())
        .await;
    assert_eq!(results(&outcome), [DeleteResult::KeptNewer; 2]);
    assert!(memory.get("eu", "a b.txt").is_some());
}

/// Simulation seed 166: a newer put of the same bytes finds its replicas already present and
/// leaves the older write's record (sequencer) on them; the delete between the two writes,
/// handled last, must not remove what the newer put's completion announced.
#[tokio::test]
async fn a_delete_keeps_replicas_when_the_source_was_written_again_since() {
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000001").await;
    memory.put("src", "a b.txt", b"hello", StoredObject::default());
    let outcome = replicator
        .delete(&removed("a b.txt", Some("0055AED6DC00000002")), &names())
        .await;
    assert_eq!(results(&outcome), [DeleteResult::KeptNewer; 2]);
    assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"hello");
}

#[tokio::test]
async fn without_sequencers_the_source_decides() {
    // moto's delete events carry no sequencer.
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000001").await;
    let outcome = replicator.delete(&removed("a b.txt", None), &names()).await;
    assert_eq!(results(&outcome), [DeleteResult::Deleted; 2]);
    assert!(memory.get("eu", "a b.txt").is_none());
}

#[tokio::test]
async fn objects_that_are_no_replica_of_this_key_are_never_deleted() {
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000001").await;
    // eu: someone's own object; dr: a replica of another source bucket.
    memory.put("eu", "a b.txt", b"mine", StoredObject::default());
    let mut other = memory.get("dr", "a b.txt").unwrap();
    other
        .metadata
        .insert(META_SOURCE_BUCKET.into(), "another-bucket".into());
    memory.put("dr", "a b.txt", b"theirs", other);
    let outcome = replicator
        .delete(&removed("a b.txt", Some("0055AED6DC00000002")), &names())
        .await;
    assert_eq!(results(&outcome), [DeleteResult::KeptForeign; 2]);
    assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"mine");
    assert_eq!(memory.get("dr", "a b.txt").unwrap().body, b"theirs");
}

#[tokio::test]
async fn a_versioned_target_gets_a_delete_marker_and_keeps_its_versions() {
    let (memory, replicator) = {
        let (source, etag) = world();
        source.enable_versioning("eu");
        let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
        let object = ObjectCreated {
            sequencer: Some(Sequencer::new("0055AED6DC00000001")),
            ..event("src", "a b.txt", &etag)
        };
        replicator.replicate(&object, &["eu".to_owned()]).await;
        source
            .delete_object("src", "a b.txt", &WriteCondition::None)
            .await
            .unwrap();
        (source, replicator)
    };
    let outcome = replicator
        .delete(
            &removed("a b.txt", Some("0055AED6DC00000002")),
            &["eu".to_owned()],
        )
        .await;
    assert_eq!(results(&outcome), [DeleteResult::Deleted]);
    assert!(memory.get("eu", "a b.txt").is_none());
    assert_eq!(memory.delete_markers("eu", "a b.txt").len(), 1);
    assert_eq!(
        memory.versions("eu", "a b.txt").len(),
        1,
        "the replica's version is kept"
    );
}

/// A replica replaced between the read and the delete (a newer put's) survives: the delete
/// carries `If-Match` on what was read, and after the 412 the target is decided again.
#[tokio::test(start_paused = true)]
async fn a_replica_replaced_under_the_delete_survives_through_if_match() {
    let (memory, etag) = world();
    let eu = FaultyStore::new(memory.clone());
    let replicator = Replicator::new(
        FaultyStore::new(memory.clone()),
        [Target {
            config: TargetConfig::new("eu", "eu", "eu-west-1"),
            store: eu.clone(),
        }],
    );
    let object = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DC00000001")),
        ..event("src", "a b.txt", &etag)
    };
    replicator.replicate(&object, &["eu".to_owned()]).await;
    memory
        .delete_object("src", "a b.txt", &WriteCondition::None)
        .await
        .unwrap();
    eu.delay(Operation::DeleteObject, std::time::Duration::from_secs(1));
    let newer = {
        let memory = memory.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let mut replica = memory.get("eu", "a b.txt").unwrap();
            replica
                .metadata
                .insert(META_SEQUENCER.into(), "0055AED6DC00000003".into());
            memory.put("eu", "a b.txt", b"newer", replica);
        })
    };
    let outcome = replicator
        .delete(
            &removed("a b.txt", Some("0055AED6DC00000002")),
            &["eu".to_owned()],
        )
        .await;
    newer.await.unwrap();
    assert_eq!(results(&outcome), [DeleteResult::KeptNewer]);
    assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"newer");
}

#[tokio::test]
async fn a_denied_delete_is_a_failure_of_that_target() {
    let (memory, replicator) = replicated_then_deleted("0055AED6DC00000001").await;
    memory.fail_next("dr", StoreErrorKind::AccessDenied, 10);
    let outcome = replicator
        .delete(&removed("a b.txt", Some("0055AED6DC00000002")), &names())
        .await;
    let DeleteOutcome::Failed { settled, failed } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(settled.len(), 1);
    assert_eq!(failed[0].target, "dr");
    assert_eq!(failed[0].error.kind, StoreErrorKind::AccessDenied);
}
