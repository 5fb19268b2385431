//! The SQS adapter of [`MessageSource`].

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_sdk_sqs::Client;

use super::{DeleteFailure, Message, MessageSource, QueueDepth, QueueError, Receipt};
use crate::aws::SdkFailure;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
        }
    }

    fn error<E>(
        &self,
        operation: &'static str,
        err: &aws_sdk_sqs::error::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> QueueError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = SdkFailure::from_sdk(err);
        QueueError {
            operation,
            queue: self.url.clone(),
            transient: failure.is_transient(),
            message: failure.message,
        }
    }
}

impl MessageSource for SqsQueue {
    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(Name::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| self.error("GetQueueAttributes", &e))?;
        let attributes = out.attributes();
        let count = |name: Name| {
            attributes
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(Some(QueueDepth {
            visible: count(Name::ApproximateNumberOfMessages),
            in_flight: count(Name::ApproximateNumberOfMessagesNotVisible),
            delayed: count(Name::ApproximateNumberOfMessagesDelayed),
        }))
    }

    async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.error("ReceiveMessage", &e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    id: m.message_id()?.to_owned(),
                    receipt_handle: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    async fn delete_batch(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                // Batch entry ids must be unique within the batch and at most 80 characters of
                // [A-Za-z0-9_-]; message ids qualify, but the index is safer and maps back.
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&r.receipt_handle)
                    .build()
                    .map_err(|e| QueueError {
                        operation: "DeleteMessageBatch",
                        queue: self.url.clone(),
                        message: e.to_string(),
                        transient: false,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.error("DeleteMessageBatch", &e))?;
        Ok(out
            .failed()
            .iter()
            .map(|f| {
                let id = f
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| receipts.get(i))
                    .map(|r| r.id.clone())
                    .unwrap_or_else(|| f.id().to_owned());
                DeleteFailure {
                    id,
                    code: f.code().to_owned(),
                    message: f.message().unwrap_or_default().to_owned(),
                    stale: f.code() == "ReceiptHandleIsInvalid",
                }
            })
            .collect())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility_secs: i32,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(visibility_secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("ChangeMessageVisibility", &e))
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<(usize, String)>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError {
                operation: "SendMessageBatch",
                queue: self.url.clone(),
                message: e.to_string(),
                transient: false,
            })?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.error("SendMessageBatch", &e))?;
        Ok(out
            .failed()
            .iter()
            .map(|f| {
                (
                    f.id().parse().unwrap_or(usize::MAX),
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                )
            })
            .collect())
    }

    async fn send(&self, body: &str, delay_secs: i32) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("SendMessage", &e))
    }
}
