//! Loading: defaults, the file, the environment layer, and errors that name field and source.

use std::path::{Path, PathBuf};

use figment::providers::Serialized;

use super::*;
use crate::config::load::is_config_var;

#[test]
fn defaults_are_applied() {
    let config = load_text(MINIMAL).unwrap();
    assert_eq!(config.aws, AwsConfig::default());
    assert_eq!(config.aws.region, None);
    assert_eq!(config.queue.max_messages, 10);
    assert_eq!(config.queue.wait_time_secs, 20);
    assert_eq!(config.queue.visibility_timeout_secs, 60);
    assert_eq!(config.queue.concurrency, 64);
    assert_eq!(config.copy.multipart_threshold, ByteSize::mib(64));
    assert_eq!(config.copy.part_size, ByteSize::mib(64));
    assert_eq!(config.copy.max_inflight_bytes, ByteSize::mib(512));
    let t = &config.targets[0];
    assert_eq!(t.copy_mode, CopyMode::Auto);
    assert_eq!(
        (t.role_arn.as_deref(), t.key_prefix.as_deref()),
        (None, None)
    );
    assert_eq!(config.rules[0].prefix, None);
}

#[test]
fn example_loads_and_validates() {
    let config = load_text(EXAMPLE).unwrap();
    assert_eq!(
        config.queue.url,
        "https://sqs.us-east-1.amazonaws.com/111111111111/replication-events"
    );
    assert_eq!(
        config.completion.topic_arn,
        "arn:aws:sns:us-east-1:111111111111:replication-completed"
    );
    assert_eq!(config.targets.len(), 2);
    let dr = config.target("dr-account").unwrap();
    assert_eq!(
        dr.role_arn.as_deref(),
        Some("arn:aws:iam::222222222222:role/replication-writer")
    );
    assert_eq!(config.rules[0].targets, ["analytics-eu", "dr-account"]);
    assert_eq!(config.rules[0].prefix.as_deref(), Some("curated/"));
    assert!(config.target("nope").is_none());
}

#[test]
fn example_loads_through_the_public_entry_point() {
    // Uses the real `S3R_` environment: the test scripts set only variables that name no
    // section (S3R_TEST_ENDPOINT), which the environment layer skips.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.rules.len(), 1);
}

#[test]
fn every_documented_optional_key_parses() {
    let text = format!(
        "{MINIMAL}\n{}",
        r#"
            [[targets]]
            name = "full"
            bucket = "full-bucket"
            region = "us-west-2"
            role_arn = "arn:aws:iam::222222222222:role/path/writer"
            external_id = "secret"
            key_prefix = "replica/"
            storage_class = "STANDARD_IA"
            sse_kms_key_id = "arn:aws:kms:us-west-2:222222222222:key/abc"
            copy_mode = "server-side"
            "#
    );
    let config = load_text(&text).unwrap();
    let t = config.target("full").unwrap();
    assert_eq!(t.object_lock, crate::config::ObjectLock::Off, "the default");
    assert_eq!(t.copy_mode, CopyMode::ServerSide);
    assert_eq!(t.storage_class.as_deref(), Some("STANDARD_IA"));
    for (text, mode) in [("auto", CopyMode::Auto), ("stream", CopyMode::Stream)] {
        let c = extract_text(&format!(
            "{MINIMAL}\n[[targets]]\nname=\"x\"\nbucket=\"b\"\nregion=\"r\"\ncopy_mode=\"{text}\""
        ));
        assert_eq!(c.targets[1].copy_mode, mode);
    }
}

#[test]
fn env_overrides_nest() {
    // A prefix of this test's own: other tests never read it, so setting it cannot race.
    let prefix = "S3RTEST_ENV_OVERRIDES_";
    let vars = [
        ("QUEUE__MAX_MESSAGES", "5"),
        ("COPY__PART_SIZE", "8 MiB"),
        ("COPY__MAX_INFLIGHT_BYTES", "1073741824"),
        ("AWS__ENDPOINT_URL", "http://127.0.0.1:5000"),
        ("AWS__S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("QUEUE__URL", "http://127.0.0.1:5000/111111111111/other"),
        // Variables of the CLI and the test scripts share the prefix; they are not keys.
        ("CONFIG", "/etc/s3-replicator.toml"),
        ("TEST_ENDPOINT", "http://127.0.0.1:1"),
        ("EMULATOR_PORT", "5000"),
    ];
    for (k, v) in vars {
        std::env::set_var(format!("{prefix}{k}"), v);
    }
    let file = write_toml(MINIMAL);
    let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
    let config = Config::from_figment(&figment).unwrap();
    assert_eq!(config.queue.max_messages, 5);
    assert_eq!(
        config.queue.wait_time_secs, 20,
        "untouched keys keep their value"
    );
    assert_eq!(config.queue.url, "http://127.0.0.1:5000/111111111111/other");
    assert_eq!(config.copy.part_size, ByteSize::mib(8));
    assert_eq!(config.copy.max_inflight_bytes, ByteSize::gib(1));
    assert_eq!(
        config.aws.endpoint_url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(
        config.aws.s3_endpoint_url.as_deref(),
        Some("http://127.0.0.1:9000")
    );

    // A bad value from the environment names the variable.
    // Figment reads its providers when they are merged: build it again.
    std::env::set_var(format!("{prefix}QUEUE__CONCURRENCY"), "many");
    let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
    let err = Config::from_figment(&figment).unwrap_err();
    for (k, _) in vars {
        std::env::remove_var(format!("{prefix}{k}"));
    }
    std::env::remove_var(format!("{prefix}QUEUE__CONCURRENCY"));
    let text = err.to_string();
    assert_eq!(fields(&err), ["queue.concurrency"], "{text}");
    assert!(
        text.contains("S3RTEST_ENV_OVERRIDES_QUEUE__CONCURRENCY"),
        "{text}"
    );

    // One underscore instead of two is reported, with a hint, not silently ignored.
    let prefix = "S3RTEST_ENV_TYPO_";
    std::env::set_var(format!("{prefix}QUEUE_URL"), "http://x");
    let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
    std::env::remove_var(format!("{prefix}QUEUE_URL"));
    let err = Config::from_figment(&figment).unwrap_err();
    let text = err.to_string();
    assert_eq!(fields(&err), ["queue_url"], "{text}");
    assert!(text.contains("S3RTEST_ENV_TYPO_QUEUE_URL"), "{text}");
    assert!(text.contains("`__`"), "{text}");
}

#[test]
fn env_variable_names() {
    assert!(is_config_var("QUEUE__URL"));
    assert!(is_config_var("copy__part_size"));
    assert!(is_config_var("QUEUE_URL"));
    assert!(is_config_var("BOGUS__X"));
    assert!(!is_config_var("CONFIG"));
    assert!(!is_config_var("TEST_ENDPOINT"));
    assert!(!is_config_var("EMULATOR_PORT"));
    assert!(!is_config_var("QUEUES"));
}

#[test]
fn later_layers_win_over_the_file() {
    let file = write_toml(MINIMAL);
    let figment = Config::figment_with_env(file.path(), no_env())
        .merge(Serialized::default("queue.max_messages", 3));
    assert_eq!(
        Config::from_figment(&figment).unwrap().queue.max_messages,
        3
    );
}

#[test]
fn unknown_field_is_named_with_the_valid_ones() {
    let err =
        load_text(&MINIMAL.replace("[completion]", "[completion]\ntopic = \"x\"")).unwrap_err();
    assert!(matches!(err, ConfigError::Load(_)), "{err}");
    assert_eq!(fields(&err), ["completion.topic"], "{err}");
    assert!(err.to_string().contains("`topic_arn`"), "{err}");

    let err = load_text(&MINIMAL.replace(
        "region = \"eu-west-1\"",
        "region = \"eu-west-1\"\nbuckett = \"x\"",
    ))
    .unwrap_err();
    assert_eq!(fields(&err), ["targets[0].buckett"], "{err}");
    assert!(err.to_string().contains("`copy_mode`"), "{err}");

    let err = load_text(&format!("{MINIMAL}\n[extra]\na = 1")).unwrap_err();
    assert_eq!(fields(&err), ["extra"], "{err}");
}

#[test]
fn wrong_type_names_field_and_file() {
    let file = write_toml(&MINIMAL.replace(
        "url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"",
        "url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"\nmax_messages = \"x\"",
    ));
    let err = Config::from_figment(&Config::figment_with_env(file.path(), no_env())).unwrap_err();
    let text = err.to_string();
    assert_eq!(fields(&err), ["queue.max_messages"], "{text}");
    assert!(
        text.contains("queue.max_messages: invalid type: found string \"x\", expected i32"),
        "{text}"
    );
    // figment shows the path relative to the working directory when it can: match the name.
    let name = file
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(text.contains(&name), "{text}");
}

#[test]
fn bad_enum_and_size_values_are_load_errors() {
    let err = load_text(&MINIMAL.replace(
        "region = \"eu-west-1\"",
        "region = \"eu-west-1\"\ncopy_mode = \"fast\"",
    ))
    .unwrap_err();
    assert_eq!(fields(&err), ["targets[0].copy_mode"], "{err}");
    assert!(err.to_string().contains("`server-side`"), "{err}");

    let err = load_text(&format!("{MINIMAL}\n[copy]\npart_size = \"12 parsecs\"")).unwrap_err();
    assert_eq!(fields(&err), ["copy.part_size"], "{err}");
    assert!(err.to_string().contains("unknown unit"), "{err}");
}

#[test]
fn missing_required_fields_are_named() {
    let err = load_text(&MINIMAL.replace(
        "[queue]\n        url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"",
        "",
    ))
    .unwrap_err();
    assert_eq!(fields(&err), ["queue.url"], "{err}");

    let err = load_text(&MINIMAL.replace(
        "topic_arn = \"arn:aws:sns:us-east-1:111111111111:alerts\"",
        "",
    ))
    .unwrap_err();
    assert_eq!(fields(&err), ["alerts.topic_arn"], "{err}");

    let err = load_text(&MINIMAL.replace("region = \"eu-west-1\"", "")).unwrap_err();
    assert_eq!(fields(&err), ["targets[0].region"], "{err}");
}

#[test]
fn unreadable_and_malformed_files_are_load_errors() {
    let err = Config::from_figment(&Config::figment_with_env(
        Path::new("/nonexistent/s3r/config.toml"),
        no_env(),
    ))
    .unwrap_err();
    assert!(matches!(err, ConfigError::Load(_)));
    assert!(
        err.to_string().contains("/nonexistent/s3r/config.toml"),
        "{err}"
    );

    let err = load_text("[queue\nurl = ").unwrap_err();
    assert!(matches!(err, ConfigError::Load(_)));
    assert!(err.to_string().contains("TOML"), "{err}");
}

#[test]
fn defaults_layer_holds_no_required_value() {
    use figment::Provider as _;
    let dict = Serialized::defaults(Config::default()).data().unwrap();
    let text = format!("{dict:?}");
    assert!(!text.contains("\"url\""), "{text}");
    assert!(!text.contains("topic_arn"), "{text}");
}

#[test]
fn the_keys_of_deletes_thresholds_archives_and_object_lock_parse() {
    use crate::config::{Archived, Deletes, ObjectLock, RestoreTier};
    let defaults = load_text(MINIMAL).unwrap();
    let rule = &defaults.rules[0];
    assert_eq!(rule.deletes, Deletes::Ignore);
    assert_eq!(rule.max_deletes_per_minute, 1000);
    assert_eq!(rule.lag_alert_secs, None);
    assert_eq!(rule.archived, Archived::Alert);
    assert_eq!(
        (rule.restore_tier, rule.restore_days),
        (RestoreTier::Standard, 1)
    );
    let text = MINIMAL.replace(
        "[[rules]]",
        "[[rules]]\ndeletes = \"replicate\"\nmax_deletes_per_minute = 50\nlag_alert_secs = \"5m\"\n\
         archived = \"restore\"\nrestore_tier = \"Bulk\"\nrestore_days = 7",
    )
    .replace("[[targets]]", "[[targets]]\nobject_lock = \"copy\"");
    let config = load_text(&text).unwrap();
    let rule = &config.rules[0];
    assert_eq!(rule.deletes, Deletes::Replicate);
    assert_eq!(rule.max_deletes_per_minute, 50);
    assert_eq!(rule.lag_alert_secs, Some(300));
    assert_eq!(rule.archived, Archived::Restore);
    assert_eq!(
        (rule.restore_tier, rule.restore_days),
        (RestoreTier::Bulk, 7)
    );
    assert_eq!(config.targets[0].object_lock, ObjectLock::Copy);
    for (bad, field) in [
        ("max_deletes_per_minute = 0", "max_deletes_per_minute"),
        ("restore_days = 31", "restore_days"),
        ("lag_alert_secs = 0", "lag_alert_secs"),
    ] {
        let err =
            load_text(&MINIMAL.replace("[[rules]]", &format!("[[rules]]\n{bad}"))).unwrap_err();
        assert!(
            fields(&err).iter().any(|f| f.ends_with(field)),
            "{bad}: {err}"
        );
    }
    let err =
        load_text(&MINIMAL.replace("[[rules]]", "[[rules]]\ndeletes = \"mirror\"")).unwrap_err();
    assert!(err.to_string().contains("deletes"), "{err}");
}
