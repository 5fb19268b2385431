//! Fault injection against the emulator: whatever fails, no object is lost and no completion
//! comes early. "Nothing early" is checked by `await_completions`, which reads every target the
//! moment each completion arrives.

use crate::common;
/// Stalled requests end in a retry or an alert, never a hang.
mod timeouts;

use std::collections::HashSet;
use std::time::Duration;

use common::fault_proxy::{FaultProxy, Mode};
use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);

fn body_of(key: &str) -> Vec<u8> {
    format!("bytes of {key}").into_bytes()
}

async fn upload(emulator: &Emulator, stack: &Stack, keys: &[String]) {
    let s3 = emulator.s3(SOURCE_REGION);
    for key in keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            &body_of(key),
            "text/plain",
            &[],
            None,
        )
        .await;
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}/part-{i:03}.csv"))
        .collect()
}

/// The daemon's configuration with every AWS call going through `proxy`, and a short
/// visibility timeout so that failed deliveries come back quickly.
fn through(stack: &Stack, proxy: &FaultProxy) -> String {
    stack
        .config_toml()
        .replace(
            &format!("endpoint_url = \"{}\"", stack.endpoint),
            &format!("endpoint_url = \"{}\"", proxy.url),
        )
        .replace(
            "visibility_timeout_secs = 30",
            "visibility_timeout_secs = 5",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_unreachable_for_twenty_seconds_loses_nothing() {
    let (emulator, stack) = setup("outage").await;
    let proxy = FaultProxy::start(&stack.endpoint).await;
    let (config, _file) = load_config(&through(&stack, &proxy));
    let daemon = Daemon::start(config);

    let before = keys("before", 3);
    upload(&emulator, &stack, &before).await;
    await_completions(&emulator, &stack, &before, body_of, DEADLINE).await;

    // AWS goes away while objects keep arriving (the uploads bypass the proxy).
    proxy.set(Mode::Outage);
    let during = keys("during", 10);
    upload(&emulator, &stack, &during).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(proxy.faults() > 0, "the daemon did try during the outage");
    proxy.set(Mode::Forward);

    await_completions(&emulator, &stack, &during, body_of, DEADLINE).await;
    let sqs = emulator.sqs();
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    assert_eq!(
        queue_depth(&sqs, &stack.dlq_url).await,
        (0, 0),
        "nothing dead-lettered"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_server_errors_and_resets_on_one_request_in_ten_lose_nothing() {
    let (emulator, stack) = setup("flaky").await;
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.set(Mode::Flaky);
    let (config, _file) = load_config(&through(&stack, &proxy));
    let daemon = Daemon::start(config);

    let all = keys("flaky", 30);
    upload(&emulator, &stack, &all).await;
    let events = await_completions(&emulator, &stack, &all, body_of, DEADLINE).await;
    let completed: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["source"]["key"].as_str())
        .collect();
    assert_eq!(completed.len(), all.len());
    let sqs = emulator.sqs();
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    assert_eq!(
        queue_depth(&sqs, &stack.dlq_url).await,
        (0, 0),
        "nothing dead-lettered"
    );
    use std::sync::atomic::Ordering::Relaxed;
    assert!(
        proxy.stats.slow_down.load(Relaxed) > 0,
        "503 SlowDown injected"
    );
    assert!(proxy.stats.internal_error.load(Relaxed) > 0, "500 injected");
    assert!(proxy.stats.reset.load(Relaxed) > 0, "resets injected");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_alerts_once_per_window_dead_letters_and_writes_healthy_targets() {
    let (emulator, stack) = setup("dlq").await;
    let toml = stack
        .config_toml()
        .replace(
            "visibility_timeout_secs = 30",
            "visibility_timeout_secs = 1",
        )
        .replace(
            r#"targets = ["analytics-eu", "dr-account"]"#,
            r#"targets = ["analytics-eu", "dr-account", "gone"]"#,
        )
        + &format!(
            "\n[[targets]]\nname = \"gone\"\nbucket = \"{}-gone\"\nregion = \"{EU_REGION}\"\n",
            stack.name
        );
    let (config, _file) = load_config(&toml);
    let daemon = Daemon::start(config);
    let all = keys("dlq", 2);
    upload(&emulator, &stack, &all).await;

    // Both messages fail on every delivery and reach the DLQ after maxReceiveCount (3) receives.
    let sqs = emulator.sqs();
    let dead = receive_until(&sqs, &stack.dlq_url, DEADLINE, |r| r.len() >= 2).await;
    assert_eq!(dead.len(), 2, "both messages dead-lettered");
    // Six failed deliveries, one alert: the rest are held for the window's summary.
    let alerts = receive_until(&sqs, &stack.alerts_url, Duration::from_secs(2), |r| {
        r.len() > 1
    })
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert: Value = serde_json::from_str(&alerts[0].body).unwrap();
    assert_eq!(alert["target"]["name"], "gone");
    assert_eq!(alert["count"], 1);
    // The healthy targets hold both objects.
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    for key in &all {
        assert_eq!(
            read_body(&eu, &stack.eu_bucket, key).await,
            Some(body_of(key))
        );
        assert_eq!(
            read_body(&dr, &stack.dr_bucket, key).await,
            Some(body_of(key))
        );
    }
    let completions = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await;
    assert!(
        completions.is_empty(),
        "never a completion while a target is missing"
    );

    // Stopping flushes the summary of the held-back alerts, with their count and keys.
    daemon.stop().await;
    let summary = receive_until(&sqs, &stack.alerts_url, Duration::from_secs(10), |r| {
        !r.is_empty()
    })
    .await;
    let summary: Value =
        serde_json::from_str(&summary.first().expect("a summary alert").body).unwrap();
    assert!(summary["count"].as_u64().unwrap() >= 4, "{summary}");
    assert!(
        !summary["example_keys"].as_array().unwrap().is_empty(),
        "{summary}"
    );
}

fn versioned_event(bucket: &str, key: &str, version: &str, etag: &str, sequencer: &str) -> String {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket},
               "object": {"key": key, "size": 9, "eTag": etag, "versionId": version, "sequencer": sequencer}}
    }]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_events_leave_the_newest_version() {
    let (emulator, stack) = setup("order").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    // moto sends neither sequencer nor versionId: hand-written events for a versioned source.
    set_notification(&s3, &stack.source_bucket, None).await;
    s3.put_bucket_versioning()
        .bucket(&stack.source_bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
    let mut versions = Vec::new();
    for body in [b"version 1", b"version 2"] {
        let out = s3
            .put_object()
            .bucket(&stack.source_bucket)
            .key("table/data.csv")
            .body(body.to_vec().into())
            .send()
            .await
            .expect("put");
        versions.push((
            out.version_id().expect("version id").to_owned(),
            out.e_tag().unwrap().trim_matches('"').to_owned(),
        ));
    }
    drain(&sqs, &stack.queue_url).await;
    let (v1, e1) = &versions[0];
    let (v2, e2) = &versions[1];
    let older = versioned_event(
        &stack.source_bucket,
        "table/data.csv",
        v1,
        e1,
        "0055AED6DCD90281E5",
    );
    let newer = versioned_event(
        &stack.source_bucket,
        "table/data.csv",
        v2,
        e2,
        "0055AED6DCD90281E6",
    );

    let (mut config, _file) = load_config(&stack.config_toml());
    // Emulator difference: moto 5.2.5 ignores `If-None-Match` on `CopyObject` (its
    // `copy_object` checks only the copy source's conditions), so a late older event written
    // first would overwrite the newer replica there, where S3 answers 412. This test drives the
    // read-first path; the write-first path's 412 → read → superseded is tested on the
    // in-memory store, which answers as S3 does (pipeline_logic, write_first).
    for target in &mut config.targets {
        target.write_first = false;
    }
    let daemon = Daemon::start(config);
    sqs.send_message()
        .queue_url(&stack.queue_url)
        .message_body(&newer)
        .send()
        .await
        .expect("send");
    let key = vec!["table/data.csv".to_owned()];
    let first =
        await_completions(&emulator, &stack, &key, |_| b"version 2".to_vec(), DEADLINE).await;
    assert_eq!(first[0]["source"]["version_id"], v2.as_str());

    // Now the older event arrives late, and the newer one a second time.
    sqs.send_message()
        .queue_url(&stack.queue_url)
        .message_body(&older)
        .send()
        .await
        .expect("send");
    sqs.send_message()
        .queue_url(&stack.queue_url)
        .message_body(&newer)
        .send()
        .await
        .expect("send");
    let again =
        await_completions(&emulator, &stack, &key, |_| b"version 2".to_vec(), DEADLINE).await;
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    daemon.stop().await;

    // The duplicate was found present; the late older event published nothing.
    let late = receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await;
    for event in again.iter().chain(
        late.iter()
            .map(|m| serde_json::from_str::<Value>(&m.body).unwrap())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert_eq!(
            event["source"]["version_id"],
            v2.as_str(),
            "no completion for the older version: {event}"
        );
        assert!(
            event["targets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["method"] == "already_present"),
            "{event}"
        );
    }
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    assert_eq!(
        read_body(&eu, &stack.eu_bucket, "table/data.csv")
            .await
            .as_deref(),
        Some(&b"version 2"[..])
    );
    assert_eq!(
        read_body(&dr, &stack.dr_bucket, "table/data.csv")
            .await
            .as_deref(),
        Some(&b"version 2"[..])
    );
    let head = eu
        .head_object()
        .bucket(&stack.eu_bucket)
        .key("table/data.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("s3r-sequencer"))
            .map(String::as_str),
        Some("0055AED6DCD90281E6")
    );
    assert_eq!(
        head.metadata().and_then(|m| m.get("s3r-source-version-id")),
        Some(v2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_queue_complete_every_object_once_and_empty_the_queue() {
    let (emulator, stack) = setup("pair").await;
    let (first, _file_a) = load_config(&stack.config_toml());
    let (second, _file_b) = load_config(&stack.config_toml());
    let a = Daemon::start(first);
    let b = Daemon::start(second);
    let all = keys("pair", 20);
    upload(&emulator, &stack, &all).await;
    let events = await_completions(&emulator, &stack, &all, body_of, DEADLINE).await;
    let sqs = emulator.sqs();
    wait_for_empty(&sqs, &stack.queue_url, DEADLINE).await;
    a.stop().await;
    b.stop().await;
    let mut events = events;
    for m in receive_until(&sqs, &stack.completions_url, Duration::from_secs(1), |r| {
        !r.is_empty()
    })
    .await
    {
        events.push(serde_json::from_str(&m.body).unwrap());
    }
    let distinct: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["source"]["key"].as_str())
        .collect();
    assert_eq!(distinct.len(), all.len(), "N distinct completions");
    assert_eq!(
        events.len(),
        all.len(),
        "each object completed once: no message handled twice"
    );
    assert_eq!(queue_depth(&sqs, &stack.dlq_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_drains_and_exits_zero_on_sigterm() {
    let (emulator, stack) = setup("sigterm").await;
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), stack.config_toml()).expect("write config");
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["run", "--config"])
        .arg(file.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the daemon");
    let all = keys("sigterm", 3);
    upload(&emulator, &stack, &all).await;
    await_completions(&emulator, &stack, &all, body_of, DEADLINE).await;

    let pid = daemon.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), daemon.wait())
        .await
        .expect("the daemon exits within its shutdown timeout")
        .expect("wait");
    let mut stderr = String::new();
    if let Some(mut pipe) = daemon.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = pipe.read_to_string(&mut stderr).await;
    }
    assert!(status.success(), "exit status {status:?}; log:\n{stderr}");
    assert!(stderr.contains("Daemon stopped."), "{stderr}");
    wait_for_empty(&emulator.sqs(), &stack.queue_url, DEADLINE).await;
}
