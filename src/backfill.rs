//! `backfill`: replicate objects that existed before the daemon, through the same copy engine.
//!
//! The source is listed page by page (memory bounded by one page plus the copies in flight),
//! each object goes through [`Replicator::replicate`] exactly as an event would — same copy,
//! same verification, same "already present" skip — so a second run copies nothing. Results
//! come back in key order, which makes the last finished key of each rule a safe place to
//! resume that rule from (`--start-after RULE=KEY`, one per rule).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::RuleConfig;
use crate::event::ObjectCreated;
use crate::listing::{list_all, listing_prefix};
use crate::metrics::Metrics;
use crate::publish::{CompletionEvent, Publisher};
use crate::replicate::{Outcome, Replicator};
use crate::store::{Listed, ObjectStore};
use crate::transfer::Method;

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

/// Live counters, read by the progress reporter.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub total_known: AtomicBool,
    pub done: AtomicU64,
    pub bytes: AtomicU64,
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
    let mut summary = Summary {
        resume_after: options.start_after.clone(),
        ..Summary::default()
    };
    tokio::pin!(stop);
    'rules: for rule in rules {
        let Some(prefix) = listing_prefix(rule.prefix.as_deref(), options.prefix.as_deref()) else {
            continue;
        };
        let listing = list_all(
            replicator.source(),
            replicator.metrics(),
            &rule.source_bucket,
            &prefix,
            options.start_after.get(&rule.name).map(String::as_str),
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
                match item {
                    Ok(listed) => {
                        let outcome = replicator
                            .replicate(&as_event(rule, &listed), &rule.targets)
                            .await;
                        Ok((listed, outcome))
                    }
                    Err(e) => Err(e),
                }
            })
            // In order: the last result seen is a key before which everything is finished.
            .buffered(options.concurrency.max(1));
        tokio::pin!(results);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stop => {
                    summary.interrupted = true;
                    break 'rules;
                }
                next = results.next() => next,
            };
            let Some(result) = next else { break };
            let (listed, outcome) = match result {
                Ok(done) => done,
                Err(e) => {
                    warn!(message = "Listing the source failed; stopping this rule.", rule = %rule.name, error = %e);
                    summary.failed += 1;
                    summary
                        .failures
                        .push(format!("{}: listing: {e}", rule.name));
                    continue 'rules;
                }
            };
            summary.listed += 1;
            progress.done.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Outcome::Replicated { source, targets } => {
                    if targets.iter().all(|t| t.method == Method::AlreadyPresent) {
                        summary.already_present += 1;
                    } else {
                        summary.copied += 1;
                        summary.bytes_copied += listed.size;
                        progress.bytes.fetch_add(listed.size, Ordering::Relaxed);
                    }
                    if let Some(publisher) = publisher {
                        let event = CompletionEvent::new(&rule.name, source, targets);
                        if let Err(e) = publisher.publish_completion(&event).await {
                            summary.failed += 1;
                            note_failure(
                                &mut summary,
                                format!("{} {}: completion: {e}", rule.name, listed.key),
                            );
                        }
                    }
                }
                // Listed, then deleted (or overwritten) before its copy: nothing to replicate.
                Outcome::Superseded { .. } | Outcome::SourceMissing { .. } => {
                    summary.superseded += 1
                }
                Outcome::SourceFailed(e) => {
                    summary.failed += 1;
                    note_failure(&mut summary, format!("{} {}: {e}", rule.name, listed.key));
                }
                Outcome::TargetsFailed { failed, .. } => {
                    summary.failed += 1;
                    for failure in failed {
                        note_failure(
                            &mut summary,
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
    counter.abort();
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

/// Reports progress until dropped: a redrawn line on a terminal, a log line every 10 s otherwise.
pub fn report_progress(progress: Arc<Progress>, terminal: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let every = if terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(10)
        };
        loop {
            tokio::time::sleep(every).await;
            let line = progress_line(&progress, started.elapsed());
            if terminal {
                eprint!("\r\x1b[2K{line}");
            } else {
                info!(message = "Backfill progress.", progress = %line);
            }
        }
    })
}

/// `1234/5000 objects · 12.0 MiB copied · 150 obj/s · ETA 25 s`
pub fn progress_line(progress: &Progress, elapsed: Duration) -> String {
    let done = progress.done.load(Ordering::Relaxed);
    let bytes = progress.bytes.load(Ordering::Relaxed);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let total = progress
        .total_known
        .load(Ordering::Relaxed)
        .then(|| progress.total.load(Ordering::Relaxed));
    let eta = match total {
        Some(total) if rate > 0.0 => {
            format!("ETA {:.0} s", total.saturating_sub(done) as f64 / rate)
        }
        _ => "ETA (counting…)".to_owned(),
    };
    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
    format!(
        "{done}{of} objects · {:.1} MiB copied · {rate:.0} obj/s · {eta}",
        bytes as f64 / (1024.0 * 1024.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetConfig;
    use crate::replicate::Target;
    use crate::testkit::memory::{MemoryStore, StoredObject};
    use crate::testkit::publisher::MemoryPublisher;

    fn setup() -> (MemoryStore, Replicator<MemoryStore>, RuleConfig) {
        let store = MemoryStore::new("daemon");
        for bucket in ["lake", "eu"] {
            store.create_bucket(bucket);
        }
        let target = Target {
            config: TargetConfig::new("eu", "eu", "eu-west-1"),
            store: store.clone(),
        };
        let rule = RuleConfig {
            name: "lake".into(),
            source_bucket: "lake".into(),
            prefix: Some("d/".into()),
            suffix: Some(".csv".into()),
            targets: vec!["eu".into()],
            ..Default::default()
        };
        (store.clone(), Replicator::new(store, [target]), rule)
    }

    #[tokio::test]
    async fn copies_what_is_missing_skips_what_is_present_and_a_second_run_copies_nothing() {
        let (store, replicator, rule) = setup();
        for i in 0..10 {
            store.put(
                "lake",
                &format!("d/{i:02}.csv"),
                format!("row {i}").as_bytes(),
                StoredObject::default(),
            );
        }
        store.put("lake", "d/readme.txt", b"not csv", StoredObject::default());
        store.put(
            "lake",
            "other/x.csv",
            b"other prefix",
            StoredObject::default(),
        );
        // Two objects are already replicated.
        let options = Options {
            concurrency: 4,
            ..Options::default()
        };
        let only_two = Options {
            prefix: Some("d/0".into()),
            ..options.clone()
        };
        let first = run(
            &replicator,
            None::<&MemoryPublisher>,
            &[&rule],
            &Options {
                start_after: [("lake".to_owned(), "d/07.csv".to_owned())].into(),
                ..only_two.clone()
            },
            Arc::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!(first.copied, 2, "{first:?}");

        let publisher = MemoryPublisher::default();
        let full = run(
            &replicator,
            Some(&publisher),
            &[&rule],
            &options,
            Arc::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!(
            (full.listed, full.copied, full.already_present, full.failed),
            (10, 8, 2, 0),
            "{full:?}"
        );
        assert_eq!(
            full.resume_after.get("lake").map(String::as_str),
            Some("d/09.csv")
        );
        assert_eq!(publisher.completions().len(), 10);
        assert!(
            store.get("eu", "d/readme.txt").is_none() && store.get("eu", "other/x.csv").is_none()
        );

        let again = run(
            &replicator,
            None::<&MemoryPublisher>,
            &[&rule],
            &options,
            Arc::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!((again.copied, again.already_present), (0, 10));
    }

    #[tokio::test]
    async fn failures_are_counted_and_named() {
        let (store, replicator, rule) = setup();
        store.put("lake", "d/a.csv", b"a", StoredObject::default());
        store.deny("eu");
        let summary = run(
            &replicator,
            None::<&MemoryPublisher>,
            &[&rule],
            &Options {
                concurrency: 1,
                ..Options::default()
            },
            Arc::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!(summary.failed, 1);
        assert!(
            summary.failures[0].contains("d/a.csv")
                && summary.failures[0].contains("access denied"),
            "{:?}",
            summary.failures
        );
    }

    #[tokio::test]
    async fn an_interrupted_run_of_two_rules_resumes_each_rule_where_it_stopped() {
        let store = MemoryStore::new("daemon");
        for bucket in ["lake", "eu"] {
            store.create_bucket(bucket);
        }
        let replicator = Replicator::new(
            store.clone(),
            [Target {
                config: TargetConfig::new("eu", "eu", "eu-west-1"),
                store: store.clone(),
            }],
        );
        let rule = |name: &str, prefix: &str| RuleConfig {
            name: name.into(),
            source_bucket: "lake".into(),
            prefix: Some(prefix.into()),
            targets: vec!["eu".into()],
            ..Default::default()
        };
        // The second rule's keys sort before the first rule's.
        let (later, earlier) = (rule("later", "m/"), rule("earlier", "c/"));
        for prefix in ["m", "c"] {
            for i in 1..=5 {
                let key = format!("{prefix}/{i}");
                store.put("lake", &key, key.as_bytes(), StoredObject::default());
            }
        }
        let options = Options {
            concurrency: 1,
            ..Options::default()
        };
        // Interrupted after three objects of the first rule.
        let progress = Arc::new(Progress::default());
        let first = run(
            &replicator,
            None::<&MemoryPublisher>,
            &[&later, &earlier],
            &options,
            Arc::clone(&progress),
            async {
                while progress.done.load(Ordering::Relaxed) < 3 {
                    tokio::task::yield_now().await;
                }
            },
        )
        .await;
        assert!(first.interrupted, "{first:?}");
        assert_eq!(first.copied, 3, "{first:?}");

        let resumed = run(
            &replicator,
            None::<&MemoryPublisher>,
            &[&later, &earlier],
            &Options {
                start_after: first.resume_after.clone(),
                ..options
            },
            Arc::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!(
            (resumed.copied, resumed.already_present),
            (7, 0),
            "the rest of the first rule and all of the second: {resumed:?}"
        );
        for prefix in ["m", "c"] {
            for i in 1..=5 {
                let key = format!("{prefix}/{i}");
                assert!(store.get("eu", &key).is_some(), "{key} not replicated");
            }
        }
    }

    #[test]
    fn start_after_is_per_rule_and_a_plain_key_only_with_one_rule() {
        let rule = |name: &str| RuleConfig {
            name: name.into(),
            source_bucket: "lake".into(),
            targets: vec!["eu".into()],
            ..Default::default()
        };
        let all = [rule("a"), rule("b")];
        let both: Vec<&RuleConfig> = all.iter().collect();
        let values = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let parsed = parse_start_after(&values(&["a=x/1", "b=y=2"]), &all, &both).unwrap();
        assert_eq!(parsed.get("a").map(String::as_str), Some("x/1"));
        assert_eq!(parsed.get("b").map(String::as_str), Some("y=2"));

        // One rule selected: a plain key is its key, even with a '=' in it.
        let only_a = [&all[0]];
        let parsed = parse_start_after(&values(&["k=v/1"]), &all, &only_a).unwrap();
        assert_eq!(parsed.get("a").map(String::as_str), Some("k=v/1"));

        let err = parse_start_after(&values(&["x/1"]), &all, &both).unwrap_err();
        assert!(
            err.to_string().contains("RULE=KEY") && err.to_string().contains("a, b"),
            "{err}"
        );
        let err = parse_start_after(&values(&["b=x"]), &all, &only_a).unwrap_err();
        assert!(err.to_string().contains("not being backfilled"), "{err}");
        let err = parse_start_after(&values(&["a=x", "a=y"]), &all, &both).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let err = parse_start_after(&values(&["a="]), &all, &both).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn the_resume_line_names_every_rule_and_quotes_for_the_shell() {
        let resume: BTreeMap<String, String> = [
            ("b".to_owned(), "it's/2".to_owned()),
            ("a".to_owned(), "x y/1".to_owned()),
        ]
        .into();
        assert_eq!(
            resume_arguments(&resume),
            r"--start-after 'a=x y/1' --start-after 'b=it'\''s/2'"
        );
        assert_eq!(resume_arguments(&BTreeMap::new()), "");
    }

    #[test]
    fn progress_shows_an_eta_once_the_total_is_known() {
        let progress = Progress::default();
        progress.done.store(50, Ordering::Relaxed);
        assert!(progress_line(&progress, Duration::from_secs(1)).contains("counting"));
        progress.total.store(100, Ordering::Relaxed);
        progress.total_known.store(true, Ordering::Relaxed);
        assert_eq!(
            progress_line(&progress, Duration::from_secs(1)),
            "50/100 objects · 0.0 MiB copied · 50 obj/s · ETA 1 s"
        );
    }

    #[test]
    fn an_unknown_rule_is_named_with_the_known_ones() {
        let (_, _, rule) = setup();
        let err = select_rules(&[rule], Some("nope")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no rule named \"nope\"; the rules are: lake"
        );
    }
}
