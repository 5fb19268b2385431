//! Routing: which rules an object belongs to, and so which targets receive it.

use crate::config::{Config, RuleConfig};

/// The rules of the configuration, ready for matching.
#[derive(Debug, Clone)]
pub struct Router {
    rules: Vec<RuleConfig>,
}

impl Router {
    pub fn new(config: &Config) -> Self {
        Self::from_rules(config.rules.clone())
    }

    pub fn from_rules(rules: Vec<RuleConfig>) -> Self {
        Self { rules }
    }

    /// Every rule whose source bucket, prefix and suffix match, in configuration order.
    ///
    /// Every matching rule applies (not only the first): two rules may feed different
    /// consumers, and each rule gets its own completion event.
    pub fn route<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a RuleConfig> + 'a {
        self.rules
            .iter()
            .filter(move |rule| matches(rule, bucket, key))
    }
}

fn matches(rule: &RuleConfig, bucket: &str, key: &str) -> bool {
    rule.source_bucket == bucket && rule.covers(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, bucket: &str, prefix: Option<&str>, suffix: Option<&str>) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            source_bucket: bucket.into(),
            prefix: prefix.map(Into::into),
            suffix: suffix.map(Into::into),
            targets: vec!["t".into()],
            ..Default::default()
        }
    }

    fn names<'a>(router: &'a Router, bucket: &'a str, key: &'a str) -> Vec<&'a str> {
        router.route(bucket, key).map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn matches_bucket_prefix_and_suffix() {
        let router = Router {
            rules: vec![
                rule("all", "lake", None, None),
                rule("curated", "lake", Some("curated/"), None),
                rule("parquet", "lake", Some("curated/"), Some(".parquet")),
                rule("other", "elsewhere", None, None),
            ],
        };
        assert_eq!(
            names(&router, "lake", "curated/a.parquet"),
            ["all", "curated", "parquet"]
        );
        assert_eq!(names(&router, "lake", "curated/a.csv"), ["all", "curated"]);
        assert_eq!(names(&router, "lake", "raw/a.parquet"), ["all"]);
        assert!(names(&router, "nobody", "curated/a.parquet").is_empty());
        // A prefix is a plain string prefix, not a path: "curated" does not match "curatedX/…"
        // unless the rule says so.
        assert!(names(&router, "lake", "curatedX/a.parquet").len() == 1);
    }
}
