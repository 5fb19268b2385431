//! Unit tests of the configuration, one file per concept of [`crate::config`], and the fixtures
//! they share: a minimal valid file, the shipped example, loading from text without the
//! process environment.

mod describe;
mod durations;
mod load;
mod operations;
mod stores;
mod timeouts;
mod units;
mod validate;

use std::io::Write as _;

use figment::providers::Env;

use super::*;

/// The example configuration of docs/design.md, as shipped in `config/example.toml`.
const EXAMPLE: &str = include_str!("../../../config/example.toml");

fn write_toml(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// An environment provider under a prefix nobody sets, so that tests see only the file.
fn no_env() -> Env {
    Config::env_provider("S3R_UNIT_TEST_UNSET_PREFIX_")
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let file = write_toml(text);
    Config::from_figment(&Config::figment_with_env(file.path(), no_env()))
}

fn extract_text(text: &str) -> Config {
    let file = write_toml(text);
    Config::figment_with_env(file.path(), no_env())
        .extract()
        .unwrap()
}

pub(super) const MINIMAL: &str = r#"
        [queue]
        url = "https://sqs.us-east-1.amazonaws.com/111111111111/q"
        [completion]
        topic_arn = "arn:aws:sns:us-east-1:111111111111:done"
        [alerts]
        topic_arn = "arn:aws:sns:us-east-1:111111111111:alerts"
        [[targets]]
        name = "t"
        bucket = "target-bucket"
        region = "eu-west-1"
        [[rules]]
        name = "r"
        source_bucket = "source-bucket"
        targets = ["t"]
    "#;

fn fields(err: &ConfigError) -> Vec<&str> {
    err.problems().iter().map(|p| p.field.as_str()).collect()
}

fn valid() -> Config {
    load_text(MINIMAL).unwrap()
}
