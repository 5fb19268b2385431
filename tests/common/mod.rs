//! Shared by the integration tests: the emulator's endpoint, the setup, the daemon in-process.

#![allow(dead_code)]

pub mod ops;
pub mod stack;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use s3_replicator::config::Config;
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
}

impl Daemon {
    pub fn start(config: Config) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            s3_replicator::daemon::serve(&config, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            stop: Some(stop),
            task,
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
