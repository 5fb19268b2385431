//! `backfill` and `verify`, run as a user would (the real binary) against the emulator.

use crate::common;

use std::process::Output;

use common::*;
use serde_json::Value;

fn cli(args: &[&str], config: &std::path::Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run s3-replicator")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn summary_line(output: &Output) -> String {
    stdout(output)
        .lines()
        .find(|l| l.starts_with("backfill:"))
        .unwrap_or_else(|| panic!("no summary in {output:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_copies_what_is_missing_and_verify_reports_every_kind_of_difference() {
    let (emulator, stack) = setup("backfill").await;
    let s3 = emulator.s3(SOURCE_REGION);
    // Objects that existed before the daemon: no notification, no events.
    set_notification(&s3, &stack.source_bucket, None).await;
    let keys: Vec<String> = (0..200).map(|i| format!("hist/{i:03} part.csv")).collect();
    for key in &keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/csv",
            &[("k", "v")],
            None,
        )
        .await;
    }
    put_object(
        &s3,
        &stack.source_bucket,
        "other/x.csv",
        b"x",
        "text/csv",
        &[],
        None,
    )
    .await;
    let file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    std::fs::write(
        file.path(),
        stack
            .config_toml()
            .replace("source_bucket =", "prefix = \"hist/\"\nsource_bucket ="),
    )
    .expect("config");
    let config = file.path();

    let before = cli(&["verify"], config);
    assert_eq!(before.status.code(), Some(1), "{}", stdout(&before));
    assert!(
        stdout(&before).contains("400 missing"),
        "{}",
        stdout(&before)
    );

    // Ten objects first, so that the full run finds some already present.
    let some = cli(&["backfill", "--prefix", "hist/00"], config);
    assert!(some.status.success(), "{some:?}");
    assert!(
        summary_line(&some).contains("10 listed, 10 copied"),
        "{}",
        summary_line(&some)
    );

    let full = cli(
        &["backfill", "--rule", "lake", "--publish-completions"],
        config,
    );
    assert!(full.status.success(), "{full:?}");
    let line = summary_line(&full);
    assert!(
        line.contains("200 listed, 190 copied")
            && line.contains("10 already present")
            && line.contains("0 failed"),
        "{line}"
    );
    let completions = receive_until(
        &emulator.sqs(),
        &stack.completions_url,
        std::time::Duration::from_secs(30),
        |r| r.len() >= 200,
    )
    .await;
    assert_eq!(
        completions.len(),
        200,
        "--publish-completions publishes one per object"
    );

    let again = cli(&["backfill"], config);
    assert!(
        summary_line(&again).contains("0 copied (0.0 MiB), 200 already present"),
        "{}",
        summary_line(&again)
    );

    let clean = cli(&["verify"], config);
    assert!(clean.status.success(), "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("400 compared, 400 match"),
        "{}",
        stdout(&clean)
    );

    // One difference of each kind.
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    eu.delete_object()
        .bucket(&stack.eu_bucket)
        .key(&keys[1])
        .send()
        .await
        .expect("delete");
    put_object(
        &dr,
        &stack.dr_bucket,
        &keys[2],
        b"a different size",
        "text/csv",
        &[],
        None,
    )
    .await;
    let same_size = "X".repeat(keys[3].len());
    put_object(
        &eu,
        &stack.eu_bucket,
        &keys[3],
        same_size.as_bytes(),
        "text/csv",
        &[],
        None,
    )
    .await;
    put_object(
        &dr,
        &stack.dr_bucket,
        "hist/stray.csv",
        b"stray",
        "text/csv",
        &[],
        None,
    )
    .await;

    let found = cli(&["verify", "--json"], config);
    assert_eq!(found.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&found)).expect("JSON report");
    assert_eq!(report["missing"], 1, "{report}");
    assert_eq!(report["size_differs"], 1, "{report}");
    assert_eq!(report["content_differs"], 1, "{report}");
    assert_eq!(report["only_in_target"], 1, "{report}");
    let findings: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["difference"].as_str().unwrap().to_owned(),
                f["target"].as_str().unwrap().to_owned(),
                f["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        findings.contains(&("missing".into(), "analytics-eu".into(), keys[1].clone())),
        "{findings:?}"
    );
    assert!(
        findings.contains(&("size_differs".into(), "dr-account".into(), keys[2].clone())),
        "{findings:?}"
    );
    assert!(
        findings.contains(&(
            "content_differs".into(),
            "analytics-eu".into(),
            keys[3].clone()
        )),
        "{findings:?}"
    );
    assert!(
        findings.contains(&(
            "only_in_target".into(),
            "dr-account".into(),
            "hist/stray.csv".into()
        )),
        "{findings:?}"
    );

    // Backfill mends what it can (the missing and the different replicas), verify agrees
    // except for the stray object, which is not the backfill's to delete.
    let mended = cli(&["backfill"], config);
    assert!(
        summary_line(&mended).contains("3 copied"),
        "{}",
        summary_line(&mended)
    );
    let after: Value = serde_json::from_str(&stdout(&cli(&["verify", "--json"], config))).unwrap();
    assert_eq!(
        (
            after["missing"].as_u64(),
            after["size_differs"].as_u64(),
            after["content_differs"].as_u64(),
            after["only_in_target"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(1)),
        "{after}"
    );
}

/// `backfill --enqueue`: one event per object to the daemon's queue, which copies them and
/// announces each with `"origin": "backfill"`; `--dry-run` counts first and sends nothing; a
/// second run resumed after the first one's last key sends nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_enqueue_hands_the_objects_to_the_daemon_through_the_queue() {
    let (emulator, stack) = setup("enqueue").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    set_notification(&s3, &stack.source_bucket, None).await;
    let keys: Vec<String> = (0..25).map(|i| format!("old/{i:02} a+b.csv")).collect();
    for key in &keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/csv",
            &[],
            None,
        )
        .await;
    }
    let (config, path) = load_config(&stack.config_toml());

    let dry = cli(&["backfill", "--dry-run"], &path);
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    assert!(
        stdout(&dry).contains("backfill --dry-run: 25 objects listed"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(
        queue_depth(&sqs, &stack.queue_url).await,
        (0, 0),
        "nothing sent"
    );

    let sent = cli(&["backfill", "--enqueue"], &path);
    assert_eq!(sent.status.code(), Some(0), "{sent:?}");
    assert!(
        stdout(&sent).contains("25 listed, 25 events sent to the queue, 0 failed"),
        "{}",
        stdout(&sent)
    );
    // Resuming after the last key sends nothing more.
    let last = keys.last().unwrap();
    let again = cli(
        &[
            "backfill",
            "--enqueue",
            "--start-after",
            &format!("lake={last}"),
        ],
        &path,
    );
    assert!(
        stdout(&again).contains("0 listed, 0 events sent"),
        "{}",
        stdout(&again)
    );

    let daemon = Daemon::start(config);
    let events = await_completions(
        &emulator,
        &stack,
        &keys,
        |key| key.as_bytes().to_vec(),
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(events.len(), 25, "one completion per object, none twice");
    assert!(
        events.iter().all(|e| e["origin"] == "backfill"),
        "{events:?}"
    );
    wait_for_empty(&sqs, &stack.queue_url, std::time::Duration::from_secs(30)).await;
    daemon.stop().await;
}

/// `verify --repair`: what is missing or differs in a target goes to the daemon's queue as one
/// event per source object, and the daemon copies it; afterwards `verify` finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_repair_sends_what_differs_to_the_daemon() {
    let (emulator, stack) = setup("repair").await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    set_notification(&s3, &stack.source_bucket, None).await;
    let keys: Vec<String> = (0..12).map(|i| format!("r/{i:02}.csv")).collect();
    for key in &keys {
        put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/csv",
            &[],
            None,
        )
        .await;
    }
    // One object is already in one target: it is repaired for the other only, with one event.
    let eu = emulator.s3(EU_REGION);
    put_object(
        &eu,
        &stack.eu_bucket,
        &keys[0],
        keys[0].as_bytes(),
        "text/csv",
        &[],
        None,
    )
    .await;
    let (config, path) = load_config(&stack.config_toml());

    let repair = cli(&["verify", "--repair"], &path);
    assert_eq!(
        repair.status.code(),
        Some(1),
        "differences found: {repair:?}"
    );
    assert!(
        stdout(&repair).contains("verify --repair: 12 events sent to the queue, 0 refused"),
        "{}",
        stdout(&repair)
    );
    assert!(
        String::from_utf8_lossy(&repair.stderr).contains("Differences sent for repair."),
        "{repair:?}"
    );
    let daemon = Daemon::start(config);
    let events = await_completions(
        &emulator,
        &stack,
        &keys,
        |key| key.as_bytes().to_vec(),
        std::time::Duration::from_secs(60),
    )
    .await;
    assert!(events.iter().all(|e| e["origin"] == "backfill"));
    wait_for_empty(&sqs, &stack.queue_url, std::time::Duration::from_secs(30)).await;
    daemon.stop().await;
    let after = cli(&["verify"], &path);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));
}

/// `backfill --enqueue --inventory`: the objects come from an S3 Inventory (CSV, gzip, keys
/// URL-encoded) instead of a listing: only current versions that a rule covers are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_enqueue_reads_an_s3_inventory() {
    use std::io::Write;
    let (emulator, stack) = setup("inventory").await;
    let s3 = emulator.s3(SOURCE_REGION);
    set_notification(&s3, &stack.source_bucket, None).await;
    let keys = ["inv/a b.csv", "inv/c+d.csv", "inv/e,\"f\".csv"];
    let mut csv = String::new();
    for key in keys {
        let etag = put_object(
            &s3,
            &stack.source_bucket,
            key,
            key.as_bytes(),
            "text/csv",
            &[],
            None,
        )
        .await;
        let encoded = s3_replicator::event::encode_key(key);
        csv.push_str(&format!(
            "\"{}\",\"{}\",\"true\",\"{}\",\"{}\"\n",
            stack.source_bucket,
            encoded.replace('"', "\"\""),
            key.len(),
            etag
        ));
    }
    // A row of an old version, which is not sent.
    csv.push_str(&format!(
        "\"{}\",\"inv/old.csv\",\"false\",\"1\",\"x\"\n",
        stack.source_bucket
    ));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(csv.as_bytes()).unwrap();
    let inventory_bucket = format!("{}-inventory", stack.source_bucket);
    s3.create_bucket()
        .bucket(&inventory_bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&inventory_bucket)
        .key("lake/daily/data/1.csv.gz")
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .expect("data file");
    let manifest = serde_json::json!({
        "sourceBucket": stack.source_bucket,
        "destinationBucket": format!("arn:aws:s3:::{inventory_bucket}"),
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, IsLatest, Size, ETag",
        "files": [ { "key": "lake/daily/data/1.csv.gz", "size": 1, "MD5checksum": "x" } ]
    });
    s3.put_object()
        .bucket(&inventory_bucket)
        .key("lake/daily/manifest.json")
        .body(manifest.to_string().into_bytes().into())
        .send()
        .await
        .expect("manifest");
    let (config, path) = load_config(&stack.config_toml());
    let location = format!("s3://{inventory_bucket}/lake/daily/manifest.json");
    let sent = cli(&["backfill", "--enqueue", "--inventory", &location], &path);
    assert_eq!(sent.status.code(), Some(0), "{sent:?}");
    assert!(
        stdout(&sent).contains("3 listed, 3 events sent to the queue, 0 failed"),
        "{}",
        stdout(&sent)
    );
    let daemon = Daemon::start(config);
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let events = await_completions(
        &emulator,
        &stack,
        &keys,
        |key| key.as_bytes().to_vec(),
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["origin"] == "backfill"));
    daemon.stop().await;
}
