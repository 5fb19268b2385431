//! The SNS adapter of [`Publisher`].

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{Alert, CompletionEvent, PrefixCompletedEvent, PublishError, Publisher};
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
            .set_message_structure(structure.map(str::to_owned));
        if let Some(ids) = fifo {
            call = call
                .message_group_id(ids.group)
                .message_deduplication_id(ids.deduplication);
        }
        for (name, value) in attributes {
            // An empty string attribute is rejected by SNS; leave it out instead.
            if value.is_empty() {
                continue;
            }
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PublishError {
                    topic_arn: topic_arn.to_owned(),
                    message: e.to_string(),
                    transient: false,
                })?;
            call = call.message_attributes(name, value);
        }
        call.send().await.map(|_| ()).map_err(|e| {
            let failure = SdkFailure::from_sdk(&e);
            PublishError {
                topic_arn: topic_arn.to_owned(),
                transient: failure.is_transient(),
                message: failure.message,
            }
        })
    }
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

    async fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> Result<(), PublishError> {
        let fifo = || {
            FifoIds::from_parts(
                &event.source_bucket,
                &[
                    "prefix-completed",
                    &event.rule,
                    &event.source_bucket,
                    &event.marker,
                ],
            )
        };
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

/// A FIFO topic's ARN ends in `.fifo`; SNS then requires a message group on every publish.
fn is_fifo(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// Message group and deduplication ID of a completion on a FIFO topic.
///
/// The group is the source bucket: completions of one bucket arrive in order, different
/// buckets don't wait for each other. The deduplication ID names the object version under its
/// rule, so a redelivered message (its targets found `already_present`) does not announce the
/// same version twice within SNS's 5-minute deduplication window. The body cannot serve
/// (content-based deduplication): `completed_at` and the durations differ on every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FifoIds {
    group: String,
    deduplication: String,
}

impl FifoIds {
    fn of(event: &CompletionEvent) -> Self {
        let s = &event.source;
        Self::from_parts(
            &s.bucket,
            &[
                event.rule.as_str(),
                &s.bucket,
                &s.key,
                &s.etag,
                s.version_id.as_deref().unwrap_or(""),
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

    #[test]
    fn only_fifo_topics_get_ids() {
        assert!(is_fifo("arn:aws:sns:us-east-1:111111111111:done.fifo"));
        assert!(!is_fifo("arn:aws:sns:us-east-1:111111111111:done"));
    }
}
