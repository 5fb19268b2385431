//! Large-object copies on the in-memory fakes: method choice, parts, the byte budget, the
//! `auto` fallback, aborted uploads and verification. The same paths against the emulator are
//! in `large_objects.rs`; this file steers what the emulator cannot (denials, cancellation,
//! corrupted bytes, concurrency of many copies).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use s3_replicator::config::{CopyMode, TargetConfig};
use s3_replicator::event::ObjectCreated;
use s3_replicator::replicate::{Outcome, Replicator, Target};
use s3_replicator::store::{ContentHeaders, Operation, StoreErrorKind, Tag};
use s3_replicator::testkit::faulty::FaultyStore;
use s3_replicator::testkit::memory::{MemoryStore, StoredObject};
use s3_replicator::transfer::Limits;
use s3_replicator::transfer::Method;

const MIB: u64 = 1024 * 1024;
type Store = FaultyStore<MemoryStore>;

/// 5 MiB parts above 5 MiB; 10 MiB of streamed parts in memory at most.
const LIMITS: Limits = Limits {
    multipart_threshold: 5 * MIB,
    part_size: 5 * MIB,
    max_inflight_bytes: 10 * MIB,
};

fn target(name: &str, store: Store, mode: CopyMode) -> Target<Store> {
    Target {
        config: TargetConfig {
            copy_mode: mode,
            ..TargetConfig::new(name, name, "eu-west-1")
        },
        store,
    }
}

/// A body whose every part differs, so that a part out of place shows.
fn body(size: u64) -> Vec<u8> {
    (0..size)
        .map(|i| (i % 251) as u8 ^ (i / MIB) as u8)
        .collect()
}

struct World {
    memory: MemoryStore,
    source: Store,
}

fn world() -> World {
    let memory = MemoryStore::new("daemon");
    for bucket in ["lake", "eu", "dr"] {
        memory.create_bucket(bucket);
    }
    World {
        source: FaultyStore::new(memory.clone()),
        memory,
    }
}

impl World {
    /// Stores `lake/key` of `size` bytes with headers, metadata and tags; returns its event.
    fn put(&self, key: &str, size: u64) -> ObjectCreated {
        let etag = self.memory.put(
            "lake",
            key,
            &body(size),
            StoredObject {
                headers: ContentHeaders {
                    content_type: Some("application/x-parquet".into()),
                    cache_control: Some("max-age=60".into()),
                    ..Default::default()
                },
                metadata: BTreeMap::from([("owner".into(), "data-eng".into())]),
                tags: vec![Tag {
                    key: "tier".into(),
                    value: "gold".into(),
                }],
                ..Default::default()
            },
        );
        ObjectCreated {
            bucket: "lake".into(),
            key: key.into(),
            region: "us-east-1".into(),
            version_id: None,
            etag: Some(etag),
            size,
            sequencer: None,
            event_time: time::OffsetDateTime::now_utc(),
            event_name: "ObjectCreated:Put".into(),
        }
    }

    /// A principal of its own for a target (another account's role).
    fn principal(&self, name: &str) -> Store {
        FaultyStore::new(self.memory.principal(name))
    }

    fn assert_replica(&self, bucket: &str, key: &str, size: u64) {
        let replica = self
            .memory
            .get(bucket, key)
            .unwrap_or_else(|| panic!("no replica in {bucket}"));
        assert!(replica.body == body(size), "bytes of {key} in {bucket}");
        assert_eq!(
            replica.headers.content_type.as_deref(),
            Some("application/x-parquet")
        );
        assert_eq!(replica.headers.cache_control.as_deref(), Some("max-age=60"));
        assert_eq!(replica.metadata["owner"], "data-eng");
        assert_eq!(replica.tags.len(), 1, "{:?}", replica.tags);
    }
}

fn methods(outcome: &Outcome) -> Vec<(String, Method)> {
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    let mut methods: Vec<_> = targets.iter().map(|t| (t.name.clone(), t.method)).collect();
    methods.sort_by(|a, b| a.0.cmp(&b.0));
    methods
}

#[tokio::test]
async fn above_the_threshold_server_side_copies_go_in_parts_and_streams_too() {
    let w = world();
    let size = 12 * MIB + 3;
    let event = w.put("big.parquet", size);
    let replicator = Replicator::new(
        w.source.clone(),
        [
            target("eu", w.source.clone(), CopyMode::ServerSide),
            target("dr", w.principal("dr-role"), CopyMode::Stream),
        ],
    )
    .with_limits(LIMITS);
    let outcome = replicator
        .replicate(&event, &["eu".into(), "dr".into()])
        .await;
    assert_eq!(
        methods(&outcome),
        [
            ("dr".to_owned(), Method::StreamedCopy),
            ("eu".to_owned(), Method::MultipartCopy)
        ]
    );
    w.assert_replica("eu", "big.parquet", size);
    w.assert_replica("dr", "big.parquet", size);
    assert_eq!(
        w.source.calls(Operation::UploadPartCopy),
        3,
        "5 + 5 + 2 MiB"
    );
    assert_eq!(w.memory.open_uploads(), 0);

    // Below the threshold: one CopyObject, one GetObject → PutObject.
    let small = w.put("small.csv", 1000);
    let outcome = replicator
        .replicate(&small, &["eu".into(), "dr".into()])
        .await;
    assert_eq!(
        methods(&outcome),
        [
            ("dr".to_owned(), Method::StreamedCopy),
            ("eu".to_owned(), Method::ServerSideCopy)
        ]
    );
    w.assert_replica("dr", "small.csv", 1000);

    // And a redelivery finds both large replicas in place.
    let again = replicator
        .replicate(&event, &["eu".into(), "dr".into()])
        .await;
    assert!(methods(&again)
        .iter()
        .all(|(_, m)| *m == Method::AlreadyPresent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streamed_copies_hold_no_more_than_the_byte_budget() {
    let w = world();
    let dr = w.principal("dr-role");
    // Slow writes make the reads pile up against the budget.
    dr.delay(Operation::UploadPart, Duration::from_millis(30));
    let replicator = Arc::new(
        Replicator::new(
            w.source.clone(),
            [target("dr", dr.clone(), CopyMode::Stream)],
        )
        .with_limits(LIMITS),
    );
    let sizes = [23 * MIB, 17 * MIB + 1, 6 * MIB, 4 * MIB];
    let mut copies = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let event = w.put(&format!("part-{i}"), size);
        let replicator = Arc::clone(&replicator);
        copies.push(tokio::spawn(async move {
            replicator.replicate(&event, &["dr".into()]).await
        }));
    }
    for copy in copies {
        let outcome = copy.await.unwrap();
        assert_eq!(methods(&outcome), [("dr".to_owned(), Method::StreamedCopy)]);
    }
    for (i, size) in sizes.into_iter().enumerate() {
        w.assert_replica("dr", &format!("part-{i}"), size);
    }
    let budget = replicator.transfer().budget();
    assert!(
        budget.peak() <= LIMITS.max_inflight_bytes,
        "peak {} > budget",
        budget.peak()
    );
    assert!(
        budget.peak() > LIMITS.part_size,
        "parts of several copies were in flight together: peak {}",
        budget.peak()
    );
    assert_eq!(budget.held(), 0, "every permit was returned");
}

#[tokio::test]
async fn auto_streams_when_the_server_side_copy_is_denied_and_remembers_it() {
    let w = world();
    let dr = w.principal("dr-role");
    dr.deny(Operation::CopyObject)
        .deny(Operation::UploadPartCopy);
    let replicator = Replicator::new(w.source.clone(), [target("dr", dr.clone(), CopyMode::Auto)])
        .with_limits(LIMITS);
    let big = w.put("big", 11 * MIB);
    let outcome = replicator.replicate(&big, &["dr".into()]).await;
    assert_eq!(methods(&outcome), [("dr".to_owned(), Method::StreamedCopy)]);
    assert_eq!(dr.calls(Operation::UploadPartCopy), 1, "denied once");
    assert_eq!(w.memory.open_uploads(), 0, "the denied upload was aborted");
    w.assert_replica("dr", "big", 11 * MIB);

    for i in 0..3 {
        let small = w.put(&format!("small-{i}"), 100);
        let outcome = replicator.replicate(&small, &["dr".into()]).await;
        assert_eq!(methods(&outcome), [("dr".to_owned(), Method::StreamedCopy)]);
    }
    assert_eq!(
        dr.calls(Operation::CopyObject) + dr.calls(Operation::UploadPartCopy),
        1,
        "the decision is remembered: no further server-side attempts"
    );
}

#[tokio::test]
async fn server_side_mode_reports_the_denial_instead_of_streaming() {
    let w = world();
    let dr = w.principal("dr-role");
    dr.deny(Operation::CopyObject);
    let replicator = Replicator::new(
        w.source.clone(),
        [target("dr", dr.clone(), CopyMode::ServerSide)],
    )
    .with_limits(LIMITS);
    let outcome = replicator
        .replicate(&w.put("small", 100), &["dr".into()])
        .await;
    let Outcome::TargetsFailed { failed, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(failed[0].error.kind, StoreErrorKind::AccessDenied);
    assert_eq!(dr.calls(Operation::GetObject), 0);
}

#[tokio::test]
async fn a_part_that_fails_aborts_the_upload_in_both_methods() {
    for (mode, operation) in [
        (CopyMode::ServerSide, Operation::UploadPartCopy),
        (CopyMode::Stream, Operation::UploadPart),
    ] {
        let w = world();
        let eu = w.principal("eu-role");
        eu.fail_part(operation, 2);
        let replicator =
            Replicator::new(w.source.clone(), [target("eu", eu.clone(), mode)]).with_limits(LIMITS);
        let outcome = replicator
            .replicate(&w.put("big", 16 * MIB), &["eu".into()])
            .await;
        let Outcome::TargetsFailed { failed, .. } = outcome else {
            panic!("{mode}: expected a failure, got {outcome:?}");
        };
        assert_eq!(failed[0].error.operation, operation, "{mode}");
        assert_eq!(eu.calls(Operation::AbortMultipartUpload), 1, "{mode}");
        assert_eq!(w.memory.open_uploads(), 0, "{mode}: nothing left behind");
        assert!(w.memory.get("eu", "big").is_none(), "{mode}: no replica");
        assert_eq!(eu.calls(Operation::CompleteMultipartUpload), 0, "{mode}");
    }
}

#[tokio::test]
async fn a_copy_dropped_midway_still_aborts_its_upload() {
    let w = world();
    let eu = w.principal("eu-role");
    eu.delay(Operation::UploadPartCopy, Duration::from_secs(30));
    let replicator = Arc::new(
        Replicator::new(
            w.source.clone(),
            [target("eu", eu.clone(), CopyMode::ServerSide)],
        )
        .with_limits(LIMITS),
    );
    let event = w.put("big", 16 * MIB);
    let copy = tokio::spawn({
        let replicator = Arc::clone(&replicator);
        async move { replicator.replicate(&event, &["eu".into()]).await }
    });
    while w.memory.open_uploads() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    copy.abort();
    let _ = copy.await;
    for _ in 0..200 {
        if w.memory.open_uploads() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(w.memory.open_uploads(), 0, "the guard aborted the upload");
}

#[tokio::test]
async fn a_replica_whose_bytes_differ_is_a_failed_copy() {
    for size in [100, 11 * MIB] {
        let w = world();
        let dr = w.principal("dr-role");
        dr.corrupt_writes();
        let replicator = Replicator::new(w.source.clone(), [target("dr", dr, CopyMode::Stream)])
            .with_limits(LIMITS);
        let outcome = replicator
            .replicate(&w.put("obj", size), &["dr".into()])
            .await;
        let Outcome::TargetsFailed { failed, .. } = outcome else {
            panic!("{size}: expected a failure, got {outcome:?}");
        };
        // The write carried the source's full-object checksum, so the store refused the bytes
        // itself (BadDigest, retried as damage in transit, then failed); no replica is left.
        assert_eq!(failed[0].error.kind, StoreErrorKind::Transient, "{size}");
        assert!(
            failed[0].error.message.contains("checksum"),
            "{}",
            failed[0].error
        );
        assert!(w.memory.get("dr", "obj").is_none(), "{size}");
        assert_eq!(w.memory.open_uploads(), 0, "{size}");
    }
}

/// Copies a 100-byte object server-side into `eu`, whose principal `setup` gave its faults;
/// returns what became of it, the target's store (its call counts) and the world.
async fn copy_small(setup: impl FnOnce(&Store)) -> (Outcome, Store, World) {
    let w = world();
    let eu = w.principal("eu-role");
    setup(&eu);
    let replicator = Replicator::new(
        w.source.clone(),
        [target("eu", eu.clone(), CopyMode::ServerSide)],
    )
    .with_limits(LIMITS);
    let outcome = replicator
        .replicate(&w.put("small", 100), &["eu".into()])
        .await;
    (outcome, eu, w)
}

/// A small copy whose answer carries the source's MD5 ETag is verified by that answer: the
/// target sees one `HeadObject` (is the object already there?), not a second one to read the
/// replica back.
#[tokio::test]
async fn a_copy_answered_with_the_source_etag_is_not_read_back() {
    let (outcome, eu, w) = copy_small(|_| {}).await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected a replica, got {outcome:?}");
    };
    assert_eq!(targets[0].method, Method::ServerSideCopy);
    w.assert_replica("eu", "small", 100);
    assert_eq!(eu.calls(Operation::CopyObject), 1);
    assert_eq!(
        eu.calls(Operation::HeadObject),
        1,
        "only the check before the copy"
    );
}

/// A copy that answers with another ETag than the source's MD5, to a target that does not
/// encrypt with KMS, wrote other bytes: read back, found unencrypted, failed.
#[tokio::test]
async fn a_copy_answered_with_another_etag_is_a_failed_copy() {
    let (outcome, eu, _w) = copy_small(|eu| {
        eu.misreport_copy_etags();
    })
    .await;
    let Outcome::TargetsFailed { failed, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(failed[0].error.kind, StoreErrorKind::BadResponse);
    assert!(
        failed[0]
            .error
            .message
            .contains("differs from the source's"),
        "{}",
        failed[0].error
    );
    assert_eq!(
        eu.calls(Operation::HeadObject),
        2,
        "the check and the read-back"
    );
}

/// A target bucket encrypted with SSE-KMS by default answers every copy with a non-MD5 ETag
/// the request did not ask for: the replica is read back and verified by size, recorded source
/// ETag and checksum instead of failing.
#[tokio::test]
async fn a_copy_into_a_bucket_with_default_kms_encryption_is_verified_by_reading_it_back() {
    let (outcome, eu, w) = copy_small(|eu| {
        eu.encrypt_with_kms_by_default();
    })
    .await;
    let Outcome::Replicated { targets, .. } = outcome else {
        panic!("expected a replica, got {outcome:?}");
    };
    assert_eq!(targets[0].method, Method::ServerSideCopy);
    w.assert_replica("eu", "small", 100);
    assert_eq!(
        eu.calls(Operation::HeadObject),
        2,
        "the check and the read-back"
    );
}
