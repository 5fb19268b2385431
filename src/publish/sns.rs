//! The SNS adapter of [`Publisher`].

use std::collections::HashMap;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;

use super::{
    Alert, CompletionEvent, DeletionEvent, PrefixCompletedEvent, PublishError, Publisher,
    TableCommittedEvent,
};
use crate::aws::SdkFailure;

/// Publishes completions and alerts to their topics.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    completion_topic: String,
    alerts_topic: String,
}

impl SnsPublisher {
    pub fn new(client: Client, completion_topic: &str, alerts_topic: &str) -> Self {
        Self {
            client,
            completion_topic: completion_topic.to_owned(),
            alerts_topic: alerts_topic.to_owned(),
        }
    }

    async fn publish(
        &self,
        topic_arn: &str,
        message: String,
        subject: Option<String>,
        structure: Option<&str>,
        attributes: Vec<(&'static str, String)>,
        fifo: Option<FifoIds>,
    ) -> Result<(), PublishError> {
        let mut call = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(message)
            .set_subject(subject)
            .set_message_structure(structure.map(str::to_owned))
            .set_message_attributes(Some(attribute_values(topic_arn, attributes)?));
        if let Some(ids) = fifo {
            call = call
                .message_group_id(ids.group)
                .message_deduplication_id(ids.deduplication);
        }
        call.send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(topic_arn, &e))
    }

    /// One `PublishBatch` of completion events (at most 10, within 256 KiB: the caller's
    /// [`super::batch`] sees to that); one result per event, in order.
    async fn publish_batch(&self, events: &[CompletionEvent]) -> Vec<Result<(), PublishError>> {
        let topic = self.completion_topic.as_str();
        let fifo = is_fifo(topic);
        let mut results: Vec<Option<Result<(), PublishError>>> = vec![None; events.len()];
        let mut entries = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let entry = serde_json::to_string(event)
                .map_err(|e| refused(topic, e.to_string()))
                .and_then(|body| {
                    let mut entry = PublishBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message(body)
                        .set_message_attributes(Some(attribute_values(topic, event.attributes())?));
                    if fifo {
                        let ids = FifoIds::of(event);
                        entry = entry
                            .message_group_id(ids.group)
                            .message_deduplication_id(ids.deduplication);
                    }
                    entry.build().map_err(|e| refused(topic, e.to_string()))
                });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if !entries.is_empty() {
            let sent = self
                .client
                .publish_batch()
                .topic_arn(topic)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await;
            match sent {
                Ok(output) => {
                    let index = |id: &str| id.parse::<usize>().ok().filter(|i| *i < events.len());
                    for ok in output.successful() {
                        if let Some(i) = ok.id().and_then(index) {
                            results[i] = Some(Ok(()));
                        }
                    }
                    for failed in output.failed() {
                        if let Some(i) = index(&failed.id) {
                            results[i] = Some(Err(PublishError {
                                topic_arn: topic.to_owned(),
                                message: format!(
                                    "{}: {}",
                                    failed.code,
                                    failed.message.as_deref().unwrap_or("(no message)")
                                ),
                                // The sender's fault (a malformed entry) repeats on every try.
                                transient: !failed.sender_fault,
                            }));
                        }
                    }
                }
                Err(e) => {
                    let error = sdk_error(topic, &e);
                    for result in results.iter_mut().filter(|r| r.is_none()) {
                        *result = Some(Err(error.clone()));
                    }
                }
            }
        }
        // An entry SNS answered neither way was not accepted (moto leaves out entries whose
        // publish failed for other reasons than an invalid parameter): try it again.
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(PublishError {
                        topic_arn: topic.to_owned(),
                        message: "PublishBatch answered neither success nor failure for this entry"
                            .to_owned(),
                        transient: true,
                    })
                })
            })
            .collect()
    }
}

/// A failure that trying again cannot mend.
fn refused(topic_arn: &str, message: String) -> PublishError {
    PublishError {
        topic_arn: topic_arn.to_owned(),
        message,
        transient: false,
    }
}

/// A failed SNS call as a [`PublishError`], transient or not as the SDK classifies it.
fn sdk_error<E>(
    topic_arn: &str,
    e: &aws_sdk_sns::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> PublishError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = SdkFailure::from_sdk(e);
    PublishError {
        topic_arn: topic_arn.to_owned(),
        transient: failure.is_transient(),
        message: failure.message,
    }
}

/// Message attributes as SNS takes them; an empty string attribute is rejected by SNS, so it is
/// left out instead.
fn attribute_values(
    topic_arn: &str,
    attributes: Vec<(&'static str, String)>,
) -> Result<HashMap<String, MessageAttributeValue>, PublishError> {
    let mut values = HashMap::with_capacity(attributes.len());
    for (name, value) in attributes {
        if value.is_empty() {
            continue;
        }
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| refused(topic_arn, e.to_string()))?;
        values.insert(name.to_owned(), value);
    }
    Ok(values)
}

impl SnsPublisher {
    /// Publishes `event` as JSON on the completion topic (with FIFO ids when it is FIFO).
    async fn publish_on_completion_topic<T: serde::Serialize>(
        &self,
        event: &T,
        attributes: Vec<(&'static str, String)>,
        fifo: impl FnOnce() -> FifoIds,
    ) -> Result<(), PublishError> {
        let body = serde_json::to_string(event).map_err(|e| PublishError {
            topic_arn: self.completion_topic.clone(),
            message: e.to_string(),
            transient: false,
        })?;
        let fifo = is_fifo(&self.completion_topic).then(fifo);
        self.publish(&self.completion_topic, body, None, None, attributes, fifo)
            .await
    }
}

impl Publisher for SnsPublisher {
    async fn publish_completion(&self, event: &CompletionEvent) -> Result<(), PublishError> {
        self.publish_on_completion_topic(event, event.attributes(), || FifoIds::of(event))
            .await
    }

    async fn publish_completions(
        &self,
        events: &[CompletionEvent],
    ) -> Vec<Result<(), PublishError>> {
        self.publish_batch(events).await
    }

    async fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> Result<(), PublishError> {
        let fifo = || FifoIds::of_prefix(event);
        self.publish_on_completion_topic(event, event.attributes(), fifo)
            .await
    }

    async fn publish_deletion(&self, event: &DeletionEvent) -> Result<(), PublishError> {
        let fifo = || FifoIds::of_deletion(event);
        self.publish_on_completion_topic(event, event.attributes(), fifo)
            .await
    }

    async fn publish_table_committed(
        &self,
        event: &TableCommittedEvent,
    ) -> Result<(), PublishError> {
        let fifo = || FifoIds::of_table(event);
        self.publish_on_completion_topic(event, event.attributes(), fifo)
            .await
    }

    async fn publish_alert(&self, alert: &Alert) -> Result<(), PublishError> {
        self.publish(
            &self.alerts_topic,
            alert.sns_message(),
            Some(alert.subject()),
            Some("json"),
            alert.attributes(),
            None,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// FIFO completion topics (terraform's `completion_topic_fifo`)

/// The deduplication ID a completion gets on a FIFO topic (for simulations of SNS).
pub fn completion_deduplication_id(event: &CompletionEvent) -> String {
    FifoIds::of(event).deduplication
}

/// The deduplication ID a partition completion gets on a FIFO topic.
pub fn prefix_deduplication_id(event: &PrefixCompletedEvent) -> String {
    FifoIds::of_prefix(event).deduplication
}

/// A FIFO topic's ARN ends in `.fifo`; SNS then requires a message group on every publish.
fn is_fifo(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// Message group and deduplication ID of a completion on a FIFO topic.
///
/// The group is the source bucket: completions of one bucket arrive in order, different
/// buckets don't wait for each other. The deduplication ID names the *write* of the object
/// version under its rule: rule, bucket, key, ETag, version ID and the event's `sequencer`
/// (S3's order of writes to one key), or its event time when it has none. A redelivered message
/// (its targets found `already_present`) then does not announce the same write twice within
/// SNS's 5-minute deduplication window, while a key rewritten X → Y → X within that window gets
/// three completions: an unversioned X has the same ETag both times, only the sequencer tells
/// the two writes apart. The body cannot serve (content-based deduplication): `completed_at`
/// and the durations differ on every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FifoIds {
    group: String,
    deduplication: String,
}

impl FifoIds {
    fn of(event: &CompletionEvent) -> Self {
        let s = &event.source;
        let write = if crate::bug!(DeduplicationWithoutSequencer) {
            String::new()
        } else {
            write_of(s.sequencer.as_deref(), s.event_time)
        };
        Self::from_parts(
            &s.bucket,
            &[
                event.rule.as_str(),
                &s.bucket,
                &s.key,
                &s.etag,
                s.version_id.as_deref().unwrap_or(""),
                &write,
            ],
        )
    }

    /// A deletion: in the group of its source bucket, as the completions of the same key, so
    /// that a FIFO subscriber sees a key's creation and deletion in the order they were
    /// published; named by the delete's own write.
    fn of_deletion(event: &DeletionEvent) -> Self {
        let s = &event.source;
        let write = write_of(s.sequencer.as_deref(), s.event_time);
        Self::from_parts(
            &s.bucket,
            &["deletion", event.rule.as_str(), &s.bucket, &s.key, &write],
        )
    }

    /// A table commit: named by the table and version (a commit is written once).
    fn of_table(event: &TableCommittedEvent) -> Self {
        let version = event.version.to_string();
        Self::from_parts(
            &event.source_bucket,
            &[
                "table-committed",
                &event.rule,
                &event.source_bucket,
                &event.table,
                &version,
            ],
        )
    }

    /// A partition completion: named by its marker's write, like an object's completion, so
    /// that a partition closed again by a new marker within 5 minutes is announced again.
    fn of_prefix(event: &PrefixCompletedEvent) -> Self {
        let write = write_of(event.marker_sequencer.as_deref(), event.marker_event_time);
        Self::from_parts(
            &event.source_bucket,
            &[
                "prefix-completed",
                &event.rule,
                &event.source_bucket,
                &event.marker,
                &write,
            ],
        )
    }

    /// Message group `group`; deduplication id a stable hash of `parts`.
    fn from_parts(group: &str, parts: &[&str]) -> Self {
        let mut hash = Fnv1a::default();
        for part in parts {
            hash.write(part.as_bytes());
            // A separator that cannot occur in the parts keeps ("ab","c") apart from ("a","bc").
            hash.write(&[0xff]);
        }
        Self {
            group: group.to_owned(),
            deduplication: format!("{:016x}", hash.0),
        }
    }
}

/// Which write of a key an event announces: its sequencer (upper-cased without trailing zeros,
/// the form [`crate::event::Sequencer`] compares by), else its event time in milliseconds (the
/// precision of S3's `eventTime`, and of the completion event's `source.event_time`).
fn write_of(sequencer: Option<&str>, event_time: time::OffsetDateTime) -> String {
    match sequencer.filter(|s| !s.is_empty()) {
        Some(sequencer) => format!(
            "sequencer:{}",
            sequencer.trim_end_matches('0').to_ascii_uppercase()
        ),
        None => format!("time:{}", event_time.unix_timestamp_nanos() / 1_000_000),
    }
}

/// FNV-1a, 64 bits: stable across builds and processes (unlike `DefaultHasher`), which matters
/// because two tasks may publish the same completion.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod fifo_tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        let mut h = Fnv1a::default();
        assert_eq!(h.0, 0xcbf29ce484222325);
        h.write(b"a");
        assert_eq!(h.0, 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn deduplication_names_the_object_version_not_the_delivery() {
        let source = crate::publish::SourceReport {
            bucket: "lake".into(),
            key: "a/b.parquet".into(),
            region: "us-east-1".into(),
            version_id: None,
            etag: "abc".into(),
            size: 1,
            sequencer: None,
            event_time: time::OffsetDateTime::UNIX_EPOCH,
            restored_from: None,
        };
        let first = CompletionEvent::new("rule", source.clone(), vec![]);
        let mut again = CompletionEvent::new("rule", source.clone(), vec![]);
        again.latency_ms += 5;
        let ids = FifoIds::of(&first);
        assert_eq!(ids, FifoIds::of(&again));
        assert_eq!(ids.group, "lake");
        assert_eq!(ids.deduplication.len(), 16);
        let newer = CompletionEvent::new(
            "rule",
            crate::publish::SourceReport {
                etag: "def".into(),
                ..source.clone()
            },
            vec![],
        );
        assert_ne!(ids, FifoIds::of(&newer));
        let other_rule = CompletionEvent::new("other", source, vec![]);
        assert_ne!(ids, FifoIds::of(&other_rule));
    }

    fn unversioned(etag: &str, sequencer: Option<&str>, second: i64) -> CompletionEvent {
        CompletionEvent::new(
            "rule",
            crate::publish::SourceReport {
                bucket: "lake".into(),
                key: "a/b.parquet".into(),
                region: "us-east-1".into(),
                version_id: None,
                etag: etag.into(),
                size: 1,
                sequencer: sequencer.map(str::to_owned),
                event_time: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(second),
                restored_from: None,
            },
            vec![],
        )
    }

    #[test]
    fn a_key_rewritten_x_y_x_gets_three_deduplication_ids() {
        let writes = [
            unversioned("x", Some("0064D3901D00059242"), 0),
            unversioned("y", Some("0064D3901D00059243"), 1),
            unversioned("x", Some("0064D3901D00059244"), 2),
        ];
        let ids: std::collections::HashSet<String> = writes
            .iter()
            .map(|e| FifoIds::of(e).deduplication)
            .collect();
        assert_eq!(
            ids.len(),
            3,
            "the third completion must not be deduplicated away"
        );
        // A redelivery of the last event (same sequencer, another delivery) is the same write;
        // the sequencer's case and trailing zeros do not make it another one.
        let mut again = unversioned("x", Some("0064d3901d000592440000"), 2);
        again.latency_ms += 1000;
        assert_eq!(FifoIds::of(&again), FifoIds::of(&writes[2]));
    }

    #[test]
    fn without_a_sequencer_the_event_time_tells_writes_apart() {
        let first = unversioned("x", None, 0);
        let third = unversioned("x", None, 2);
        assert_ne!(FifoIds::of(&first), FifoIds::of(&third));
        assert_eq!(FifoIds::of(&first), FifoIds::of(&unversioned("x", None, 0)));
    }

    #[test]
    fn a_partition_closed_again_by_a_new_marker_gets_a_new_deduplication_id() {
        let event = |sequencer: Option<&str>, second: i64| PrefixCompletedEvent {
            schema: crate::publish::PREFIX_COMPLETED_SCHEMA,
            rule: "rule".into(),
            source_bucket: "lake".into(),
            source_region: "us-east-1".into(),
            prefix: "d=1/".into(),
            marker: "d=1/_SUCCESS".into(),
            marker_sequencer: sequencer.map(str::to_owned),
            marker_event_time: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(second),
            objects: 2,
            bytes: 2,
            targets: vec![],
            completed_at: time::OffsetDateTime::now_utc(),
        };
        let first = FifoIds::of_prefix(&event(Some("0A"), 0));
        assert_eq!(
            first,
            FifoIds::of_prefix(&event(Some("0A"), 0)),
            "redelivery"
        );
        assert_ne!(
            first,
            FifoIds::of_prefix(&event(Some("0B"), 0)),
            "new marker"
        );
        assert_ne!(
            FifoIds::of_prefix(&event(None, 0)),
            FifoIds::of_prefix(&event(None, 5))
        );
        assert_eq!(first.group, "lake");
    }

    #[test]
    fn only_fifo_topics_get_ids() {
        assert!(is_fifo("arn:aws:sns:us-east-1:111111111111:done.fifo"));
        assert!(!is_fifo("arn:aws:sns:us-east-1:111111111111:done"));
    }
}
