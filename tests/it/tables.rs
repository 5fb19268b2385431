//! A Delta table written by a real Delta writer (delta-rs: the `deltalake` package, which
//! `scripts/test.sh` installs into `.venv-delta`), uploaded to the source with every commit
//! before the files it adds. While it replicates, a watcher reads both targets over and over:
//! every commit a target holds must name only files that target holds, and the commit before
//! it ("a target's commit N implies its files"). At the end the table read back from each
//! target with the same package equals the source's.
//!
//! moto 5.2.5, as this test meets it: keys with `%` and spaces (delta-rs writes partition
//! directories such as `region=eu%20west/`) are form-encoded in its events as S3 encodes them;
//! it honours `If-None-Match: *` on `PutObject`, which delta-rs commits with.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::common::stack::{receive_until, s3_with, DR_REGION, EU_REGION, SOURCE_REGION};
use crate::common::{load_config, setup, Daemon};

const ROOT: &str = "tables/orders/";
const WAIT: Duration = Duration::from_secs(240);

fn python() -> PathBuf {
    std::env::var_os("S3R_TEST_DELTA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("S3R_TEST_DELTA_PYTHON is not set: run the tests with scripts/test.sh, which installs the Delta writer")
        })
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/delta/table.py")
}

/// The table, as `table.py read` prints it from `bucket` with these credentials.
fn read_table(endpoint: &str, bucket: &str, credentials: (&str, &str, Option<&str>)) -> Value {
    let mut command = std::process::Command::new(python());
    command
        .arg(script())
        .arg("read")
        .arg(format!("s3://{bucket}/{}", ROOT.trim_end_matches('/')))
        .env("S3_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1)
        .env_remove("AWS_SESSION_TOKEN");
    if let Some(token) = credentials.2 {
        command.env("AWS_SESSION_TOKEN", token);
    }
    let output = command.output().expect("run table.py read");
    assert!(
        output.status.success(),
        "reading s3://{bucket}/{ROOT}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("table.py prints JSON")
}

/// Every commit `client` holds in `bucket` names only files it holds, and the commit before.
async fn check_commits(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    source_bucket: &str,
    violations: &Mutex<Vec<String>>,
) {
    let Ok(listed) = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(ROOT)
        .send()
        .await
    else {
        return;
    };
    let held: BTreeSet<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    for key in &held {
        let Some(table) = s3_replicator::table::classify(key) else {
            continue;
        };
        let s3_replicator::table::Kind::Commit(version) = table.kind else {
            continue;
        };
        let Some(body) = crate::common::read_body(client, bucket, key).await else {
            continue;
        };
        let commit = s3_replicator::table::parse_commit(&table.root, source_bucket, &body)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let mut needed: Vec<String> = commit.needs.into_iter().map(|n| n.key).collect();
        if version > 0 {
            needed.push(s3_replicator::table::commit_key(&table.root, version - 1));
        }
        for file in needed {
            // Listed before the commit was read: a file written in between is looked up.
            let present = held.contains(&file)
                || client
                    .head_object()
                    .bucket(bucket)
                    .key(&file)
                    .send()
                    .await
                    .is_ok();
            if !present {
                violations
                    .lock()
                    .unwrap()
                    .push(format!("{bucket} holds {key} but not {file}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_table_uploaded_commit_first_is_consistent_in_every_target_and_reads_back_equal() {
    let (emulator, stack) = setup("delta").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(python())
        .arg(script())
        .arg("write")
        .arg(dir.path())
        .output()
        .expect("run table.py write");
    assert!(
        output.status.success(),
        "table.py write: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: Value = serde_json::from_slice(&output.stdout).expect("manifest");
    let versions = manifest["versions"].as_array().expect("versions").clone();
    assert!(versions.len() >= 5, "{manifest}");

    let toml = stack.config_toml().replace(
        "targets = [\"analytics-eu\", \"dr-account\"]\n",
        "targets = [\"analytics-eu\", \"dr-account\"]\ntable_format = \"delta\"\ncomplete_deadline_secs = 600\n",
    );
    let (config, _path) = load_config(&toml);
    let daemon = Daemon::start(config);

    let eu = emulator.s3(EU_REGION);
    let second = emulator.second_account().await;
    let dr = s3_with(&second, DR_REGION);
    let violations = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (eu, dr) = (eu.clone(), dr.clone());
        let (eu_bucket, dr_bucket) = (stack.eu_bucket.clone(), stack.dr_bucket.clone());
        let source_bucket = stack.source_bucket.clone();
        let (violations, done) = (Arc::clone(&violations), Arc::clone(&done));
        async move {
            let mut rounds = 0u32;
            while !done.load(Ordering::Relaxed) {
                check_commits(&eu, &eu_bucket, &source_bucket, &violations).await;
                check_commits(&dr, &dr_bucket, &source_bucket, &violations).await;
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            rounds
        }
    });

    // Upload: each version's commit (and its checkpoint, and `_last_checkpoint`, which names
    // the newest checkpoint) first, its files a second later.
    let s3 = emulator.s3(SOURCE_REGION);
    let upload = |relative: String| {
        let s3 = s3.clone();
        let bucket = stack.source_bucket.clone();
        let path = dir.path().join(&relative);
        async move {
            let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            s3.put_object()
                .bucket(&bucket)
                .key(format!("{ROOT}{relative}"))
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {relative}: {e:?}"));
        }
    };
    let mut uploaded = BTreeSet::new();
    for version in &versions {
        let mut first = vec![version["commit"].as_str().unwrap().to_owned()];
        first.extend(
            version["checkpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned()),
        );
        for file in first {
            if uploaded.insert(file.clone()) {
                upload(file).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for file in version["files"].as_array().unwrap() {
            let file = file.as_str().unwrap().to_owned();
            if uploaded.insert(file.clone()) {
                upload(file).await;
            }
        }
    }
    for file in manifest["files"].as_array().unwrap() {
        let file = file.as_str().unwrap().to_owned();
        if uploaded.insert(file.clone()) {
            upload(file).await;
        }
    }

    // One table-committed event per version.
    let wanted: BTreeSet<u64> = versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    let committed = Arc::new(Mutex::new(BTreeSet::new()));
    let events = receive_until(&emulator.sqs(), &stack.completions_url, WAIT, |received| {
        let mut committed = committed.lock().unwrap();
        for m in received {
            let event: Value = serde_json::from_str(&m.body).unwrap();
            if event["schema"] == "s3-replicator.table-committed.v1" {
                committed.insert(event["version"].as_u64().unwrap());
            }
        }
        *committed == wanted
    })
    .await;
    let tables: Vec<Value> = events
        .iter()
        .map(|m| serde_json::from_str::<Value>(&m.body).unwrap())
        .filter(|e| e["schema"] == "s3-replicator.table-committed.v1")
        .collect();
    let seen: BTreeSet<u64> = tables
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, wanted, "a table-committed event for every version");
    let first = tables.iter().find(|e| e["version"] == 0).unwrap();
    assert_eq!(first["table"], ROOT);
    assert_eq!(first["files_added"], 3);
    assert!(first["bytes_added"].as_u64().unwrap() > 0);
    assert_eq!(first["targets"].as_array().unwrap().len(), 2);

    // The checkpoint and `_last_checkpoint` arrive after their commits; give them time, then
    // stop watching.
    let last = format!("{ROOT}_delta_log/_last_checkpoint");
    for (client, bucket) in [(&eu, &stack.eu_bucket), (&dr, &stack.dr_bucket)] {
        let deadline = std::time::Instant::now() + WAIT;
        while crate::common::read_body(client, bucket, &last)
            .await
            .is_none()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{bucket} never got {last}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    done.store(true, Ordering::Relaxed);
    let rounds = watcher.await.expect("watcher");
    let violations = violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(rounds > 10, "the watcher looked {rounds} times");

    // The table read back from each target equals the source's.
    let source = read_table(
        &stack.endpoint,
        &stack.source_bucket,
        ("test", "test", None),
    );
    assert_eq!(source["version"], *wanted.iter().max().unwrap());
    assert!(!source["rows"].as_array().unwrap().is_empty());
    let eu_table = read_table(&stack.endpoint, &stack.eu_bucket, ("test", "test", None));
    assert_eq!(eu_table, source, "the eu target's table");
    let dr_credentials = second
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("the second account's credentials");
    let dr_table = read_table(
        &stack.endpoint,
        &stack.dr_bucket,
        (
            dr_credentials.access_key_id(),
            dr_credentials.secret_access_key(),
            dr_credentials.session_token(),
        ),
    );
    assert_eq!(dr_table, source, "the dr target's table");
    daemon.stop().await;
}
