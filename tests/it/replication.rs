//! The pipeline end to end against the local emulator: S3 notification → SQS → daemon →
//! both targets → completion on SNS → message deleted.

use crate::common;
mod contract;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

/// Keys that have broken replication tools: form encoding (`+`, space), percent signs,
/// URL metacharacters, non-ASCII, very deep paths.
fn odd_keys() -> Vec<String> {
    let deep: String = (0..40).map(|i| format!("level{i}/")).collect();
    vec![
        "plain/part-0.parquet".to_owned(),
        "with space/and+plus/a b+c.csv".to_owned(),
        "percent/100%25 done %2B%20.txt".to_owned(),
        "query?and#hash/x?y=1#z".to_owned(),
        "unicode/données/日本語/ü-ß-é.json".to_owned(),
        format!("{deep}leaf.bin"),
        "empty/zero-bytes".to_owned(),
    ]
}

fn body_for(key: &str) -> Vec<u8> {
    if key.starts_with("empty/") {
        Vec::new()
    } else {
        format!("content of {key}\n").repeat(3).into_bytes()
    }
}

struct Replica {
    body: Vec<u8>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Replica> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let content_type = out.content_type().map(str::to_owned);
    let metadata = out
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let body = out.body.collect().await.ok()?.into_bytes().to_vec();
    let tags = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    Some(Replica {
        body,
        content_type,
        metadata,
        tags,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_keys_reach_both_targets_intact_and_completion_comes_after_both() {
    let (emulator, stack) = setup("odd").await;
    let (config, _file) = load_config(&stack.config_toml());
    let daemon = Daemon::start(config);

    let s3 = emulator.s3(SOURCE_REGION);
    let eu = emulator.s3(EU_REGION);
    let second = emulator.second_account().await;
    let dr = s3_with(&second, DR_REGION);

    let keys = odd_keys();
    let mut etags = BTreeMap::new();
    for key in &keys {
        let etag = put_object(
            &s3,
            &stack.source_bucket,
            key,
            &body_for(key),
            "application/x-test",
            &[("owner", "data-eng"), ("origin", "odd keys")],
            Some("team=data%20eng&tier=gold"),
        )
        .await;
        etags.insert(key.clone(), etag);
    }

    // Read both targets the moment each completion arrives: a completion must never come early.
    let sqs = emulator.sqs();
    let mut completed = HashSet::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while completed.len() < keys.len() && std::time::Instant::now() < deadline {
        for message in receive_until(&sqs, &stack.completions_url, Duration::from_secs(2), |r| {
            !r.is_empty()
        })
        .await
        {
            let event: Value = serde_json::from_str(&message.body).expect("completion is JSON");
            let key = event["source"]["key"]
                .as_str()
                .expect("source key")
                .to_owned();
            for (bucket, client) in [(&stack.eu_bucket, &eu), (&stack.dr_bucket, &dr)] {
                let replica = read(client, bucket, &key).await.unwrap_or_else(|| {
                    panic!("completion for {key:?} arrived before s3://{bucket} held it")
                });
                assert_eq!(replica.body, body_for(&key), "bytes of {key:?} in {bucket}");
            }
            assert_eq!(event["schema"], "s3-replicator.completion.v1");
            assert_eq!(event["rule"], "lake");
            assert_eq!(event["source"]["bucket"], stack.source_bucket.as_str());
            assert_eq!(event["source"]["etag"], etags[&key].as_str());
            assert_eq!(event["source"]["size"], body_for(&key).len() as u64);
            let targets = event["targets"].as_array().expect("targets");
            let names: HashSet<_> = targets
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, HashSet::from(["analytics-eu", "dr-account"]));
            for target in targets {
                assert_eq!(target["key"], key.as_str());
                assert_eq!(target["method"], "server_side_copy");
            }
            assert_eq!(
                message.attributes.get("source_bucket"),
                Some(&stack.source_bucket)
            );
            assert_eq!(
                message.attributes.get("rule").map(String::as_str),
                Some("lake")
            );
            assert_eq!(
                message.attributes.get("status").map(String::as_str),
                Some("completed")
            );
            assert!(completed.insert(key), "one completion per object");
        }
    }
    assert_eq!(
        completed,
        keys.iter().cloned().collect::<HashSet<_>>(),
        "every object completed"
    );

    for key in &keys {
        for (bucket, client) in [(&stack.eu_bucket, &eu), (&stack.dr_bucket, &dr)] {
            let replica = read(client, bucket, key).await.expect("replica");
            assert_eq!(
                replica.content_type.as_deref(),
                Some("application/x-test"),
                "{key:?} in {bucket}"
            );
            assert_eq!(
                replica.metadata.get("owner").map(String::as_str),
                Some("data-eng")
            );
            assert_eq!(
                replica.metadata.get("origin").map(String::as_str),
                Some("odd keys")
            );
            assert_eq!(replica.metadata.get("s3r-source-etag"), Some(&etags[key]));
            assert_eq!(
                replica.tags,
                BTreeMap::from([
                    ("team".to_owned(), "data eng".to_owned()),
                    ("tier".to_owned(), "gold".to_owned())
                ]),
                "tags of {key:?} in {bucket}"
            );
        }
    }

    // The cross-account replica lives in the second account: its bucket is that account's.
    let own: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .expect("list buckets")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    let theirs: Vec<String> = dr
        .list_buckets()
        .send()
        .await
        .expect("list buckets as the second account")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert!(theirs.contains(&stack.dr_bucket) && !own.contains(&stack.dr_bucket));

    // Every message was deleted after its completion.
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_bucket_alerts_keeps_the_message_and_still_writes_healthy_targets() {
    let (emulator, stack) = setup("missing").await;
    let missing = format!("{}-does-not-exist", stack.name);
    let toml = stack.config_toml().replace(
        r#"targets = ["analytics-eu", "dr-account"]"#,
        r#"targets = ["analytics-eu", "dr-account", "nowhere"]"#,
    ) + &format!(
        "\n[[targets]]\nname = \"nowhere\"\nbucket = \"{missing}\"\nregion = \"{EU_REGION}\"\n"
    );
    let (config, _file) = load_config(&toml);
    let daemon = Daemon::start(config);

    let s3 = emulator.s3(SOURCE_REGION);
    put_object(
        &s3,
        &stack.source_bucket,
        "d=1/part-0.csv",
        b"a,b\n",
        "text/csv",
        &[],
        None,
    )
    .await;

    let sqs = emulator.sqs();
    let alerts = receive_until(&sqs, &stack.alerts_url, DEADLINE, |r| !r.is_empty()).await;
    let alert: Value =
        serde_json::from_str(&alerts.first().expect("an alert").body).expect("alert JSON");
    assert_eq!(alert["schema"], "s3-replicator.alert.v1");
    assert_eq!(alert["kind"], "copy_failed");
    assert_eq!(alert["target"]["name"], "nowhere");
    assert_eq!(alert["target"]["bucket"], missing.as_str());
    assert_eq!(alert["source"]["key"], "d=1/part-0.csv");
    assert!(
        alert["error"].as_str().unwrap().contains("no such bucket"),
        "{alert}"
    );
    assert!(!alert["action"].as_str().unwrap().is_empty());

    // The healthy targets were written all the same.
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    assert!(read(&eu, &stack.eu_bucket, "d=1/part-0.csv")
        .await
        .is_some());
    assert!(read(&dr, &stack.dr_bucket, "d=1/part-0.csv")
        .await
        .is_some());

    daemon.stop().await;
    // No completion, and the message is still in the queue (in flight until its visibility ends).
    let completions = receive_until(&sqs, &stack.completions_url, Duration::from_secs(2), |r| {
        !r.is_empty()
    })
    .await;
    assert!(
        completions.is_empty(),
        "no completion may be published: {completions:?}"
    );
    let (visible, in_flight) = queue_depth(&sqs, &stack.queue_url).await;
    assert_eq!(visible + in_flight, 1, "the message stays in the queue");
}

/// Uploads objects with the notification disabled, then sends hand-written events.
async fn quiet_upload(
    emulator: &Emulator,
    stack: &Stack,
    keys: &[&str],
) -> BTreeMap<String, String> {
    let s3 = emulator.s3(SOURCE_REGION);
    set_notification(&s3, &stack.source_bucket, None).await;
    let mut etags = BTreeMap::new();
    for key in keys {
        let etag = put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/plain",
            &[],
            None,
        )
        .await;
        etags.insert((*key).to_owned(), etag);
    }
    drain(&emulator.sqs(), &stack.queue_url).await;
    etags
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, body: &str) {
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("send");
}

fn s3_event(bucket: &str, encoded_key: &str, etag: &str, size: usize) -> Value {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "hand-written",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encoded_key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}}
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_wrapped_eventbridge_and_test_events_sent_by_hand() {
    let (emulator, stack) = setup("shapes").await;
    let etags = quiet_upload(&emulator, &stack, &["sns/a b.txt", "eb/c+d.txt"]).await;
    let sqs = emulator.sqs();

    let inner = s3_event(
        &stack.source_bucket,
        "sns/a+b.txt",
        &etags["sns/a b.txt"],
        10,
    );
    let sns_envelope = serde_json::json!({
        "Type": "Notification", "MessageId": "4a9f0c1e-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:s3-events",
        "Subject": "Amazon S3 Notification", "Message": inner.to_string(),
        "Timestamp": "2026-11-21T10:00:00.100Z", "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl", "SigningCertURL": "https://example.invalid/cert.pem",
        "UnsubscribeURL": "https://example.invalid/unsubscribe"
    });
    let eventbridge = serde_json::json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2026-11-21T10:00:00Z",
        "region": "us-east-1", "resources": [format!("arn:aws:s3:::{}", stack.source_bucket)],
        "detail": {"version": "0", "bucket": {"name": stack.source_bucket},
                   "object": {"key": "eb/c+d.txt", "size": 8, "etag": etags["eb/c+d.txt"], "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                   "source-ip-address": "127.0.0.1", "reason": "PutObject"}
    });
    let test_event = serde_json::json!({
        "Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-21T10:00:00.000Z",
        "Bucket": stack.source_bucket, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    });
    send(&sqs, &stack.queue_url, &sns_envelope.to_string()).await;
    send(&sqs, &stack.queue_url, &eventbridge.to_string()).await;
    send(&sqs, &stack.queue_url, &test_event.to_string()).await;

    let (config, _file) = load_config(&stack.config_toml());
    let daemon = Daemon::start(config);
    let completions = receive_until(&sqs, &stack.completions_url, DEADLINE, |r| r.len() >= 2).await;
    let keys: HashSet<String> = completions
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(&m.body).unwrap()["source"]["key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["sns/a b.txt".to_owned(), "eb/c+d.txt".to_owned()])
    );
    // All three messages are gone: the test event acknowledged, the others completed.
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    daemon.stop().await;
    let alerts = receive_until(&sqs, &stack.alerts_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await;
    assert!(alerts.is_empty(), "no alert expected: {alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_alerted_with_its_body_and_reaches_the_dead_letter_queue() {
    let (emulator, stack) = setup("malformed").await;
    let sqs = emulator.sqs();
    // A short visibility timeout so that the redrive policy's receive count runs out quickly.
    let toml = stack.config_toml().replace(
        "visibility_timeout_secs = 30",
        "visibility_timeout_secs = 1",
    );
    let (config, _file) = load_config(&toml);
    send(&sqs, &stack.queue_url, "this is { not an S3 event").await;
    let daemon = Daemon::start(config);

    let alerts = receive_until(&sqs, &stack.alerts_url, DEADLINE, |r| !r.is_empty()).await;
    let alert: Value = serde_json::from_str(&alerts.first().expect("an alert").body).unwrap();
    assert_eq!(alert["kind"], "malformed_message");
    assert_eq!(alert["body_excerpt"], "this is { not an S3 event");
    assert!(alert["message_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    // Never deleted by the daemon: SQS moves it to the DLQ after maxReceiveCount receives.
    let dead = receive_until(&sqs, &stack.dlq_url, DEADLINE, |r| !r.is_empty()).await;
    assert_eq!(
        dead.first().map(|m| m.body.as_str()),
        Some("this is { not an S3 event")
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefix_storage_class_and_kms_key_apply_to_the_replica() {
    let (emulator, stack) = setup("options").await;
    let kms_key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let toml = stack.config_toml().replace(
        &format!("region = \"{EU_REGION}\"\n"),
        &format!(
            "region = \"{EU_REGION}\"\nkey_prefix = \"replica/\"\nstorage_class = \"STANDARD_IA\"\nsse_kms_key_id = \"{kms_key}\"\n"
        ),
    );
    let (config, _file) = load_config(&toml);
    let daemon = Daemon::start(config);
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        "d=2/x.json",
        b"{}",
        "application/json",
        &[],
        None,
    )
    .await;

    let sqs = emulator.sqs();
    let completions =
        receive_until(&sqs, &stack.completions_url, DEADLINE, |r| !r.is_empty()).await;
    let event: Value =
        serde_json::from_str(&completions.first().expect("a completion").body).unwrap();
    let eu_report = event["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "analytics-eu")
        .expect("analytics-eu in the completion")
        .clone();
    assert_eq!(eu_report["key"], "replica/d=2/x.json");

    let head = emulator
        .s3(EU_REGION)
        .head_object()
        .bucket(&stack.eu_bucket)
        .key("replica/d=2/x.json")
        .send()
        .await
        .expect("the replica is under the key prefix");
    assert_eq!(
        head.storage_class().map(|s| s.as_str()),
        Some("STANDARD_IA")
    );
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    assert_eq!(head.ssekms_key_id(), Some(kms_key));
    assert_eq!(head.content_type(), Some("application/json"));
    daemon.stop().await;
}

/// `aws.s3_endpoint_url` alone carries S3: with `aws.endpoint_url` on a closed port, the
/// daemon's S3 stores (source and target, as `build_replicator` makes them) still read the
/// emulator; without the S3 key the same reads fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_endpoint_url_carries_s3_while_endpoint_url_is_elsewhere() {
    use s3_replicator::store::{ObjectRef, ObjectStore};

    let (emulator, stack) = setup("s3-endpoint").await;
    let body = b"reached through aws.s3_endpoint_url".to_vec();
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        "only-s3/source.txt",
        &body,
        "text/plain",
        &[],
        None,
    )
    .await;
    put_object(
        &emulator.s3(EU_REGION),
        &stack.eu_bucket,
        "only-s3/replica.txt",
        b"x",
        "text/plain",
        &[],
        None,
    )
    .await;
    let source = ObjectRef {
        bucket: stack.source_bucket.clone(),
        key: "only-s3/source.txt".into(),
        version_id: None,
    };
    let replica = ObjectRef {
        bucket: stack.eu_bucket.clone(),
        key: "only-s3/replica.txt".into(),
        version_id: None,
    };
    let shared = format!("endpoint_url = \"{}\"", stack.endpoint);
    let closed = format!("endpoint_url = \"http://127.0.0.1:{}\"", ops::closed_port());

    let toml = stack.config_toml().replace(
        &shared,
        &format!("{closed}\ns3_endpoint_url = \"{}\"", stack.endpoint),
    );
    let (config, _file) = load_config(&toml);
    let replicator = wiring(&config).await.replicator(&config).await;
    let head = replicator
        .source()
        .head_object(&source, None)
        .await
        .expect("the source is read through aws.s3_endpoint_url");
    assert_eq!(head.map(|h| h.size), Some(body.len() as u64));
    let eu = &replicator.target("analytics-eu").expect("target").store;
    let head = eu
        .head_object(&replica, None)
        .await
        .expect("the target is read through aws.s3_endpoint_url");
    assert_eq!(head.map(|h| h.size), Some(1));

    // The control: without the S3 key, S3 follows endpoint_url to the closed port.
    let (config, _file) = load_config(&stack.config_toml().replace(&shared, &closed));
    let replicator = wiring(&config).await.replicator(&config).await;
    let err = replicator
        .source()
        .head_object(&source, None)
        .await
        .expect_err("S3 on the closed port");
    assert_eq!(
        err.kind,
        s3_replicator::store::StoreErrorKind::Transient,
        "{err}"
    );
}

/// The S3 adapter's conditional writes against the emulator: what moto enforces, and what it
/// does not (there, the in-memory store's tests in `replicate.rs` stand in for AWS).
#[tokio::test]
async fn conditional_writes_reach_the_store_and_a_failed_condition_is_a_precondition_failure() {
    use s3_replicator::store::s3::S3Store;
    use s3_replicator::store::{
        CopyRequest, NewObject, ObjectRef, ObjectStore, StoreErrorKind, WriteCondition,
    };
    let (emulator, stack) = setup("cond").await;
    let store = S3Store::new(emulator.s3("us-east-1"));
    let object = |key: &str, condition: WriteCondition| NewObject {
        bucket: stack.eu_bucket.clone(),
        key: key.to_owned(),
        condition,
        ..Default::default()
    };
    let first = store
        .put_object(&object("k", WriteCondition::Absent), "one".into())
        .await
        .expect("If-None-Match: * on an empty key writes");
    // PutObject: both conditions are enforced by moto, as by S3.
    let err = store
        .put_object(&object("k", WriteCondition::Absent), "two".into())
        .await
        .expect_err("If-None-Match: * on a taken key");
    assert_eq!(err.kind, StoreErrorKind::PreconditionFailed, "{err}");
    let err = store
        .put_object(
            &object("k", WriteCondition::Matches("0".repeat(32))),
            "two".into(),
        )
        .await
        .expect_err("If-Match on another ETag");
    assert_eq!(err.kind, StoreErrorKind::PreconditionFailed, "{err}");
    store
        .put_object(
            &object("k", WriteCondition::Matches(first.etag.clone())),
            "two".into(),
        )
        .await
        .expect("If-Match on the ETag read writes");

    // CompleteMultipartUpload: moto enforces If-None-Match (not If-Match).
    let upload = store
        .create_multipart_upload(&object("k", WriteCondition::Absent))
        .await
        .unwrap();
    let part = store.upload_part(&upload, 1, "three".into()).await.unwrap();
    let err = store
        .complete_multipart_upload(&upload, &[part])
        .await
        .expect_err("If-None-Match: * on a taken key");
    assert_eq!(err.kind, StoreErrorKind::PreconditionFailed, "{err}");
    store.abort_multipart_upload(&upload).await.unwrap();

    // CopyObject: the request carries the condition, but moto 5.2.5 ignores If-None-Match,
    // If-Match and x-amz-copy-source-if-match on CopyObject (AWS answers 412). If this starts
    // failing, moto learned them: turn it into an assertion of the 412.
    let copy = CopyRequest {
        source: ObjectRef {
            bucket: stack.eu_bucket.clone(),
            key: "k".into(),
            version_id: None,
        },
        source_if_match: None,
        bucket: stack.dr_bucket.clone(),
        key: "k".into(),
        headers: Default::default(),
        metadata: Default::default(),
        tags: Vec::new(),
        storage_class: None,
        sse_kms_key_id: None,
        condition: WriteCondition::Absent,
        object_lock: None,
    };
    store.copy_object(&copy).await.expect("first copy");
    assert!(
        store.copy_object(&copy).await.is_ok(),
        "moto now enforces If-None-Match on CopyObject"
    );
}
