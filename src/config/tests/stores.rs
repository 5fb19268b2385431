//! A target's own store: endpoint, credentials by name, declared capabilities, probe prefix.

use super::*;

const FOREIGN: &str = r#"
        [[targets]]
        name = "r2-mirror"
        bucket = "source-bucket"
        region = "auto"
        endpoint_url = "https://account.r2.cloudflarestorage.com"
        access_key_id_env = "R2_ACCESS_KEY_ID"
        secret_access_key_env = "R2_SECRET_ACCESS_KEY"
        capabilities = { tagging = false }
    "#;

#[test]
fn a_target_on_another_store_loads_and_streams() {
    let text = MINIMAL.replace("targets = [\"t\"]", "targets = [\"t\", \"r2-mirror\"]");
    let config = load_text(&format!("{text}{FOREIGN}")).unwrap();
    let t = config.target("r2-mirror").unwrap();
    assert_eq!(t.effective_copy_mode(), CopyMode::Stream);
    assert!(!t.trusts_etags());
    assert_eq!(t.capabilities.tagging, Some(false));
    assert_eq!(t.probe_prefix(), ".s3-replicator-probe/");
    // Its bucket has the name of the source bucket, on another store: not a loop.
    let described = config.describe();
    assert!(
        described.contains("R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY"),
        "{described}"
    );
    assert!(described.contains("tagging = false"), "{described}");
}

#[test]
fn each_mistake_of_a_foreign_target_is_named() {
    let mut c = valid();
    let t = &mut c.targets[0];
    t.endpoint_url = Some("r2.example".into());
    t.profile = Some("r2".into());
    t.access_key_id_env = Some("1BAD NAME".into());
    t.copy_mode = CopyMode::ServerSide;
    t.role_arn = Some("arn:aws:iam::111111111111:role/w".into());
    t.probe_prefix = Some(String::new());
    let err = c.validate().unwrap_err();
    let fields = fields(&err);
    for field in [
        "targets[0].endpoint_url",
        "targets[0].profile",
        "targets[0].secret_access_key_env",
        "targets[0].access_key_id_env",
        "targets[0].copy_mode",
        "targets[0].role_arn",
        "targets[0].probe_prefix",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let text = err.to_string();
    assert!(text.contains("never the key itself"), "{text}");
}

#[test]
fn own_credentials_alone_also_mean_streaming() {
    let mut c = valid();
    c.targets[0].profile = Some("other-account".into());
    c.validate().unwrap();
    assert!(c.targets[0].streams_only());
    assert!(c.targets[0].trusts_etags(), "still AWS");
    c.targets[0].copy_mode = CopyMode::ServerSide;
    let err = c.validate().unwrap_err();
    assert_eq!(fields(&err), ["targets[0].copy_mode"]);
}

#[test]
fn missing_credential_variables_are_named_without_values() {
    let mut c = valid();
    c.targets[0].access_key_id_env = Some("S3R_TEST_SURELY_UNSET_ID".into());
    c.targets[0].secret_access_key_env = Some("PATH".into());
    assert_eq!(
        c.missing_credentials(),
        ["targets.t: the environment variable S3R_TEST_SURELY_UNSET_ID (its credentials) is not set"]
    );
}

#[test]
fn a_table_rule_takes_no_suffix() {
    let mut c = valid();
    c.rules[0].table_format = TableFormat::Delta;
    c.validate().unwrap();
    c.rules[0].suffix = Some(".parquet".into());
    let err = c.validate().unwrap_err();
    assert_eq!(fields(&err), ["rules[0].suffix"]);
}
