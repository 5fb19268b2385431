//! What S3 Replication does that the daemon does too, against the emulator: deletes (and
//! delete markers on a versioned target), the mass-delete guard, late completions, archived
//! sources and Object Lock.
//!
//! moto 5.2.5, as these tests meet it:
//! - sends `ObjectRemoved:Delete` for a delete in an unversioned bucket, with no sequencer (the
//!   daemon then asks the source whether the key was written again), and nothing for a delete
//!   marker in a versioned bucket (so the source here is unversioned);
//! - honours `If-Match` on `DeleteObject` (412 on another ETag, 404 on no object), as S3 does;
//! - answers a copy of an unrestored `GLACIER` object with `ObjectNotInActiveTierError` (S3:
//!   `InvalidObjectState`); a restore is done at once, and `ObjectRestore:Completed` is sent on
//!   the next `HeadObject` or `GetObject` of the object;
//! - refuses Object Lock headers on `CopyObject` unless `x-amz-sdk-checksum-algorithm` is sent
//!   (400 `MissingUploadObjectWithObjectLockHeaders`), which S3 does not ask for on copies and
//!   the SDK does not send: the Object Lock case here streams (`PutObject`, where S3 and moto
//!   both want the header, and the daemon sends it);
//! - counts a message sent with a delay in `ApproximateNumberOfMessagesDelayed`, as SQS does;
//!   its `ApproximateNumberOfMessagesNotVisible` read 6 in the storm test, with every message
//!   handled and two of them delayed, so only the delayed count is asserted there.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, StorageClass, VersioningConfiguration};

use crate::common::stack::{
    drain, put_object, queue_arn, queue_depth, receive_until, s3_with, set_notification_events,
    DR_REGION, EU_REGION, SOURCE_REGION,
};
use crate::common::{load_config, read_body, setup, wait_for_empty, Daemon};

const WAIT: Duration = Duration::from_secs(30);

/// The stack's configuration with `extra` added to its rule.
fn with_rule_keys(toml: &str, extra: &str) -> String {
    toml.replace(
        "targets = [\"analytics-eu\", \"dr-account\"]\n",
        &format!("targets = [\"analytics-eu\", \"dr-account\"]\n{extra}\n"),
    )
}

/// The source bucket notifies the event queue of `events`; the queue starts empty.
async fn notify(
    emulator: &crate::common::stack::Emulator,
    stack: &crate::common::stack::Stack,
    bucket: &str,
    events: &[&str],
) {
    let sqs = emulator.sqs();
    let arn = queue_arn(&sqs, &stack.queue_url).await;
    set_notification_events(&emulator.s3(SOURCE_REGION), bucket, Some(&arn), events).await;
    drain(&sqs, &stack.queue_url).await;
}

fn events(received: &[crate::common::stack::Received]) -> Vec<serde_json::Value> {
    received
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn a_delete_removes_the_replicas_a_versioned_target_keeps_a_delete_marker() {
    let (emulator, stack) = setup("del").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    eu.put_bucket_versioning()
        .bucket(&stack.eu_bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning on the eu target");
    notify(
        &emulator,
        &stack,
        &stack.source_bucket,
        &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
    )
    .await;
    let (config, _path) = load_config(&with_rule_keys(
        &stack.config_toml(),
        "deletes = \"replicate\"",
    ));
    let daemon = Daemon::start(config);

    put_object(
        &s3,
        &stack.source_bucket,
        "d/gone.csv",
        b"a,b\n",
        "text/csv",
        &[],
        None,
    )
    .await;
    put_object(
        &s3,
        &stack.source_bucket,
        "d/kept.csv",
        b"c,d\n",
        "text/csv",
        &[],
        None,
    )
    .await;
    let created = receive_until(&emulator.sqs(), &stack.completions_url, WAIT, |r| {
        r.len() >= 2
    })
    .await;
    assert_eq!(created.len(), 2, "both replicated first");
    s3.delete_object()
        .bucket(&stack.source_bucket)
        .key("d/gone.csv")
        .send()
        .await
        .expect("delete at the source");

    let received = receive_until(&emulator.sqs(), &stack.completions_url, WAIT, |r| {
        !r.is_empty()
    })
    .await;
    let deletions = events(&received);
    assert_eq!(deletions.len(), 1, "{deletions:?}");
    assert_eq!(
        received[0].attributes.get("status").map(String::as_str),
        Some("deleted")
    );
    let event = &deletions[0];
    assert_eq!(event["schema"], "s3-replicator.deletion.v1");
    assert_eq!(event["rule"], "lake");
    assert_eq!(event["source"]["key"], "d/gone.csv");
    assert_eq!(event["source"]["delete_marker"], false);
    let results: Vec<&str> = event["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["deleted", "deleted"]);
    // Announced only once both targets no longer hold it.
    assert_eq!(read_body(&eu, &stack.eu_bucket, "d/gone.csv").await, None);
    assert_eq!(read_body(&dr, &stack.dr_bucket, "d/gone.csv").await, None);
    assert!(read_body(&eu, &stack.eu_bucket, "d/kept.csv")
        .await
        .is_some());
    // The versioned target: a delete marker over the replica, whose version is kept.
    let versions = eu
        .list_object_versions()
        .bucket(&stack.eu_bucket)
        .prefix("d/gone.csv")
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.delete_markers().len(), 1);
    assert_eq!(versions.versions().len(), 1);
    wait_for_empty(&emulator.sqs(), &stack.queue_url, WAIT).await;
    daemon.stop().await;
}

#[tokio::test]
async fn the_mass_delete_guard_holds_deletes_past_its_limit_and_alerts_once() {
    let (emulator, stack) = setup("storm").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let eu = emulator.s3(EU_REGION);
    notify(
        &emulator,
        &stack,
        &stack.source_bucket,
        &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
    )
    .await;
    let (config, _path) = load_config(&with_rule_keys(
        &stack.config_toml(),
        "deletes = \"replicate\"\nmax_deletes_per_minute = 1",
    ));
    let daemon = Daemon::start(config);
    let keys = ["s/a", "s/b", "s/c"];
    for key in keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            b"x",
            "text/plain",
            &[],
            None,
        )
        .await;
    }
    let created = receive_until(&sqs, &stack.completions_url, WAIT, |r| r.len() >= 3).await;
    assert_eq!(created.len(), 3);
    for key in keys {
        s3.delete_object()
            .bucket(&stack.source_bucket)
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    let alerts = receive_until(&sqs, &stack.alerts_url, WAIT, |r| !r.is_empty()).await;
    let alerts = events(&alerts);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "delete_storm");
    assert_eq!(alerts[0]["rule"], "lake");
    // One delete went through; the two others wait in the queue, delayed, never dropped.
    let deletions = receive_until(&sqs, &stack.completions_url, WAIT, |r| !r.is_empty()).await;
    assert_eq!(deletions.len(), 1);
    let deadline = std::time::Instant::now() + WAIT;
    let delayed = loop {
        let out = sqs
            .get_queue_attributes()
            .queue_url(&stack.queue_url)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
            )
            .send()
            .await
            .expect("attributes");
        let delayed: u64 = out
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if delayed == 2 || std::time::Instant::now() > deadline {
            break delayed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(delayed, 2, "the held deletes are in the queue with a delay");
    let present = [
        read_body(&eu, &stack.eu_bucket, "s/a").await,
        read_body(&eu, &stack.eu_bucket, "s/b").await,
        read_body(&eu, &stack.eu_bucket, "s/c").await,
    ];
    assert_eq!(
        present.iter().filter(|p| p.is_some()).count(),
        2,
        "held: still replicated"
    );
    assert_eq!(
        daemon.metrics.counter("s3r_deletes_held_total", &["lake"]),
        2
    );
    daemon.stop().await;
}

#[tokio::test]
async fn completions_later_than_the_threshold_are_alerted_and_counted() {
    let (emulator, stack) = setup("late").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    // Written while no daemon runs: their completions come more than a second after the events.
    for key in ["l/1", "l/2", "l/3"] {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            b"x",
            "text/plain",
            &[],
            None,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (config, _path) = load_config(&with_rule_keys(&stack.config_toml(), "lag_alert_secs = 1"));
    let daemon = Daemon::start(config);
    let completions = receive_until(&sqs, &stack.completions_url, WAIT, |r| r.len() >= 3).await;
    assert_eq!(completions.len(), 3);
    for c in events(&completions) {
        assert!(c["latency_ms"].as_u64().unwrap() > 1000, "{c}");
    }
    let alerts = events(&receive_until(&sqs, &stack.alerts_url, WAIT, |r| !r.is_empty()).await);
    assert_eq!(
        alerts.len(),
        1,
        "the first at once, the rest in the window's summary: {alerts:?}"
    );
    assert_eq!(alerts[0]["kind"], "replication_late");
    assert!(alerts[0]["lag_ms"].as_u64().unwrap() > 1000);
    assert_eq!(
        daemon.metrics.counter("s3r_objects_late_total", &["lake"]),
        3
    );
    daemon.stop().await;
}

#[tokio::test]
async fn an_archived_source_is_alerted_then_restored_and_copied_when_the_restore_completes() {
    let (emulator, stack) = setup("cold").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let eu = emulator.s3(EU_REGION);
    notify(
        &emulator,
        &stack,
        &stack.source_bucket,
        &["s3:ObjectCreated:*", "s3:ObjectRestore:*"],
    )
    .await;
    let put_glacier = |key: &'static str| {
        let s3 = s3.clone();
        let bucket = stack.source_bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from_static(b"frozen"))
                .storage_class(StorageClass::Glacier)
                .send()
                .await
                .expect("put to GLACIER");
        }
    };

    // "alert" (the default): acknowledged with an alert that names the storage class.
    let (config, _path) = load_config(&stack.config_toml());
    let daemon = Daemon::start(config);
    put_glacier("c/alerted").await;
    let alerts = events(&receive_until(&sqs, &stack.alerts_url, WAIT, |r| !r.is_empty()).await);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "source_archived");
    assert!(alerts[0]["error"].as_str().unwrap().contains("GLACIER"));
    wait_for_empty(&sqs, &stack.queue_url, WAIT).await;
    assert_eq!(read_body(&eu, &stack.eu_bucket, "c/alerted").await, None);
    assert!(
        sqs_is_empty(&sqs, &stack.dlq_url).await,
        "acknowledged, not dead-lettered"
    );
    daemon.stop().await;

    // "restore": RestoreObject, then the copy on ObjectRestore:Completed.
    let (config, _path) = load_config(&with_rule_keys(
        &stack.config_toml(),
        "archived = \"restore\"\nrestore_tier = \"Bulk\"",
    ));
    let daemon = Daemon::start(config);
    put_glacier("c/restored").await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let head = s3
            .head_object()
            .bucket(&stack.source_bucket)
            .key("c/restored")
            .send()
            .await
            .expect("head");
        // moto restores at once, and announces ObjectRestore:Completed on this read.
        if head.restore().is_some() || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let completions =
        events(&receive_until(&sqs, &stack.completions_url, WAIT, |r| !r.is_empty()).await);
    assert_eq!(completions.len(), 1, "{completions:?}");
    assert_eq!(completions[0]["source"]["key"], "c/restored");
    assert_eq!(completions[0]["source"]["restored_from"], "GLACIER");
    assert_eq!(
        read_body(&eu, &stack.eu_bucket, "c/restored")
            .await
            .as_deref(),
        Some(b"frozen".as_slice())
    );
    assert_eq!(
        daemon
            .metrics
            .counter("s3r_sources_archived_total", &["lake", "restore_requested"]),
        1
    );
    daemon.stop().await;
}

async fn sqs_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    queue_depth(sqs, url).await == (0, 0)
}

#[tokio::test]
async fn object_lock_settings_reach_a_lock_enabled_target_and_a_bucket_without_lock_is_named() {
    let (emulator, stack) = setup("lock").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let eu = emulator.s3(EU_REGION);
    // The source and a second target bucket with Object Lock; the stack's dr bucket has none.
    let locked_source = format!("{}-locked", stack.source_bucket);
    s3.create_bucket()
        .bucket(&locked_source)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("lock-enabled source");
    let locked_target = format!("{}-locked", stack.eu_bucket);
    eu.create_bucket()
        .bucket(&locked_target)
        .object_lock_enabled_for_bucket(true)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(EU_REGION))
                .build(),
        )
        .send()
        .await
        .expect("lock-enabled target");
    notify(&emulator, &stack, &locked_source, &["s3:ObjectCreated:*"]).await;
    let toml = stack
        .config_toml()
        .replace(
            &format!("bucket = \"{}\"\n", stack.eu_bucket),
            &format!(
                "bucket = \"{locked_target}\"\ncopy_mode = \"stream\"\nobject_lock = \"copy\"\n"
            ),
        )
        .replace(
            &format!("role_arn = \"{}\"\n", crate::common::stack::ROLE_ARN),
            &format!(
                "role_arn = \"{}\"\ncopy_mode = \"stream\"\nobject_lock = \"copy\"\n",
                crate::common::stack::ROLE_ARN
            ),
        )
        .replace(
            &format!("source_bucket = \"{}\"", stack.source_bucket),
            &format!("source_bucket = \"{locked_source}\""),
        );
    let (config, _path) = load_config(&toml);
    let daemon = Daemon::start(config);
    let until = aws_smithy_types::DateTime::from_secs(1_924_992_000); // 2031-01-01
    s3.put_object()
        .bucket(&locked_source)
        .key("k/locked.csv")
        .body(ByteStream::from_static(b"kept"))
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .send()
        .await
        .expect("put a locked object");
    let alerts = events(&receive_until(&sqs, &stack.alerts_url, WAIT, |r| !r.is_empty()).await);
    assert_eq!(alerts[0]["kind"], "object_lock_unsupported", "{alerts:?}");
    assert_eq!(alerts[0]["target"]["name"], "dr-account");
    let head = eu
        .head_object()
        .bucket(&locked_target)
        .key("k/locked.csv")
        .send()
        .await
        .expect("the replica on the lock-enabled target");
    assert_eq!(
        head.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Governance)
    );
    assert_eq!(head.object_lock_retain_until_date(), Some(&until));
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
    );
    daemon.stop().await;
}

#[tokio::test]
async fn the_queue_reports_its_backlog_by_state() {
    use s3_replicator::queue::{MessageSource, QueueDepth};
    let (emulator, stack) = setup("depth").await;
    let sqs = emulator.sqs();
    for delay in [0, 0, 600] {
        sqs.send_message()
            .queue_url(&stack.queue_url)
            .message_body("{}")
            .delay_seconds(delay)
            .send()
            .await
            .expect("send");
    }
    let queue = s3_replicator::queue::sqs::SqsQueue::new(sqs.clone(), &stack.queue_url);
    let received = queue.receive(1, 0, 600).await.expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(
        queue.depth().await.expect("attributes"),
        Some(QueueDepth {
            visible: 1,
            in_flight: 1,
            delayed: 1,
        })
    );
}
