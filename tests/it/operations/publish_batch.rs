//! The SNS adapter's `PublishBatch` against the emulator: one result per entry, in order, so that
//! one refused entry fails only its own message; the accepted ones reach the subscribers with
//! their attributes.
//!
//! Emulator difference (moto 5.2.5, `sns/models.py` `publish_batch`): an entry whose publish
//! raises anything but `InvalidParameterValue` is left out of both `Successful` and `Failed`;
//! the adapter counts such an entry as not accepted (transient), as a missing answer should be.

use std::time::Duration;

use crate::common::*;
use s3_replicator::publish::sns::SnsPublisher;
use s3_replicator::publish::{CompletionEvent, Publisher, SourceReport};

fn event(key: &str) -> CompletionEvent {
    CompletionEvent::new(
        "batch",
        SourceReport {
            bucket: "lake".into(),
            key: key.into(),
            region: SOURCE_REGION.into(),
            version_id: None,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            size: 0,
            sequencer: None,
            event_time: time::OffsetDateTime::now_utc(),
            restored_from: None,
        },
        vec![],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_entry_by_entry() {
    let (emulator, stack) = setup("pubbatch").await;
    let publisher = SnsPublisher::new(emulator.sns(), &stack.completion_topic, &stack.alerts_topic);
    // SNS refuses a message over 256 KiB: that entry alone, as a fault of the sender.
    let too_long = format!("big/{}", "x".repeat(300 * 1024));
    let events = [event("batch/a"), event(&too_long), event("batch/b")];
    let results = publisher.publish_completions(&events).await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[2].is_ok(), "{:?}", results[2]);
    let refused = results[1].as_ref().expect_err("a message over 256 KiB");
    assert!(!refused.transient, "a sender's fault repeats: {refused}");

    let received = receive_until(
        &emulator.sqs(),
        &stack.completions_url,
        Duration::from_secs(20),
        |r| r.len() >= 2,
    )
    .await;
    let mut keys: Vec<String> = received
        .iter()
        .map(|m| {
            let event: serde_json::Value = serde_json::from_str(&m.body).expect("JSON");
            assert_eq!(event["schema"], "s3-replicator.completion.v1");
            assert_eq!(
                m.attributes.get("status").map(String::as_str),
                Some("completed")
            );
            assert_eq!(m.attributes.get("rule").map(String::as_str), Some("batch"));
            event["source"]["key"].as_str().expect("key").to_owned()
        })
        .collect();
    keys.sort();
    assert_eq!(keys, ["batch/a", "batch/b"]);
}
