//! Shared by the integration tests: the emulator's endpoint, the setup, the daemon in-process.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod ops;
pub mod stack;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use std::sync::Arc;

use s3_replicator::config::Config;
use s3_replicator::metrics::Metrics;
use s3_replicator::wiring::Wiring;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use stack::*;

/// The emulator's endpoint, from `scripts/test.sh`.
pub fn endpoint() -> String {
    std::env::var("S3R_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "S3R_TEST_ENDPOINT is not set: the integration tests need the local emulator. \
             Run them with scripts/test.sh, which starts it."
        )
    })
}

/// The clients and adapters the daemon would build for `config`, with a registry of their own.
pub async fn wiring(config: &Config) -> Wiring {
    Wiring::load(config, Arc::default()).await
}

/// The health server for `config`, its readiness from the configured queue.
pub async fn start_server(config: &Config, metrics: Arc<Metrics>) -> s3_replicator::server::Server {
    let readiness = wiring(config).await.readiness(config);
    s3_replicator::server::start(config, readiness, metrics)
        .await
        .expect("the health server starts")
}

/// A bucket-safe name unique to this test run and call.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos % 0xfffff)
}

/// A fresh setup on the emulator, and the daemon configuration for it.
pub async fn setup(prefix: &str) -> (Emulator, Stack) {
    let emulator = Emulator::connect(&endpoint()).await;
    let stack = Stack::create(&emulator, &unique(prefix)).await;
    (emulator, stack)
}

/// Writes `toml` to a temporary file and loads it the way the binary does.
pub fn load_config(toml: &str) -> (Config, tempfile::TempPath) {
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), toml).expect("write config");
    let path = file.into_temp_path();
    let config = Config::load(&PathBuf::from(&*path)).expect("valid configuration");
    (config, path)
}

/// The daemon, running in this process on the test's runtime.
pub struct Daemon {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// What this daemon (and only it) recorded.
    pub metrics: Arc<Metrics>,
}

impl Daemon {
    pub fn start(config: Config) -> Self {
        Self::start_with(config, Arc::default())
    }

    /// The daemon, recording into `metrics` (shared with a health server, say).
    pub fn start_with(config: Config, metrics: Arc<Metrics>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let metrics = Arc::clone(&metrics);
            async move {
                let wiring = Wiring::load(&config, metrics).await;
                s3_replicator::daemon::serve(&wiring, &config, async {
                    let _ = stopped.await;
                })
                .await;
            }
        });
        Self {
            stop: Some(stop),
            task,
            metrics,
        }
    }

    /// Asks the daemon to stop and waits until it drained.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("daemon task");
    }
}

/// Collects completion events until every key in `keys` has one, asserting for each event, the
/// moment it arrives, that both targets already hold the object with `body(key)` ("nothing
/// early"). Returns every event received, duplicates included.
pub async fn await_completions(
    emulator: &Emulator,
    stack: &Stack,
    keys: &[String],
    body: impl Fn(&str) -> Vec<u8>,
    timeout: std::time::Duration,
) -> Vec<serde_json::Value> {
    let sqs = emulator.sqs();
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    let mut missing: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    while !missing.is_empty() && std::time::Instant::now() < deadline {
        let batch = receive_until(
            &sqs,
            &stack.completions_url,
            std::time::Duration::from_secs(1),
            |r| !r.is_empty(),
        )
        .await;
        for message in batch {
            let event: serde_json::Value =
                serde_json::from_str(&message.body).expect("completion is JSON");
            let key = event["source"]["key"]
                .as_str()
                .expect("source key")
                .to_owned();
            for (client, bucket) in [(&eu, &stack.eu_bucket), (&dr, &stack.dr_bucket)] {
                let held = read_body(client, bucket, &key).await;
                assert_eq!(
                    held.as_deref(),
                    Some(body(&key).as_slice()),
                    "completion for {key:?} arrived before s3://{bucket} held its bytes"
                );
            }
            missing.remove(&key);
            events.push(event);
        }
    }
    assert!(
        missing.is_empty(),
        "no completion within {timeout:?} for {missing:?}"
    );
    events
}

/// The bytes of an object, or `None` when it cannot be read.
pub async fn read_body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(out.body.collect().await.ok()?.into_bytes().to_vec())
}

/// Polls until the queue holds no message, visible or in flight.
pub async fn wait_for_empty(sqs: &aws_sdk_sqs::Client, url: &str, timeout: std::time::Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let depth = queue_depth(sqs, url).await;
        if depth == (0, 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue {url} still holds {depth:?} (visible, in flight)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
