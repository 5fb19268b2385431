//! The long-running loop: long polling, bounded concurrency, batch deletes, shutdown.
//!
//! Receives long-poll the queue while handlers run; a [`Semaphore`] bounds the messages in
//! flight to `queue.concurrency`, and each receive asks only for as many messages as it holds
//! free slots for, so that no message waits invisible in memory for one. Several receives are
//! in flight at once (one per batch of `queue.max_messages` that fits in the concurrency): with
//! one, the daemon could take no more than a batch per round trip, and a round trip to a busy
//! SQS endpoint became its throughput limit (docs/performance.md). A receive that finds fewer
//! free slots than a batch waits up to [`RECEIVE_GATHER`] for more, so that receives stay full.
//! Finished messages go to one deleter task that groups them into `DeleteMessageBatch` calls,
//! several of them in flight for the same reason.
//!
//! Shutdown: stop receiving, let in-flight messages finish within the shutdown timeout, hand
//! back what did not finish, flush the deletes and the alert summaries.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::Retryable;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::alerts::Alerter;
use crate::event::Notification;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, Verdict};
use crate::publish::{Alert, AlertKind, AlertObject, Publisher};
use crate::queue::{Message, MessageSource, QueueError, Receipt};
use crate::store::ObjectStore;

/// SQS takes at most 10 entries per batch.
const DELETE_BATCH_MAX: usize = 10;
/// How long a finished message may wait for others to share its delete call.
const DELETE_LINGER: Duration = Duration::from_millis(200);
/// How long a receive waits for a batch's worth of free slots when fewer are free. Short next
/// to a copy, so that slow messages never hold the others back for long.
const RECEIVE_GATHER: Duration = Duration::from_millis(50);
/// `DeleteMessageBatch` calls in flight at once.
const DELETES_IN_FLIGHT: usize = 4;
/// Pause after a failed receive, doubling up to [`RECEIVE_BACKOFF_MAX`].
const RECEIVE_BACKOFF_MIN: Duration = Duration::from_millis(200);
const RECEIVE_BACKOFF_MAX: Duration = Duration::from_secs(20);

/// How long a shutdown waits for cancelled copies to abort their multipart uploads.
const ABORT_WAIT: Duration = Duration::from_secs(10);
/// How often alert windows are checked for summaries to send.
const ALERT_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often the queue's attributes are read for the backlog gauges.
const DEPTH_SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// The queue settings the loop needs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_messages: i32,
    pub wait_time_secs: i32,
    pub visibility_timeout_secs: i32,
    pub concurrency: usize,
    /// How long in-flight messages may take to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
}

/// The default of `timeouts.message_deadline_secs`.
pub const DEFAULT_MESSAGE_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);

/// How long the handling of one message may take (`timeouts.message_deadline_secs`), and the
/// window over which its overrun alerts are aggregated (`alerts.window_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageDeadline {
    pub after: Duration,
    pub alert_window: Duration,
}

impl Default for MessageDeadline {
    fn default() -> Self {
        Self {
            after: DEFAULT_MESSAGE_DEADLINE,
            alert_window: crate::pipeline::DEFAULT_ALERT_WINDOW,
        }
    }
}

pub use crate::retry::retry_delay;

/// Messages being handled, by id, so that shutdown can hand back the unfinished ones.
type InFlight = Arc<Mutex<HashMap<String, String>>>;

/// [`run_with_deadline`] with the default [`MessageDeadline`].
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
    run_with_deadline(
        queue,
        pipeline,
        settings,
        MessageDeadline::default(),
        shutdown,
    )
    .await;
}

/// Runs until `shutdown` resolves, then drains in-flight work and returns.
///
/// On shutdown: no new receives; in-flight messages get `settings.shutdown_timeout` to finish;
/// what is still running then is cancelled (dropping a copy aborts its multipart upload) and
/// its message is handed back at once (visibility 0) so that another task takes it. Messages
/// of a receive that was under way are handed back the same way.
pub async fn run_with_deadline<Q, S, P>(
    queue: Arc<Q>,
    pipeline: Arc<Pipeline<S, P>>,
    settings: Settings,
    deadline: MessageDeadline,
    shutdown: impl Future<Output = ()>,
) where
    Q: MessageSource,
    S: ObjectStore,
    P: Publisher,
{
    let concurrency = settings.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    // Messages per receive, and receives in flight: as many batches as fit in the concurrency.
    let batch = (settings.max_messages.clamp(1, 10) as usize).min(concurrency);
    let max_receives = concurrency.div_ceil(batch);
    // Set at shutdown: a receive still gathering its slots then asks for nothing.
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<Receipt>(concurrency.max(DELETE_BATCH_MAX) * 2);
    let metrics = Arc::clone(pipeline.metrics());
    let deleter = tokio::spawn(delete_finished(
        Arc::clone(&queue),
        Arc::clone(&metrics),
        done_rx,
    ));
    // Overrun alerts are the daemon's own (the pipeline never sees the handling it lost).
    let overruns = Arc::new(Alerter::new(deadline.alert_window).with_metrics(Arc::clone(&metrics)));
    let alert_flusher = tokio::spawn(flush_alerts(Arc::clone(&pipeline), Arc::clone(&overruns)));
    let depth_sampler = tokio::spawn(sample_depth(Arc::clone(&queue), Arc::clone(&metrics)));
    let shared = Shared {
        queue: Arc::clone(&queue),
        pipeline: Arc::clone(&pipeline),
        in_flight: InFlight::default(),
        done: done_tx,
        settings,
        deadline: deadline.after,
        overruns: Arc::clone(&overruns),
    };
    let mut handlers = JoinSet::new();
    let mut receives: JoinSet<Received> = JoinSet::new();
    let mut backoff = RECEIVE_BACKOFF_MIN;
    tokio::pin!(shutdown);
    info!(
        message = "Daemon started.",
        concurrency,
        max_messages = batch,
        receives_in_flight = max_receives
    );

    loop {
        // Forget finished handlers (their results are their side effects).
        while handlers.try_join_next().is_some() {}
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(received) = receives.join_next(), if !receives.is_empty() => {
                let (mut slots, messages) = match received {
                    Ok((slots, Ok(messages))) => {
                        backoff = RECEIVE_BACKOFF_MIN;
                        (slots, messages)
                    }
                    Ok((slots, Err(e))) => {
                        error!(message = "Receiving from the queue failed; backing off.", error = %e, backoff_ms = backoff.as_millis() as u64);
                        metrics.record_retry("receive_messages");
                        drop(slots);
                        tokio::select! {
                            biased;
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(RECEIVE_BACKOFF_MAX);
                        continue;
                    }
                    Err(e) => {
                        error!(message = "The receive task failed.", error = %e);
                        continue;
                    }
                };
                dispatch(&mut handlers, &shared, &permits, &mut slots, messages).await;
            }
            // Wait for room before asking for work: messages received without a free slot would
            // sit invisible while their visibility timeout runs down. Slots a receive does not
            // fill are given back when they are dropped.
            permit = Arc::clone(&permits).acquire_owned(), if receives.len() < max_receives => {
                let Ok(slots) = permit else { break };
                receives.spawn(receive(
                    Arc::clone(&queue),
                    Arc::clone(&permits),
                    Arc::clone(&stopping),
                    slots,
                    batch,
                    settings,
                ));
            }
        }
    }
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    depth_sampler.abort();
    let Shared {
        in_flight, done, ..
    } = shared;
    shut_down(ShutDown {
        queue,
        pipeline,
        settings,
        handlers,
        receives,
        in_flight,
        done,
        deleter,
        alert_flusher,
        overruns,
    })
    .await;
}

/// What the loop leaves to the shutdown.
struct ShutDown<Q, S, P> {
    queue: Arc<Q>,
    pipeline: Arc<Pipeline<S, P>>,
    settings: Settings,
    handlers: JoinSet<()>,
    receives: JoinSet<Received>,
    in_flight: InFlight,
    done: mpsc::Sender<Receipt>,
    deleter: tokio::task::JoinHandle<()>,
    alert_flusher: tokio::task::JoinHandle<()>,
    overruns: Arc<Alerter>,
}

/// Lets in-flight messages finish within `settings.shutdown_timeout`, hands back what a
/// pending receive brought and what did not finish, waits for the deletes, flushes alerts.
async fn shut_down<Q, S, P>(stop: ShutDown<Q, S, P>)
where
    Q: MessageSource,
    S: ObjectStore,
    P: Publisher,
{
    let ShutDown {
        queue,
        pipeline,
        settings,
        mut handlers,
        mut receives,
        in_flight,
        done,
        deleter,
        alert_flusher,
        overruns,
    } = stop;

    info!(
        message = "Shutting down: waiting for in-flight messages.",
        in_flight = handlers.len(),
        timeout_secs = settings.shutdown_timeout.as_secs()
    );
    let release_pending = async {
        while let Some(received) = receives.join_next().await {
            if let Ok((_, Ok(messages))) = received {
                for message in messages {
                    release(queue.as_ref(), &message.id, &message.receipt_handle).await;
                }
            }
        }
    };
    let drain = async { while handlers.join_next().await.is_some() {} };
    let drained = tokio::time::timeout(settings.shutdown_timeout, async {
        tokio::join!(release_pending, drain)
    })
    .await
    .is_ok();
    if !drained {
        warn!(message = "Shutdown timeout reached: cancelling unfinished copies and handing their messages back.", unfinished = handlers.len());
        handlers.shutdown().await;
        // Cancelled copies abort their multipart uploads from tasks of their own; wait for
        // them, or the uploads would outlive the process, unseen and billed.
        if !crate::transfer::guard::aborts_finished(ABORT_WAIT).await {
            warn!(message = "Some multipart uploads may not have been aborted; a lifecycle rule (AbortIncompleteMultipartUpload) removes them.");
        }
    }
    let unfinished: Vec<(String, String)> = lock(&in_flight).drain().collect();
    for (id, receipt_handle) in unfinished {
        release(queue.as_ref(), &id, &receipt_handle).await;
    }
    drop(done);
    if deleter.await.is_err() {
        error!(message = "The deleter task panicked; undeleted messages will be redelivered.");
    }
    alert_flusher.abort();
    pipeline.flush_alerts(true).await;
    overruns.flush_due(pipeline.publisher(), true).await;
    info!(message = "Daemon stopped.", drained);
}

/// One receive, as a task of its own so that a shutdown does not drop messages it is already
/// handing out (they are released instead of waiting out their visibility): it first gathers
/// up to `batch` slots, then asks for as many messages as it holds slots.
async fn receive<Q: MessageSource>(
    queue: Arc<Q>,
    permits: Arc<Semaphore>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    mut slots: OwnedSemaphorePermit,
    batch: usize,
    settings: Settings,
) -> Received {
    gather(&permits, &mut slots, batch).await;
    if stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return (slots, Ok(Vec::new()));
    }
    let max = slots.num_permits() as i32;
    let received = queue
        .receive(
            max,
            settings.wait_time_secs,
            settings.visibility_timeout_secs,
        )
        .await;
    (slots, received)
}

/// Sets the queue gauges (`s3r_queue_messages{state}`) from the queue's attributes, every
/// [`DEPTH_SAMPLE_EVERY`] (not per message: one `GetQueueAttributes` per task and interval),
/// until aborted. A failed sample leaves the gauges as they were, with a warning.
async fn sample_depth<Q: MessageSource>(queue: Arc<Q>, metrics: Arc<crate::metrics::Metrics>) {
    loop {
        match queue.depth().await {
            Ok(Some(depth)) => {
                metrics.set_queue_messages("visible", depth.visible);
                metrics.set_queue_messages("in_flight", depth.in_flight);
                metrics.set_queue_messages("delayed", depth.delayed);
            }
            Ok(None) => return,
            Err(e) => {
                warn!(message = "Could not read the queue's attributes for the backlog gauges.", error = %e)
            }
        }
        tokio::time::sleep(DEPTH_SAMPLE_EVERY).await;
    }
}

/// Sends the summaries of alert windows that ended, every [`ALERT_FLUSH_EVERY`], until aborted.
async fn flush_alerts<S: ObjectStore, P: Publisher>(
    pipeline: Arc<Pipeline<S, P>>,
    overruns: Arc<Alerter>,
) {
    loop {
        tokio::time::sleep(ALERT_FLUSH_EVERY).await;
        pipeline.flush_alerts(false).await;
        overruns.flush_due(pipeline.publisher(), false).await;
    }
}

/// Hands each received message to a handler of its own, on a slot of `slots`.
async fn dispatch<Q, S, P>(
    handlers: &mut JoinSet<()>,
    shared: &Shared<Q, S, P>,
    permits: &Arc<Semaphore>,
    slots: &mut OwnedSemaphorePermit,
    messages: Vec<Message>,
) where
    Q: MessageSource,
    S: ObjectStore,
    P: Publisher,
{
    for message in messages {
        // The receive asked for no more messages than `slots` holds; a queue answering with
        // more (it must not) would still wait here for room.
        let permit = match slots.split(1) {
            Some(permit) => permit,
            None => match Arc::clone(permits).acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        spawn_handler(handlers, shared, message, permit);
    }
}

/// What a receive task gives back: the slots it held, and the messages or the error.
type Received = (OwnedSemaphorePermit, Result<Vec<Message>, QueueError>);

/// What every message handler of one run shares.
struct Shared<Q, S, P> {
    queue: Arc<Q>,
    pipeline: Arc<Pipeline<S, P>>,
    /// Messages being handled: id → receipt handle, handed back at shutdown.
    in_flight: InFlight,
    /// Finished messages, to the deleter.
    done: mpsc::Sender<Receipt>,
    settings: Settings,
    /// How long one message's handling may take.
    deadline: Duration,
    /// Overrun alerts are the daemon's own (the pipeline never sees the handling it lost).
    overruns: Arc<Alerter>,
}

/// Handles `message` in a task of its own, holding `permit` (its slot) until it is done.
fn spawn_handler<Q, S, P>(
    handlers: &mut JoinSet<()>,
    shared: &Shared<Q, S, P>,
    message: Message,
    permit: OwnedSemaphorePermit,
) where
    Q: MessageSource,
    S: ObjectStore,
    P: Publisher,
{
    let Shared {
        queue,
        pipeline,
        in_flight,
        done,
        settings,
        deadline,
        overruns,
    } = shared;
    let (settings, deadline) = (*settings, *deadline);
    lock(in_flight).insert(message.id.clone(), message.receipt_handle.clone());
    let pipeline = Arc::clone(pipeline);
    let queue = Arc::clone(queue);
    let done = done.clone();
    let in_flight = Arc::clone(in_flight);
    let overruns = Arc::clone(overruns);
    // Keeps the message invisible while its copies run; stopped as soon as it is handled,
    // before a retry delay is set, so that the two never fight.
    let heartbeat = crate::heartbeat::start(
        Arc::clone(&queue),
        &message,
        settings.visibility_timeout_secs,
    );
    handlers.spawn(async move {
        // Operations: the in-flight gauge and one log span per message.
        let gauge = pipeline.metrics().message_in_flight();
        let span = crate::logging::message_span(&message);
        let handling = tracing::Instrument::instrument(pipeline.handle(&message), span);
        // Past the deadline the handling is dropped: its copies stop, its multipart uploads are
        // aborted, its key lock is released, and the message is handed back for a retry.
        let verdict = match tokio::time::timeout(deadline, handling).await {
            Ok(verdict) => verdict,
            Err(_) => {
                overran(&pipeline, &overruns, &message, deadline).await;
                Verdict::Retry
            }
        };
        drop(heartbeat);
        lock(&in_flight).remove(&message.id);
        // Re-check messages first: the original goes only once they were accepted; else it is
        // handed back like any passing failure.
        let verdict = match verdict {
            Verdict::Recheck(rechecks) => {
                if crate::pipeline::send_rechecks(queue.as_ref(), pipeline.metrics(), &message, &rechecks).await {
                    Verdict::Delete
                } else {
                    Verdict::Retry
                }
            }
            verdict => verdict,
        };
        gauge.done(verdict == Verdict::Delete);
        match verdict {
            Verdict::Delete => {
                if done.send(Receipt::from(&message)).await.is_err() {
                    warn!(message = "Deleter gone; message will be redelivered.", message_id = %message.id);
                }
            }
            Verdict::Retry => {
                let delay = retry_delay(message.receive_count);
                // If this fails the message still comes back, after its visibility timeout.
                if let Err(e) = queue.change_visibility(&message.receipt_handle, delay.as_secs() as i32).await {
                    warn!(message = "Could not schedule the retry; the message returns after its visibility timeout.", message_id = %message.id, error = %e);
                } else {
                    info!(message = "Message handed back for a later retry.", message_id = %message.id, receive_count = message.receive_count, delay_secs = delay.as_secs());
                }
            }
            // Re-checks were resolved above.
            Verdict::Keep | Verdict::Recheck(_) => {}
        }
        drop(permit);
    });
}

/// The handling of `message` passed its `deadline` and was cancelled: log, count and alert.
async fn overran<S: ObjectStore, P: Publisher>(
    pipeline: &Pipeline<S, P>,
    overruns: &Alerter,
    message: &Message,
    deadline: Duration,
) {
    error!(message = "The message's handling passed its deadline and was cancelled; handing it back for a retry.", message_id = %message.id, receive_count = message.receive_count, deadline_secs = deadline.as_secs());
    pipeline.metrics().record_deadline_exceeded();
    let mut alert = Alert::new(
        AlertKind::DeadlineExceeded,
        format!(
            "handling message {} (delivery {}) took longer than its deadline of {} s \
             (timeouts.message_deadline_secs); it was cancelled and its multipart uploads aborted",
            message.id,
            message.receive_count,
            deadline.as_secs()
        ),
        "The message is handed back and retried; it goes to the dead-letter queue once its receive \
         count passes maxReceiveCount. The log lines of this message_id show the step that did not \
         finish. If objects this large or links this slow are expected, raise \
         timeouts.message_deadline_secs (below 43200) and timeouts.transfer_secs.",
    )
    .message_id(&message.id);
    match crate::event::decode(&message.body) {
        Ok(Notification::Objects { objects, .. }) => {
            if let Some(object) = objects.first() {
                alert = alert.source(AlertObject::from_event(object));
            }
        }
        // A re-check: name the partition marker or held table object it carries.
        Ok(Notification::Recheck(recheck)) => {
            alert = alert
                .source(AlertObject::from_event(&recheck.marker))
                .rule(&recheck.rule);
        }
        _ => {}
    }
    overruns.raise(pipeline.publisher(), alert).await;
}

/// Adds free slots to `slots` until it holds `batch`: at once when they are free, else waiting
/// up to [`RECEIVE_GATHER`] for them, then taking what is free by then.
async fn gather(permits: &Arc<Semaphore>, slots: &mut OwnedSemaphorePermit, batch: usize) {
    let missing = batch.saturating_sub(slots.num_permits());
    if missing == 0 {
        return;
    }
    // A cancelled `acquire_many` gives back what it had gathered so far.
    match tokio::time::timeout(
        RECEIVE_GATHER,
        Arc::clone(permits).acquire_many_owned(missing as u32),
    )
    .await
    {
        Ok(Ok(more)) => slots.merge(more),
        _ => {
            while slots.num_permits() < batch {
                match Arc::clone(permits).try_acquire_owned() {
                    Ok(more) => slots.merge(more),
                    Err(_) => break,
                }
            }
        }
    }
}

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands a message back to the queue at once, for another consumer.
async fn release<Q: MessageSource>(queue: &Q, id: &str, receipt_handle: &str) {
    match queue.change_visibility(receipt_handle, 0).await {
        Ok(()) => info!(message = "Message handed back to the queue.", message_id = %id),
        Err(e) => {
            warn!(message = "Could not hand the message back; it returns after its visibility timeout.", message_id = %id, error = %e)
        }
    }
}

/// Groups finished messages into batch deletes until every sender is gone.
async fn delete_finished<Q: MessageSource>(
    queue: Arc<Q>,
    metrics: Arc<Metrics>,
    mut done: mpsc::Receiver<Receipt>,
) {
    let mut batch = Vec::with_capacity(DELETE_BATCH_MAX);
    let mut deletes = JoinSet::new();
    while let Some(first) = done.recv().await {
        batch.push(first);
        let linger = tokio::time::sleep(DELETE_LINGER);
        tokio::pin!(linger);
        while batch.len() < DELETE_BATCH_MAX {
            // `biased`: one fixed order, so that a simulated run replays (and a receipt that
            // is ready joins the batch rather than the linger ending it).
            tokio::select! {
                biased;
                next = done.recv() => match next {
                    Some(receipt) => batch.push(receipt),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        while deletes.len() >= DELETES_IN_FLIGHT {
            deletes.join_next().await;
        }
        let queue = Arc::clone(&queue);
        let metrics = Arc::clone(&metrics);
        let receipts = std::mem::take(&mut batch);
        deletes.spawn(async move { delete_batch(queue.as_ref(), &metrics, receipts).await });
    }
    // The channel closed (shutdown): every delete still under way finishes before we return.
    while deletes.join_next().await.is_some() {}
}

/// Deletes one batch, retrying the call and then the entries that failed for a passing reason.
async fn delete_batch<Q: MessageSource>(queue: &Q, metrics: &Metrics, mut receipts: Vec<Receipt>) {
    let policy = crate::retry::queue_policy();
    for attempt in 1..=3 {
        let result = (|| queue.delete_batch(&receipts))
            .retry(policy)
            .when(|e| e.transient)
            .notify(|_, _| metrics.record_retry("delete_messages"))
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

/// Runs the daemon on the AWS adapters `wiring` builds for `config` until `shutdown`.
pub async fn serve(
    wiring: &crate::wiring::Wiring,
    config: &crate::config::Config,
    shutdown: impl Future<Output = ()>,
) {
    let pipeline = Arc::new(wiring.pipeline(config).await);
    let queue = Arc::new(wiring.queue(config));
    run_with_deadline(
        queue,
        pipeline,
        settings(config),
        message_deadline(config),
        shutdown,
    )
    .await;
}

/// The deadline of one message (`timeouts.message_deadline_secs`), its alerts aggregated over
/// `alerts.window_secs`.
pub fn message_deadline(config: &crate::config::Config) -> MessageDeadline {
    MessageDeadline {
        after: Duration::from_secs(config.timeouts.message_deadline_secs),
        alert_window: Duration::from_secs(config.alerts.window_secs),
    }
}

/// The loop settings from the `[queue]` section.
pub fn settings(config: &crate::config::Config) -> Settings {
    Settings {
        max_messages: config.queue.max_messages,
        wait_time_secs: config.queue.wait_time_secs,
        visibility_timeout_secs: config.queue.visibility_timeout_secs,
        concurrency: config.queue.concurrency,
        shutdown_timeout: Duration::from_secs(config.queue.shutdown_timeout_secs),
    }
}
