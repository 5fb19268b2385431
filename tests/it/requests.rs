//! What one object costs in AWS requests, as `s3r_aws_requests_total` counts them through the
//! daemon's own clients against the local emulator.
//!
//! The daemon records into a registry of its own, so other tests running alongside in this
//! process add nothing to its counts.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use s3_replicator::metrics;

const DEADLINE: Duration = Duration::from_secs(60);

/// Every `s3r_aws_requests_total` series of `registry`: (service, operation) → count.
fn requests(registry: &metrics::Metrics) -> BTreeMap<(String, String), u64> {
    let prefix = format!("{}{{service=\"", metrics::AWS_REQUESTS);
    registry
        .render()
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (service, rest) = rest.split_once("\",operation=\"")?;
            let (operation, value) = rest.split_once("\"} ")?;
            let value = value.parse().expect("a count");
            Some(((service.to_owned(), operation.to_owned()), value))
        })
        .collect()
}

/// One tagged object under the server-side copy threshold, two targets (one cross-region, one
/// cross-account through an assumed role), both empty. The counts follow from the code:
///
/// - S3 `HeadObject` × 3: the source once (pinned to the event's ETag), each target once before
///   the copy (does it already hold this version? 404 here). The replicas are not read back:
///   each `CopyObject` answered with the source's MD5 ETag, which verifies it.
/// - S3 `GetObjectTagging` × 1: the source has tags (`HeadObject` reports their count).
/// - S3 `CopyObject` × 2: one per target.
/// - SNS `Publish` × 1: the completion event.
/// - SQS `DeleteMessageBatch` × 1: the finished message.
/// - SQS `ReceiveMessage`: at least once; the long polls go on while the daemon runs.
///
/// Nothing else: no `ChangeMessageVisibility` (the heartbeat's first extension is due at half
/// the visibility timeout, set far beyond this test), no alert. STS `AssumeRole` for the
/// cross-account target is made by the credentials provider's own client and is not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_object_to_two_targets_costs_these_requests() {
    let (emulator, stack) = setup("requests").await;
    let (mut config, _file) = load_config(&stack.config_toml());
    config.queue.visibility_timeout_secs = 600;

    // The setup's own clients do not count: only the daemon's do.
    let daemon = Daemon::start(config);
    let registry = std::sync::Arc::clone(&daemon.metrics);
    let key = "requests/d=2026-11-21/part-0.csv".to_owned();
    let body = b"id,value\n1,one\n".to_vec();
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        &key,
        &body,
        "text/csv",
        &[("origin", "bench")],
        Some("team=data"),
    )
    .await;
    await_completions(
        &emulator,
        &stack,
        std::slice::from_ref(&key),
        |_| body.clone(),
        DEADLINE,
    )
    .await;
    // The message is deleted after its completion was published: wait for that request too.
    wait_for_empty(&emulator.sqs(), &stack.queue_url, DEADLINE).await;
    daemon.stop().await;
    let after = requests(&registry);

    let mut made = after.clone();
    let receives = made
        .remove(&("sqs".to_owned(), "ReceiveMessage".to_owned()))
        .unwrap_or(0);
    assert!(receives >= 1, "no ReceiveMessage counted: {after:?}");
    let expected: BTreeMap<(String, String), u64> = [
        ("s3", "HeadObject", 3),
        ("s3", "GetObjectTagging", 1),
        ("s3", "CopyObject", 2),
        ("sns", "Publish", 1),
        ("sqs", "DeleteMessageBatch", 1),
    ]
    .into_iter()
    .map(|(service, operation, n)| ((service.to_owned(), operation.to_owned()), n))
    .collect();
    assert_eq!(
        made, expected,
        "requests for one object to two targets (plus {receives} ReceiveMessage)"
    );
    eprintln!("one object to two targets: {made:?}, plus {receives} ReceiveMessage");
}
