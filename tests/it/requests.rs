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

/// Every count of `after` minus the same count of `before`; zeros left out.
fn made_between(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> BTreeMap<(String, String), u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn expected(counts: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
    counts
        .iter()
        .map(|(service, operation, n)| ((service.to_string(), operation.to_string()), *n))
        .collect()
}

/// Objects under the server-side copy threshold, two targets (one cross-region, one
/// cross-account through an assumed role), both empty, on first delivery. The counts follow
/// from the code:
///
/// - S3 `HeadObject` × 1: the source once (pinned to the event's ETag). The targets are not
///   read: a first delivery writes them at once with `If-None-Match: *`, and would read one only
///   if that write answered 412 (someone was there). The replicas are not read back either:
///   each `CopyObject` answered with the source's MD5 ETag, which verifies it.
/// - S3 `GetObjectTagging` × 1 for the tagged object (`HeadObject` reports the tag count), none
///   for the untagged one: the copy carries the tags explicitly (`TaggingDirective=REPLACE`).
/// - S3 `CopyObject` × 2: one per target.
/// - SNS `PublishBatch` × 1: the completion, in a batch of one (nothing else was pending).
/// - SQS `DeleteMessageBatch` × 1: the finished message.
/// - SQS `ReceiveMessage`: at least once; the long polls go on while the daemon runs.
/// - SQS `GetQueueAttributes`: the backlog gauges' sample, once per 15 s per process and not per
///   object, so not counted here.
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
    let sqs = emulator.sqs();
    let mut before = requests(&registry);
    let mut made = Vec::new();
    for (key, tags) in [
        ("requests/d=2026-11-21/part-0.csv", Some("team=data")),
        ("requests/d=2026-11-21/part-1.csv", None),
    ] {
        let key = key.to_owned();
        let body = b"id,value\n1,one\n".to_vec();
        put_object(
            &emulator.s3(SOURCE_REGION),
            &stack.source_bucket,
            &key,
            &body,
            "text/csv",
            &[("origin", "bench")],
            tags,
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
        // The message is deleted after its completion was published: wait for that request.
        wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
        // And for the delete's own count (the queue may look empty while it is under way).
        let deadline = std::time::Instant::now() + DEADLINE;
        let mut after = requests(&registry);
        while !made_between(&before, &after)
            .contains_key(&("sqs".to_owned(), "DeleteMessageBatch".to_owned()))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no DeleteMessageBatch counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            after = requests(&registry);
        }
        let mut this = made_between(&before, &after);
        this.remove(&("sqs".to_owned(), "ReceiveMessage".to_owned()));
        this.remove(&("sqs".to_owned(), "GetQueueAttributes".to_owned()));
        made.push(this);
        before = after;
    }
    daemon.stop().await;
    assert!(
        requests(&registry)
            .get(&("sqs".to_owned(), "ReceiveMessage".to_owned()))
            .is_some_and(|n| *n >= 1),
        "no ReceiveMessage counted"
    );
    assert_eq!(
        made[0],
        expected(&[
            ("s3", "HeadObject", 1),
            ("s3", "GetObjectTagging", 1),
            ("s3", "CopyObject", 2),
            ("sns", "PublishBatch", 1),
            ("sqs", "DeleteMessageBatch", 1),
        ]),
        "requests for one tagged object to two targets (besides ReceiveMessage)"
    );
    assert_eq!(
        made[1],
        expected(&[
            ("s3", "HeadObject", 1),
            ("s3", "CopyObject", 2),
            ("sns", "PublishBatch", 1),
            ("sqs", "DeleteMessageBatch", 1),
        ]),
        "requests for one untagged object to two targets (besides ReceiveMessage)"
    );
    eprintln!(
        "one object to two targets: tagged {:?}, untagged {:?}",
        made[0], made[1]
    );
}
