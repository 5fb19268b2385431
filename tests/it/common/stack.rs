//! A realistic replication setup on the local emulator, shared by the integration tests and
//! the demo (`bench/src/bin/local_stack/`): a source bucket in us-east-1, a target in another
//! region, a target in a second account reached through an assumed role, the event queue with
//! a dead-letter queue, the bucket notification, and the completion and alert topics with SQS
//! subscribers so that their events can be watched.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;

/// The emulator's default account.
pub const ACCOUNT: &str = "123456789012";
/// The second account, reached by assuming [`ROLE_ARN`].
pub const SECOND_ACCOUNT: &str = "222222222222";
pub const ROLE_ARN: &str = "arn:aws:iam::222222222222:role/replication-writer";
pub const SOURCE_REGION: &str = "us-east-1";
pub const EU_REGION: &str = "eu-west-1";
pub const DR_REGION: &str = "us-west-2";
/// Deliveries before SQS moves a message to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 3;

/// Clients for the emulator, as the default account.
#[derive(Clone)]
pub struct Emulator {
    pub endpoint: String,
    pub base: SdkConfig,
}

impl Emulator {
    pub async fn connect(endpoint: &str) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(SOURCE_REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "emulator",
            ))
            .load()
            .await;
        Self {
            endpoint: endpoint.to_owned(),
            base,
        }
    }

    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        s3_with(&self.base, region)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.base)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.base)
    }

    /// The second account's view: credentials from `sts:AssumeRole` into it.
    pub async fn second_account(&self) -> SdkConfig {
        let out = aws_sdk_sts::Client::new(&self.base)
            .assume_role()
            .role_arn(ROLE_ARN)
            .role_session_name("s3-replicator-setup")
            .send()
            .await
            .expect("assume role into the second account");
        let c = out.credentials().expect("credentials");
        self.base
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_sdk_s3::config::Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        Some(c.session_token().to_owned()),
                        None,
                        "assumed-role",
                    ),
                ),
            )
            .build()
    }
}

pub fn s3_with(base: &SdkConfig, region: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(base)
            .region(Region::new(region.to_owned()))
            .force_path_style(true)
            .build(),
    )
}

/// Names and endpoints of one setup; `name` keeps setups of parallel tests apart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stack {
    pub endpoint: String,
    pub name: String,
    pub source_bucket: String,
    pub eu_bucket: String,
    pub dr_bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub completion_topic: String,
    pub alerts_topic: String,
    /// Subscribed (raw delivery) to the completion topic.
    pub completions_url: String,
    /// Subscribed (raw delivery) to the alerts topic.
    pub alerts_url: String,
}

impl Stack {
    /// Creates every resource of the setup. `name` must be lower-case letters, digits and '-'.
    pub async fn create(emulator: &Emulator, name: &str) -> Self {
        let s3 = emulator.s3(SOURCE_REGION);
        let sqs = emulator.sqs();
        let sns = emulator.sns();
        let stack = Stack {
            endpoint: emulator.endpoint.clone(),
            name: name.to_owned(),
            source_bucket: format!("{name}-lake"),
            eu_bucket: format!("{name}-analytics-eu"),
            dr_bucket: format!("{name}-dr-copy"),
            queue_url: String::new(),
            dlq_url: String::new(),
            completion_topic: String::new(),
            alerts_topic: String::new(),
            completions_url: String::new(),
            alerts_url: String::new(),
        };

        s3.create_bucket()
            .bucket(&stack.source_bucket)
            .send()
            .await
            .expect("create source bucket");
        create_bucket_in(&emulator.s3(EU_REGION), &stack.eu_bucket, EU_REGION).await;
        let second = emulator.second_account().await;
        create_bucket_in(&s3_with(&second, DR_REGION), &stack.dr_bucket, DR_REGION).await;

        let dlq_url = create_queue(&sqs, &format!("{name}-events-dlq"), &[]).await;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = format!(
            r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#
        );
        let queue_url = create_queue(
            &sqs,
            &format!("{name}-events"),
            &[
                (QueueAttributeName::RedrivePolicy, redrive),
                (QueueAttributeName::VisibilityTimeout, "30".to_owned()),
            ],
        )
        .await;
        let queue_arn = queue_arn(&sqs, &queue_url).await;

        set_notification(&s3, &stack.source_bucket, Some(&queue_arn)).await;

        let completion_topic = create_topic(&sns, &format!("{name}-replication-completed")).await;
        let alerts_topic = create_topic(&sns, &format!("{name}-replication-alerts")).await;
        let completions_url = subscribe_queue(
            &sqs,
            &sns,
            &completion_topic,
            &format!("{name}-completions"),
        )
        .await;
        let alerts_url =
            subscribe_queue(&sqs, &sns, &alerts_topic, &format!("{name}-alerts")).await;

        let stack = Stack {
            queue_url,
            dlq_url,
            completion_topic,
            alerts_topic,
            completions_url,
            alerts_url,
            ..stack
        };
        // S3 sends a test event when a notification is configured; drop it so that tests start
        // from an empty queue (the daemon would acknowledge it anyway).
        drain(&sqs, &stack.queue_url).await;
        stack
    }

    /// The daemon's configuration for this setup, as TOML.
    pub fn config_toml(&self) -> String {
        format!(
            r#"# Written by the local stack setup: the daemon's configuration for the local emulator.

[aws]
endpoint_url = "{endpoint}"
region = "{SOURCE_REGION}"

[queue]
url = "{queue_url}"
max_messages = 10
wait_time_secs = 1
visibility_timeout_secs = 30
concurrency = 16

[completion]
topic_arn = "{completion_topic}"

[alerts]
topic_arn = "{alerts_topic}"

[[targets]]
name = "analytics-eu"
bucket = "{eu_bucket}"
region = "{EU_REGION}"

[[targets]]
name = "dr-account"
bucket = "{dr_bucket}"
region = "{DR_REGION}"
role_arn = "{ROLE_ARN}"

[[rules]]
name = "lake"
source_bucket = "{source_bucket}"
targets = ["analytics-eu", "dr-account"]
"#,
            endpoint = self.endpoint,
            queue_url = self.queue_url,
            completion_topic = self.completion_topic,
            alerts_topic = self.alerts_topic,
            eu_bucket = self.eu_bucket,
            dr_bucket = self.dr_bucket,
            source_bucket = self.source_bucket,
        )
    }
}

/// Sends the bucket's `ObjectCreated` notifications to the queue `queue_arn`, or nowhere.
pub async fn set_notification(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: Option<&str>) {
    set_notification_events(s3, bucket, queue_arn, &["s3:ObjectCreated:*"]).await;
}

/// Sends the bucket's notifications of `events` (`s3:ObjectCreated:*`, `s3:ObjectRemoved:*`,
/// …) to the queue `queue_arn`, or nowhere.
pub async fn set_notification_events(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    queue_arn: Option<&str>,
    events: &[&str],
) {
    let mut notification = aws_sdk_s3::types::NotificationConfiguration::builder();
    if let Some(queue_arn) = queue_arn {
        let mut queue = aws_sdk_s3::types::QueueConfiguration::builder().queue_arn(queue_arn);
        for event in events {
            queue = queue.events(aws_sdk_s3::types::Event::from(*event));
        }
        notification =
            notification.queue_configurations(queue.build().expect("queue configuration"));
    }
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification.build())
        .send()
        .await
        .expect("bucket notification");
}

async fn create_bucket_in(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket} in {region}: {e:?}"));
}

pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut call = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        call = call.attributes(k.clone(), v);
    }
    call.send()
        .await
        .unwrap_or_else(|e| panic!("create queue {name}: {e:?}"))
        .queue_url()
        .expect("queue url")
        .to_owned()
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone()
}

pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create topic {name}: {e:?}"))
        .topic_arn()
        .expect("topic arn")
        .to_owned()
}

pub async fn subscribe_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_name: &str,
) -> String {
    let url = create_queue(sqs, queue_name, &[]).await;
    let arn = queue_arn(sqs, &url).await;
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe queue to topic");
    url
}

/// Receives and deletes whatever is in the queue now. (PurgeQueue is allowed once a minute.)
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) {
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return;
        }
        for m in out.messages() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

/// Uploads an object with a content type, user metadata and tags.
pub async fn put_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    content_type: &str,
    metadata: &[(&str, &str)],
    tagging: Option<&str>,
) -> String {
    let mut call = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .content_type(content_type)
        .set_tagging(tagging.map(str::to_owned));
    for (k, v) in metadata {
        call = call.metadata(*k, *v);
    }
    call.send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"))
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

/// A received SQS message: its body and its string message attributes.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Receives (and deletes) messages from `url` until `enough` says so or `timeout` passes.
pub async fn receive_until(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    timeout: Duration,
    mut enough: impl FnMut(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    while !enough(&received) && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            received.push(Received {
                body: m.body().unwrap_or_default().to_owned(),
                attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    received
}

/// Messages visible plus in flight, as SQS reports them.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let get = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}
