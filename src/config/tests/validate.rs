//! Validation: every problem reported at once, destinations that collide, loops, ARNs and URLs.

use std::path::PathBuf;

use super::*;
use crate::config::checks::check_http_url;
use crate::config::validate::{check_bucket, is_role_arn, is_topic_arn};

#[test]
fn every_validation_problem_is_reported_together() {
    let mut c = valid();
    c.aws.endpoint_url = Some("localhost:5000".into());
    c.aws.s3_endpoint_url = Some("s3://bucket".into());
    c.aws.region = Some(String::new());
    c.queue.url = "sqs://nope".into();
    c.queue.max_messages = 11;
    c.queue.wait_time_secs = 21;
    c.queue.visibility_timeout_secs = 0;
    c.queue.concurrency = 0;
    c.completion.topic_arn = "arn:aws:sqs:us-east-1:111111111111:x".into();
    c.alerts.topic_arn = String::new();
    c.copy.part_size = ByteSize::mib(1);
    c.copy.multipart_threshold = ByteSize::gib(6);
    c.copy.max_inflight_bytes = ByteSize(0);
    let t = c.targets[0].clone();
    c.targets.push(TargetConfig {
        bucket: String::new(),
        region: String::new(),
        role_arn: Some("arn:aws:iam::2222:role/x".into()),
        storage_class: Some("COLD".into()),
        sse_kms_key_id: Some(String::new()),
        ..t.clone()
    });
    c.targets.push(TargetConfig {
        name: String::new(),
        external_id: Some("id".into()),
        bucket: "source-bucket".into(),
        ..t.clone()
    });
    c.targets.push(TargetConfig {
        name: "loop".into(),
        bucket: "source-bucket".into(),
        ..t.clone()
    });
    let r = c.rules[0].clone();
    c.rules.push(RuleConfig {
        targets: vec!["t".into(), "missing".into(), "t".into(), "loop".into()],
        ..r.clone()
    });
    c.rules.push(RuleConfig {
        name: String::new(),
        source_bucket: String::new(),
        targets: vec![],
        ..r
    });

    let err = c.validate().unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(_)));
    let text = err.to_string();
    let expected = [
        "aws.endpoint_url",
        "aws.s3_endpoint_url",
        "aws.region",
        "queue.url",
        "queue.max_messages",
        "queue.wait_time_secs",
        "queue.visibility_timeout_secs",
        "queue.concurrency",
        "completion.topic_arn",
        "alerts.topic_arn",
        "copy.part_size",
        "copy.multipart_threshold",
        "copy.max_inflight_bytes",
        "targets[1].name",
        "targets[1].bucket",
        "targets[1].region",
        "targets[1].role_arn",
        "targets[1].storage_class",
        "targets[1].sse_kms_key_id",
        "targets[2].name",
        "targets[2].external_id",
        "rules[1].name",
        "rules[1].targets[1]",
        "rules[1].targets[2]",
        "rules[1].targets[3]",
        "rules[2].name",
        "rules[2].source_bucket",
        "rules[2].targets",
    ];
    assert_eq!(fields(&err), expected, "{text}");
    assert_eq!(text.lines().count(), expected.len() + 1, "{text}");
    assert!(text.starts_with(&format!(
        "the configuration has {} problems:\n",
        expected.len()
    )));
    assert!(text.contains("rules[1].targets[1]: \"missing\" is not a defined target; defined targets: \"t\", \"loop\"\n"), "{text}");
    assert!(
        text.contains("queue.max_messages: is 11; must be 1..=10"),
        "{text}"
    );
    assert!(
        text.contains("copy.part_size: is 1 MiB; S3 parts must be 5 MiB..=5 GiB"),
        "{text}"
    );
    assert!(text.contains("replicated again, forever"), "{text}");
    assert!(text.contains("STANDARD_IA"), "{text}");
}

/// `MINIMAL` plus targets and rules, for the overlap checks.
fn destinations(extra: &str) -> Result<Config, ConfigError> {
    load_text(&format!("{MINIMAL}\n{extra}"))
}

#[test]
fn overlapping_destinations_from_different_sources_are_rejected() {
    // Two source buckets into one target bucket, same keys: a.csv of either lands on one key.
    let err = destinations(
        r#"
            [[rules]]
            name = "other"
            source_bucket = "other-source"
            targets = ["t"]
            "#,
    )
    .unwrap_err();
    assert_eq!(fields(&err), ["rules[1].targets[0]"], "{err}");
    assert!(
        err.to_string()
            .contains("can write the same key of bucket \"target-bucket\""),
        "{err}"
    );
    // One rule, two targets on one bucket whose key_prefix values nest: source key
    // "r/x" through "t" and source key "x" through "nested" both land on "r/x".
    let err = destinations(
        r#"
            [[targets]]
            name = "nested"
            bucket = "target-bucket"
            region = "eu-west-1"
            key_prefix = "r/"
            [[rules]]
            name = "both"
            source_bucket = "third-source"
            targets = ["t", "nested"]
            "#,
    )
    .unwrap_err();
    assert!(fields(&err).contains(&"rules[1].targets[1]"), "{err}");
}

#[test]
fn destinations_that_cannot_collide_are_accepted() {
    // Same source, same mapping (two rules of one bucket into one target): one replica.
    // Another source under a key_prefix that does not nest with the first's keys... except
    // that "" nests with everything, so it goes to its own prefix of a bucket shared with a
    // prefixed first rule. Disjoint suffixes keep two sources apart too.
    destinations(
        r#"
            [[targets]]
            name = "shared"
            bucket = "shared-bucket"
            region = "eu-west-1"
            key_prefix = "from-a/"
            [[targets]]
            name = "shared-b"
            bucket = "shared-bucket"
            region = "eu-west-1"
            key_prefix = "from-b/"
            [[targets]]
            name = "suffixed"
            bucket = "suffix-bucket"
            region = "eu-west-1"
            [[rules]]
            name = "same-source"
            source_bucket = "source-bucket"
            prefix = "logs/"
            targets = ["t"]
            [[rules]]
            name = "a"
            source_bucket = "bucket-a"
            targets = ["shared"]
            [[rules]]
            name = "b"
            source_bucket = "bucket-b"
            targets = ["shared-b"]
            [[rules]]
            name = "csv"
            source_bucket = "bucket-a"
            suffix = ".csv"
            targets = ["suffixed"]
            [[rules]]
            name = "json"
            source_bucket = "bucket-b"
            suffix = ".json"
            targets = ["suffixed"]
            "#,
    )
    .unwrap();
}

#[test]
fn conditional_writes_default_on_and_can_be_turned_off() {
    assert!(valid().targets[0].conditional_writes);
    let c = destinations(
        r#"
            [[targets]]
            name = "plain"
            bucket = "plain-bucket"
            region = "eu-west-1"
            conditional_writes = false
            "#,
    )
    .unwrap();
    assert!(!c.targets[1].conditional_writes);
    assert!(c.describe().contains("unconditional"), "{}", c.describe());
}

#[test]
fn write_first_defaults_on_and_needs_conditional_writes() {
    assert!(valid().targets[0].write_first);
    let c = destinations(
        r#"
            [[targets]]
            name = "ignores-conditions"
            bucket = "plain-bucket"
            region = "eu-west-1"
            write_first = false
            "#,
    )
    .unwrap();
    assert!(!c.targets[1].write_first);
    let described = c.describe();
    assert!(
        described.contains("first delivery: written at once"),
        "{described}"
    );
    assert!(
        described.contains("first delivery: read first"),
        "{described}"
    );
}

#[test]
fn s3_endpoint_url_is_validated_on_its_own_and_described() {
    let with = |url: &str| format!("{MINIMAL}\n[aws]\ns3_endpoint_url = \"{url}\"\n");
    let config = load_text(&with("http://127.0.0.1:9000")).unwrap();
    assert_eq!(
        config.aws.s3_endpoint_url.as_deref(),
        Some("http://127.0.0.1:9000")
    );
    assert_eq!(config.aws.endpoint_url, None);
    let text = config.describe();
    assert!(
            text.contains("  endpoint_url:            (AWS endpoints)\n  s3_endpoint_url:         http://127.0.0.1:9000\n"),
            "{text}"
        );
    assert!(
        valid()
            .describe()
            .contains("  s3_endpoint_url:         (as endpoint_url)\n"),
        "unset: S3 follows endpoint_url"
    );

    for (bad, why) in [
        ("127.0.0.1:9000", "does not start with https:// or http://"),
        ("", "is empty"),
        ("http://", "has no host"),
        ("http://127.0.0.1:9000/ x", "contains whitespace"),
    ] {
        let err = load_text(&with(bad)).unwrap_err();
        assert_eq!(fields(&err), ["aws.s3_endpoint_url"], "{bad:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("aws.s3_endpoint_url: ") && text.contains(why),
            "{bad:?}: {text}"
        );
    }
    // A valid S3 endpoint does not excuse an invalid shared one, and the other way round.
    let mut c = valid();
    c.aws.endpoint_url = Some("localhost:5000".into());
    c.aws.s3_endpoint_url = Some("http://127.0.0.1:9000".into());
    assert_eq!(fields(&c.validate().unwrap_err()), ["aws.endpoint_url"]);
    c.aws.endpoint_url = Some("http://127.0.0.1:5000".into());
    c.aws.s3_endpoint_url = Some("localhost:9000".into());
    assert_eq!(fields(&c.validate().unwrap_err()), ["aws.s3_endpoint_url"]);
}

#[test]
fn empty_targets_and_rules_are_problems() {
    let mut c = valid();
    c.targets.clear();
    c.rules.clear();
    let err = c.validate().unwrap_err();
    assert_eq!(fields(&err), ["targets", "rules"], "{err}");
}

#[test]
fn target_bucket_that_is_a_source_bucket_is_a_loop() {
    let mut c = valid();
    c.rules.push(RuleConfig {
        name: "second".into(),
        source_bucket: "target-bucket".into(),
        prefix: None,
        suffix: None,
        targets: vec!["other".into()],
        ..Default::default()
    });
    c.targets.push(TargetConfig {
        name: "other".into(),
        bucket: "elsewhere".into(),
        ..c.targets[0].clone()
    });
    let err = c.validate().unwrap_err();
    assert_eq!(fields(&err), ["rules[0].targets[0]"], "{err}");
    assert!(
        err.to_string().contains("source bucket of rule \"second\""),
        "{err}"
    );
}

#[test]
fn unused_targets_are_allowed_and_described() {
    let mut c = valid();
    c.targets.push(TargetConfig {
        name: "spare".into(),
        bucket: "spare-bucket".into(),
        ..c.targets[0].clone()
    });
    c.validate().unwrap();
    let text = c.describe();
    assert!(text.contains("Targets used by no rule (1"), "{text}");
    assert!(
        text.contains("spare -> s3://spare-bucket/<source key>"),
        "{text}"
    );
}

#[test]
fn arn_and_url_checks() {
    assert!(is_topic_arn("arn:aws:sns:us-east-1:111111111111:t"));
    assert!(is_topic_arn(
        "arn:aws-cn:sns:cn-north-1:111111111111:t.fifo"
    ));
    assert!(!is_topic_arn("arn:aws:sns:us-east-1:111111111111"));
    assert!(!is_topic_arn("arn:aws:sns:us-east-1:1111:t"));
    assert!(is_role_arn(
        "arn:aws:iam::222222222222:role/replication-writer"
    ));
    assert!(is_role_arn("arn:aws-us-gov:iam::222222222222:role/a/b"));
    assert!(!is_role_arn("arn:aws:iam::222222222222:user/bob"));
    assert!(!is_role_arn("arn:aws:iam:us-east-1:222222222222:role/x"));
    assert!(!is_role_arn("arn:aws:iam::222222222222:role/"));
    assert!(check_http_url("http://127.0.0.1:5000").is_ok());
    assert!(check_http_url("https://").is_err());
    assert!(check_http_url("ftp://x").is_err());
    assert!(check_bucket("s3://b").is_err());
    assert!(check_bucket("b/prefix").is_err());
    assert!(check_bucket("Legacy_Bucket").is_ok());
}

#[test]
fn fixtures_in_repo_fail_as_documented() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let load = |name: &str| {
        Config::from_figment(&Config::figment_with_env(&dir.join(name), no_env())).unwrap_err()
    };

    let err = load("unknown_field.toml");
    assert!(matches!(err, ConfigError::Load(_)), "{err}");
    assert_eq!(fields(&err), ["queue.max_mesages"], "{err}");

    let err = load("not_toml.toml");
    assert!(matches!(err, ConfigError::Load(_)), "{err}");

    let err = load("missing_queue.toml");
    assert!(matches!(err, ConfigError::Load(_)), "{err}");
    assert_eq!(fields(&err), ["queue.url"], "{err}");

    let err = load("bad_values.toml");
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    assert_eq!(
        fields(&err),
        [
            "queue.max_messages",
            "copy.part_size",
            "rules[0].targets[1]",
            "rules[0].targets[2]",
            "rules[1].targets",
        ],
        "{err}"
    );

    let err = load("bad_references.toml");
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    assert_eq!(
        fields(&err),
        [
            "completion.topic_arn",
            "targets[1].name",
            "targets[1].role_arn",
            "targets[1].storage_class",
            "targets[2].bucket",
            "targets[2].external_id",
            "rules[1].name",
            "rules[1].targets[0]",
            "rules[1].targets[1]",
        ],
        "{err}"
    );
}
