//! A target on another S3 implementation with credentials of its own: s3s-fs on 127.0.0.1
//! (started by `scripts/test.sh` with its own key pair), next to the moto stack's two targets.
//!
//! s3s-fs 0.14.1, as these tests meet it (and `check-config --probe` reports it):
//! - checks every request's SigV4 signature: a wrong secret answers 403
//!   `SignatureDoesNotMatch`, an unknown key 403 `NotSignedUp`;
//! - accepts `x-amz-tagging` on `PutObject` and drops it; `GetObjectTagging` answers 501
//!   `NotImplemented` (so tagging is detected missing);
//! - honours `If-None-Match: *` and `If-Match` on `PutObject`;
//! - checks a CRC32C sent with `PutObject` (400 `BadDigest` on another value) and returns it
//!   from `HeadObject`, and does the same with CRC32 and CRC64NVME (found by the probe), also as
//!   the full-object checksum of a multipart upload;
//! - refuses storage classes other than STANDARD (`InvalidStorageClass`); no versioning, no
//!   notifications.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::stack::{put_object, receive_until, SOURCE_REGION};
use crate::common::{await_completions, load_config, read_body, setup, unique, Daemon};

const WAIT: Duration = Duration::from_secs(60);

fn mirror_endpoint() -> String {
    std::env::var("S3R_TEST_MIRROR_ENDPOINT").unwrap_or_else(|_| {
        panic!("S3R_TEST_MIRROR_ENDPOINT is not set: run the tests with scripts/test.sh, which starts the second S3 store")
    })
}

/// A client of the second store with its own credentials.
fn mirror_client() -> aws_sdk_s3::Client {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(mirror_endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            var("S3R_TEST_MIRROR_ACCESS_KEY_ID"),
            var("S3R_TEST_MIRROR_SECRET_ACCESS_KEY"),
            None,
            None,
            "mirror",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The stack's configuration plus the target `mirror` on the second store, in the rule.
fn with_mirror(toml: &str, bucket: &str, secret_env: &str) -> String {
    let toml = toml.replace(
        "targets = [\"analytics-eu\", \"dr-account\"]",
        "targets = [\"analytics-eu\", \"dr-account\", \"mirror\"]",
    );
    let copy = "[copy]\nmultipart_threshold = \"5 MiB\"\npart_size = \"5 MiB\"\n\n";
    let toml = toml.replacen("[[targets]]", &format!("{copy}[[targets]]"), 1);
    format!(
        r#"{toml}
[[targets]]
name = "mirror"
bucket = "{bucket}"
region = "us-east-1"
endpoint_url = "{endpoint}"
access_key_id_env = "S3R_TEST_MIRROR_ACCESS_KEY_ID"
secret_access_key_env = "{secret_env}"
"#,
        endpoint = mirror_endpoint()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_another_store_are_byte_identical_and_announced_as_streamed() {
    let (emulator, stack) = setup("foreign").await;
    let mirror = mirror_client();
    let bucket = unique("mirror");
    mirror
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the bucket on the second store");
    let toml = with_mirror(
        &stack.config_toml(),
        &bucket,
        "S3R_TEST_MIRROR_SECRET_ACCESS_KEY",
    );
    let (config, _path) = load_config(&toml);
    let daemon = Daemon::start(config);

    let s3 = emulator.s3(SOURCE_REGION);
    let body = |key: &str| -> Vec<u8> {
        if key.ends_with("big.bin") {
            // Three streamed parts of 5 MiB, 5 MiB and 2 MiB, each part's bytes different.
            (0..12 * 1024 * 1024u32)
                .map(|i| (i / 4099 % 251) as u8)
                .collect()
        } else {
            format!("rows of {key}\n").repeat(50).into_bytes()
        }
    };
    let keys: Vec<String> = vec![
        "in/a.csv".into(),
        "in/with space+plus.csv".into(),
        "in/tagged.csv".into(),
        "in/big.bin".into(),
    ];
    for key in &keys {
        let tagging = key.contains("tagged").then_some("team=lake");
        if key.ends_with("big.bin") {
            s3.put_object()
                .bucket(&stack.source_bucket)
                .key(key)
                .body(ByteStream::from(body(key)))
                .send()
                .await
                .expect("put the large object");
        } else {
            put_object(
                &s3,
                &stack.source_bucket,
                key,
                &body(key),
                "text/csv",
                &[("owner", "lake")],
                tagging,
            )
            .await;
        }
    }
    // At its arrival, each completion's key is in both moto targets (checked by
    // await_completions) and, checked here, byte-identical on the second store.
    let events = await_completions(&emulator, &stack, &keys, body, WAIT).await;
    for event in &events {
        let key = event["source"]["key"].as_str().unwrap();
        let targets = event["targets"].as_array().unwrap();
        let mirror_report = targets
            .iter()
            .find(|t| t["name"] == "mirror")
            .unwrap_or_else(|| panic!("the completion of {key} names no mirror target: {event}"));
        assert_eq!(mirror_report["method"], "streamed_copy", "{event}");
        assert_eq!(mirror_report["bucket"], bucket.as_str());
        assert_eq!(
            read_body(&mirror, &bucket, key).await.as_deref(),
            Some(body(key).as_slice()),
            "{key} on the second store"
        );
    }
    // The SDK that uploaded the sources sent a CRC32 of each (its default), which moto keeps
    // as a full-object checksum: the streamed copy computed the same algorithm, compared it,
    // recorded it and sent it to the second store, which checked and kept it.
    let source_head = s3
        .head_object()
        .bucket(&stack.source_bucket)
        .key("in/a.csv")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("head the source");
    let source_crc = source_head
        .checksum_crc32()
        .expect("the source has a CRC32")
        .to_owned();
    let head = mirror
        .head_object()
        .bucket(&bucket)
        .key("in/a.csv")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("head on the second store");
    assert_eq!(head.content_type(), Some("text/csv"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("lake")
    );
    assert_eq!(
        head.metadata().and_then(|m| m.get("s3r-content-checksum")),
        Some(&format!("CRC32:{source_crc}"))
    );
    assert_eq!(head.checksum_crc32(), Some(source_crc.as_str()));
    // s3s-fs keeps no tags: detected, left out, counted.
    assert_eq!(
        daemon.metrics.gauge(
            s3_replicator::metrics::TARGET_CAPABILITY_MISSING,
            &["mirror", "tagging"]
        ),
        1
    );
    // s3s-fs 0.14.1 checks and returns CRC64NVME and CRC32 checksums and honours
    // If-None-Match: the probe finds both (see the module's comment).
    for present in ["checksums", "conditional_writes", "storage_classes"] {
        assert_eq!(
            daemon.metrics.gauge(
                s3_replicator::metrics::TARGET_CAPABILITY_MISSING,
                &["mirror", present]
            ),
            0,
            "{present}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_raise_an_alert_and_the_probe_names_the_target() {
    let (emulator, stack) = setup("foreignbad").await;
    let bucket = unique("mirror");
    mirror_client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the bucket on the second store");
    let toml = with_mirror(
        &stack.config_toml(),
        &bucket,
        "S3R_TEST_MIRROR_WRONG_SECRET",
    );
    let (config, path) = load_config(&toml);

    // check-config --probe, as a user runs it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["check-config", "--probe", "--config"])
        .arg(&*path)
        .output()
        .expect("run check-config --probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let probes = stdout
        .split_once("Probe (")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| panic!("no probe section:\n{stdout}"));
    let line = |name: &str| {
        probes
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no probe line for {name}:\n{stdout}"))
            .to_owned()
    };
    assert!(line("analytics-eu").contains("reachable"), "{stdout}");
    assert!(line("dr-account").contains("reachable"), "{stdout}");
    let mirror_line = line("mirror");
    assert!(mirror_line.contains("denied"), "{stdout}");
    assert!(mirror_line.contains("SignatureDoesNotMatch"), "{stdout}");
    // Never a secret, in any output.
    for secret in ["not-the-mirror-secret", "mirror-secret-key"] {
        assert!(!stdout.contains(secret), "{stdout}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains(secret));
    }

    let daemon = Daemon::start(config);
    put_object(
        &emulator.s3(SOURCE_REGION),
        &stack.source_bucket,
        "in/a.csv",
        b"a,b\n",
        "text/csv",
        &[],
        None,
    )
    .await;
    let alerts = receive_until(&emulator.sqs(), &stack.alerts_url, WAIT, |r| {
        r.iter().any(|m| m.body.contains("\"mirror\""))
    })
    .await;
    let alert = alerts
        .iter()
        .find(|m| m.body.contains("\"mirror\""))
        .expect("an alert naming the mirror target");
    let alert: serde_json::Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!(alert["target"]["name"], "mirror", "{alert}");
    let error = alert["error"].as_str().unwrap_or_default();
    assert!(error.contains("access denied"), "{alert}");
    assert!(!alert.to_string().contains("not-the-mirror-secret"));
    // No completion: the mirror does not hold the object.
    let completions = receive_until(
        &emulator.sqs(),
        &stack.completions_url,
        Duration::from_secs(3),
        |r| !r.is_empty(),
    )
    .await;
    assert!(completions.is_empty(), "{completions:?}");
    daemon.stop().await;
}
