//! The `[timeouts]` table: defaults, ranges, the deadline against one transfer, description.

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use super::*;
use crate::config::load::is_config_var;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_figment(
        &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
    )
}

#[test]
fn timeouts_default_to_short_requests_generous_transfers_and_a_two_hour_deadline() {
    let t = load(MINIMAL).unwrap().timeouts;
    assert_eq!(
        (
            t.connect_secs,
            t.request_secs,
            t.transfer_secs,
            t.receive_margin_secs,
            t.message_deadline_secs
        ),
        (5, 30, 900, 10, 7_200)
    );
}

#[test]
fn timeouts_are_read_from_their_section() {
    let t = load(&format!(
            "{MINIMAL}\n[timeouts]\nconnect_secs = 2\nrequest_secs = 3\ntransfer_secs = 4\nreceive_margin_secs = 5\nmessage_deadline_secs = 60"
        ))
        .unwrap()
        .timeouts;
    assert_eq!(
        (
            t.connect_secs,
            t.request_secs,
            t.transfer_secs,
            t.receive_margin_secs,
            t.message_deadline_secs
        ),
        (2, 3, 4, 5, 60)
    );
}

#[test]
fn zero_or_too_long_timeouts_are_named_with_their_range() {
    let err = load(&format!(
            "{MINIMAL}\n[timeouts]\nconnect_secs = 0\nrequest_secs = 0\nreceive_margin_secs = 0\nmessage_deadline_secs = 43200"
        ))
        .unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "timeouts.connect_secs",
            "timeouts.request_secs",
            "timeouts.receive_margin_secs",
            "timeouts.message_deadline_secs"
        ],
        "{err}"
    );
    assert!(
        err.to_string().contains("must be 1..=43199 seconds"),
        "{err}"
    );
    assert!(err.to_string().contains("12-hour"), "{err}");
}

#[test]
fn a_message_deadline_shorter_than_one_transfer_is_refused() {
    let err = load(&format!(
        "{MINIMAL}\n[timeouts]\ntransfer_secs = 600\nmessage_deadline_secs = 300"
    ))
    .unwrap_err();
    assert_eq!(
        err.problems()[0].field,
        "timeouts.message_deadline_secs",
        "{err}"
    );
    assert!(
        err.to_string().contains("timeouts.transfer_secs (600)"),
        "{err}"
    );
}

#[test]
fn an_unknown_timeout_key_is_named() {
    let err = load(&format!("{MINIMAL}\n[timeouts]\nread_secs = 1")).unwrap_err();
    assert_eq!(err.problems()[0].field, "timeouts.read_secs", "{err}");
    assert!(err.to_string().contains("`message_deadline_secs`"), "{err}");
}

#[test]
fn describe_shows_the_timeouts_and_the_receive_limit() {
    let text = load(MINIMAL).unwrap().describe();
    assert!(text.contains("Timeouts"), "{text}");
    assert!(
        text.contains(
            "receive:                 30 (queue.wait_time_secs + receive_margin_secs 10)"
        ),
        "{text}"
    );
    assert!(text.contains("message_deadline_secs:   7200"), "{text}");
}

#[test]
fn timeouts_come_from_the_environment_too() {
    assert!(is_config_var("TIMEOUTS__REQUEST_SECS"));
}
