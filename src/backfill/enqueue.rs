//! `backfill --enqueue`: instead of copying, send one event per listed object to the daemon's
//! own queue, so that every running task shares the work and completions, alerts, retries and
//! the dead-letter queue behave as for S3's events (docs/design.md, "Backfill through the
//! queue").
//!
//! Events go out in `SendMessageBatch`es of 10, a few batches in flight, in key order: the
//! last key of the last batch accepted in order is where a rule resumes (`--start-after
//! RULE=KEY`), so a resumed run never sends an object twice. A batch entry the queue refuses is
//! sent again once; if it is refused again the rule stops there (its resume point stays before
//! it) and the run reports it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use tracing::{info, warn};

use super::{note_failure, Flow, Options, Progress, Summary};
use crate::config::RuleConfig;
use crate::event::backfill_event;
use crate::listing::{list_all, listing_prefix};
use crate::metrics::Metrics;
use crate::queue::MessageSource;
use crate::retry::queue_policy;
use crate::store::{Listed, ObjectStore, StoreError};

/// SQS's limit of entries per `SendMessageBatch`.
pub const BATCH: usize = 10;
/// Batches in flight at once.
pub const BATCHES_IN_FLIGHT: usize = 8;

/// Where the events go, and whether they are only counted.
pub struct Enqueue<'a, Q> {
    pub queue: &'a Q,
    /// Count what would be sent, send nothing.
    pub dry_run: bool,
}

/// Sends one event per listed object of `rules` (see the module documentation). Stops taking
/// new objects when `stop` resolves.
pub async fn enqueue<S, Q>(
    source: &S,
    metrics: &Metrics,
    to: Enqueue<'_, Q>,
    rules: &[&RuleConfig],
    options: &Options,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Summary
where
    S: ObjectStore,
    Q: MessageSource,
{
    let mut summary = Summary {
        resume_after: options.start_after.clone(),
        ..Summary::default()
    };
    tokio::pin!(stop);
    for rule in rules {
        let flow = enqueue_rule(
            source,
            metrics,
            &to,
            rule,
            options,
            progress,
            &mut summary,
            stop.as_mut(),
        )
        .await;
        if flow == Flow::Stopped {
            summary.interrupted = true;
            break;
        }
    }
    info!(
        message = "Backfill enqueued.",
        listed = summary.listed,
        enqueued = summary.enqueued,
        failed = summary.failed,
        dry_run = to.dry_run,
        interrupted = summary.interrupted
    );
    summary
}

/// Sends one batch (at most [`BATCH`] events), then its refused entries once more; returns the
/// entries refused twice, by index, with the reason.
pub async fn send<Q: MessageSource>(queue: &Q, bodies: Vec<String>) -> Vec<(usize, String)> {
    use backon::Retryable;
    let attempt = |bodies: Vec<String>| async move {
        (|| queue.send_batch(&bodies))
            .retry(queue_policy())
            .when(|e| e.transient)
            .await
            .unwrap_or_else(|e| (0..bodies.len()).map(|i| (i, e.to_string())).collect())
    };
    let failed = attempt(bodies.clone()).await;
    if failed.is_empty() {
        return failed;
    }
    let again: Vec<String> = failed.iter().map(|(i, _)| bodies[*i].clone()).collect();
    attempt(again)
        .await
        .into_iter()
        .map(|(j, why)| (failed[j].0, why))
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn enqueue_rule<S, Q>(
    source: &S,
    metrics: &Metrics,
    to: &Enqueue<'_, Q>,
    rule: &RuleConfig,
    options: &Options,
    progress: &Progress,
    summary: &mut Summary,
    mut stop: Pin<&mut impl Future<Output = ()>>,
) -> Flow
where
    S: ObjectStore,
    Q: MessageSource,
{
    let Some(prefix) = listing_prefix(rule.prefix.as_deref(), options.prefix.as_deref()) else {
        return Flow::Continue;
    };
    let listing = list_all(
        source,
        metrics,
        &rule.source_bucket,
        &prefix,
        options.start_after.get(&rule.name).map(String::as_str),
    )
    .filter(|item| {
        std::future::ready(match item {
            Ok(listed) => rule.covers(&listed.key),
            Err(_) => true,
        })
    });
    let batches = listing
        .chunks(BATCH)
        .map(|chunk| async move {
            let listed: Vec<Listed> = chunk.into_iter().collect::<Result<_, StoreError>>()?;
            let failed = if to.dry_run {
                Vec::new()
            } else {
                let bodies = listed
                    .iter()
                    .map(|l| backfill_event(&rule.source_bucket, &l.key, l.size, &l.etag))
                    .collect();
                send(to.queue, bodies).await
            };
            Ok::<_, StoreError>((listed, failed))
        })
        // In order: the last batch seen is one before which everything was accepted.
        .buffered(BATCHES_IN_FLIGHT);
    tokio::pin!(batches);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stop => return Flow::Stopped,
            next = batches.next() => next,
        };
        let (listed, failed) = match next {
            None => return Flow::Continue,
            Some(Ok(batch)) => batch,
            Some(Err(e)) => {
                warn!(message = "Listing the source failed; stopping this rule.", rule = %rule.name, error = %e);
                summary.failed += 1;
                note_failure(summary, format!("{}: listing: {e}", rule.name));
                return Flow::Continue;
            }
        };
        summary.listed += listed.len() as u64;
        progress
            .done
            .fetch_add(listed.len() as u64, Ordering::Relaxed);
        let first_failed = failed.iter().map(|(i, _)| *i).min();
        let accepted = first_failed.unwrap_or(listed.len());
        if !to.dry_run {
            summary.enqueued += accepted as u64;
        }
        if let Some(last) = listed[..accepted].last() {
            summary
                .resume_after
                .insert(rule.name.clone(), last.key.clone());
        }
        if let Some(i) = first_failed {
            // Nothing after the refused entry counts as sent: the resumed run sends from it.
            summary.failed += 1;
            let why = failed.iter().find(|(j, _)| *j == i).map_or("", |(_, w)| w);
            note_failure(
                summary,
                format!(
                    "{} {}: the queue refused its event: {why}",
                    rule.name, listed[i].key
                ),
            );
            return Flow::Continue;
        }
    }
}
