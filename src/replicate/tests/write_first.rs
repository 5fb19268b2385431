//! A first delivery writes its targets at once, on the condition that the key is empty, and
//! reads a target only when that write says someone was there (412). The in-memory store
//! answers conditional copies as S3 does (moto 5.2.5 ignores `If-None-Match` on `CopyObject`,
//! which is why these cases are tested here).

use super::*;
use crate::testkit::faulty::FaultyStore;

type Counted = FaultyStore<MemoryStore>;

/// The source and two targets, each behind a store that counts its calls.
fn counted_world() -> (MemoryStore, String, Counted, Counted, Counted) {
    let (memory, etag) = world();
    let source = FaultyStore::new(memory.clone());
    let eu = FaultyStore::new(memory.clone());
    let dr = FaultyStore::new(memory.principal("dr-role"));
    (memory, etag, source, eu, dr)
}

fn counted_target(name: &str, store: Counted) -> Target<Counted> {
    Target {
        config: TargetConfig::new(name, name, "eu-west-1"),
        store,
    }
}

fn names() -> Vec<String> {
    vec!["eu".to_owned(), "dr".to_owned()]
}

#[tokio::test]
async fn a_first_delivery_writes_at_once_and_reads_no_target() {
    let (memory, etag, source, eu, dr) = counted_world();
    let replicator = Replicator::new(
        source.clone(),
        [
            counted_target("eu", eu.clone()),
            counted_target("dr", dr.clone()),
        ],
    );
    let object = event("src", "a b.txt", &etag);
    let outcome = replicator
        .replicate_with(&object, &names(), Approach::WriteFirst)
        .await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert!(targets.iter().all(|t| t.method == Method::ServerSideCopy));
    assert_eq!(source.calls(Operation::HeadObject), 1, "the source, once");
    assert_eq!(
        eu.calls(Operation::HeadObject),
        0,
        "no read before the write"
    );
    assert_eq!(
        dr.calls(Operation::HeadObject),
        0,
        "no read before the write"
    );
    assert_eq!(memory.copies(), 2);
    assert_eq!(memory.get("dr", "a b.txt").unwrap().body, b"hello");
}

#[tokio::test]
async fn a_resent_event_written_first_finds_its_replicas_present_through_the_412() {
    let (memory, etag, source, eu, dr) = counted_world();
    let replicator = Replicator::new(
        source,
        [
            counted_target("eu", eu.clone()),
            counted_target("dr", dr.clone()),
        ],
    );
    let object = event("src", "a b.txt", &etag);
    replicator
        .replicate_with(&object, &names(), Approach::WriteFirst)
        .await;
    let copies = memory.copies();
    // The same event again as a new message (so a first delivery again).
    let outcome = replicator
        .replicate_with(&object, &names(), Approach::WriteFirst)
        .await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert!(
        targets.iter().all(|t| t.method == Method::AlreadyPresent),
        "{targets:?}"
    );
    assert_eq!(memory.copies(), copies, "nothing written over the replicas");
    assert_eq!(
        eu.calls(Operation::HeadObject),
        1,
        "read once, after the 412"
    );
}

#[tokio::test]
async fn an_older_event_written_first_is_stopped_by_the_412_and_superseded() {
    let (memory, etag, source, eu, dr) = counted_world();
    let replicator = Replicator::new(source, [counted_target("eu", eu), counted_target("dr", dr)]);
    let newer = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E6")),
        ..event("src", "a b.txt", &etag)
    };
    replicator
        .replicate_with(&newer, &names(), Approach::WriteFirst)
        .await;
    // The replicas record another source version: only the sequencer can stop the older event.
    for bucket in ["eu", "dr"] {
        let mut replica = memory.get(bucket, "a b.txt").unwrap();
        replica
            .metadata
            .insert(META_SOURCE_ETAG.into(), "another-version".into());
        memory.put(bucket, "a b.txt", &replica.body.clone(), replica);
    }
    let copies = memory.copies();
    let older = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
        ..event("src", "a b.txt", &etag)
    };
    let outcome = replicator
        .replicate_with(&older, &names(), Approach::WriteFirst)
        .await;
    assert!(
        matches!(&outcome, Outcome::Superseded { reason } if reason.contains("newer event")),
        "{outcome:?}"
    );
    assert_eq!(memory.copies(), copies, "nothing older written");
    for bucket in ["eu", "dr"] {
        assert_eq!(
            memory.get(bucket, "a b.txt").unwrap().metadata[META_SEQUENCER],
            "0055AED6DCD90281E6"
        );
    }
}

#[tokio::test]
async fn targets_that_do_not_write_first_and_redeliveries_are_read_first() {
    let (_, etag, source, eu, dr) = counted_world();
    let mut no_write_first = counted_target("dr", dr.clone());
    no_write_first.config.write_first = false;
    let replicator = Replicator::new(source, [counted_target("eu", eu.clone()), no_write_first]);
    let object = event("src", "a b.txt", &etag);
    replicator
        .replicate_with(&object, &names(), Approach::WriteFirst)
        .await;
    assert_eq!(eu.calls(Operation::HeadObject), 0);
    assert_eq!(dr.calls(Operation::HeadObject), 1, "write_first = false");
    replicator
        .replicate_with(&object, &names(), Approach::ReadFirst)
        .await;
    assert_eq!(
        eu.calls(Operation::HeadObject),
        1,
        "a redelivery reads first"
    );
}

/// One target settles at once, the other only after a second (a slow copy); meanwhile a newer
/// event's replica replaces the first. The object must not count as replicated over bytes the
/// first target no longer holds: it is looked at again, and the event is superseded.
#[tokio::test(start_paused = true)]
async fn a_target_that_settled_long_before_the_others_is_looked_at_again() {
    let (memory, etag, source, eu, dr) = counted_world();
    dr.delay(Operation::CopyObject, std::time::Duration::from_secs(1));
    let replicator = Replicator::new(source, [counted_target("eu", eu), counted_target("dr", dr)]);
    let older = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
        ..event("src", "a b.txt", &etag)
    };
    let newer_replica = {
        let memory = memory.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let mut replica = memory.get("eu", "a b.txt").expect("eu settled first");
            replica
                .metadata
                .insert(META_SEQUENCER.into(), "0055AED6DCD90281E6".into());
            replica
                .metadata
                .insert(META_SOURCE_ETAG.into(), "the-newer-version".into());
            memory.put("eu", "a b.txt", b"newer", replica);
        })
    };
    let outcome = replicator
        .replicate_with(&older, &names(), Approach::WriteFirst)
        .await;
    newer_replica.await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Superseded { reason } if reason.contains("newer event")),
        "{outcome:?}"
    );
    assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"newer");
}
