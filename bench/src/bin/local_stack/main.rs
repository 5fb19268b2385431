//! The local stack for trying s3-replicator on the emulator (used by `scripts/demo.sh`).
//!
//!   local_stack setup --endpoint URL --config config/local.toml
//!       creates the buckets (source in us-east-1, a target in eu-west-1, a target in a second
//!       account reached through an assumed role), the event queue with its dead-letter queue,
//!       the bucket notification, the completion and alert topics with SQS subscribers, and
//!       writes the daemon's configuration.
//!   local_stack upload --config config/local.toml
//!       uploads a handful of objects with awkward keys, prints each completion event as it
//!       arrives, then reads every target and shows that it holds the same bytes.
//!
//! For the soak benchmark (`scripts/soak.sh`), on an emulator whose SQS keeps its speed at depth:
//!   local_stack backlog --config FILE --count N
//!       uploads N small objects to the source bucket (the bucket notification on) and waits
//!       until the event queue holds their N notifications: a backlog for a daemon not yet running.
//!   local_stack drain --config FILE --count N --since-ms T0 --record FILE [--timeout-secs S]
//!       receives completion events until every one of the N keys has one, reports the rate
//!       from T0 (epoch milliseconds, when the daemon was started) to the last `completed_at`,
//!       and records the completions per key in FILE.
//!   local_stack verify --config FILE --count N --record FILE
//!       lists both targets (ListObjectsV2): every key must be in each and have a completion
//!       (FILE); the event queue and its dead-letter queue must be empty. Exits 1 otherwise.

mod soak;
/// The emulator setup the integration tests use: buckets, queues, topics, notification.
#[path = "../../../../tests/it/common/stack.rs"]
mod stack;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stack::*;

fn usage() -> ExitCode {
    eprintln!(
        "usage: local_stack setup --endpoint URL --config FILE | local_stack upload --config FILE\n\
         \x20      local_stack backlog --config FILE --count N\n\
         \x20      local_stack drain --config FILE --count N --since-ms T0 --record FILE [--timeout-secs S]\n\
         \x20      local_stack verify --config FILE --count N --record FILE"
    );
    ExitCode::from(2)
}

/// Where the setup's names are kept beside the configuration.
fn state_path(config: &Path) -> PathBuf {
    config.with_extension("stack.json")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(config) = flag("--config").map(PathBuf::from) else {
        return usage();
    };
    match args.first().map(String::as_str) {
        Some("setup") => {
            let Some(endpoint) = flag("--endpoint") else {
                return usage();
            };
            setup(&endpoint, &config).await
        }
        Some("upload") => upload(&config).await,
        Some(command @ ("backlog" | "drain" | "verify")) => {
            let number = |name: &str| flag(name).and_then(|v| v.parse::<u64>().ok());
            let Some(count) = number("--count") else {
                return usage();
            };
            let Some(stack) = load_stack(&config) else {
                return ExitCode::FAILURE;
            };
            let record = flag("--record").map(PathBuf::from);
            match (command, record) {
                ("backlog", _) => soak::backlog(&stack, count as usize).await,
                ("drain", Some(record)) => {
                    let Some(since_ms) = number("--since-ms") else {
                        return usage();
                    };
                    let timeout = Duration::from_secs(number("--timeout-secs").unwrap_or(1800));
                    soak::drain(&stack, count as usize, since_ms as i128, timeout, &record).await
                }
                ("verify", Some(record)) => soak::verify(&stack, count as usize, &record).await,
                _ => usage(),
            }
        }
        _ => usage(),
    }
}

async fn setup(endpoint: &str, config: &Path) -> ExitCode {
    let emulator = Emulator::connect(endpoint).await;
    // Unique per run, so that setting up twice on one emulator does not collide.
    let name = format!("demo-{}", std::process::id());
    let stack = Stack::create(&emulator, &name).await;
    if let Some(dir) = config.parent() {
        std::fs::create_dir_all(dir).expect("config directory");
    }
    std::fs::write(config, stack.config_toml()).expect("write config");
    std::fs::write(
        state_path(config),
        serde_json::to_string_pretty(&stack).expect("stack JSON"),
    )
    .expect("write stack state");
    println!("local stack ready on {endpoint}:");
    println!("  source         s3://{} (us-east-1)", stack.source_bucket);
    println!("  analytics-eu   s3://{} ({EU_REGION})", stack.eu_bucket);
    println!(
        "  dr-account     s3://{} ({DR_REGION}, account {SECOND_ACCOUNT} via {ROLE_ARN})",
        stack.dr_bucket
    );
    println!(
        "  event queue    {} (DLQ after {MAX_RECEIVE_COUNT} receives: {})",
        stack.queue_url, stack.dlq_url
    );
    println!(
        "  completions    {} → {}",
        stack.completion_topic, stack.completions_url
    );
    println!(
        "  alerts         {} → {}",
        stack.alerts_topic, stack.alerts_url
    );
    println!("  configuration  {}", config.display());
    ExitCode::SUCCESS
}

fn demo_objects() -> Vec<(String, Vec<u8>, &'static str)> {
    vec![
        (
            "curated/d=2026-11-21/part-0.parquet".into(),
            b"PAR1 pretend parquet".to_vec(),
            "application/vnd.apache.parquet",
        ),
        (
            "reports/Q4 summary+final.csv".into(),
            b"region,revenue\neu,42\n".to_vec(),
            "text/csv",
        ),
        (
            "odd/100% done?#yes.txt".into(),
            b"percent, question mark, hash".to_vec(),
            "text/plain",
        ),
        (
            "unicode/données/日本語.json".into(),
            br#"{"ok":true}"#.to_vec(),
            "application/json",
        ),
        (
            "markers/_SUCCESS".into(),
            Vec::new(),
            "application/octet-stream",
        ),
    ]
}

/// The setup's names, written by `setup` beside the configuration.
fn load_stack(config: &Path) -> Option<Stack> {
    match std::fs::read_to_string(state_path(config)) {
        Ok(text) => Some(serde_json::from_str(&text).expect("stack state")),
        Err(e) => {
            eprintln!(
                "{}: {e}; run `local_stack setup` first",
                state_path(config).display()
            );
            None
        }
    }
}

async fn upload(config: &Path) -> ExitCode {
    let Some(stack) = load_stack(config) else {
        return ExitCode::FAILURE;
    };
    let emulator = Emulator::connect(&stack.endpoint).await;
    let s3 = emulator.s3(SOURCE_REGION);
    let objects = demo_objects();
    for (key, body, content_type) in &objects {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            body,
            content_type,
            &[("pipeline", "demo")],
            Some("team=data"),
        )
        .await;
        println!(
            "uploaded s3://{}/{key} ({} bytes)",
            stack.source_bucket,
            body.len()
        );
    }

    println!(
        "\nwaiting for completion events on {} …",
        stack.completion_topic
    );
    let sqs = emulator.sqs();
    let expected: BTreeSet<&str> = objects.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < expected.len() && Instant::now() < deadline {
        for message in receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
            !r.is_empty()
        })
        .await
        {
            let event: serde_json::Value =
                serde_json::from_str(&message.body).expect("completion JSON");
            println!(
                "\ncompletion event:\n{}",
                serde_json::to_string_pretty(&event).expect("JSON")
            );
            if let Some(key) = event["source"]["key"].as_str() {
                seen.insert(key.to_owned());
            }
        }
    }
    if seen.len() < expected.len() {
        eprintln!(
            "\nonly {} of {} completions arrived within 60 s; see the daemon's log",
            seen.len(),
            expected.len()
        );
        return ExitCode::FAILURE;
    }

    println!("\nevery target, read back:");
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    let mut all_ok = true;
    for (key, body, _) in &objects {
        for (name, client, bucket) in [
            ("analytics-eu", &eu, &stack.eu_bucket),
            ("dr-account", &dr, &stack.dr_bucket),
        ] {
            let replica = match client.get_object().bucket(bucket).key(key).send().await {
                Ok(out) => out
                    .body
                    .collect()
                    .await
                    .map(|b| b.into_bytes().to_vec())
                    .ok(),
                Err(_) => None,
            };
            let verdict = match replica {
                Some(bytes) if bytes == *body => "same bytes",
                Some(_) => {
                    all_ok = false;
                    "DIFFERENT BYTES"
                }
                None => {
                    all_ok = false;
                    "MISSING"
                }
            };
            println!("  {name:<13} s3://{bucket}/{key}: {verdict}");
        }
    }
    if all_ok {
        println!("\nall {} objects are in both targets.", objects.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
