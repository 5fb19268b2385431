//! The `[server]` and `[log]` tables, and the whole file given as text.

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_figment(
        &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
    )
}

#[test]
fn server_and_log_default_to_all_interfaces_and_text() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.server.listen, "0.0.0.0:9090");
    assert_eq!(c.log.format, LogFormat::Text);
}

#[test]
fn server_and_log_are_read() {
    let c = load(&format!(
        "{MINIMAL}\n[server]\nlisten = \"127.0.0.1:0\"\n[log]\nformat = \"json\""
    ))
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:0");
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn bad_listen_address_and_log_format_are_named() {
    let err = load(&format!("{MINIMAL}\n[server]\nlisten = \"localhost\"")).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    assert_eq!(err.problems()[0].field, "server.listen", "{err}");
    assert!(err.to_string().contains("0.0.0.0:9090"), "{err}");

    let err = load(&format!("{MINIMAL}\n[log]\nformat = \"xml\"")).unwrap_err();
    assert_eq!(err.problems()[0].field, "log.format", "{err}");
    assert!(err.to_string().contains("`json`"), "{err}");

    let err = load(&format!("{MINIMAL}\n[server]\nport = 1")).unwrap_err();
    assert_eq!(err.problems()[0].field, "server.port", "{err}");
}

#[test]
fn describe_shows_the_server_and_log_settings() {
    let text = load(MINIMAL).unwrap().describe();
    assert!(
        text.contains("server.listen:           0.0.0.0:9090"),
        "{text}"
    );
    assert!(text.contains("log.format:              Text"), "{text}");
}

#[test]
fn the_whole_file_can_come_from_a_string() {
    let c = Config::load_str(MINIMAL).unwrap();
    assert_eq!(c.targets[0].name, "t");
    assert!(Config::load_str("[queue").is_err());
}
