//! FIFO completion topics against the emulator: the deduplication ID names the write an event
//! announces, so a redelivered event keeps its ID and a key written again (even with the same
//! bytes) gets a new one. The emulator passes the IDs through to the FIFO subscriber but does
//! not drop duplicates itself, so the test compares the IDs.

use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

/// Waits for the next message on the FIFO queue: its body and deduplication ID.
async fn next(sqs: &aws_sdk_sqs::Client, queue: &str) -> (Value, String) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "no completion on the FIFO topic");
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            let id = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageDeduplicationId))
                .cloned()
                .unwrap_or_default();
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            return (serde_json::from_str(m.body().unwrap()).unwrap(), id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_keeps_its_deduplication_id_and_a_rewrite_gets_a_new_one() {
    let (emulator, stack) = setup("fifodedup").await;
    let sns = emulator.sns();
    let sqs = emulator.sqs();
    let topic = sns
        .create_topic()
        .name(format!("{}-completed.fifo", stack.name))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let queue = create_queue(
        &sqs,
        &format!("{}-completions.fifo", stack.name),
        &[(QueueAttributeName::FifoQueue, "true".to_owned())],
    )
    .await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn(&sqs, &queue).await)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let toml = stack.config_toml().replace(&stack.completion_topic, &topic);
    let (mut config, _file) = load_config(&toml);
    // Emulator difference: moto 5.2.5 ignores `If-None-Match` on `CopyObject`, so the re-sent
    // event (a new message, so a first delivery) written first would overwrite the replica
    // there instead of getting S3's 412 and finding it present. Read first here; the
    // write-first path is tested on the in-memory store (pipeline_logic, write_first).
    for target in &mut config.targets {
        target.write_first = false;
    }
    let daemon = Daemon::start(config);

    let s3 = emulator.s3(SOURCE_REGION);
    let key = "fifo/part-0.bin";
    let put = || {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            b"same bytes",
            "application/octet-stream",
            &[],
            None,
        )
    };
    put().await;
    let (first, first_id) = next(&sqs, &queue).await;
    assert_eq!(first_id.len(), 16, "{first_id}");

    // The same event again, as SQS redelivers it: the same write, the same ID.
    let source = &first["source"];
    let mut object = serde_json::json!({ "key": key, "size": 10, "eTag": source["etag"] });
    if let Some(sequencer) = source["sequencer"].as_str() {
        object["sequencer"] = sequencer.into();
    }
    let redelivery = serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": SOURCE_REGION,
        "eventTime": source["event_time"], "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": stack.source_bucket }, "object": object }
    }]});
    sqs.send_message()
        .queue_url(&stack.queue_url)
        .message_body(redelivery.to_string())
        .send()
        .await
        .unwrap();
    let (again, again_id) = next(&sqs, &queue).await;
    assert_eq!(again["targets"][0]["method"], "already_present");
    assert_eq!(again_id, first_id, "a redelivery is deduplicated");

    // The same bytes written again (X → X, or X → Y → X): a new write, a new ID.
    tokio::time::sleep(Duration::from_millis(5)).await;
    put().await;
    let (_, rewrite_id) = next(&sqs, &queue).await;
    daemon.stop().await;
    assert_ne!(
        rewrite_id, first_id,
        "a new write of the same bytes must not be dropped as a duplicate"
    );
}
