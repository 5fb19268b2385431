//! Large objects against the local emulator: multipart `UploadPartCopy` and streamed copies
//! into both the cross-region and the cross-account target, the `auto` fallback, aborted
//! uploads, and the visibility heartbeat of a long copy.
//!
//! Sizes: 5 MiB parts above a 5 MiB threshold, and a 26 MiB object (6 parts, the last one
//! 1 MiB), which exercises every part path while keeping moto — whose multipart handling
//! costs about four times the object in memory — fast on two cores.
//!
//! The emulator enforces no IAM, so it never denies a server-side copy; the tests that need a
//! denial, a failing part or a slow copy put [`FaultyStore`] in front of the real S3 adapter.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use s3_replicator::config::Config;
use s3_replicator::event::ObjectCreated;
use s3_replicator::queue::sqs::SqsQueue;
use s3_replicator::queue::{DeleteFailure, Message, MessageSource, QueueError, Receipt};
use s3_replicator::replicate::{Outcome, Replicator, Target};
use s3_replicator::store::s3::S3Store;
use s3_replicator::store::Operation;
use s3_replicator::testkit::faulty::FaultyStore;
use s3_replicator::transfer::Method;
use serde_json::Value;

const MIB: usize = 1024 * 1024;
const SIZE: usize = 26 * MIB;
const DEADLINE: Duration = Duration::from_secs(120);

/// Deterministic bytes that differ per MiB, so that a part out of place shows.
fn body(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i % 251) as u8 ^ (i / MIB) as u8)
        .collect()
}

/// The setup's configuration with small parts; `targets` are extra `[[targets]]` tables and
/// `names` the rule's target list.
fn config_toml(stack: &Stack, targets: &str, names: &[&str]) -> String {
    let names = names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    stack
        .config_toml()
        .replace(
            r#"targets = ["analytics-eu", "dr-account"]"#,
            &format!("targets = [{names}]"),
        )
        .replace(
            "[[rules]]",
            &format!(
                "{targets}\n[copy]\nmultipart_threshold = \"5 MiB\"\npart_size = \"5 MiB\"\nmax_inflight_bytes = \"20 MiB\"\n\n[[rules]]"
            ),
        )
}

async fn upload(emulator: &Emulator, stack: &Stack, key: &str, size: usize) -> String {
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        key,
        &body(size),
        "application/x-parquet",
        &[("owner", "data-eng")],
        Some("team=data%20eng&tier=gold"),
    )
    .await
}

/// Reads a replica and checks bytes, content type, metadata and tags.
async fn assert_replica(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, size: usize, etag: &str) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("read s3://{bucket}/{key}: {e:?}"));
    assert_eq!(
        out.content_type(),
        Some("application/x-parquet"),
        "{bucket}/{key}"
    );
    let metadata = out.metadata().cloned().unwrap_or_default();
    assert_eq!(metadata.get("owner").map(String::as_str), Some("data-eng"));
    assert_eq!(
        metadata.get("s3r-source-etag").map(String::as_str),
        Some(etag)
    );
    let bytes = out.body.collect().await.expect("body").into_bytes();
    assert!(
        bytes.len() == size && bytes == body(size),
        "bytes of s3://{bucket}/{key}"
    );
    let tags: BTreeMap<String, String> = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("tags")
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([
            ("team".to_owned(), "data eng".to_owned()),
            ("tier".to_owned(), "gold".to_owned())
        ]),
        "tags of s3://{bucket}/{key}"
    );
}

/// Multipart uploads in progress in `bucket`, as ListMultipartUploads reports them.
async fn open_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list multipart uploads")
        .uploads()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_reach_both_targets_by_multipart_copy_and_by_stream() {
    let (emulator, stack) = setup("large").await;
    let streamed = format!(
        r#"
[[targets]]
name = "eu-streamed"
bucket = "{eu}"
region = "{EU_REGION}"
key_prefix = "streamed/"
copy_mode = "stream"

[[targets]]
name = "dr-streamed"
bucket = "{dr}"
region = "{DR_REGION}"
role_arn = "{ROLE_ARN}"
key_prefix = "streamed/"
copy_mode = "stream"
"#,
        eu = stack.eu_bucket,
        dr = stack.dr_bucket,
    );
    let toml = config_toml(
        &stack,
        &streamed,
        &["analytics-eu", "dr-account", "eu-streamed", "dr-streamed"],
    )
    // Keys under "d=1/" only: the unprefixed targets then never write under "streamed/", so
    // the two destinations in one bucket cannot collide (check-config refuses nesting ones).
    .replace(
        r#"targets = ["analytics-eu", "dr-account", "eu-streamed", "dr-streamed"]"#,
        "targets = [\"analytics-eu\", \"dr-account\", \"eu-streamed\", \"dr-streamed\"]\nprefix = \"d=1/\"",
    );
    let (config, _file) = load_config(&toml);
    let daemon = Daemon::start(config);

    let big = upload(&emulator, &stack, "d=1/big.parquet", SIZE).await;
    let small = upload(&emulator, &stack, "d=1/small.parquet", 1000).await;

    let sqs = emulator.sqs();
    let completions = receive_until(&sqs, &stack.completions_url, DEADLINE, |r| r.len() >= 2).await;
    assert_eq!(completions.len(), 2, "one completion per object");
    let expected = |size_is_big: bool| {
        let (copy, stream) = if size_is_big {
            ("multipart_copy", "streamed_copy")
        } else {
            ("server_side_copy", "streamed_copy")
        };
        BTreeMap::from([
            ("analytics-eu".to_owned(), copy.to_owned()),
            ("dr-account".to_owned(), copy.to_owned()),
            ("eu-streamed".to_owned(), stream.to_owned()),
            ("dr-streamed".to_owned(), stream.to_owned()),
        ])
    };
    for completion in &completions {
        let event: Value = serde_json::from_str(&completion.body).expect("completion JSON");
        let key = event["source"]["key"].as_str().expect("key");
        let methods: BTreeMap<String, String> = event["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["method"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(methods, expected(key.ends_with("big.parquet")), "{key}");
    }

    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    for (key, size, etag) in [
        ("d=1/big.parquet", SIZE, &big),
        ("d=1/small.parquet", 1000, &small),
    ] {
        for (client, bucket) in [(&eu, &stack.eu_bucket), (&dr, &stack.dr_bucket)] {
            assert_replica(client, bucket, key, size, etag).await;
            assert_replica(client, bucket, &format!("streamed/{key}"), size, etag).await;
        }
    }
    assert_eq!(open_uploads(&eu, &stack.eu_bucket).await, 0);
    assert_eq!(open_uploads(&dr, &stack.dr_bucket).await, 0);
    daemon.stop().await;
}

/// The setup's stores, each behind a [`FaultyStore`]: the source, `analytics-eu`, `dr-account`.
struct Stores {
    config: Config,
    source: FaultyStore<S3Store>,
    eu: FaultyStore<S3Store>,
    dr: FaultyStore<S3Store>,
}

async fn stores(toml: &str) -> Stores {
    use s3_replicator::aws::{load_base, s3_client, target_credentials, Timeouts};
    let (config, _file) = load_config(toml);
    let base = load_base(&config.aws, None).await;
    let target = |name: &str| {
        config
            .targets
            .iter()
            .find(|t| t.name == name)
            .expect("target")
            .clone()
    };
    let (eu, dr) = (target("analytics-eu"), target("dr-account"));
    let dr_credentials = target_credentials(&base, &dr).await;
    let s3 = config.aws.s3_endpoint_url.as_deref();
    let timeouts = Timeouts::from_config(&config);
    let metrics = Arc::default();
    Stores {
        source: FaultyStore::new(S3Store::new(s3_client(
            &base,
            s3,
            SOURCE_REGION,
            None,
            &timeouts,
            &metrics,
        ))),
        eu: FaultyStore::new(S3Store::new(s3_client(
            &base, s3, &eu.region, None, &timeouts, &metrics,
        ))),
        dr: FaultyStore::new(S3Store::new(s3_client(
            &base,
            s3,
            &dr.region,
            dr_credentials,
            &timeouts,
            &metrics,
        ))),
        config,
    }
}

impl Stores {
    /// The daemon's pipeline over these stores, publishing to the setup's topics.
    async fn pipeline(
        &self,
    ) -> Arc<
        s3_replicator::pipeline::Pipeline<
            FaultyStore<S3Store>,
            s3_replicator::publish::sns::SnsPublisher,
        >,
    > {
        Arc::new(s3_replicator::pipeline::Pipeline::new(
            s3_replicator::route::Router::new(&self.config),
            self.replicator(),
            wiring(&self.config).await.publisher(&self.config),
        ))
    }

    fn replicator(&self) -> Replicator<FaultyStore<S3Store>> {
        let target = |name: &str, store: &FaultyStore<S3Store>| Target {
            config: self
                .config
                .targets
                .iter()
                .find(|t| t.name == name)
                .expect("target")
                .clone(),
            store: store.clone(),
        };
        Replicator::new(
            self.source.clone(),
            [
                target("analytics-eu", &self.eu),
                target("dr-account", &self.dr),
            ],
        )
        .with_limits((&self.config.copy).into())
    }
}

fn event(stack: &Stack, key: &str, etag: &str, size: usize) -> ObjectCreated {
    ObjectCreated {
        bucket: stack.source_bucket.clone(),
        key: key.into(),
        region: SOURCE_REGION.into(),
        version_id: None,
        etag: Some(etag.into()),
        size: size as u64,
        sequencer: None,
        event_time: time::OffsetDateTime::now_utc(),
        event_name: "ObjectCreated:Put".into(),
    }
}

fn names() -> Vec<String> {
    vec!["analytics-eu".into(), "dr-account".into()]
}

fn methods(outcome: &Outcome) -> Vec<Method> {
    match outcome {
        Outcome::Replicated { targets, .. } => targets.iter().map(|t| t.method).collect(),
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_streams_when_the_server_side_copy_is_denied_and_remembers_it() {
    let (emulator, stack) = setup("fallback").await;
    let stores = stores(&config_toml(&stack, "", &["analytics-eu", "dr-account"])).await;
    // The second account's role may write its bucket but not read the lake.
    stores
        .dr
        .deny(Operation::CopyObject)
        .deny(Operation::UploadPartCopy);
    let replicator = stores.replicator();

    let big = upload(&emulator, &stack, "big.bin", SIZE).await;
    let outcome = replicator
        .replicate(&event(&stack, "big.bin", &big, SIZE), &names())
        .await;
    assert_eq!(
        methods(&outcome),
        [Method::MultipartCopy, Method::StreamedCopy]
    );
    let small = upload(&emulator, &stack, "small.bin", 1000).await;
    let outcome = replicator
        .replicate(&event(&stack, "small.bin", &small, 1000), &names())
        .await;
    assert_eq!(
        methods(&outcome),
        [Method::ServerSideCopy, Method::StreamedCopy]
    );
    assert_eq!(
        stores.dr.calls(Operation::CopyObject) + stores.dr.calls(Operation::UploadPartCopy),
        1,
        "denied once, then remembered"
    );

    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    assert_replica(&dr, &stack.dr_bucket, "big.bin", SIZE, &big).await;
    assert_replica(&dr, &stack.dr_bucket, "small.bin", 1000, &small).await;
    assert_eq!(
        open_uploads(&dr, &stack.dr_bucket).await,
        0,
        "the denied upload was aborted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_fails_midway_leaves_no_incomplete_multipart_upload() {
    let (emulator, stack) = setup("midway").await;
    let streamed = config_toml(&stack, "", &["analytics-eu", "dr-account"]).replace(
        &format!("role_arn = \"{ROLE_ARN}\""),
        &format!("role_arn = \"{ROLE_ARN}\"\ncopy_mode = \"stream\""),
    );
    let stores = stores(&streamed).await;
    stores.eu.fail_part(Operation::UploadPartCopy, 3);
    stores.dr.fail_part(Operation::UploadPart, 3);
    let replicator = stores.replicator();

    let etag = upload(&emulator, &stack, "big.bin", SIZE).await;
    let outcome = replicator
        .replicate(&event(&stack, "big.bin", &etag, SIZE), &names())
        .await;
    let Outcome::TargetsFailed { failed, succeeded } = outcome else {
        panic!("expected failures, got {outcome:?}");
    };
    assert!(succeeded.is_empty());
    let mut operations: Vec<_> = failed.iter().map(|f| f.error.operation).collect();
    operations.sort_by_key(|o| o.to_string());
    assert_eq!(
        operations,
        [Operation::UploadPart, Operation::UploadPartCopy]
    );
    for store in [&stores.eu, &stores.dr] {
        assert_eq!(store.calls(Operation::CreateMultipartUpload), 1);
        assert_eq!(store.calls(Operation::AbortMultipartUpload), 1);
    }

    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    assert_eq!(open_uploads(&eu, &stack.eu_bucket).await, 0);
    assert_eq!(open_uploads(&dr, &stack.dr_bucket).await, 0);
    for (client, bucket) in [(&eu, &stack.eu_bucket), (&dr, &stack.dr_bucket)] {
        let head = client
            .head_object()
            .bucket(bucket)
            .key("big.bin")
            .send()
            .await;
        assert!(head.is_err(), "no replica in {bucket}");
    }
}

/// The SQS adapter, recording every message it hands out.
struct Recording {
    inner: SqsQueue,
    received: Mutex<Vec<Message>>,
    visibility_changes: AtomicUsize,
}

impl MessageSource for Recording {
    async fn receive(
        &self,
        max: i32,
        wait: i32,
        visibility: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let messages = self.inner.receive(max, wait, visibility).await?;
        self.received
            .lock()
            .unwrap()
            .extend(messages.iter().cloned());
        Ok(messages)
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        self.inner.delete_batch(receipts).await
    }

    async fn change_visibility(&self, handle: &str, secs: i32) -> Result<(), QueueError> {
        self.visibility_changes.fetch_add(1, Ordering::Relaxed);
        self.inner.change_visibility(handle, secs).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_copy_keeps_its_message_invisible() {
    use s3_replicator::daemon::{run, Settings};
    let (emulator, stack) = setup("heartbeat").await;
    let stores = stores(&config_toml(&stack, "", &["analytics-eu", "dr-account"])).await;
    // A copy that takes 10 s, with a visibility timeout of 3 s.
    stores
        .eu
        .delay(Operation::CopyObject, Duration::from_secs(10));
    let base = s3_replicator::aws::load_base(&stores.config.aws, None).await;
    let pipeline = stores.pipeline().await;
    let queue = Arc::new(Recording {
        inner: SqsQueue::new(aws_sdk_sqs::Client::new(&base), &stack.queue_url),
        received: Mutex::default(),
        visibility_changes: AtomicUsize::new(0),
    });
    let settings = Settings {
        max_messages: 10,
        wait_time_secs: 1,
        visibility_timeout_secs: 3,
        concurrency: 4,
        shutdown_timeout: std::time::Duration::from_secs(25),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(Arc::clone(&queue), pipeline, settings, async {
        let _ = stopped.await;
    }));

    upload(&emulator, &stack, "slow.bin", 1000).await;
    let sqs = emulator.sqs();
    let completions =
        receive_until(&sqs, &stack.completions_url, DEADLINE, |r| !r.is_empty()).await;
    assert_eq!(completions.len(), 1);
    // Give a redelivery, had there been one, the time to show.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = stop.send(());
    daemon.await.expect("daemon");

    let received = queue.received.lock().unwrap().clone();
    let events: Vec<_> = received
        .iter()
        .filter(|m| !m.body.contains("s3:TestEvent"))
        .collect();
    assert_eq!(events.len(), 1, "received once: {events:?}");
    assert_eq!(events[0].receive_count, 1);
    assert!(
        queue.visibility_changes.load(Ordering::Relaxed) >= 3,
        "extended every 1.5 s for 10 s"
    );
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, (0, 0), "deleted");
    let more = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |_| {
        false
    })
    .await;
    assert!(more.is_empty(), "one completion only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_a_large_copy_aborts_its_upload_and_another_daemon_completes_it() {
    use s3_replicator::daemon::{run, Settings};
    let (emulator, stack) = setup("drain").await;
    let toml = config_toml(&stack, "", &["analytics-eu", "dr-account"]);
    let stores = stores(&toml).await;
    // Parts into analytics-eu take far longer than the shutdown timeout.
    stores
        .eu
        .delay(Operation::UploadPartCopy, Duration::from_secs(60));
    let base = s3_replicator::aws::load_base(&stores.config.aws, None).await;
    let pipeline = stores.pipeline().await;
    let queue = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::new(&base),
        &stack.queue_url,
    ));
    let settings = Settings {
        max_messages: 10,
        wait_time_secs: 1,
        visibility_timeout_secs: 30,
        concurrency: 4,
        shutdown_timeout: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(run(queue, pipeline, settings, async {
        let _ = stopped.await;
    }));
    upload(&emulator, &stack, "big.bin", SIZE).await;

    // Stop the daemon (as SIGTERM does) while its multipart upload is open.
    let eu = emulator.s3(EU_REGION);
    let deadline = std::time::Instant::now() + DEADLINE;
    while open_uploads(&eu, &stack.eu_bucket).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no multipart upload started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("the daemon stops soon after its shutdown timeout")
        .expect("daemon task");
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    assert_eq!(
        open_uploads(&eu, &stack.eu_bucket).await,
        0,
        "upload aborted"
    );
    assert_eq!(open_uploads(&dr, &stack.dr_bucket).await, 0);
    let sqs = emulator.sqs();
    let early = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await;
    assert!(early.is_empty(), "no completion for an unfinished copy");

    // The message was handed back at once: a second daemon takes it and completes it.
    let (config, _file) = load_config(&toml);
    let second = Daemon::start(config);
    await_completions(
        &emulator,
        &stack,
        &["big.bin".to_owned()],
        |_| body(SIZE),
        DEADLINE,
    )
    .await;
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    second.stop().await;
    assert_eq!(open_uploads(&eu, &stack.eu_bucket).await, 0);
}
