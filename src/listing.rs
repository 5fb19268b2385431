//! Listing a bucket: every object under a prefix, page by page, with retries; and the prefix
//! that satisfies both a rule's and a user's. Used by `backfill`, `verify` and the partition
//! check, above the store seam and the retry helper.

use crate::metrics::Metrics;
use crate::retry::with_retries;
use crate::store::{Listed, ObjectStore, StoreError};

/// Every object under `prefix` (after `start_after`), page by page, in key order: memory stays
/// bounded by one page however many keys there are.
pub fn list_all<'a, S: ObjectStore>(
    store: &'a S,
    metrics: &'a Metrics,
    bucket: &'a str,
    prefix: &'a str,
    start_after: Option<&'a str>,
) -> impl futures::Stream<Item = Result<Listed, StoreError>> + Send + 'a {
    use futures::StreamExt;
    struct State {
        next: Option<String>,
        done: bool,
    }
    futures::stream::unfold(
        State {
            next: None,
            done: false,
        },
        move |state| async move {
            if state.done {
                return None;
            }
            let page = with_retries(metrics, || {
                store.list_objects(bucket, prefix, start_after, state.next.as_deref())
            })
            .await;
            Some(match page {
                Ok(page) => {
                    let done = page.next.is_none();
                    let items: Vec<Result<Listed, StoreError>> =
                        page.objects.into_iter().map(Ok).collect();
                    (
                        futures::stream::iter(items),
                        State {
                            next: page.next,
                            done,
                        },
                    )
                }
                Err(e) => (
                    futures::stream::iter(vec![Err(e)]),
                    State {
                        next: None,
                        done: true,
                    },
                ),
            })
        },
    )
    .flatten()
}

/// The listing prefix that satisfies both the rule's prefix and the user's, or `None` when the
/// two cannot both hold.
pub fn listing_prefix(rule: Option<&str>, user: Option<&str>) -> Option<String> {
    let rule = rule.unwrap_or("");
    let user = user.unwrap_or("");
    if user.starts_with(rule) {
        Some(user.to_owned())
    } else if rule.starts_with(user) {
        Some(rule.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_prefix_satisfies_both_prefixes() {
        assert_eq!(
            listing_prefix(Some("d/"), Some("d/2026/")).as_deref(),
            Some("d/2026/")
        );
        assert_eq!(
            listing_prefix(Some("d/2026/"), Some("d/")).as_deref(),
            Some("d/2026/")
        );
        assert_eq!(listing_prefix(None, None).as_deref(), Some(""));
        assert_eq!(listing_prefix(Some("a/"), Some("b/")), None);
    }
}
