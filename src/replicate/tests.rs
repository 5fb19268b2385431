//! Tests of the replicator against the in-memory store: copies, skips, conflicts, races,
//! damaged bytes and regional sources.

use std::collections::BTreeMap;

use super::*;
use crate::event::Sequencer;
use crate::store::{
    ContentHeaders, Tag, META_SEQUENCER, META_SOURCE_BUCKET, META_SOURCE_ETAG,
    META_SOURCE_KEY_SHA256,
};
use crate::testkit::memory::{MemoryStore, StoredObject};

fn target(name: &str, bucket: &str, store: MemoryStore) -> Target<MemoryStore> {
    Target {
        config: TargetConfig::new(name, bucket, "eu-west-1"),
        store,
    }
}

fn event(bucket: &str, key: &str, etag: &str) -> ObjectCreated {
    ObjectCreated {
        bucket: bucket.into(),
        key: key.into(),
        region: "us-east-1".into(),
        version_id: None,
        etag: Some(etag.into()),
        size: 5,
        sequencer: None,
        event_time: time::OffsetDateTime::now_utc(),
        event_name: "ObjectCreated:Put".into(),
    }
}

fn world() -> (MemoryStore, String) {
    let source = MemoryStore::new("daemon");
    source.create_bucket("src");
    source.create_bucket("eu");
    source.create_bucket("dr");
    let etag = source.put(
        "src",
        "a b.txt",
        b"hello",
        StoredObject {
            headers: ContentHeaders {
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            metadata: BTreeMap::from([("owner".into(), "data".into())]),
            tags: vec![Tag {
                key: "t".into(),
                value: "1".into(),
            }],
            ..Default::default()
        },
    );
    (source, etag)
}

#[tokio::test]
async fn copies_content_headers_metadata_and_tags_then_skips_on_redelivery() {
    let (source, etag) = world();
    let replicator = Replicator::new(
        source.clone(),
        [
            target("eu", "eu", source.clone()),
            target("dr", "dr", source.principal("dr-role")),
        ],
    );
    let names = vec!["eu".to_owned(), "dr".to_owned()];
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &names)
        .await;
    let Outcome::Replicated {
        targets,
        source: report,
    } = outcome
    else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(report.etag, etag);
    assert!(targets.iter().all(|t| t.method == Method::ServerSideCopy));
    let replica = source.get("dr", "a b.txt").expect("replica in dr");
    assert_eq!(replica.body, b"hello");
    assert_eq!(replica.headers.content_type.as_deref(), Some("text/plain"));
    assert_eq!(replica.metadata["owner"], "data");
    assert_eq!(replica.metadata[META_SOURCE_ETAG], etag);
    assert_eq!(
        replica.tags,
        [Tag {
            key: "t".into(),
            value: "1".into()
        }]
    );

    let copies = source.copies();
    let again = replicator
        .replicate(&event("src", "a b.txt", &etag), &names)
        .await;
    let Outcome::Replicated { targets, .. } = again else {
        panic!("expected success, got {again:?}");
    };
    assert!(
        targets.iter().all(|t| t.method == Method::AlreadyPresent),
        "{targets:?}"
    );
    assert_eq!(source.copies(), copies, "a redelivery must not copy again");
}

#[tokio::test]
async fn a_failing_target_does_not_stop_the_healthy_one() {
    let (source, etag) = world();
    let dr = source.principal("dr-role");
    dr.deny("dr");
    let replicator = Replicator::new(
        source.clone(),
        [target("eu", "eu", source.clone()), target("dr", "dr", dr)],
    );
    let outcome = replicator
        .replicate(
            &event("src", "a b.txt", &etag),
            &["eu".to_owned(), "dr".to_owned()],
        )
        .await;
    let Outcome::TargetsFailed { succeeded, failed } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(succeeded.len(), 1);
    assert_eq!(failed[0].target, "dr");
    assert_eq!(failed[0].error.kind, StoreErrorKind::AccessDenied);
    assert!(source.get("eu", "a b.txt").is_some());
}

#[tokio::test]
async fn an_overwritten_source_supersedes_the_event() {
    let (source, _) = world();
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let outcome = replicator
        .replicate(&event("src", "a b.txt", "0123"), &["eu".to_owned()])
        .await;
    assert!(matches!(outcome, Outcome::Superseded { .. }), "{outcome:?}");
    assert!(source.get("eu", "a b.txt").is_none());
}

#[tokio::test]
async fn an_older_event_never_overwrites_a_newer_replica() {
    let (source, etag) = world();
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let names = ["eu".to_owned()];
    let newer = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E6")),
        ..event("src", "a b.txt", &etag)
    };
    let outcome = replicator.replicate(&newer, &names).await;
    assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
    assert_eq!(
        source.get("eu", "a b.txt").unwrap().metadata[META_SEQUENCER],
        "0055AED6DCD90281E6"
    );
    // The same source bytes announced by an older event (a versioned source re-read by
    // version id would look exactly like this): stale, nothing written.
    let copies = source.copies();
    let older = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
        ..event("src", "a b.txt", &etag)
    };
    // Make the replica differ from this source version, so that only the sequencer can stop
    // the copy (not the "already present" check).
    let mut replica = source.get("eu", "a b.txt").unwrap();
    replica
        .metadata
        .insert(META_SOURCE_ETAG.into(), "another-version".into());
    source.put("eu", "a b.txt", &replica.body.clone(), replica);
    let outcome = replicator.replicate(&older, &names).await;
    assert!(
        matches!(&outcome, Outcome::Superseded { reason } if reason.contains("newer event")),
        "{outcome:?}"
    );
    assert_eq!(source.copies(), copies, "nothing older may be written");
}

/// A replica in `bucket` at `key` that records `source`'s ETag and has its size, but other
/// bytes: what a copy that failed its check leaves behind.
fn bad_replica(store: &MemoryStore, bucket: &str, key: &str, etag: &str) {
    store.put(
        bucket,
        key,
        b"HELLO",
        StoredObject {
            metadata: BTreeMap::from([(META_SOURCE_ETAG.into(), etag.into())]),
            ..Default::default()
        },
    );
}

#[tokio::test]
async fn a_replica_that_failed_its_check_is_rewritten_not_counted_as_present() {
    let (source, etag) = world();
    bad_replica(&source, "eu", "a b.txt", &etag);
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &["eu".to_owned()])
        .await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_ne!(
        targets[0].method,
        Method::AlreadyPresent,
        "a replica of other bytes was announced as present"
    );
    assert_eq!(source.get("eu", "a b.txt").unwrap().body, b"hello");
}

/// A replicator that streams into `eu` of `memory`, through a target store that damages
/// the bytes it writes when `damaging`.
fn streaming_to_eu(
    memory: &MemoryStore,
    damaging: bool,
) -> Replicator<crate::testkit::faulty::FaultyStore<MemoryStore>> {
    use crate::testkit::faulty::FaultyStore;
    let store = FaultyStore::new(memory.clone());
    if damaging {
        store.corrupt_writes();
    }
    let mut eu = TargetConfig::new("eu", "eu", "eu-west-1");
    eu.copy_mode = crate::config::CopyMode::Stream;
    Replicator::new(
        FaultyStore::new(memory.clone()),
        [Target { config: eu, store }],
    )
}

#[tokio::test(start_paused = true)]
async fn a_corrupted_stream_is_refused_then_rewritten_on_redelivery() {
    let (memory, etag) = world();
    let first = streaming_to_eu(&memory, true);
    let event = event("src", "a b.txt", &etag);
    let outcome = first.replicate(&event, &["eu".to_owned()]).await;
    assert!(
        matches!(outcome, Outcome::TargetsFailed { .. }),
        "corrupted bytes must fail: {outcome:?}"
    );
    // The redelivery, on a healthy connection, must not trust what the failed write left.
    let second = streaming_to_eu(&memory, false);
    let outcome = second.replicate(&event, &["eu".to_owned()]).await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(targets[0].method, Method::StreamedCopy);
    assert_eq!(memory.get("eu", "a b.txt").unwrap().body, b"hello");
}

/// A source uploaded with a full-object CRC32C (another algorithm than the CRC64NVME S3
/// gives a multipart upload created without one), larger than the multipart threshold.
fn crc32c_source(store: &MemoryStore, size: usize) -> (String, ObjectCreated) {
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let etag = store.put(
        "src",
        "big.bin",
        &body,
        StoredObject {
            checksum: Some((crate::store::ChecksumAlgorithm::Crc32c, true)),
            ..Default::default()
        },
    );
    let mut event = event("src", "big.bin", &etag);
    event.size = size as u64;
    (etag, event)
}

const SMALL_PARTS: crate::transfer::Limits = crate::transfer::Limits {
    multipart_threshold: 5 * 1024 * 1024,
    part_size: 5 * 1024 * 1024,
    max_inflight_bytes: 20 * 1024 * 1024,
};

#[tokio::test(start_paused = true)]
async fn multipart_replicas_carry_the_sources_full_object_checksum_so_other_bytes_are_refused() {
    let (memory, _) = world();
    let (_, event) = crc32c_source(&memory, 11 * 1024 * 1024);
    // Streamed parts corrupted on the way: S3 must refuse to complete the object.
    let replicator = streaming_to_eu(&memory, true).with_limits(SMALL_PARTS);
    let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
    assert!(
        matches!(outcome, Outcome::TargetsFailed { .. }),
        "a multipart replica of other bytes was accepted: {outcome:?}"
    );
    assert!(memory.get("eu", "big.bin").is_none());
    assert_eq!(memory.open_uploads(), 0, "the refused upload is aborted");

    // Server-side, the replica gets the source's algorithm as a full-object checksum.
    let replicator = Replicator::new(memory.clone(), [target("dr", "dr", memory.clone())])
        .with_limits(SMALL_PARTS);
    let outcome = replicator.replicate(&event, &["dr".to_owned()]).await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(targets[0].method, Method::MultipartCopy);
    let head = memory
        .head_object(
            &ObjectRef {
                bucket: "dr".into(),
                key: "big.bin".into(),
                version_id: None,
            },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    let checksum = head.checksum.expect("a checksum");
    assert_eq!(checksum.algorithm, crate::store::ChecksumAlgorithm::Crc32c);
    assert!(checksum.full_object);
    // And a redelivery proves it present by that checksum, without copying again.
    let copies = memory.copies();
    let again = replicator.replicate(&event, &["dr".to_owned()]).await;
    let Outcome::Replicated { targets, .. } = again else {
        panic!("expected success, got {again:?}");
    };
    assert_eq!(targets[0].method, Method::AlreadyPresent);
    assert_eq!(memory.copies(), copies);
}

/// A streamed multipart copy of a source without a full-object checksum: nothing S3 keeps
/// can compare source and replica, so the daemon's own record of the bytes it sent must.
#[tokio::test(start_paused = true)]
async fn a_streamed_copy_damaged_on_the_way_fails_even_without_source_checksums() {
    let (memory, _) = world();
    let body: Vec<u8> = (0..11 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let etag = memory.put(
        "src",
        "big.bin",
        &body,
        StoredObject {
            // A composite checksum: not comparable with any replica's.
            checksum: Some((crate::store::ChecksumAlgorithm::Crc32, false)),
            ..Default::default()
        },
    );
    let mut event = event("src", "big.bin", &etag);
    event.size = body.len() as u64;
    let replicator = streaming_to_eu(&memory, true).with_limits(SMALL_PARTS);
    let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
    let Outcome::TargetsFailed { failed, .. } = outcome else {
        panic!("damaged bytes were accepted: {outcome:?}");
    };
    assert!(
        failed[0].error.message.contains("bytes sent"),
        "{}",
        failed[0].error
    );
}

/// Two daemons, two versions of one versioned key: the older event reads the target
/// before the newer one writes, and its copy lands last.
#[tokio::test(start_paused = true)]
async fn an_older_version_landing_last_never_overwrites_the_newer_one() {
    use crate::testkit::faulty::FaultyStore;
    use std::time::Duration;
    let (memory, _) = world();
    memory.enable_versioning("src");
    let (old_etag, old_version) =
        memory.put_version("src", "k.csv", b"version one", StoredObject::default());
    let (new_etag, new_version) =
        memory.put_version("src", "k.csv", b"version two", StoredObject::default());
    let announce = |etag: &str, version: Option<String>, sequencer: &str| ObjectCreated {
        version_id: version,
        sequencer: Some(Sequencer::new(sequencer)),
        size: 11,
        ..event("src", "k.csv", etag)
    };
    let older = announce(&old_etag, old_version, "0055AED6DCD9028101");
    let newer = announce(&new_etag, new_version, "0055AED6DCD9028102");
    // Daemon A's copies reach S3 five seconds after they are sent.
    let slow = FaultyStore::new(memory.clone());
    slow.delay(Operation::CopyObject, Duration::from_secs(5));
    let a = SlowTargets {
        source: memory.clone(),
        slow,
    };
    let b = Replicator::new(memory.clone(), [target("eu", "eu", memory.clone())]);
    let names = ["eu".to_owned()];
    let (old_outcome, new_outcome) = tokio::join!(a.replicate(&older, &names), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        b.replicate(&newer, &names).await
    });
    assert!(
        matches!(new_outcome, Outcome::Replicated { .. }),
        "{new_outcome:?}"
    );
    assert!(
        matches!(old_outcome, Outcome::Superseded { .. }),
        "the older event must not be announced: {old_outcome:?}"
    );
    let replica = memory.get("eu", "k.csv").unwrap();
    assert_eq!(
        replica.body, b"version two",
        "the older copy overwrote the newer"
    );
    assert_eq!(replica.metadata[META_SEQUENCER], "0055AED6DCD9028102");
}

/// Daemon A of the race above: its target writes go through a slow store.
struct SlowTargets {
    source: MemoryStore,
    slow: crate::testkit::faulty::FaultyStore<MemoryStore>,
}

impl SlowTargets {
    async fn replicate(&self, object: &ObjectCreated, names: &[String]) -> Outcome {
        let replicator = Replicator::new(
            crate::testkit::faulty::FaultyStore::new(self.source.clone()),
            [Target {
                config: TargetConfig::new("eu", "eu", "eu-west-1"),
                store: self.slow.clone(),
            }],
        );
        replicator.replicate(object, names).await
    }
}

#[tokio::test]
async fn a_replica_of_another_source_is_a_conflict_never_newer_or_overwritten() {
    let (source, etag) = world();
    source.put(
        "eu",
        "a b.txt",
        b"other",
        StoredObject {
            metadata: BTreeMap::from([
                (META_SOURCE_BUCKET.into(), "another-bucket".into()),
                (META_SOURCE_KEY_SHA256.into(), source_key_digest("a b.txt")),
                (META_SOURCE_ETAG.into(), "e".into()),
                (META_SEQUENCER.into(), "FFFFFFFFFFFFFFFFFF".into()),
            ]),
            ..Default::default()
        },
    );
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let event = ObjectCreated {
        sequencer: Some(Sequencer::new("0055AED6DCD90281E5")),
        ..event("src", "a b.txt", &etag)
    };
    let outcome = replicator.replicate(&event, &["eu".to_owned()]).await;
    let Outcome::TargetsFailed { failed, .. } = outcome else {
        panic!("expected a conflict, got {outcome:?}");
    };
    assert_eq!(failed[0].error.kind, StoreErrorKind::ReplicaConflict);
    assert_eq!(source.get("eu", "a b.txt").unwrap().body, b"other");
}

#[tokio::test]
async fn metadata_beyond_s3s_limit_fails_once_with_a_clear_error() {
    let (source, _) = world();
    let etag = source.put(
        "src",
        "m.txt",
        b"hello",
        StoredObject {
            metadata: BTreeMap::from([("note".into(), "x".repeat(1900))]),
            ..Default::default()
        },
    );
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let outcome = replicator
        .replicate(&event("src", "m.txt", &etag), &["eu".to_owned()])
        .await;
    let Outcome::SourceFailed(e) = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(e.kind, StoreErrorKind::MetadataTooLarge);
    assert!(e.message.contains("2048"), "{e}");
    assert_eq!(source.copies(), 0);
}

#[tokio::test]
async fn sources_are_read_in_the_events_region() {
    let (source, etag) = world();
    // The daemon's home-region client may not read the source bucket; a client made for
    // the event's region can.
    let home = source.principal("home");
    home.deny("src");
    let eu_reader = source.clone();
    let replicator = Replicator::new(home, [target("dr", "dr", source.clone())])
        .with_regional_sources("us-east-1", move |region| {
            assert_eq!(region, "eu-central-1");
            eu_reader.clone()
        });
    let event = ObjectCreated {
        region: "eu-central-1".into(),
        ..event("src", "a b.txt", &etag)
    };
    let outcome = replicator.replicate(&event, &["dr".to_owned()]).await;
    assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
}

#[tokio::test]
async fn key_prefix_and_storage_class_apply() {
    let (source, etag) = world();
    let mut eu = target("eu", "eu", source.clone());
    eu.config.key_prefix = Some("replica/".into());
    eu.config.storage_class = Some("STANDARD_IA".into());
    let replicator = Replicator::new(source.clone(), [eu]);
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &["eu".to_owned()])
        .await;
    assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
    let replica = source
        .get("eu", "replica/a b.txt")
        .expect("prefixed replica");
    assert_eq!(replica.storage_class.as_deref(), Some("STANDARD_IA"));
}

/// First deliveries written at once (`Approach::WriteFirst`).
mod delete;
mod foreign;
mod write_first;

/// A backfill copies the current version of a versioned source, and its replica records no
/// sequencer (a listing has none). A redelivered event of an older version then cannot be
/// ordered by sequencers: the source says which version is current (simulation seeds 1396,
/// 2922).
#[tokio::test]
async fn an_older_version_does_not_overwrite_a_backfilled_replica() {
    let (source, _) = world();
    source.enable_versioning("src");
    let (old_etag, old_version) =
        source.put_version("src", "v.txt", b"old", StoredObject::default());
    let (new_etag, _) = source.put_version("src", "v.txt", b"new", StoredObject::default());
    let replicator = Replicator::new(source.clone(), [target("eu", "eu", source.clone())]);
    let names = vec!["eu".to_owned()];
    // The backfill: the current object, no version named, no sequencer.
    let backfill = ObjectCreated {
        size: 3,
        ..event("src", "v.txt", &new_etag)
    };
    let outcome = replicator.replicate(&backfill, &names).await;
    assert!(matches!(outcome, Outcome::Replicated { .. }), "{outcome:?}");
    assert!(!source
        .get("eu", "v.txt")
        .unwrap()
        .metadata
        .contains_key(META_SEQUENCER));
    // The older version's event, redelivered.
    let older = ObjectCreated {
        version_id: old_version,
        sequencer: Some(Sequencer::new("0055AED6DC00000001")),
        size: 3,
        ..event("src", "v.txt", &old_etag)
    };
    let outcome = replicator.replicate(&older, &names).await;
    assert!(
        matches!(&outcome, Outcome::Superseded { reason } if reason.contains("backfill")),
        "{outcome:?}"
    );
    assert_eq!(source.get("eu", "v.txt").unwrap().body, b"new");
}
