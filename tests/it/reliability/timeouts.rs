//! Requests that stall before their response, against the emulator through the fault proxy
//! (`Mode::Stall`: the connection is accepted and never answered). Each must end in a
//! transient failure within its configured timeout, and the daemon must hand the message back
//! and alert by the message deadline: never hang. Every wait here has its own outer limit, so
//! that a hang is a clear failure rather than a stuck test run.
//!
//! The proxy stalls before any response; a body that stops midway (after `GetObject`
//! answered) is left to the SDK's stalled-stream protection and not shown here: moto always
//! sends whole bodies. Which operation gets which attempt timeout is pinned by the unit test
//! in `src/aws.rs`.

use std::time::{Duration, Instant};

use crate::common::fault_proxy::{FaultProxy, Mode};
use crate::common::*;
use s3_replicator::publish::{Alert, AlertKind, Publisher};
use s3_replicator::queue::MessageSource;
use s3_replicator::store::{ObjectRef, ObjectStore};
use serde_json::Value;

/// Far above any configured timeout below, with the SDK's three attempts and their backoff.
const HANG: Duration = Duration::from_secs(60);

/// `toml` with short timeouts: 1 s per small request, 2 s per transfer, `ReceiveMessage` its
/// 1 s long poll + 1 s.
fn with_short_timeouts(toml: &str, deadline_secs: u64) -> String {
    format!(
        "{toml}\n[timeouts]\nconnect_secs = 1\nrequest_secs = 1\ntransfer_secs = 2\nreceive_margin_secs = 1\nmessage_deadline_secs = {deadline_secs}\n"
    )
}

/// Runs `call` with an outer limit of [`HANG`]; returns its result and how long it took.
async fn bounded<T>(what: &str, call: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(HANG, call).await.unwrap_or_else(|_| {
        panic!("{what} through a stalled connection still hangs after {HANG:?}")
    });
    (result, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_s3_sqs_and_sns_requests_fail_as_transient_within_their_timeouts() {
    let (_emulator, stack) = setup("stall").await;
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.set(Mode::Stall);
    let toml = stack.config_toml().replace(
        &format!("endpoint_url = \"{}\"", stack.endpoint),
        &format!("endpoint_url = \"{}\"", proxy.url),
    );
    let (config, _file) = load_config(&with_short_timeouts(&toml, 60));

    let replicator = wiring(&config).await.replicator(&config).await;
    let object = ObjectRef {
        bucket: stack.source_bucket.clone(),
        key: "stalled/a.csv".into(),
        version_id: None,
    };
    // A small request: three attempts of 1 s and the SDK's backoff between them.
    let (head, took) = bounded("HeadObject", replicator.source().head_object(&object, None)).await;
    let err = head.expect_err("a stalled HeadObject cannot succeed");
    assert_eq!(
        err.disposition(),
        s3_replicator::error::Disposition::Retry,
        "{err}"
    );
    assert!(took >= Duration::from_secs(1), "{took:?}: {err}");

    // A transfer: three attempts of 2 s.
    let (get, took) = bounded(
        "GetObject",
        replicator.source().get_object_range(&object, None, 0..3),
    )
    .await;
    let err = get.expect_err("a stalled GetObject cannot succeed");
    assert_eq!(
        err.disposition(),
        s3_replicator::error::Disposition::Retry,
        "{err}"
    );
    assert!(took >= Duration::from_secs(2), "{took:?}: {err}");

    // ReceiveMessage: its 1 s long poll plus the 1 s margin, per attempt.
    let queue = wiring(&config).await.queue(&config);
    let (received, took) = bounded("ReceiveMessage", queue.receive(1, 1, 30)).await;
    let err = received.expect_err("a stalled ReceiveMessage cannot succeed");
    assert!(err.transient, "{err}");
    assert!(took >= Duration::from_secs(2), "{took:?}: {err}");

    let publisher = wiring(&config).await.publisher(&config);
    let alert = Alert::new(AlertKind::CopyFailed, "test", "none");
    let (published, _) = bounded("Publish", publisher.publish_alert(&alert)).await;
    let err = published.expect_err("a stalled Publish cannot succeed");
    assert!(err.transient, "{err}");

    assert!(
        proxy
            .stats
            .stalled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 4,
        "every request went to the stalling proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_whose_s3_stalls_alerts_by_the_message_deadline_and_keeps_the_message() {
    let (emulator, stack) = setup("stalldl").await;
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.set(Mode::Stall);
    // Only S3 stalls; the queue and the topics answer.
    let toml = stack.config_toml().replace(
        "[aws]\n",
        &format!("[aws]\ns3_endpoint_url = \"{}\"\n", proxy.url),
    );
    let (config, _file) = load_config(&with_short_timeouts(&toml, 4));
    let daemon = Daemon::start(config);
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        "stalled/b.csv",
        b"bytes",
        "text/plain",
        &[],
        None,
    )
    .await;

    let sqs = emulator.sqs();
    let started = Instant::now();
    let alerts = receive_until(&sqs, &stack.alerts_url, HANG, |r| {
        r.iter().any(|m| m.body.contains("deadline_exceeded"))
    })
    .await;
    let alert: Value = alerts
        .iter()
        .map(|m| serde_json::from_str::<Value>(&m.body).expect("alert is JSON"))
        .find(|a| a["kind"] == "deadline_exceeded")
        .unwrap_or_else(|| panic!("no deadline_exceeded alert within {HANG:?}: {alerts:?}"));
    assert!(
        started.elapsed() < HANG,
        "alerted after {:?}",
        started.elapsed()
    );
    assert_eq!(alert["source"]["key"], "stalled/b.csv", "{alert}");
    assert!(alert["message_id"].is_string(), "{alert}");
    assert!(
        alert["error"].as_str().unwrap_or_default().contains("4 s"),
        "{alert}"
    );

    // Handed back, not deleted: the message is still in the queue, and nothing completed.
    let (visible, in_flight) = queue_depth(&sqs, &stack.queue_url).await;
    assert_eq!(visible + in_flight, 1, "the message stays in the queue");
    let completions = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await;
    assert!(completions.is_empty(), "no completion while S3 stalls");
    tokio::time::timeout(HANG, daemon.stop())
        .await
        .expect("the daemon stops while S3 stalls");
}
