//! Wiring: the AWS SDK configuration loaded once, and every client and adapter built from it.
//!
//! Sits at the top of the library, just under the commands: the daemon (`run`), `backfill`,
//! `verify` and the health server take what a [`Wiring`] built, so a process resolves its
//! credential chain, region and endpoints once, and every client counts its requests in the
//! same [`Metrics`].

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::aws::{load_base, region_of_arn, region_of_queue_url, target_credentials, Timeouts};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::publish::sns::SnsPublisher;
use crate::queue::sqs::SqsQueue;
use crate::replicate::{Replicator, Target};
use crate::route::Router;
use crate::server::QueueReadiness;
use crate::store::s3::S3Store;

/// The daemon's pipeline on AWS.
pub type AwsPipeline = Pipeline<S3Store, SnsPublisher>;

/// The SDK configuration of one process, its timeouts and its metrics registry.
#[derive(Debug, Clone)]
pub struct Wiring {
    base: SdkConfig,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
}

impl Wiring {
    /// Loads the SDK configuration (credential chain, `aws.region` or else the queue's region,
    /// `aws.endpoint_url`) once.
    pub async fn load(config: &Config, metrics: Arc<Metrics>) -> Self {
        let queue_region = region_of_queue_url(&config.queue.url).map(str::to_owned);
        Self {
            base: load_base(&config.aws, queue_region).await,
            timeouts: Timeouts::from_config(config),
            metrics,
        }
    }

    /// The registry every client and adapter built here records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The region sources are read in by default: the SDK configuration's (the queue's).
    fn home_region(&self) -> String {
        self.base
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    /// The SQS adapter for `queue.url`.
    pub fn queue(&self, config: &Config) -> SqsQueue {
        SqsQueue::new(self.sqs_client(), &config.queue.url)
    }

    /// The readiness check of the health server: the queue answers with these credentials.
    pub fn readiness(&self, config: &Config) -> QueueReadiness {
        QueueReadiness::new(self.sqs_client(), &config.queue.url)
    }

    fn sqs_client(&self) -> aws_sdk_sqs::Client {
        crate::aws::sqs_client(&self.base, &self.timeouts, &self.metrics)
    }

    /// The SNS publisher, in the completion topic's region.
    pub fn publisher(&self, config: &Config) -> SnsPublisher {
        let region = region_of_arn(&config.completion.topic_arn)
            .map(str::to_owned)
            .unwrap_or_else(|| self.home_region());
        SnsPublisher::new(
            crate::aws::sns_client(&self.base, Some(&region), &self.timeouts, &self.metrics),
            &config.completion.topic_arn,
            &config.alerts.topic_arn,
        )
    }

    /// S3 stores for the source (the daemon's own credentials, in the sources' region) and for
    /// every target (its region, its assumed role), all at `aws.s3_endpoint_url` when it is set.
    pub async fn replicator(&self, config: &Config) -> Replicator<S3Store> {
        // S3 notifications reach SQS only within one region, so most sources live in the
        // queue's; an event through SNS or EventBridge can come from another region, and its
        // source is read there (the event's `awsRegion`), with a client made for that region
        // when first needed.
        let endpoint = config.aws.s3_endpoint_url.clone();
        let home = self.home_region();
        let s3 = {
            let wiring = self.clone();
            move |region: &str, credentials: Option<SharedCredentialsProvider>| {
                S3Store::new(crate::aws::s3_client(
                    &wiring.base,
                    endpoint.as_deref(),
                    region,
                    credentials,
                    &wiring.timeouts,
                    &wiring.metrics,
                ))
            }
        };
        let mut targets = Vec::with_capacity(config.targets.len());
        for target in &config.targets {
            let credentials = target_credentials(&self.base, target).await;
            let client = crate::aws::target_s3_client(
                &self.base,
                config.aws.s3_endpoint_url.as_deref(),
                target,
                credentials,
                &self.timeouts,
                &self.metrics,
            );
            // On its own endpoint the SDK sends no checksum of its own: Content-MD5, which every
            // S3 implementation checks, keeps bytes damaged on the way out of the replica.
            let store = if target.endpoint_url.is_some() {
                S3Store::with_content_md5(client)
            } else {
                S3Store::new(client)
            };
            targets.push(Target {
                config: target.clone(),
                store,
            });
        }
        let source = s3(&home, None);
        Replicator::new(source, targets)
            .with_limits((&config.copy).into())
            .with_metrics(Arc::clone(&self.metrics))
            .with_regional_sources(&home, move |region| s3(region, None))
    }

    /// The pipeline with S3 stores for the source and every target, and the SNS publisher.
    pub async fn pipeline(&self, config: &Config) -> AwsPipeline {
        Pipeline::new(
            Router::new(config),
            self.replicator(config).await,
            self.publisher(config),
        )
        .with_alert_window(Duration::from_secs(config.alerts.window_secs))
    }
}
