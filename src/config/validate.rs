//! Validation: the semantic checks that loading cannot make (ranges, ARNs, URLs, references
//! between rules and targets, keys two destinations could both write, replication loops), all
//! collected so that `check-config` reports every problem at once. Part of [`crate::config`]:
//! it runs on what [`super::load`] extracted, before anything uses it.

use std::collections::{HashMap, HashSet};

use super::checks::{check_http_url, Problems};
use super::{Config, ConfigError, RuleConfig, TargetConfig};
use super::{MAX_MESSAGE_DEADLINE_SECS, MAX_PART_SIZE, MIN_PART_SIZE, STORAGE_CLASSES};

impl Config {
    /// Every semantic problem, not just the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.validate_aws(&mut p);
        self.validate_queue(&mut p);
        check_topic_arn(&mut p, "completion.topic_arn", &self.completion.topic_arn);
        check_topic_arn(&mut p, "alerts.topic_arn", &self.alerts.topic_arn);
        self.validate_copy(&mut p);
        self.validate_targets(&mut p);
        self.validate_rules(&mut p);
        self.validate_operations(&mut p);
        self.validate_timeouts(&mut p);
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(p.0))
        }
    }

    fn validate_aws(&self, p: &mut Problems) {
        if let Some(url) = &self.aws.endpoint_url {
            if let Err(why) = check_http_url(url) {
                p.push(
                    "aws.endpoint_url",
                    format!("{why}; expected an http(s) URL such as \"http://127.0.0.1:5000\", or leave it out for AWS"),
                );
            }
        }
        if let Some(url) = &self.aws.s3_endpoint_url {
            if let Err(why) = check_http_url(url) {
                p.push(
                    "aws.s3_endpoint_url",
                    format!("{why}; expected an http(s) URL such as \"http://127.0.0.1:9000\", or leave it out to reach S3 like the other services"),
                );
            }
        }
        if let Some(region) = &self.aws.region {
            if let Err(why) = check_region(region) {
                p.push(
                    "aws.region",
                    format!("{why}; leave it out to use the SDK's default region chain"),
                );
            }
        }
    }

    fn validate_queue(&self, p: &mut Problems) {
        let q = &self.queue;
        if let Err(why) = check_http_url(&q.url) {
            p.push(
                "queue.url",
                format!("{why}; expected the SQS queue URL, e.g. \"https://sqs.us-east-1.amazonaws.com/111111111111/replication-events\""),
            );
        }
        check_range(
            p,
            "queue.max_messages",
            q.max_messages,
            1,
            10,
            "messages per ReceiveMessage (an SQS limit)",
        );
        check_range(
            p,
            "queue.wait_time_secs",
            q.wait_time_secs,
            0,
            20,
            "seconds of long polling (an SQS limit)",
        );
        check_range(
            p,
            "queue.visibility_timeout_secs",
            q.visibility_timeout_secs,
            1,
            43_200,
            "seconds (an SQS limit: 12 hours)",
        );
        if q.concurrency == 0 {
            p.push(
                "queue.concurrency",
                "is 0, so nothing would ever be copied; must be at least 1",
            );
        }
        if q.shutdown_timeout_secs > 3_600 {
            p.push(
                "queue.shutdown_timeout_secs",
                format!(
                    "is {}; must be 0..=3600 seconds (keep it below the ECS task's stopTimeout)",
                    q.shutdown_timeout_secs
                ),
            );
        }
        if self.alerts.window_secs > 86_400 {
            p.push(
                "alerts.window_secs",
                format!(
                    "is {}; must be 0..=86400 seconds (0 sends every alert)",
                    self.alerts.window_secs
                ),
            );
        }
    }

    fn validate_copy(&self, p: &mut Problems) {
        let c = &self.copy;
        if c.part_size < MIN_PART_SIZE || c.part_size > MAX_PART_SIZE {
            p.push(
                "copy.part_size",
                format!(
                    "is {}; S3 parts must be {MIN_PART_SIZE}..={MAX_PART_SIZE}",
                    c.part_size
                ),
            );
        }
        if c.multipart_threshold < MIN_PART_SIZE {
            p.push(
                "copy.multipart_threshold",
                format!(
                    "is {}; must be at least {MIN_PART_SIZE}, the smallest multipart part",
                    c.multipart_threshold
                ),
            );
        } else if c.multipart_threshold > MAX_PART_SIZE {
            p.push(
                "copy.multipart_threshold",
                format!(
                    "is {}; must be at most {MAX_PART_SIZE}, the largest object CopyObject can copy",
                    c.multipart_threshold
                ),
            );
        }
        if c.max_inflight_bytes < c.part_size {
            p.push(
                "copy.max_inflight_bytes",
                format!(
                    "is {}, less than copy.part_size ({}), so no streamed part could start; must be at least copy.part_size",
                    c.max_inflight_bytes, c.part_size
                ),
            );
        }
    }

    fn validate_targets(&self, p: &mut Problems) {
        if self.targets.is_empty() {
            p.push(
                "targets",
                "no target is defined; add at least one [[targets]] table with name, bucket and region",
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.targets.iter().enumerate() {
            let at = |field: &str| format!("targets[{i}].{field}");
            if t.name.trim().is_empty() {
                p.push(
                    at("name"),
                    "is empty; give the target a name that rules can refer to",
                );
            } else if let Some(first) = seen.insert(t.name.as_str(), i) {
                seen.insert(t.name.as_str(), first);
                p.push(
                    at("name"),
                    format!(
                        "{:?} is already the name of targets[{first}]; target names must be unique",
                        t.name
                    ),
                );
            }
            if let Err(why) = check_bucket(&t.bucket) {
                p.push(at("bucket"), why);
            }
            if let Err(why) = check_region(&t.region) {
                p.push(
                    at("region"),
                    format!("{why}; the region of the target bucket, e.g. \"eu-west-1\""),
                );
            }
            if let Some(role) = &t.role_arn {
                if !is_role_arn(role) {
                    p.push(
                        at("role_arn"),
                        format!("{role:?} is not an IAM role ARN; expected \"arn:aws:iam::123456789012:role/NAME\""),
                    );
                }
            }
            match (&t.external_id, &t.role_arn) {
                (Some(_), None) => p.push(
                    at("external_id"),
                    "is set without role_arn; an external ID is only sent when assuming a role, so set role_arn or remove external_id",
                ),
                (Some(id), Some(_)) if id.is_empty() => {
                    p.push(at("external_id"), "is empty; remove it or give the value the role's trust policy expects")
                }
                _ => {}
            }
            if let Some(class) = &t.storage_class {
                if !STORAGE_CLASSES.contains(&class.as_str()) {
                    p.push(
                        at("storage_class"),
                        format!(
                            "{class:?} is not an S3 storage class; valid: {}",
                            STORAGE_CLASSES.join(", ")
                        ),
                    );
                }
            }
            if let Some(key) = &t.sse_kms_key_id {
                if key.trim().is_empty() {
                    p.push(
                        at("sse_kms_key_id"),
                        "is empty; give a KMS key ID, alias or ARN, or remove it to use the bucket's default encryption",
                    );
                }
            }
            super::stores::validate_store(i, t, p);
        }
    }

    fn validate_rules(&self, p: &mut Problems) {
        if self.rules.is_empty() {
            p.push(
                "rules",
                "no rule is defined, so nothing would be replicated; add at least one [[rules]] \
                 table with name, source_bucket and targets",
            );
        }
        let defined: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let sources: HashSet<&str> = self
            .rules
            .iter()
            .map(|r| r.source_bucket.as_str())
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("rules[{i}].{field}");
            if r.name.trim().is_empty() {
                p.push(
                    at("name"),
                    "is empty; rules need a name (it is reported in completion events)",
                );
            } else if let Some(first) = seen.insert(r.name.as_str(), i) {
                seen.insert(r.name.as_str(), first);
                p.push(
                    at("name"),
                    format!(
                        "{:?} is already the name of rules[{first}]; rule names must be unique",
                        r.name
                    ),
                );
            }
            if let Err(why) = check_bucket(&r.source_bucket) {
                p.push(at("source_bucket"), why);
            }
            if let Some(marker) = &r.complete_on {
                if marker.is_empty() || marker.contains('/') {
                    p.push(
                        at("complete_on"),
                        format!(
                            "is {marker:?}; must be an object name without '/', e.g. \"_SUCCESS\""
                        ),
                    );
                }
            }
            if r.max_deletes_per_minute == 0 {
                p.push(
                    at("max_deletes_per_minute"),
                    "is 0; must be at least 1 (deletes beyond it are held, never dropped)"
                        .to_owned(),
                );
            }
            if r.table_format == super::TableFormat::Delta && r.suffix.is_some() {
                p.push(
                    at("suffix"),
                    "is set on a rule with table_format = \"delta\": a table's log (_delta_log/*.json, checkpoints) and data files must all be replicated; remove suffix",
                );
            }
            if r.lag_alert_secs == Some(0) {
                p.push(
                    at("lag_alert_secs"),
                    "is 0; must be at least 1 s, or left out for no threshold".to_owned(),
                );
            }
            if !(1..=30).contains(&r.restore_days) {
                p.push(
                    at("restore_days"),
                    format!("is {}; must be 1..=30 days", r.restore_days),
                );
            }
            if r.targets.is_empty() {
                p.push(
                    at("targets"),
                    format!(
                        "is empty; name at least one target (defined: {})",
                        name_list(&defined)
                    ),
                );
            }
            let mut in_rule: HashMap<&str, usize> = HashMap::new();
            for (j, name) in r.targets.iter().enumerate() {
                let field = format!("rules[{i}].targets[{j}]");
                if let Some(first) = in_rule.insert(name.as_str(), j) {
                    in_rule.insert(name.as_str(), first);
                    p.push(
                        field,
                        format!("{name:?} is already listed as rules[{i}].targets[{first}]; list each target once"),
                    );
                    continue;
                }
                let Some(target) = self.target(name) else {
                    p.push(
                        field,
                        format!(
                            "{name:?} is not a defined target; defined targets: {}",
                            name_list(&defined)
                        ),
                    );
                    continue;
                };
                for (k, other) in self.rules.iter().enumerate().take(i) {
                    for other_name in &other.targets {
                        let Some(other_target) = self.target(other_name) else {
                            continue;
                        };
                        if let Some(why) = overlap((r, target), (other, other_target)) {
                            p.push(
                                field.clone(),
                                format!(
                                    "rule {:?} → target {name:?} and rule {:?} → target {other_name:?} \
                                     (rules[{k}]) can write the same key of bucket {:?} from different \
                                     source objects ({why}); a replica of one would be taken for the \
                                     other's. Give them separate buckets, or key_prefix values that do \
                                     not nest",
                                    r.name, other.name, target.bucket
                                ),
                            );
                        }
                    }
                }
                for other_name in r.targets.iter().take(j) {
                    let Some(other_target) = self.target(other_name) else {
                        continue;
                    };
                    if let Some(why) = overlap((r, target), (r, other_target)) {
                        p.push(
                            field.clone(),
                            format!(
                                "target {name:?} and target {other_name:?} of this rule can write the \
                                 same key of bucket {:?} from different source objects ({why}). Give \
                                 them separate buckets, or key_prefix values that do not nest",
                                target.bucket
                            ),
                        );
                    }
                }
                // A bucket of the same name on another store is another bucket.
                if target.endpoint_url.is_none() && sources.contains(target.bucket.as_str()) {
                    let source_rules: Vec<&str> = self
                        .rules
                        .iter()
                        .filter(|o| o.source_bucket == target.bucket)
                        .map(|o| o.name.as_str())
                        .collect();
                    let source_rules = name_list(&source_rules);
                    let rule = if source_rules.contains(", ") {
                        "rules"
                    } else {
                        "rule"
                    };
                    p.push(
                        field,
                        format!(
                            "target {name:?} writes to bucket {:?}, which is also the source bucket of \
                             {rule} {source_rules}; every replica would create a new event there and \
                             be replicated again, forever. Use a target bucket that no rule reads from",
                            target.bucket,
                        ),
                    );
                }
            }
        }
    }
}

/// Why two (rule, target) destinations can map different source objects onto one target key,
/// or `None` when they cannot. A destination maps source key `k` of its rule's bucket to
/// `key_prefix + k` in its target's bucket; two of them collide when the buckets are one, the
/// key spaces they write (`key_prefix + prefix`) nest, and the mapping differs (another source
/// bucket, or another key_prefix). Disjoint suffixes keep them apart.
fn overlap(a: (&RuleConfig, &TargetConfig), b: (&RuleConfig, &TargetConfig)) -> Option<String> {
    let ((rule_a, target_a), (rule_b, target_b)) = (a, b);
    if target_a.bucket != target_b.bucket || target_a.endpoint_url != target_b.endpoint_url {
        return None;
    }
    let key_prefix = |t: &TargetConfig| t.key_prefix.clone().unwrap_or_default();
    let same_mapping = rule_a.source_bucket == rule_b.source_bucket
        && key_prefix(target_a) == key_prefix(target_b);
    if same_mapping {
        // The same source object lands on the same key: one replica, not a collision.
        return None;
    }
    let space = |r: &RuleConfig, t: &TargetConfig| {
        format!("{}{}", key_prefix(t), r.prefix.as_deref().unwrap_or(""))
    };
    let (space_a, space_b) = (space(rule_a, target_a), space(rule_b, target_b));
    if !(space_a.starts_with(&space_b) || space_b.starts_with(&space_a)) {
        return None;
    }
    if let (Some(sa), Some(sb), None, None) = (
        &rule_a.suffix,
        &rule_b.suffix,
        &rule_a.complete_on,
        &rule_b.complete_on,
    ) {
        if !(sa.ends_with(sb.as_str()) || sb.ends_with(sa.as_str())) {
            return None;
        }
    }
    Some(format!(
        "they write under {:?} and {:?}",
        if space_a.is_empty() {
            "(the whole bucket)".to_owned()
        } else {
            space_a
        },
        if space_b.is_empty() {
            "(the whole bucket)".to_owned()
        } else {
            space_b
        },
    ))
}

fn check_range(p: &mut Problems, field: &str, value: i32, min: i32, max: i32, what: &str) {
    if !(min..=max).contains(&value) {
        p.push(field, format!("is {value}; must be {min}..={max} {what}"));
    }
}

fn check_region(region: &str) -> Result<(), String> {
    if region.trim().is_empty() {
        Err("is empty".to_owned())
    } else if region.chars().any(char::is_whitespace) {
        Err(format!("{region:?} contains whitespace"))
    } else {
        Ok(())
    }
}

/// Only catches the common mistakes (empty, `s3://…`, a key prefix in the name): buckets
/// created before 2018 in us-east-1 may legally use names that today's rules forbid.
pub(super) fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.trim().is_empty() {
        Err("is empty; give the bucket name".to_owned())
    } else if bucket.starts_with("s3://") || bucket.starts_with("arn:") {
        Err(format!(
            "{bucket:?} is not a plain bucket name; write only the name, e.g. \"my-bucket\""
        ))
    } else if bucket.contains('/') || bucket.chars().any(char::is_whitespace) {
        Err(format!(
            "{bucket:?} is not a bucket name (it contains '/' or whitespace); put key prefixes in prefix or key_prefix"
        ))
    } else {
        Ok(())
    }
}

fn check_topic_arn(p: &mut Problems, field: &str, arn: &str) {
    if arn.trim().is_empty() {
        p.push(
            field,
            "is empty; expected an SNS topic ARN, e.g. \"arn:aws:sns:us-east-1:111111111111:NAME\"",
        );
    } else if !is_topic_arn(arn) {
        p.push(
            field,
            format!(
                "{arn:?} is not an SNS topic ARN; expected \"arn:aws:sns:REGION:ACCOUNT:NAME\""
            ),
        );
    }
}

/// `arn:aws[-cn|-us-gov…]:sns:REGION:ACCOUNT:NAME`.
pub(super) fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws") && !region.is_empty() && is_account_id(account) && !name.is_empty()
    )
}

/// `arn:aws[-…]:iam::ACCOUNT:role/[PATH/]NAME`.
pub(super) fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && is_account_id(account)
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty() && !n.ends_with('/'))
    )
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `"a", "b"`: distinct non-empty names in first-seen order, or `none`.
fn name_list(names: &[&str]) -> String {
    let mut seen = HashSet::new();
    let quoted: Vec<String> = names
        .iter()
        .filter(|n| !n.is_empty() && seen.insert(**n))
        .map(|n| format!("{n:?}"))
        .collect();
    if quoted.is_empty() {
        "none".to_owned()
    } else {
        quoted.join(", ")
    }
}

impl Config {
    fn validate_operations(&self, p: &mut Problems) {
        if let Err(why) = self.server.listen.parse::<std::net::SocketAddr>() {
            p.push(
                "server.listen",
                format!(
                    "{:?} is not an address: {why}; expected IP:PORT such as \"0.0.0.0:9090\" (port 0 picks a free one)",
                    self.server.listen
                ),
            );
        }
    }

    fn validate_timeouts(&self, p: &mut Problems) {
        let t = &self.timeouts;
        let mut check = |field: &str, value: u64, max: u64, what: &str| {
            if !(1..=max).contains(&value) {
                p.push(
                    format!("timeouts.{field}"),
                    format!("is {value}; must be 1..={max} seconds ({what})"),
                );
            }
        };
        check("connect_secs", t.connect_secs, 300, "to open a connection");
        check(
            "request_secs",
            t.request_secs,
            3_600,
            "per attempt of a small request",
        );
        check(
            "transfer_secs",
            t.transfer_secs,
            43_200,
            "per attempt of a copy, upload or download",
        );
        check(
            "receive_margin_secs",
            t.receive_margin_secs,
            300,
            "added to queue.wait_time_secs for ReceiveMessage",
        );
        check(
            "message_deadline_secs",
            t.message_deadline_secs,
            MAX_MESSAGE_DEADLINE_SECS,
            "per message; below SQS's 12-hour visibility cap",
        );
        if (1..=MAX_MESSAGE_DEADLINE_SECS).contains(&t.message_deadline_secs)
            && t.message_deadline_secs < t.transfer_secs
        {
            p.push(
                "timeouts.message_deadline_secs",
                format!(
                    "is {}, less than timeouts.transfer_secs ({}), so a copy that needs its whole \
                     attempt could never finish; must be at least timeouts.transfer_secs",
                    t.message_deadline_secs, t.transfer_secs
                ),
            );
        }
    }
}
