//! One large-object copy through the daemon's own copy path, timed, for `scripts/bench-large.sh`.
//!
//!   bench_copy --endpoint URL --source BUCKET/KEY --target BUCKET/KEY --mode stream|server-side
//!              [--part-size 64MiB] [--max-inflight 256MiB]
//!
//! Replicates one object exactly as the daemon does for one target (HeadObject pinned to the
//! ETag, already-present check, copy, read-back verification) and prints one line of figures:
//! seconds, MB/s, the process's peak resident memory (VmHWM) and the byte budget's peak.
//! Credentials come from the environment, as for the daemon.

use std::process::ExitCode;
use std::time::Instant;

use s3_replicator::aws::{load_base, s3_client, Timeouts};
use s3_replicator::config::{AwsConfig, ByteSize, CopyMode, TargetConfig};
use s3_replicator::event::ObjectCreated;
use s3_replicator::replicate::{Outcome, Replicator, Target};
use s3_replicator::store::s3::S3Store;
use s3_replicator::store::{ObjectRef, ObjectStore};
use s3_replicator::transfer::Limits;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn split(path: &str) -> Option<(String, String)> {
    let (bucket, key) = path.split_once('/')?;
    Some((bucket.to_owned(), key.to_owned()))
}

/// Peak resident set size of this process, in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(endpoint), Some((src_bucket, src_key)), Some((dst_bucket, dst_key)), Some(mode)) = (
        arg(&args, "--endpoint"),
        arg(&args, "--source").as_deref().and_then(split),
        arg(&args, "--target").as_deref().and_then(split),
        arg(&args, "--mode"),
    ) else {
        eprintln!("usage: bench_copy --endpoint URL --source BUCKET/KEY --target BUCKET/KEY --mode stream|server-side [--part-size SIZE] [--max-inflight SIZE]");
        return ExitCode::from(2);
    };
    let size = |name: &str, default: &str| -> u64 {
        arg(&args, name)
            .unwrap_or_else(|| default.to_owned())
            .parse::<ByteSize>()
            .expect("a size such as \"64 MiB\"")
            .0
    };
    let part_size = size("--part-size", "64 MiB");
    let limits = Limits {
        multipart_threshold: part_size,
        part_size,
        max_inflight_bytes: size("--max-inflight", "256 MiB"),
    };
    let copy_mode = match mode.as_str() {
        "stream" => CopyMode::Stream,
        "server-side" => CopyMode::ServerSide,
        other => {
            eprintln!("unknown mode {other:?}");
            return ExitCode::from(2);
        }
    };

    let aws = AwsConfig {
        endpoint_url: Some(endpoint),
        region: Some("us-east-1".into()),
        ..AwsConfig::default()
    };
    let base = load_base(&aws, None).await;
    let store = S3Store::new(s3_client(
        &base,
        None,
        "us-east-1",
        None,
        &Timeouts::default(),
        &Default::default(),
    ));
    let source = ObjectRef {
        bucket: src_bucket.clone(),
        key: src_key.clone(),
        version_id: None,
    };
    let head = store
        .head_object(&source, None)
        .await
        .expect("head the source")
        .expect("the source exists");
    let target = Target {
        config: TargetConfig {
            copy_mode,
            ..TargetConfig::new("bench", &dst_bucket, "us-east-1")
        },
        store: store.clone(),
    };
    let replicator = Replicator::new(store, [target]).with_limits(limits);
    // The target key is the source key: the bench copies into another bucket.
    assert_eq!(src_key, dst_key, "target key must equal the source key");
    let event = ObjectCreated {
        bucket: src_bucket,
        key: src_key,
        region: "us-east-1".into(),
        version_id: None,
        etag: Some(head.etag.clone()),
        size: head.size,
        sequencer: None,
        event_time: time::OffsetDateTime::now_utc(),
        event_name: "ObjectCreated:Put".into(),
    };
    let started = Instant::now();
    let outcome = replicator.replicate(&event, &["bench".into()]).await;
    let seconds = started.elapsed().as_secs_f64();
    let Outcome::Replicated { targets, .. } = outcome else {
        eprintln!("copy failed: {outcome:?}");
        return ExitCode::FAILURE;
    };
    let mib = 1024.0 * 1024.0;
    println!(
        "s3-replicator {:?}: {:.0} MiB in {seconds:.1} s = {:.1} MiB/s, peak RSS {:.0} MiB, budget peak {:.0} MiB of {:.0} MiB",
        targets[0].method,
        head.size as f64 / mib,
        head.size as f64 / mib / seconds,
        peak_rss() as f64 / mib,
        replicator.transfer().budget().peak() as f64 / mib,
        limits.max_inflight_bytes as f64 / mib,
    );
    ExitCode::SUCCESS
}
