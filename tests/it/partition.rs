//! Partition completion against the emulator: a `_SUCCESS` marker closes its prefix.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(90);

fn partition_config(stack: &Stack, deadline_secs: u64) -> String {
    stack.config_toml().replace(
        &format!("source_bucket = \"{}\"\n", stack.source_bucket),
        &format!(
            "source_bucket = \"{}\"\nsuffix = \".csv\"\ncomplete_on = \"_SUCCESS\"\ncomplete_deadline_secs = {deadline_secs}\n",
            stack.source_bucket
        ),
    )
}

fn is_prefix_event(body: &str) -> Option<Value> {
    let event: Value = serde_json::from_str(body).ok()?;
    (event["schema"] == "s3-replicator.prefix-completed.v1").then_some(event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_uploaded_in_random_order_publishes_one_prefix_completion_after_everything() {
    let (emulator, stack) = setup("partition").await;
    let (config, _file) = load_config(&partition_config(&stack, 600));
    let daemon = Daemon::start(config);
    let s3 = emulator.s3(SOURCE_REGION);
    let prefix = "curated/d=2026-11-21/";
    // The marker goes up in the middle, not last: the daemon must wait for the rest.
    let mut keys: Vec<String> = (0..6).map(|i| format!("{prefix}part-{i}.csv")).collect();
    keys.insert(2, format!("{prefix}_SUCCESS"));
    for key in &keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/csv",
            &[],
            None,
        )
        .await;
    }

    let sqs = emulator.sqs();
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    let mut prefix_events = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while prefix_events.is_empty() && std::time::Instant::now() < deadline {
        for message in receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
            !r.is_empty()
        })
        .await
        {
            if let Some(event) = is_prefix_event(&message.body) {
                // The moment it arrives, every object is in every target.
                for key in &keys {
                    for (client, bucket) in [(&eu, &stack.eu_bucket), (&dr, &stack.dr_bucket)] {
                        assert_eq!(
                            read_body(client, bucket, key).await.as_deref(),
                            Some(key.as_bytes()),
                            "prefix completion before s3://{bucket}/{key} was there"
                        );
                    }
                }
                prefix_events.push(event);
            }
        }
    }
    let event = prefix_events.first().expect("a prefix-completed event");
    assert_eq!(event["prefix"], prefix);
    assert_eq!(event["rule"], "lake");
    assert_eq!(event["objects"], 7, "six parts and the marker");
    let bytes: usize = keys.iter().map(|k| k.len()).sum();
    assert_eq!(event["bytes"], bytes as u64);
    assert_eq!(event["targets"].as_array().unwrap().len(), 2);

    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    daemon.stop().await;
    let rest = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |_| {
        false
    })
    .await;
    let more = rest
        .iter()
        .filter(|m| is_prefix_event(&m.body).is_some())
        .count();
    assert_eq!(more, 0, "exactly one prefix-completed event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_alerted_after_the_deadline_and_nothing_is_announced() {
    let (emulator, stack) = setup("partgap").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let prefix = "curated/d=2026-11-22/";
    // An object that reaches the source without an event, so it is never replicated.
    set_notification(&s3, &stack.source_bucket, None).await;
    let hidden = format!("{prefix}hidden.csv");
    put_object(
        &s3,
        &stack.source_bucket,
        &hidden,
        b"never announced",
        "text/csv",
        &[],
        None,
    )
    .await;
    let events = queue_arn(&sqs, &stack.queue_url).await;
    set_notification(&s3, &stack.source_bucket, Some(&events)).await;

    let (config, _file) = load_config(&partition_config(&stack, 2));
    let daemon = Daemon::start(config);
    for key in [format!("{prefix}part-0.csv"), format!("{prefix}_SUCCESS")] {
        put_object(&s3, &stack.source_bucket, &key, b"x", "text/csv", &[], None).await;
    }
    let alerts = receive_until(&sqs, &stack.alerts_url, DEADLINE, |r| !r.is_empty()).await;
    let alert: Value = serde_json::from_str(&alerts.first().expect("an alert").body).unwrap();
    assert_eq!(alert["kind"], "partition_incomplete", "{alert}");
    assert!(
        alert["error"].as_str().unwrap().contains(&hidden),
        "{alert}"
    );
    assert!(
        alert["error"].as_str().unwrap().contains("analytics-eu"),
        "{alert}"
    );
    daemon.stop().await;
    let completions = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |_| {
        false
    })
    .await;
    assert!(
        completions
            .iter()
            .all(|m| is_prefix_event(&m.body).is_none()),
        "no prefix completion while an object is missing"
    );
}

/// Messages waiting out their `DelaySeconds`, as SQS reports them.
async fn delayed(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let name = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("queue attributes");
    out.attributes()
        .and_then(|a| a.get(&name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_adapter_sends_a_message_that_stays_hidden_for_its_delay() {
    use s3_replicator::queue::{sqs::SqsQueue, MessageSource};
    let (emulator, stack) = setup("delayed").await;
    let sqs = emulator.sqs();
    let queue = SqsQueue::new(sqs.clone(), &stack.queue_url);
    let sent = std::time::Instant::now();
    queue.send("{\"hello\":1}", 3).await.expect("send");
    assert_eq!(delayed(&sqs, &stack.queue_url).await, 1, "held back");
    assert!(
        queue.receive(10, 0, 30).await.expect("receive").is_empty(),
        "not visible before its delay"
    );
    let received = receive_until(&sqs, &stack.queue_url, Duration::from_secs(15), |r| {
        !r.is_empty()
    })
    .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "{\"hello\":1}");
    assert!(
        sent.elapsed() >= Duration::from_millis(2500),
        "visible only after about 3 s: {:?}",
        sent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_partition_replaces_its_marker_message_with_a_delayed_re_check() {
    let (emulator, stack) = setup("recheck").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let prefix = "curated/d=2026-11-23/";
    // An object without an event keeps the partition incomplete.
    set_notification(&s3, &stack.source_bucket, None).await;
    put_object(
        &s3,
        &stack.source_bucket,
        &format!("{prefix}hidden.csv"),
        b"never announced",
        "text/csv",
        &[],
        None,
    )
    .await;
    let events = queue_arn(&sqs, &stack.queue_url).await;
    set_notification(&s3, &stack.source_bucket, Some(&events)).await;

    let (config, _file) = load_config(&partition_config(&stack, 600));
    let daemon = Daemon::start(config);
    let marker = format!("{prefix}_SUCCESS");
    put_object(
        &s3,
        &stack.source_bucket,
        &marker,
        b"",
        "text/csv",
        &[],
        None,
    )
    .await;

    // The marker's message is deleted and the only message left is the delayed re-check (the
    // first waits 10 s): nothing visible, nothing in flight, one delayed.
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        seen = delayed(&sqs, &stack.queue_url).await == 1
            && queue_depth(&sqs, &stack.queue_url).await == (0, 0);
        if !seen {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    daemon.stop().await;
    assert!(seen, "a delayed re-check replaced the marker's message");
    let received = receive_until(&sqs, &stack.queue_url, Duration::from_secs(30), |r| {
        !r.is_empty()
    })
    .await;
    let recheck: Value =
        serde_json::from_str(&received.first().expect("the re-check").body).expect("JSON");
    assert_eq!(recheck["schema"], "s3-replicator.partition-recheck.v1");
    assert_eq!(recheck["rule"], "lake");
    assert_eq!(recheck["marker"]["key"], marker);
    assert_eq!(recheck["checks"], 1);
    assert_eq!(recheck["alerted"], false);
}
