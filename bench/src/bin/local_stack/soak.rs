//! The soak benchmark's steps (`scripts/soak.sh`): a backlog of notifications built before the
//! daemon starts, the completion events counted while it drains the backlog, and both targets
//! checked at the end. Meant for LocalStack, whose SQS keeps its speed at any queue depth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use futures::stream::{self, StreamExt};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::stack::*;

/// Uploads in flight while the backlog is built.
const UPLOAD_CONCURRENCY: usize = 32;
/// Every backlog object has this size.
const OBJECT_SIZE: usize = 1024;

/// The key of the `i`-th backlog object. One in a hundred holds spaces: LocalStack writes a
/// space as `%20` in its events (AWS and moto as `+`), and both must reach the same key.
pub fn key(i: usize) -> String {
    let day = i / 1000;
    if i % 100 == 99 {
        format!("soak/d={day:02}/part {i:05} final.bin")
    } else {
        format!("soak/d={day:02}/part-{i:05}.bin")
    }
}

fn body(i: usize) -> Vec<u8> {
    let mut body = format!("soak object {i}\n").into_bytes();
    body.resize(OBJECT_SIZE, b'.');
    body
}

fn now_ms() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

/// Uploads `count` objects with the bucket notification on and waits for their notifications.
pub async fn backlog(stack: &Stack, count: usize) -> ExitCode {
    let emulator = Emulator::connect(&stack.endpoint).await;
    let s3 = emulator.s3(SOURCE_REGION);
    let sqs = emulator.sqs();
    let (visible, in_flight) = queue_depth(&sqs, &stack.queue_url).await;
    if visible + in_flight != 0 {
        eprintln!(
            "the event queue already holds {visible} + {in_flight} messages; set up a fresh stack"
        );
        return ExitCode::FAILURE;
    }

    let started = Instant::now();
    let failures: Vec<String> = stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            let bucket = stack.source_bucket.clone();
            async move {
                s3.put_object()
                    .bucket(&bucket)
                    .key(key(i))
                    .body(ByteStream::from(body(i)))
                    .content_type("application/octet-stream")
                    .send()
                    .await
                    .err()
                    .map(|e| format!("{}: {e:?}", key(i)))
            }
        })
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    let uploaded = started.elapsed().as_secs_f64();
    if !failures.is_empty() {
        eprintln!("{} uploads failed, e.g. {}", failures.len(), failures[0]);
        return ExitCode::FAILURE;
    }
    println!(
        "backlog: uploaded {count} objects of {OBJECT_SIZE} bytes in {uploaded:.1} s \
         ({:.0} objects/s, {UPLOAD_CONCURRENCY} in flight), bucket notification on",
        count as f64 / uploaded
    );

    // The emulator delivers the notifications asynchronously: wait until all are queued, and
    // a little longer to see that no more arrive.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut depth;
    loop {
        depth = queue_depth(&sqs, &stack.queue_url).await;
        if depth.0 + depth.1 >= count as u64 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            depth = queue_depth(&sqs, &stack.queue_url).await;
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "only {} of {count} notifications reached the event queue within 300 s",
                depth.0 + depth.1
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "backlog: the event queue holds {} notifications ({} expected), {:.1} s after the first upload",
        depth.0 + depth.1,
        count,
        started.elapsed().as_secs_f64() - 2.0
    );
    if depth.0 + depth.1 != count as u64 {
        eprintln!("backlog: the event queue does not hold exactly one notification per object");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Counts completion events until every backlog key has one; writes `key<TAB>completions`
/// lines to `record`.
pub async fn drain(
    stack: &Stack,
    count: usize,
    since_ms: i128,
    timeout: Duration,
    record: &Path,
) -> ExitCode {
    let emulator = Emulator::connect(&stack.endpoint).await;
    let sqs = emulator.sqs();
    let expected: BTreeSet<String> = (0..count).map(key).collect();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut unexpected = 0u64;
    let mut first_ms: Option<i128> = None;
    let mut last_ms: Option<i128> = None;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut next_report = started + Duration::from_secs(15);
    // After the last expected completion, keep listening briefly for duplicates.
    let mut tail_until: Option<Instant> = None;

    loop {
        let now = Instant::now();
        if now > deadline || tail_until.is_some_and(|t| now > t) {
            break;
        }
        if now > next_report {
            println!(
                "  {:>5.0} s: {} of {count} completions",
                (now_ms() - since_ms) as f64 / 1000.0,
                seen.len()
            );
            next_report += Duration::from_secs(15);
        }
        let out = match sqs
            .receive_message()
            .queue_url(&stack.completions_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                eprintln!("receive from the completions queue failed: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut entries = Vec::new();
        for (n, m) in out.messages().iter().enumerate() {
            let event: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
            let key = event["source"]["key"].as_str().unwrap_or_default();
            if expected.contains(key) {
                *seen.entry(key.to_owned()).or_default() += 1;
            } else {
                unexpected += 1;
            }
            if let Some(at) = event["completed_at"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            {
                let ms = at.unix_timestamp_nanos() / 1_000_000;
                first_ms = Some(first_ms.map_or(ms, |f| f.min(ms)));
                last_ms = Some(last_ms.map_or(ms, |l| l.max(ms)));
            }
            entries.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("delete entry"),
            );
        }
        if !entries.is_empty() {
            if let Err(e) = sqs
                .delete_message_batch()
                .queue_url(&stack.completions_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                eprintln!("delete from the completions queue failed: {e:?}");
            }
        }
        if seen.len() == count && tail_until.is_none() {
            tail_until = Some(Instant::now() + Duration::from_secs(3));
        }
    }

    let lines: String = expected
        .iter()
        .map(|k| format!("{k}\t{}\n", seen.get(k).copied().unwrap_or(0)))
        .collect();
    std::fs::write(record, lines).expect("write the completion record");

    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!(
        "completions: {} of {count} keys have a completion event; {duplicates} duplicate events, {unexpected} for other keys",
        seen.len()
    );
    if let (Some(first), Some(last)) = (first_ms, last_ms) {
        let total = (last - since_ms) as f64 / 1000.0;
        let steady = (last - first) as f64 / 1000.0;
        println!(
            "throughput: {:.1} objects/s ({} objects, daemon start → last completed_at {total:.1} s)",
            seen.len() as f64 / total,
            seen.len()
        );
        println!(
            "            {:.1} objects/s between the first and the last completed_at ({steady:.1} s; first completion {:.2} s after the start)",
            seen.len().saturating_sub(1) as f64 / steady.max(0.001),
            (first - since_ms) as f64 / 1000.0
        );
    }
    if seen.len() == count {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "completions: {} keys have none after {:.0} s",
            count - seen.len(),
            started.elapsed().as_secs_f64()
        );
        ExitCode::FAILURE
    }
}

async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| panic!("list s3://{bucket}: {e:?}"));
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

/// After the daemon stopped: every key has a completion (from `record`) and is in both
/// targets; the event queue and the dead-letter queue are empty.
pub async fn verify(stack: &Stack, count: usize, record: &Path) -> ExitCode {
    let emulator = Emulator::connect(&stack.endpoint).await;
    let sqs = emulator.sqs();
    let expected: BTreeSet<String> = (0..count).map(key).collect();
    let completed: BTreeSet<String> = std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, n)| *n != "0")
        .map(|(k, _)| k.to_owned())
        .collect();
    let mut lost: BTreeSet<String> = expected.difference(&completed).cloned().collect();

    let source = list_keys(&emulator.s3(SOURCE_REGION), &stack.source_bucket).await;
    println!(
        "source        s3://{}: {} objects",
        stack.source_bucket,
        source.len()
    );
    let eu = emulator.s3(EU_REGION);
    let dr = s3_with(&emulator.second_account().await, DR_REGION);
    for (name, client, bucket) in [
        ("analytics-eu", &eu, &stack.eu_bucket),
        ("dr-account", &dr, &stack.dr_bucket),
    ] {
        let listed = list_keys(client, bucket).await;
        let missing: Vec<&String> = expected.difference(&listed).collect();
        let extra = listed.difference(&expected).count();
        println!(
            "{name:<13} s3://{bucket}: {} of {count} keys (ListObjectsV2), {} missing, {extra} unexpected",
            count - missing.len(),
            missing.len()
        );
        if let Some(k) = missing.first() {
            println!("              e.g. missing {k:?}");
        }
        lost.extend(missing.into_iter().cloned());
    }

    let mut queues_ok = true;
    for (name, url) in [
        ("event queue", &stack.queue_url),
        ("dead-letter queue", &stack.dlq_url),
        ("alerts queue", &stack.alerts_url),
    ] {
        let (visible, in_flight) = queue_depth(&sqs, url).await;
        println!("{name:<17} {visible} visible, {in_flight} in flight");
        queues_ok &= visible + in_flight == 0;
    }
    println!(
        "messages lost: {} (keys without a completion event or missing from a target)",
        lost.len()
    );
    if let Some(k) = lost.iter().next() {
        println!("  e.g. {k:?}");
    }
    if lost.is_empty() && queues_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
