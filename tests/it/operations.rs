//! Operating the daemon: /healthz, /readyz, /metrics while objects replicate, JSON logs of the
//! real binary, and its `healthcheck` subcommand.

use crate::common;
/// FIFO completion topics: deduplication IDs per write.
mod fifo;
/// The health server's limits and its generic /readyz reason.
mod health_server;
/// `PublishBatch` of completions: one result per entry.
mod publish_batch;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ops::*;
use common::*;
use s3_replicator::metrics;
use s3_replicator::server::{self, Readiness};

const DEADLINE: Duration = Duration::from_secs(60);

/// Always ready: for the routes that do not need AWS.
struct AlwaysReady;

impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn healthz_metrics_and_unknown_routes_answer() {
    let server = server::start_with(loopback(), AlwaysReady, Arc::default())
        .await
        .unwrap();
    let addr = server.local_addr();

    assert_eq!(http_get(addr, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(http_get(addr, "/readyz").await.0, 200);
    let (status, page) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    // OpenMetrics text: the gauges are there from the start; families with labels appear
    // with their first series (see metrics_move_as_objects_replicate).
    for name in [metrics::MESSAGES_IN_FLIGHT, metrics::BYTES_IN_FLIGHT] {
        assert!(
            page.contains(&format!("# TYPE {name} gauge\n")),
            "{name}:\n{page}"
        );
    }
    assert!(page.ends_with("# EOF\n"), "{page}");
    assert_eq!(http_get(addr, "/nope").await.0, 404);

    // Anything but GET/HEAD is refused; a request with no blank line yet is not waited on forever.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
}

#[tokio::test]
async fn readyz_is_ready_when_the_queue_answers() {
    let (_emulator, stack) = setup("ready").await;
    let (mut config, _file) = load_config(&stack.config_toml());
    config.server.listen = "127.0.0.1:0".into();
    let server = start_server(&config, Arc::default()).await;
    let (status, body) = http_get(server.local_addr(), "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
}

#[tokio::test]
async fn readyz_is_not_ready_when_the_queue_is_unreachable() {
    let (_emulator, stack) = setup("unready").await;
    let port = closed_port();
    let toml = stack.config_toml().replace(
        &format!("endpoint_url = \"{}\"", stack.endpoint),
        &format!("endpoint_url = \"http://127.0.0.1:{port}\""),
    );
    let (mut config, _file) = load_config(&toml);
    config.server.listen = "127.0.0.1:0".into();
    let server = start_server(&config, Arc::default()).await;
    let started = Instant::now();
    let (status, body) = http_get(server.local_addr(), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: "), "{body}");
    assert!(body.contains("GetQueueAttributes"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Liveness does not depend on the queue.
    assert_eq!(http_get(server.local_addr(), "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_objects_replicate() {
    let (emulator, stack) = setup("metrics").await;
    let (mut config, _file) = load_config(&stack.config_toml());
    config.server.listen = "127.0.0.1:0".into();
    let metrics = Arc::new(s3_replicator::metrics::Metrics::new());
    let server = start_server(&config, Arc::clone(&metrics)).await;
    let addr = server.local_addr();
    let daemon = Daemon::start_with(config, metrics);

    // The server shows the daemon's own registry; deltas keep the test about this run.
    let replicated = |t: &str| {
        format!("s3r_objects_replicated_total{{target=\"{t}\",method=\"server_side_copy\"}}")
    };
    let bytes = |t: &str| format!("s3r_bytes_copied_total{{target=\"{t}\"}}");
    let lag_count = "s3r_replication_lag_seconds_count{rule=\"lake\"}";
    let duration_count =
        "s3r_copy_duration_seconds_count{target=\"dr-account\",method=\"server_side_copy\"}";
    let malformed = "s3r_alerts_sent_total{kind=\"malformed_message\"}";
    let (_, before) = http_get(addr, "/metrics").await;

    let s3 = emulator.s3(SOURCE_REGION);
    let body = vec![b'x'; 1000];
    let keys: Vec<String> = (0..5).map(|i| format!("metrics/part-{i}.bin")).collect();
    for key in &keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            &body,
            "application/octet-stream",
            &[],
            None,
        )
        .await;
    }
    // A message no S3 notification looks like: alerted, counted.
    emulator
        .sqs()
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body("this is not an S3 event")
        .send()
        .await
        .unwrap();

    let deadline = Instant::now() + DEADLINE;
    let after = loop {
        let (_, page) = http_get(addr, "/metrics").await;
        let moved = |series: &str| metric(&page, series) - metric(&before, series);
        if moved(lag_count) >= 5.0 && moved(malformed) >= 1.0 {
            break page;
        }
        assert!(Instant::now() < deadline, "metrics did not move:\n{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    daemon.stop().await;

    let moved = |series: &str| metric(&after, series) - metric(&before, series);
    for target in ["analytics-eu", "dr-account"] {
        assert!(moved(&replicated(target)) >= 5.0, "{target}:\n{after}");
        assert!(moved(&bytes(target)) >= 5000.0, "{target}:\n{after}");
    }
    assert!(moved(duration_count) >= 5.0, "{after}");
    assert!(
        moved("s3r_messages_handled_total{verdict=\"deleted\"}") >= 5.0,
        "{after}"
    );
    // Every lag observation lands in some bucket: +Inf equals the count.
    assert_eq!(
        metric(
            &after,
            "s3r_replication_lag_seconds_bucket{le=\"+Inf\",rule=\"lake\"}"
        ),
        metric(&after, lag_count)
    );
    // Keys never become labels.
    assert!(!after.contains("part-0"), "{after}");
}

/// The real binary, configured only through the environment as the ECS task is, logs JSON lines
/// that carry the message's bucket and key, answers its own health check, and stops on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_lines_with_bucket_and_key() {
    let (emulator, stack) = setup("jsonlog").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .arg("run")
        .env_remove("S3R_CONFIG")
        .env("S3R_CONFIG_TOML", stack.config_toml())
        .env("S3R_LOG__FORMAT", "json")
        .env("S3R_SERVER__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start s3-replicator");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let next_line = |lines: &mut Vec<String>| -> Option<serde_json::Value> {
        let line = lines_rx.recv_timeout(DEADLINE).ok()?;
        lines.push(line.clone());
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    };

    // The server logs its address first; the health check subcommand finds it there.
    let addr = loop {
        let line =
            next_line(&mut lines).unwrap_or_else(|| panic!("no listening line:\n{lines:#?}"));
        if line["message"] == "Health and metrics server listening." {
            break line["addr"].as_str().unwrap().to_owned();
        }
    };
    let health = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["healthcheck", "--addr", &addr])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");

    let key = "logs/with space/ü+plus.json";
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        key,
        b"{}",
        "application/json",
        &[],
        None,
    )
    .await;
    let mut startup_ms = None;
    let completed = loop {
        let line =
            next_line(&mut lines).unwrap_or_else(|| panic!("no completion logged:\n{lines:#?}"));
        if line["message"] == "First ReceiveMessage sent." {
            startup_ms = line["startup_ms"].as_u64();
        }
        if line["message"] == "Completion published." {
            break line;
        }
    };
    // The start-up time is logged (and is `s3r_startup_seconds`); how long it is, is the
    // benchmark's business.
    assert!(startup_ms.is_some(), "no start-up time logged:\n{lines:#?}");
    assert_eq!(
        completed["bucket"],
        stack.source_bucket.as_str(),
        "{completed}"
    );
    assert_eq!(completed["key"], key, "{completed}");
    assert_eq!(completed["level"], "INFO", "{completed}");
    // The message's span rides along on every line of its handling.
    let span = &completed["span"];
    assert_eq!(span["name"], "message", "{completed}");
    assert_eq!(span["bucket"], stack.source_bucket.as_str(), "{completed}");
    assert_eq!(span["key"], key, "{completed}");
    assert!(
        span["message_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{completed}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + DEADLINE;
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    reader.join().unwrap();
    lines.extend(lines_rx.try_iter());
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        assert!(value["message"].is_string(), "{line}");
        assert!(
            !line.contains("AWS_SECRET") && !line.contains("\"test\""),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("Daemon stopped.")),
        "{lines:#?}"
    );
}

/// The ECS task has no configuration file: `check-config` and `run` read the file's text from
/// S3R_CONFIG_TOML, and `S3R_…` key variables still override it.
#[test]
fn check_config_reads_the_file_text_from_the_environment() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml"))
            .unwrap();
    let check = |vars: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
        command
            .arg("check-config")
            .env_remove("S3R_CONFIG")
            .env_remove("S3R_CONFIG_TOML");
        for (k, v) in vars {
            command.env(k, v);
        }
        command.output().unwrap()
    };

    let out = check(&[
        ("S3R_CONFIG_TOML", &example),
        (
            "S3R_QUEUE__URL",
            "https://sqs.eu-west-1.amazonaws.com/111111111111/from-env",
        ),
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("/111111111111/from-env"), "{stdout}");
    assert!(stdout.contains("analytics-eu-west-1"), "{stdout}");

    let out = check(&[("S3R_CONFIG_TOML", "[queue]\nmax_messages = 99")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("$S3R_CONFIG_TOML: configuration is not valid"),
        "{stderr}"
    );

    let out = check(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("S3R_CONFIG_TOML"),
        "{out:?}"
    );
}
