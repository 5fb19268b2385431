//! `s3-replicator check-config`, run as a user would: the real binary on real files.

use std::path::Path;
use std::process::{Command, Output};

fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["check-config", "--config"])
        .arg(path)
        // Only the file decides here; a stray S3R_ variable must not change the verdict.
        .env_remove("S3R_CONFIG")
        .output()
        .expect("run s3-replicator")
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_example_configuration_is_valid_and_printed_resolved() {
    let output = check_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"));
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "curated",
        "data-lake-curated",
        "analytics-eu-west-1",
        "eu-west-1",
        "dr-copy",
        "arn:aws:iam::222222222222:role/replication-writer",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn every_problem_of_a_bad_file_is_listed_by_field() {
    let output = check_config(&fixture("bad_values.toml"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    for field in ["queue.max_messages", "copy.part_size", "rules[", "targets"] {
        assert!(err.contains(field), "{field:?} missing from:\n{err}");
    }
    // One problem per line, each naming its field: at least five problems.
    assert!(
        err.lines().filter(|l| l.contains(':')).count() >= 5,
        "{err}"
    );
}

#[test]
fn an_unknown_field_is_named() {
    let output = check_config(&fixture("unknown_field.toml"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("max_mesages"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_file_that_is_not_toml_or_misses_the_queue_is_refused() {
    let output = check_config(&fixture("not_toml.toml"));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = check_config(&fixture("missing_queue.toml"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("queue.url"), "{}", stderr(&output));
}

#[test]
fn a_missing_file_is_refused_with_its_path() {
    let output = check_config(Path::new("/nonexistent/s3r.toml"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/s3r.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn durations_with_units_are_printed_in_seconds() {
    let output = check_config(&fixture("durations.toml"));
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "visibility_timeout_secs: 900\n",
        "shutdown_timeout_secs:   20\n",
        "alert window_secs:       600\n",
        "request_secs:            45 ",
        "transfer_secs:           1800 ",
        "message_deadline_secs:   5400\n",
        "alert after 7200 s",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn a_bad_duration_in_the_environment_names_the_field_and_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["check-config", "--config"])
        .arg(fixture("durations.toml"))
        .env_remove("S3R_CONFIG")
        .env("S3R_TIMEOUTS__REQUEST_SECS", "soon")
        .output()
        .expect("run s3-replicator");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("timeouts.request_secs: invalid duration \"soon\""),
        "{err}"
    );
    assert!(
        err.contains("environment variable S3R_TIMEOUTS__REQUEST_SECS"),
        "{err}"
    );
}

#[test]
fn an_in_process_backfill_refuses_a_table_rule_and_names_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tables.toml");
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
            .unwrap();
    let text = example.replacen("[[rules]]\n", "[[rules]]\ntable_format = \"delta\"\n", 1);
    assert_ne!(text, example, "the example has a rule");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["backfill", "--config"])
        .arg(&path)
        .env_remove("S3R_CONFIG")
        .output()
        .expect("run s3-replicator");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("table_format = \"delta\""), "{err}");
    assert!(err.contains("--enqueue"), "{err}");
}
