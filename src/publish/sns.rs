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
    ) -> Result<(), PublishError> {
        let mut call = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(message)
            .set_subject(subject)
            .set_message_structure(structure.map(str::to_owned));
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

impl Publisher for SnsPublisher {
    async fn publish_completion(&self, event: &CompletionEvent) -> Result<(), PublishError> {
        let body = serde_json::to_string(event).map_err(|e| PublishError {
            topic_arn: self.completion_topic.clone(),
            message: e.to_string(),
            transient: false,
        })?;
        self.publish(&self.completion_topic, body, None, None, event.attributes())
            .await
    }

    async fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> Result<(), PublishError> {
        let body = serde_json::to_string(event).map_err(|e| PublishError {
            topic_arn: self.completion_topic.clone(),
            message: e.to_string(),
            transient: false,
        })?;
        self.publish(&self.completion_topic, body, None, None, event.attributes())
            .await
    }

    async fn publish_alert(&self, alert: &Alert) -> Result<(), PublishError> {
        self.publish(
            &self.alerts_topic,
            alert.sns_message(),
            Some(alert.subject()),
            Some("json"),
            alert.attributes(),
        )
        .await
    }
}
