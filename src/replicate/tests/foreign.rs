//! Targets on another S3 implementation (`endpoint_url`): always streamed, checksummed while
//! streaming, proven by checksums and never by their ETags, and written without the features
//! their store lacks.

use super::*;
use crate::metrics::TARGET_CAPABILITY_MISSING;
use crate::store::META_CONTENT_CHECKSUM;
use crate::testkit::memory::Lacks;
use crate::transfer::content;

/// A target on its own endpoint, on bucket `mirror` of the world.
fn foreign(source: &MemoryStore) -> Target<MemoryStore> {
    source.create_bucket("mirror");
    let mut t = target("mirror", "mirror", source.principal("mirror-keys"));
    t.config.endpoint_url = Some("http://127.0.0.1:9".into());
    t
}

fn done(outcome: &Outcome) -> &TargetReport {
    match outcome {
        Outcome::Replicated { targets, .. } => &targets[0],
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test]
async fn a_store_with_checksums_gets_the_computed_one_and_a_redelivery_is_proven_by_it() {
    let (source, etag) = world();
    let mirror = foreign(&source);
    // Its ETags mean nothing: only checksums may prove.
    source.lacks(
        "mirror",
        Lacks {
            md5_etags: true,
            ..Lacks::default()
        },
    );
    let replicator = Replicator::new(source.clone(), [mirror]);
    let names = vec!["mirror".to_owned()];
    let e = event("src", "a b.txt", &etag);
    let outcome = replicator.replicate(&e, &names).await;
    assert_eq!(done(&outcome).method, Method::StreamedCopy);
    let replica = source.get("mirror", "a b.txt").unwrap();
    assert_eq!(replica.body, b"hello");
    let computed = content::checksum_of(crate::store::ChecksumAlgorithm::Crc64Nvme, b"hello");
    assert_eq!(
        replica.metadata.get(META_CONTENT_CHECKSUM),
        Some(&content::recorded(&computed))
    );
    assert_eq!(replica.tags.len(), 1, "tags go with the bytes");
    // The redelivery finds it by its checksum: no second write.
    let outcome = replicator.replicate(&e, &names).await;
    assert_eq!(done(&outcome).method, Method::AlreadyPresent);
}

#[tokio::test]
async fn an_etag_that_looks_like_the_sources_md5_proves_nothing_on_another_store() {
    let (source, etag) = world();
    let mirror = foreign(&source);
    source.lacks(
        "mirror",
        Lacks {
            checksums: true,
            md5_etags: true,
            ..Lacks::default()
        },
    );
    // The key holds other bytes that record this source and carry the source's ETag as their
    // own: on S3 that ETag would be the MD5 of the content; here it is just a string.
    let replicator = Replicator::new(source.clone(), [mirror]);
    let names = vec!["mirror".to_owned()];
    let e = event("src", "a b.txt", &etag);
    done(&replicator.replicate(&e, &names).await);
    source.put(
        "mirror",
        "a b.txt",
        b"HELLO",
        StoredObject {
            metadata: source.get("mirror", "a b.txt").unwrap().metadata,
            ..Default::default()
        },
    );
    source.set_etag("mirror", "a b.txt", &etag);
    assert_eq!(source.get("mirror", "a b.txt").unwrap().etag, etag);
    let outcome = replicator.replicate(&e, &names).await;
    assert_eq!(
        done(&outcome).method,
        Method::StreamedCopy,
        "written again, not taken for present"
    );
    assert_eq!(source.get("mirror", "a b.txt").unwrap().body, b"hello");
}

#[tokio::test]
async fn features_the_store_lacks_are_detected_once_and_left_out() {
    let (source, etag) = world();
    let mirror = foreign(&source);
    source.lacks(
        "mirror",
        Lacks {
            checksums: true,
            tagging: true,
            conditional_writes: true,
            md5_etags: true,
        },
    );
    let replicator = Replicator::new(source.clone(), [mirror]);
    let names = vec!["mirror".to_owned()];
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &names)
        .await;
    assert_eq!(done(&outcome).method, Method::StreamedCopy);
    let replica = source.get("mirror", "a b.txt").unwrap();
    assert_eq!(replica.body, b"hello");
    assert!(replica.tags.is_empty());
    // Verified by size and the recorded checksum.
    assert!(replica.metadata.contains_key(META_CONTENT_CHECKSUM));
    for capability in ["tagging", "checksums", "conditional_writes"] {
        assert_eq!(
            replicator
                .metrics()
                .gauge(TARGET_CAPABILITY_MISSING, &["mirror", capability]),
            1,
            "{capability}"
        );
    }
    assert_eq!(
        replicator
            .metrics()
            .gauge(TARGET_CAPABILITY_MISSING, &["mirror", "storage_classes"]),
        0
    );
    // The probe object is gone.
    assert_eq!(source.objects("mirror", ".s3-replicator-probe/").len(), 0);
}

#[tokio::test]
async fn declared_capabilities_are_not_probed() {
    use crate::testkit::faulty::FaultyStore;
    let (memory, etag) = world();
    memory.create_bucket("mirror");
    let source = FaultyStore::new(memory.clone());
    let store = FaultyStore::new(memory.principal("mirror-keys"));
    let mut config = TargetConfig::new("mirror", "mirror", "auto");
    config.endpoint_url = Some("http://127.0.0.1:9".into());
    config.capabilities = crate::config::Capabilities {
        tagging: Some(false),
        conditional_writes: Some(true),
        checksums: Some(true),
        storage_classes: Some(true),
    };
    let replicator = Replicator::new(
        source,
        [Target {
            config,
            store: store.clone(),
        }],
    );
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &["mirror".to_owned()])
        .await;
    assert_eq!(done(&outcome).method, Method::StreamedCopy);
    assert!(memory.get("mirror", "a b.txt").unwrap().tags.is_empty());
    // The replica's one PutObject, no probe's.
    assert_eq!(store.calls(Operation::PutObject), 1);
    assert_eq!(store.calls(Operation::DeleteObject), 0);
    assert_eq!(
        replicator
            .metrics()
            .gauge(TARGET_CAPABILITY_MISSING, &["mirror", "tagging"]),
        1
    );
}

#[tokio::test]
async fn a_target_whose_credentials_are_refused_fails_naming_it() {
    let (source, etag) = world();
    let mirror = foreign(&source);
    source.principal("mirror-keys").deny("mirror");
    let replicator = Replicator::new(source.clone(), [mirror]);
    let outcome = replicator
        .replicate(&event("src", "a b.txt", &etag), &["mirror".to_owned()])
        .await;
    let Outcome::TargetsFailed {
        failed: failures, ..
    } = &outcome
    else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert_eq!(failures[0].target, "mirror");
    assert_eq!(failures[0].error.kind, StoreErrorKind::AccessDenied);
    assert!(source.get("mirror", "a b.txt").is_none());
}
