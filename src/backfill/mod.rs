//! `backfill`: replicate objects that existed before the daemon, through the same copy engine.
//!
//! The source is listed page by page (memory bounded by one page plus the copies in flight),
//! each object goes through [`Replicator::replicate`] exactly as an event would — same copy,
//! same verification, same "already present" skip — so a second run copies nothing. Results
//! come back in key order, which makes the last finished key of each rule a safe place to
//! resume that rule from (`--start-after RULE=KEY`, one per rule).
//!
//! Where it sits: the `backfill` command's engine, beside the daemon: it feeds
//! [`Replicator::replicate`] from [`crate::listing`] instead of the queue, and publishes
//! completions like [`crate::pipeline`]. Its live counters and their display are in
//! [`progress`].

mod enqueue;
mod inventory;
mod progress;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::RuleConfig;
use crate::event::ObjectCreated;
use crate::listing::{list_all, listing_prefix};
use crate::metrics::Metrics;
use crate::publish::{CompletionEvent, Publisher};
use crate::replicate::{Outcome, Replicator};
use crate::store::{Listed, ObjectStore, StoreError};
use crate::transfer::Method;

pub use enqueue::{enqueue, send as send_events, Enqueue, BATCH};
pub use inventory::{enqueue_inventory, InventoryError};
pub use progress::{progress_line, report_progress, Progress, ProgressReport};

/// What to backfill.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this rule (by name); all rules when `None`.
    pub rule: Option<String>,
    /// Only keys under this prefix (within each rule's own prefix).
    pub prefix: Option<String>,
    /// Per rule name: resume that rule after this key (exclusive), as printed by an
    /// interrupted run. Rules not named start from their beginning.
    pub start_after: BTreeMap<String, String>,
    /// Objects in flight at once.
    pub concurrency: usize,
}

/// The final counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Objects listed that match the rules.
    pub listed: u64,
    /// Objects written to at least one target.
    pub copied: u64,
    /// Events sent to the queue (`--enqueue`), one per object.
    pub enqueued: u64,
    /// Objects every target already held.
    pub already_present: u64,
    /// Objects changed or deleted between listing and copying (the daemon handles their events).
    pub superseded: u64,
    pub failed: u64,
    /// Bytes of the objects copied.
    pub bytes_copied: u64,
    /// Per rule name, the last key finished in order (or the key the run resumed after, when
    /// none finished since): where `--start-after RULE=KEY` resumes. Rules not begun are absent.
    pub resume_after: BTreeMap<String, String>,
    /// `--inventory`: rows of the inventory gone through in order, where
    /// `--inventory-resume N` resumes.
    pub resume_rows: Option<u64>,
    /// Whether the run was stopped before the end.
    pub interrupted: bool,
    /// The first failures, for the report.
    pub failures: Vec<String>,
}

/// Failures kept for the final report; the count covers all of them.
const FAILURES_SHOWN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("no rule named {name:?}; the rules are: {known}")]
    UnknownRule { name: String, known: String },
    #[error("--start-after {value:?}: {reason}")]
    StartAfter { value: String, reason: String },
}

/// Reads the `--start-after` values for the `selected` rules of `all`: `RULE=KEY` resumes
/// rule RULE after KEY; a plain `KEY` is accepted when one rule is selected, and means that
/// rule. A value is `RULE=KEY` when the text before its first `=` is a rule's name, so keys
/// that contain `=` can still be given plainly (or as `RULE=KEY`, which is never ambiguous).
pub fn parse_start_after(
    values: &[String],
    all: &[RuleConfig],
    selected: &[&RuleConfig],
) -> Result<BTreeMap<String, String>, BackfillError> {
    let names = |rules: &[&RuleConfig]| {
        rules
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut resume = BTreeMap::new();
    for value in values {
        let error = |reason: String| BackfillError::StartAfter {
            value: value.clone(),
            reason,
        };
        let named = value
            .split_once('=')
            .filter(|(rule, _)| all.iter().any(|r| r.name == *rule));
        let (rule, key) = match named {
            Some((rule, key)) => {
                if !selected.iter().any(|r| r.name == rule) {
                    return Err(error(format!(
                        "rule {rule:?} is not being backfilled (selected: {})",
                        names(selected)
                    )));
                }
                (rule.to_owned(), key.to_owned())
            }
            None => match selected {
                [only] => (only.name.clone(), value.clone()),
                _ => {
                    return Err(error(format!(
                        "a key without a rule name is only accepted when one rule is backfilled, \
                         but {} are ({}); write --start-after RULE=KEY for each rule to resume",
                        selected.len(),
                        names(selected)
                    )))
                }
            },
        };
        if key.is_empty() {
            return Err(error(format!(
                "the key for rule {rule:?} is empty; leave the rule out to start it from its beginning"
            )));
        }
        if resume.insert(rule.clone(), key).is_some() {
            return Err(error(format!(
                "rule {rule:?} is given more than once; give one key per rule"
            )));
        }
    }
    Ok(resume)
}

/// The rules to backfill, in configuration order.
pub fn select_rules<'a>(
    rules: &'a [RuleConfig],
    name: Option<&str>,
) -> Result<Vec<&'a RuleConfig>, BackfillError> {
    match name {
        None => Ok(rules.iter().collect()),
        Some(name) => {
            let found: Vec<_> = rules.iter().filter(|r| r.name == name).collect();
            if found.is_empty() {
                Err(BackfillError::UnknownRule {
                    name: name.to_owned(),
                    known: rules
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            } else {
                Ok(found)
            }
        }
    }
}

/// The arguments that resume a run from `resume_after` (see [`Summary::resume_after`]):
/// `--start-after 'RULE=KEY'` per rule, quoted for a POSIX shell. Empty when nothing finished.
pub fn resume_arguments(resume_after: &BTreeMap<String, String>) -> String {
    resume_after
        .iter()
        .map(|(rule, key)| {
            let value = format!("{rule}={key}").replace('\'', r"'\''");
            format!("--start-after '{value}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replicates every listed object of `rules` that the targets lack. Stops taking new objects
/// when `stop` resolves; what was under way is abandoned and redone by the resumed run.
pub async fn run<S, P>(
    replicator: &Replicator<S>,
    publisher: Option<&P>,
    rules: &[&RuleConfig],
    options: &Options,
    progress: Arc<Progress>,
    stop: impl Future<Output = ()>,
) -> Summary
where
    S: ObjectStore + Clone,
    P: Publisher,
{
    let counter = tokio::spawn(count_all(
        replicator.source().clone(),
        Arc::clone(replicator.metrics()),
        rules.iter().map(|r| (*r).clone()).collect(),
        options.clone(),
        Arc::clone(&progress),
    ));
    let mut run = Run {
        replicator,
        publisher,
        options,
        progress: &progress,
        summary: Summary {
            resume_after: options.start_after.clone(),
            ..Summary::default()
        },
    };
    tokio::pin!(stop);
    for rule in rules {
        if run.rule(rule, stop.as_mut()).await == Flow::Stopped {
            run.summary.interrupted = true;
            break;
        }
    }
    counter.abort();
    let summary = run.summary;
    info!(
        message = "Backfill finished.",
        listed = summary.listed,
        copied = summary.copied,
        already_present = summary.already_present,
        failed = summary.failed,
        interrupted = summary.interrupted
    );
    summary
}

/// Whether a rule was gone through (to its end, or until its listing failed) or the run was
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stopped,
}

/// One run: what it works with and what it has counted so far.
struct Run<'a, S, P> {
    replicator: &'a Replicator<S>,
    publisher: Option<&'a P>,
    options: &'a Options,
    progress: &'a Progress,
    summary: Summary,
}

impl<S, P> Run<'_, S, P>
where
    S: ObjectStore + Clone,
    P: Publisher,
{
    /// Replicates the listed objects of `rule`, in key order, until the listing ends or fails
    /// or `stop` resolves.
    async fn rule(
        &mut self,
        rule: &RuleConfig,
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Flow {
        let Some(prefix) = listing_prefix(rule.prefix.as_deref(), self.options.prefix.as_deref())
        else {
            return Flow::Continue;
        };
        let replicator = self.replicator;
        let listing = list_all(
            replicator.source(),
            replicator.metrics(),
            &rule.source_bucket,
            &prefix,
            self.options.start_after.get(&rule.name).map(String::as_str),
        );
        let results = listing
            .filter(|item| {
                let keep = match item {
                    Ok(listed) => rule.covers(&listed.key),
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .map(|item| async move {
                let listed = item?;
                let outcome = replicator
                    .replicate(&as_event(rule, &listed), &rule.targets)
                    .await;
                Ok::<_, StoreError>((listed, outcome))
            })
            // In order: the last result seen is a key before which everything is finished.
            .buffered(self.options.concurrency.max(1));
        tokio::pin!(results);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stop => return Flow::Stopped,
                next = results.next() => next,
            };
            match next {
                None => return Flow::Continue,
                Some(Ok((listed, outcome))) => self.record(rule, listed, outcome).await,
                Some(Err(e)) => {
                    warn!(message = "Listing the source failed; stopping this rule.", rule = %rule.name, error = %e);
                    self.summary.failed += 1;
                    self.summary
                        .failures
                        .push(format!("{}: listing: {e}", rule.name));
                    return Flow::Continue;
                }
            }
        }
    }

    /// Counts what became of `listed`, publishes its completion when asked to, and moves the
    /// rule's resume point past it.
    async fn record(&mut self, rule: &RuleConfig, listed: Listed, outcome: Outcome) {
        let summary = &mut self.summary;
        summary.listed += 1;
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Replicated { source, targets } => {
                if targets.iter().all(|t| t.method == Method::AlreadyPresent) {
                    summary.already_present += 1;
                } else {
                    summary.copied += 1;
                    summary.bytes_copied += listed.size;
                    self.progress
                        .bytes
                        .fetch_add(listed.size, Ordering::Relaxed);
                }
                if let Some(publisher) = self.publisher {
                    let event = CompletionEvent::new(&rule.name, source, targets)
                        .with_origin(crate::event::Origin::Backfill);
                    if let Err(e) = publisher.publish_completion(&event).await {
                        summary.failed += 1;
                        note_failure(
                            summary,
                            format!("{} {}: completion: {e}", rule.name, listed.key),
                        );
                    }
                }
            }
            // Listed, then deleted (or overwritten) before its copy: nothing to replicate.
            Outcome::Superseded { .. } | Outcome::SourceMissing { .. } => summary.superseded += 1,
            Outcome::SourceFailed(e) => {
                summary.failed += 1;
                note_failure(summary, format!("{} {}: {e}", rule.name, listed.key));
            }
            Outcome::SourceArchived { archived, .. } => {
                summary.failed += 1;
                note_failure(
                    summary,
                    format!(
                        "{} {}: archived ({}) and not restored; restore it, then backfill again",
                        rule.name, listed.key, archived.storage_class
                    ),
                );
            }
            Outcome::TargetsFailed { failed, .. } => {
                summary.failed += 1;
                for failure in failed {
                    note_failure(
                        summary,
                        format!(
                            "{} {} → {}: {}",
                            rule.name, listed.key, failure.target, failure.error
                        ),
                    );
                }
            }
        }
        summary.resume_after.insert(rule.name.clone(), listed.key);
    }
}

fn note_failure(summary: &mut Summary, failure: String) {
    warn!(message = "Backfill of an object failed.", failure = %failure);
    if summary.failures.len() < FAILURES_SHOWN {
        summary.failures.push(failure);
    }
}

/// The event an upload of `listed` would have produced (no sequencer, no version: listings
/// have neither, and the copy is pinned to the listed ETag).
fn as_event(rule: &RuleConfig, listed: &Listed) -> ObjectCreated {
    ObjectCreated {
        bucket: rule.source_bucket.clone(),
        key: listed.key.clone(),
        region: String::new(),
        version_id: None,
        etag: Some(listed.etag.clone()),
        size: listed.size,
        sequencer: None,
        event_time: time::OffsetDateTime::now_utc(),
        event_name: "Backfill".to_owned(),
    }
}

/// Counts the objects to do, beside the copying, so that progress can show an ETA.
async fn count_all<S: ObjectStore>(
    source: S,
    metrics: Arc<Metrics>,
    rules: Vec<RuleConfig>,
    options: Options,
    progress: Arc<Progress>,
) {
    for rule in &rules {
        let Some(prefix) = listing_prefix(rule.prefix.as_deref(), options.prefix.as_deref()) else {
            continue;
        };
        let listing = list_all(
            &source,
            &metrics,
            &rule.source_bucket,
            &prefix,
            options.start_after.get(&rule.name).map(String::as_str),
        );
        tokio::pin!(listing);
        while let Some(Ok(listed)) = listing.next().await {
            if rule.covers(&listed.key) {
                progress.total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    progress.total_known.store(true, Ordering::Relaxed);
}
