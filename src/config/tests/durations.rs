//! Duration keys (`…_secs`): integers of seconds as before, or strings with units.

use super::*;
use crate::config::units::parse_secs;

/// Every duration key: its table, its name, and its value read back as a number of seconds.
type Key = (&'static str, &'static str, fn(&Config) -> i128);

const KEYS: [Key; 10] = [
    ("queue", "wait_time_secs", |c| c.queue.wait_time_secs.into()),
    ("queue", "visibility_timeout_secs", |c| {
        c.queue.visibility_timeout_secs.into()
    }),
    ("queue", "shutdown_timeout_secs", |c| {
        c.queue.shutdown_timeout_secs.into()
    }),
    ("alerts", "window_secs", |c| c.alerts.window_secs.into()),
    ("rules", "complete_deadline_secs", |c| {
        c.rules[0].complete_deadline_secs.into()
    }),
    ("timeouts", "connect_secs", |c| {
        c.timeouts.connect_secs.into()
    }),
    ("timeouts", "request_secs", |c| {
        c.timeouts.request_secs.into()
    }),
    ("timeouts", "transfer_secs", |c| {
        c.timeouts.transfer_secs.into()
    }),
    ("timeouts", "receive_margin_secs", |c| {
        c.timeouts.receive_margin_secs.into()
    }),
    ("timeouts", "message_deadline_secs", |c| {
        c.timeouts.message_deadline_secs.into()
    }),
];

/// `MINIMAL` with `key = value` in `table`.
fn with(table: &str, key: &str, value: &str) -> String {
    match table {
        "queue" | "alerts" => MINIMAL.replacen(
            &format!("[{table}]\n"),
            &format!("[{table}]\n{key} = {value}\n"),
            1,
        ),
        // MINIMAL ends inside its only [[rules]] table.
        "rules" => format!("{MINIMAL}\n{key} = {value}\n"),
        _ => format!("{MINIMAL}\n[{table}]\n{key} = {value}\n"),
    }
}

#[test]
fn every_duration_key_takes_units_or_integers() {
    for (table, key, read) in KEYS {
        for (value, secs) in [
            ("\"15m\"", 900),
            ("\"90s\"", 90),
            ("\"1h 30m\"", 5_400),
            ("\"1h30m\"", 5_400),
            ("\"2 days\"", 172_800),
            ("\"900\"", 900),
            ("900", 900),
            ("7", 7),
        ] {
            let config = extract_text(&with(table, key, value));
            assert_eq!(read(&config), secs, "{table}.{key} = {value}");
        }
    }
}

#[test]
fn fifteen_minutes_is_900_seconds_and_passes_validation() {
    let config = load_text(&with("queue", "visibility_timeout_secs", "\"15m\"")).unwrap();
    assert_eq!(config.queue.visibility_timeout_secs, 900);
    let config = load_text(&with("rules", "complete_deadline_secs", "\"15m\"")).unwrap();
    assert_eq!(config.rules[0].complete_deadline_secs, 900);
    // The description shows the resolved number, as for an integer.
    let text = config.describe();
    assert!(text.contains("visibility_timeout_secs: 60\n"), "{text}");
}

#[test]
fn a_bad_duration_is_a_load_error_naming_the_field() {
    for (table, key, _) in KEYS {
        for (value, why) in [
            ("\"15 parsecs\"", "unknown time unit \"parsecs\""),
            ("\"soon\"", "invalid duration \"soon\""),
            ("\"1.5h\"", "fractions are not accepted"),
            ("\"1500ms\"", "not a whole number of seconds"),
            ("\"-5m\"", "invalid duration \"-5m\""),
            ("\"\"", "invalid duration \"\""),
            ("true", "invalid type: found bool true"),
        ] {
            let err = load_text(&with(table, key, value)).unwrap_err();
            assert!(matches!(err, ConfigError::Load(_)), "{err}");
            assert_eq!(
                fields(&err),
                [format!("{table}.{key}").replace("rules.", "rules[0].")],
                "{value}: {err}"
            );
            let text = err.to_string();
            assert!(text.contains(why), "{table}.{key} = {value}: {text}");
            assert!(text.contains("\"1h 30m\""), "says what is accepted: {text}");
        }
    }
}

#[test]
fn values_outside_the_field_type_are_refused_not_wrapped() {
    // i32 keys: a duration past i32::MAX seconds.
    let err = load_text(&with("queue", "wait_time_secs", "\"100000 weeks\"")).unwrap_err();
    assert_eq!(fields(&err), ["queue.wait_time_secs"], "{err}");
    assert!(err.to_string().contains("60480000000"), "{err}");
    // u64 keys: a negative integer, as before.
    let err = load_text(&with("timeouts", "request_secs", "-1")).unwrap_err();
    assert_eq!(fields(&err), ["timeouts.request_secs"], "{err}");
    assert!(err.to_string().contains("-1"), "{err}");
    // A negative integer in an i32 key still reaches validation, which names the range.
    let err = load_text(&with("queue", "wait_time_secs", "-1")).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("is -1; must be 0..=20"), "{err}");
}

#[test]
fn durations_come_from_the_environment() {
    // A prefix of this test's own: other tests never read it, so setting it cannot race.
    let prefix = "S3RTEST_DURATIONS_ENV_";
    let vars = [
        ("QUEUE__VISIBILITY_TIMEOUT_SECS", "15m"),
        ("TIMEOUTS__MESSAGE_DEADLINE_SECS", "1h 30m"),
        ("ALERTS__WINDOW_SECS", "90s"),
        ("TIMEOUTS__CONNECT_SECS", "3"),
    ];
    for (k, v) in vars {
        std::env::set_var(format!("{prefix}{k}"), v);
    }
    let file = write_toml(MINIMAL);
    let result = Config::from_figment(&Config::figment_with_env(
        file.path(),
        Config::env_provider(prefix),
    ));
    for (k, _) in vars {
        std::env::remove_var(format!("{prefix}{k}"));
    }
    let config = result.unwrap();
    assert_eq!(config.queue.visibility_timeout_secs, 900);
    assert_eq!(config.timeouts.message_deadline_secs, 5_400);
    assert_eq!(config.alerts.window_secs, 90);
    assert_eq!(config.timeouts.connect_secs, 3);

    // A bad value names the field and the variable.
    let prefix = "S3RTEST_DURATIONS_ENV_BAD_";
    std::env::set_var(format!("{prefix}TIMEOUTS__REQUEST_SECS"), "soon");
    let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
    std::env::remove_var(format!("{prefix}TIMEOUTS__REQUEST_SECS"));
    let err = Config::from_figment(&figment).unwrap_err();
    let text = err.to_string();
    assert_eq!(fields(&err), ["timeouts.request_secs"], "{text}");
    assert!(
        text.contains("environment variable S3RTEST_DURATIONS_ENV_BAD_TIMEOUTS__REQUEST_SECS"),
        "{text}"
    );
}

#[test]
fn durations_serialize_as_integers_so_the_defaults_layer_is_unchanged() {
    let value = figment::value::Value::serialize(TimeoutsConfig::default()).unwrap();
    let dict = value.into_dict().unwrap();
    assert_eq!(dict["transfer_secs"].to_u128(), Some(900));
}

#[test]
fn parse_secs_accepts_humantime_and_digits() {
    for (text, secs) in [
        ("0", 0),
        ("0s", 0),
        (" 15m ", 900),
        ("1h 30m 15s", 5_415),
        ("2h15m", 8_100),
        ("1 hour", 3_600),
        ("1w", 604_800),
        ("2000ms", 2),
        ("18446744073709551615", u64::MAX),
    ] {
        assert_eq!(parse_secs(text), Ok(secs), "{text}");
    }
    for text in [
        "",
        "m",
        "15 parsecs",
        "1.5h",
        "0.001h",
        "1500ms",
        "-1s",
        "1h -5m",
    ] {
        assert!(parse_secs(text).is_err(), "{text:?} should not parse");
    }
}
