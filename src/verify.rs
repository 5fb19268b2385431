//! `verify`: compare every source object with every target of its rule.
//!
//! Source and target listings are both in key order, so they are merged like two sorted files:
//! memory stays at one page per listing however many millions of keys there are. Sizes are
//! compared first; when the ETags differ too (multipart or SSE-KMS replicas have ETags that are
//! not the source's), both objects are read and their content compared the way a write is
//! verified ([`crate::transfer::verify::proof`]: MD5 ETags or full-object checksums). Only when
//! nothing comparable exists does the replica's recorded source ETag decide; a replica proven
//! to hold other bytes differs whatever it records.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use serde::Serialize;

use crate::config::RuleConfig;
use crate::listing::list_all;
use crate::metrics::Metrics;
use crate::replicate::{Replicator, Target};
use crate::store::{Listed, ObjectRef, ObjectStore, StoreError, META_SOURCE_ETAG};
use crate::transfer::verify::{proof_on, Proof};

/// Findings kept for the JSON report; the counts cover all of them.
pub const FINDINGS_KEPT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// In the source, not in the target.
    Missing,
    SizeDiffers,
    /// Same size, but the replica was not made from this source version.
    ContentDiffers,
    /// In the target (under the rule's prefix and suffix), not in the source.
    OnlyInTarget,
}

impl Difference {
    pub fn as_str(self) -> &'static str {
        match self {
            Difference::Missing => "missing",
            Difference::SizeDiffers => "size differs",
            Difference::ContentDiffers => "content differs",
            Difference::OnlyInTarget => "only in target",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub target: String,
    /// The source key (for `only_in_target`: the target key without the target's key prefix).
    pub key: String,
    pub difference: Difference,
    pub source_size: Option<u64>,
    pub target_size: Option<u64>,
    /// The source's ETag as listed, for a repair (`verify --repair`).
    #[serde(skip)]
    pub source_etag: Option<String>,
}

impl Finding {
    /// The event that repairs this difference through the daemon's queue (`verify --repair`):
    /// a backfill event of the source object. `None` for an object only in the target, which
    /// a copy cannot repair (deletes are the daemon's, for rules that replicate them).
    pub fn repair(&self, rule: &RuleConfig) -> Option<String> {
        let (size, etag) = (self.source_size?, self.source_etag.as_deref()?);
        (self.difference != Difference::OnlyInTarget)
            .then(|| crate::event::backfill_event(&rule.source_bucket, &self.key, size, etag))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Source objects compared, once per target.
    pub checked: u64,
    pub matched: u64,
    pub missing: u64,
    pub size_differs: u64,
    pub content_differs: u64,
    pub only_in_target: u64,
    pub findings: Vec<Finding>,
    pub findings_truncated: bool,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.missing + self.size_differs + self.content_differs + self.only_in_target == 0
    }

    fn record(&mut self, finding: Finding, on_finding: &mut impl FnMut(&Finding)) {
        match finding.difference {
            Difference::Missing => self.missing += 1,
            Difference::SizeDiffers => self.size_differs += 1,
            Difference::ContentDiffers => self.content_differs += 1,
            Difference::OnlyInTarget => self.only_in_target += 1,
        }
        on_finding(&finding);
        if self.findings.len() < FINDINGS_KEPT {
            self.findings.push(finding);
        } else {
            self.findings_truncated = true;
        }
    }
}

type Listing<'a> = Pin<
    Box<
        futures::stream::Peekable<
            Pin<Box<dyn Stream<Item = Result<Listed, StoreError>> + Send + 'a>>,
        >,
    >,
>;

fn listing<'a, S: ObjectStore>(
    store: &'a S,
    metrics: &'a Metrics,
    bucket: &'a str,
    prefix: &'a str,
    strip: &'a str,
    rule: &'a RuleConfig,
) -> Listing<'a> {
    let stream = list_all(store, metrics, bucket, prefix, None)
        .filter_map(move |item| {
            std::future::ready(match item {
                Ok(mut listed) => {
                    listed.key = listed.key[strip.len()..].to_owned();
                    rule.covers(&listed.key).then_some(Ok(listed))
                }
                Err(e) => Some(Err(e)),
            })
        })
        .boxed();
    Box::pin(stream.peekable())
}

async fn peek<'a>(listing: &mut Listing<'a>) -> Result<Option<Listed>, StoreError> {
    match listing.as_mut().peek().await {
        None => Ok(None),
        Some(Ok(listed)) => Ok(Some(listed.clone())),
        Some(Err(_)) => match listing.as_mut().next().await {
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        },
    }
}

/// Compares every rule's source with each of its targets; `on_finding` sees each difference
/// as it is found (for streaming output).
pub async fn run<S: ObjectStore>(
    replicator: &Replicator<S>,
    rules: &[&RuleConfig],
    prefix: Option<&str>,
    mut on_finding: impl FnMut(&Finding),
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for rule in rules {
        let Some(listing_prefix) = crate::listing::listing_prefix(rule.prefix.as_deref(), prefix)
        else {
            continue;
        };
        for name in &rule.targets {
            let Some(target) = replicator.target(name) else {
                continue;
            };
            compare(
                replicator.source(),
                replicator.metrics(),
                rule,
                target,
                &listing_prefix,
                &mut report,
                &mut on_finding,
            )
            .await?;
        }
    }
    Ok(report)
}

async fn compare<S: ObjectStore>(
    source: &S,
    metrics: &Metrics,
    rule: &RuleConfig,
    target: &Target<S>,
    prefix: &str,
    report: &mut Report,
    on_finding: &mut impl FnMut(&Finding),
) -> Result<(), StoreError> {
    let key_prefix = target.config.key_prefix.as_deref().unwrap_or("");
    let target_prefix = format!("{key_prefix}{prefix}");
    let mut left = listing(source, metrics, &rule.source_bucket, prefix, "", rule);
    let mut right = listing(
        &target.store,
        metrics,
        &target.config.bucket,
        &target_prefix,
        key_prefix,
        rule,
    );
    let finding = |source: Option<&Listed>, key: &str, difference, target_size| Finding {
        rule: rule.name.clone(),
        target: target.config.name.clone(),
        key: key.to_owned(),
        difference,
        source_size: source.map(|s| s.size),
        target_size,
        source_etag: source.map(|s| s.etag.clone()),
    };
    loop {
        let (a, b) = (peek(&mut left).await?, peek(&mut right).await?);
        match (a, b) {
            (None, None) => return Ok(()),
            (Some(a), b) if b.as_ref().is_none_or(|b| a.key < b.key) => {
                left.next().await;
                report.checked += 1;
                report.record(
                    finding(Some(&a), &a.key, Difference::Missing, None),
                    on_finding,
                );
            }
            (a, Some(b)) if a.as_ref().is_none_or(|a| b.key < a.key) => {
                right.next().await;
                report.record(
                    finding(None, &b.key, Difference::OnlyInTarget, Some(b.size)),
                    on_finding,
                );
            }
            (Some(a), Some(b)) => {
                left.next().await;
                right.next().await;
                report.checked += 1;
                let difference = if a.size != b.size {
                    Some(Difference::SizeDiffers)
                } else if a.etag == b.etag
                    || same_content(source, metrics, rule, target, key_prefix, &a.key).await?
                {
                    None
                } else {
                    Some(Difference::ContentDiffers)
                };
                match difference {
                    None => report.matched += 1,
                    Some(d) => {
                        report.record(finding(Some(&a), &a.key, d, Some(b.size)), on_finding)
                    }
                }
            }
            (None, Some(_)) | (Some(_), None) => unreachable!("handled by the guards above"),
        }
    }
}

/// Whether the replica of `key` holds the source's content: proven equal by MD5 ETags or
/// full-object checksums; proven different never; neither provable, when it records the
/// source's ETag as the version it was made from.
async fn same_content<S: ObjectStore>(
    source: &S,
    metrics: &Metrics,
    rule: &RuleConfig,
    target: &Target<S>,
    key_prefix: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let head = |store: &S, bucket: &str, key: String| {
        let object = ObjectRef {
            bucket: bucket.to_owned(),
            key,
            version_id: None,
        };
        let store = store.clone();
        async move { crate::retry::with_retries(metrics, || store.head_object(&object, None)).await }
    };
    let (original, replica) = futures::try_join!(
        head(source, &rule.source_bucket, key.to_owned()),
        head(
            &target.store,
            &target.config.bucket,
            format!("{key_prefix}{key}")
        ),
    )?;
    let (Some(original), Some(replica)) = (original, replica) else {
        // Gone between the listing and now: the next run sees it as it is then.
        return Ok(false);
    };
    Ok(
        match proof_on(&original, &replica, target.config.trusts_etags()) {
            Proof::Same => true,
            Proof::Differs(_) => false,
            Proof::Unknown => {
                replica.metadata.get(META_SOURCE_ETAG).map(String::as_str)
                    == Some(original.etag.as_str())
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetConfig;
    use crate::testkit::memory::{MemoryStore, StoredObject};

    #[tokio::test]
    async fn reports_each_kind_of_difference_across_pages() {
        let store = MemoryStore::new("daemon");
        store.create_bucket("lake");
        store.create_bucket("eu");
        let target = Target {
            config: TargetConfig {
                key_prefix: Some("replica/".into()),
                ..TargetConfig::new("eu", "eu", "eu-west-1")
            },
            store: store.clone(),
        };
        let rule = RuleConfig {
            name: "lake".into(),
            source_bucket: "lake".into(),
            prefix: None,
            suffix: None,
            targets: vec!["eu".into()],
            ..Default::default()
        };
        for key in ["a", "b", "c", "d", "e", "f", "g"] {
            store.put("lake", key, key.as_bytes(), StoredObject::default());
        }
        for key in ["a", "c", "e", "f", "g"] {
            store.put(
                "eu",
                &format!("replica/{key}"),
                key.as_bytes(),
                StoredObject::default(),
            );
        }
        store.put("eu", "replica/c", b"longer", StoredObject::default());
        store.put("eu", "replica/e", b"E", StoredObject::default());
        store.put("eu", "replica/z", b"z", StoredObject::default());
        store.put(
            "eu",
            "elsewhere",
            b"not under the key prefix",
            StoredObject::default(),
        );
        let replicator = Replicator::new(store.clone(), [target]);
        let mut seen = Vec::new();
        let report = run(&replicator, &[&rule], None, |f| {
            seen.push((f.key.clone(), f.difference))
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            [
                ("b".to_owned(), Difference::Missing),
                ("c".to_owned(), Difference::SizeDiffers),
                ("d".to_owned(), Difference::Missing),
                ("e".to_owned(), Difference::ContentDiffers),
                ("z".to_owned(), Difference::OnlyInTarget),
            ]
        );
        assert_eq!((report.checked, report.matched), (7, 3));
        assert!(!report.is_clean());
    }

    /// The partition check stands on this comparison: a replica of the right size recording the
    /// source ETag, with other bytes (a copy that failed its check), must not count as matched.
    #[tokio::test]
    async fn a_replica_recording_the_source_with_other_bytes_differs() {
        let store = MemoryStore::new("daemon");
        store.create_bucket("lake");
        store.create_bucket("eu");
        let rule = RuleConfig {
            name: "lake".into(),
            source_bucket: "lake".into(),
            targets: vec!["eu".into()],
            ..Default::default()
        };
        let etag = store.put("lake", "k", b"hello", StoredObject::default());
        store.put(
            "eu",
            "k",
            b"HELLO",
            StoredObject {
                metadata: [(META_SOURCE_ETAG.to_owned(), etag)].into(),
                ..Default::default()
            },
        );
        let target = Target {
            config: TargetConfig::new("eu", "eu", "eu-west-1"),
            store: store.clone(),
        };
        let replicator = Replicator::new(store.clone(), [target]);
        let mut seen = Vec::new();
        run(&replicator, &[&rule], None, |f| seen.push(f.difference))
            .await
            .unwrap();
        assert_eq!(seen, [Difference::ContentDiffers]);
    }
}
