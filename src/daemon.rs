//! The long-running loop: long polling, bounded concurrency, batch deletes, shutdown.
//!
//! One receiver long-polls the queue while handlers run; a [`Semaphore`] bounds the messages
//! in flight to `queue.concurrency`, and the receiver asks only for as many messages as there
//! are free permits, so that no message waits invisible in memory for a slot. Finished
//! messages go to one deleter task that groups them into `DeleteMessageBatch` calls.
//!
//! Shutdown: stop receiving, let every in-flight message finish, flush the deletes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::{mpsc, Semaphore};
use tracing::{error, info, warn};

use crate::pipeline::{Pipeline, Verdict};
use crate::publish::Publisher;
use crate::queue::{MessageSource, Receipt};
use crate::store::ObjectStore;

/// SQS takes at most 10 entries per batch.
const DELETE_BATCH_MAX: usize = 10;
/// How long a finished message may wait for others to share its delete call.
const DELETE_LINGER: Duration = Duration::from_millis(20);
/// Pause after a failed receive, doubling up to [`RECEIVE_BACKOFF_MAX`].
const RECEIVE_BACKOFF_MIN: Duration = Duration::from_millis(200);
const RECEIVE_BACKOFF_MAX: Duration = Duration::from_secs(20);

/// The queue settings the loop needs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_messages: i32,
    pub wait_time_secs: i32,
    pub visibility_timeout_secs: i32,
    pub concurrency: usize,
}

/// Runs until `shutdown` resolves, then drains in-flight work and returns.
pub async fn run<Q, S, P>(
    queue: Arc<Q>,
    pipeline: Arc<Pipeline<S, P>>,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) where
    Q: MessageSource,
    S: ObjectStore,
    P: Publisher,
{
    let concurrency = settings.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let (done_tx, done_rx) = mpsc::channel::<Receipt>(concurrency.max(DELETE_BATCH_MAX) * 2);
    let deleter = tokio::spawn(delete_finished(Arc::clone(&queue), done_rx));
    let mut backoff = RECEIVE_BACKOFF_MIN;
    tokio::pin!(shutdown);
    info!(
        message = "Daemon started.",
        concurrency,
        max_messages = settings.max_messages
    );

    loop {
        // Wait for room before asking for work: messages received without a free slot would
        // sit invisible while their visibility timeout runs down.
        let first = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let room = 1 + permits.available_permits();
        let max = settings.max_messages.clamp(1, 10).min(room as i32);
        let received = tokio::select! {
            biased;
            // Dropping an unanswered receive loses nothing: any message SQS handed out for it
            // becomes visible again when its visibility timeout ends.
            () = &mut shutdown => break,
            received = queue.receive(max, settings.wait_time_secs, settings.visibility_timeout_secs) => received,
        };
        let messages = match received {
            Ok(messages) => {
                backoff = RECEIVE_BACKOFF_MIN;
                messages
            }
            Err(e) => {
                error!(message = "Receiving from the queue failed; backing off.", error = %e, backoff_ms = backoff.as_millis() as u64);
                drop(first);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RECEIVE_BACKOFF_MAX);
                continue;
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                // Only this loop takes permits, and it asked for no more messages than were free.
                None => match Arc::clone(&permits).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let pipeline = Arc::clone(&pipeline);
            let done = done_tx.clone();
            let heartbeat = crate::heartbeat::start(
                Arc::clone(&queue),
                &message,
                settings.visibility_timeout_secs,
            );
            tokio::spawn(async move {
                let verdict = pipeline.handle(&message).await;
                drop(heartbeat);
                if verdict == Verdict::Delete && done.send(Receipt::from(&message)).await.is_err() {
                    warn!(message = "Deleter gone; message will be redelivered.", message_id = %message.id);
                }
                drop(permit);
            });
        }
    }

    info!(message = "Shutting down: waiting for in-flight messages.");
    // Every permit back means every handler finished.
    let _all = permits.acquire_many(concurrency as u32).await;
    drop(done_tx);
    if deleter.await.is_err() {
        error!(message = "The deleter task panicked; undeleted messages will be redelivered.");
    }
    info!(message = "Daemon stopped.");
}

/// Groups finished messages into batch deletes until every sender is gone.
async fn delete_finished<Q: MessageSource>(queue: Arc<Q>, mut done: mpsc::Receiver<Receipt>) {
    let mut batch = Vec::with_capacity(DELETE_BATCH_MAX);
    while let Some(first) = done.recv().await {
        batch.push(first);
        let linger = tokio::time::sleep(DELETE_LINGER);
        tokio::pin!(linger);
        while batch.len() < DELETE_BATCH_MAX {
            tokio::select! {
                next = done.recv() => match next {
                    Some(receipt) => batch.push(receipt),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        delete_batch(queue.as_ref(), std::mem::take(&mut batch)).await;
    }
}

/// Deletes one batch, retrying the call and then the entries that failed for a passing reason.
async fn delete_batch<Q: MessageSource>(queue: &Q, mut receipts: Vec<Receipt>) {
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(5)
        .with_jitter();
    for attempt in 1..=3 {
        let result = (|| queue.delete_batch(&receipts))
            .retry(policy)
            .when(|e| e.transient)
            .await;
        let failures = match result {
            Ok(failures) => failures,
            Err(e) => {
                // The messages stay in the queue and come back; their targets are then found
                // already replicated, and their completions are published again.
                error!(message = "Deleting messages failed; they will be redelivered.", error = %e, count = receipts.len());
                return;
            }
        };
        let mut retry = Vec::new();
        for failure in failures {
            if failure.stale {
                warn!(message = "Receipt handle went stale before the delete; the message will be redelivered.", message_id = %failure.id);
            } else if let Some(receipt) = receipts.iter().find(|r| r.id == failure.id) {
                warn!(message = "Delete of one message failed.", message_id = %failure.id, code = %failure.code, error = %failure.message, attempt);
                retry.push(receipt.clone());
            }
        }
        if retry.is_empty() {
            return;
        }
        receipts = retry;
    }
    error!(
        message = "Some deletes kept failing; those messages will be redelivered.",
        count = receipts.len()
    );
}

/// Builds the AWS adapters described by `config` and runs the daemon until `shutdown`.
pub async fn serve(config: &crate::config::Config, shutdown: impl Future<Output = ()>) {
    let pipeline = Arc::new(build_pipeline(config).await);
    let queue = Arc::new(build_queue(config).await);
    run(queue, pipeline, settings(config), shutdown).await;
}

/// The loop settings from the `[queue]` section.
pub fn settings(config: &crate::config::Config) -> Settings {
    Settings {
        max_messages: config.queue.max_messages,
        wait_time_secs: config.queue.wait_time_secs,
        visibility_timeout_secs: config.queue.visibility_timeout_secs,
        concurrency: config.queue.concurrency,
    }
}

/// The SQS adapter for `queue.url`, in the queue's region.
pub async fn build_queue(config: &crate::config::Config) -> crate::queue::sqs::SqsQueue {
    let base = crate::aws::load_base(&config.aws, queue_region(config)).await;
    crate::queue::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&base), &config.queue.url)
}

/// The pipeline with S3 stores for the source and every target, and the SNS publisher.
pub async fn build_pipeline(
    config: &crate::config::Config,
) -> Pipeline<crate::store::s3::S3Store, crate::publish::sns::SnsPublisher> {
    use crate::aws::{load_base, region_of_arn, s3_client, target_credentials};
    use crate::store::s3::S3Store;

    // S3 notifications reach SQS only within one region, so the sources live in the queue's.
    let base = load_base(&config.aws, queue_region(config)).await;
    let source_region = base
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let source = S3Store::new(s3_client(&base, &source_region, None));
    let mut targets = Vec::with_capacity(config.targets.len());
    for target in &config.targets {
        let credentials = target_credentials(&base, target).await;
        targets.push(crate::replicate::Target {
            config: target.clone(),
            store: S3Store::new(s3_client(&base, &target.region, credentials)),
        });
    }
    let sns_region = region_of_arn(&config.completion.topic_arn)
        .map(str::to_owned)
        .or(Some(source_region));
    let sns_base = load_base(&config.aws, sns_region).await;
    let publisher = crate::publish::sns::SnsPublisher::new(
        aws_sdk_sns::Client::new(&sns_base),
        &config.completion.topic_arn,
        &config.alerts.topic_arn,
    );
    Pipeline::new(
        crate::route::Router::new(config),
        crate::replicate::Replicator::new(source, targets).with_limits((&config.copy).into()),
        publisher,
    )
}

fn queue_region(config: &crate::config::Config) -> Option<String> {
    crate::aws::region_of_queue_url(&config.queue.url).map(str::to_owned)
}
