//! The benchmark's parts: latency with its floor, throughput beside the emulator's raw
//! capacity and two peers, scale, and requests per object.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::stream::{self, StreamExt};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::process::{Child, Command};

use super::results::*;
use super::stack::{create_queue, create_topic, queue_depth, subscribe_queue};

/// What to run, from the command line.
pub struct Plan {
    /// LocalStack: SQS and SNS.
    pub sqs_sns: String,
    /// s3s-fs: S3.
    pub s3: String,
    /// The daemon's binary (release build).
    pub bin: PathBuf,
    /// awscli and rclone executables.
    pub aws: PathBuf,
    pub rclone: PathBuf,
    pub objects: usize,
    pub latency_objects: usize,
    pub latency_rate: f64,
    pub command: String,
}

/// Every object of the latency and throughput parts has this size.
const OBJECT_BYTES: usize = 4096;
/// Targets per object (one in eu-west-1, one in us-west-2).
const TARGETS: usize = 2;
const TARGET_REGIONS: [&str; TARGETS] = ["eu-west-1", "us-west-2"];
/// Requests in flight for the harness's own loads (uploads, raw copies, publishes). The daemon's
/// default `queue.concurrency` is the same.
const CONCURRENCY: usize = 64;
/// rclone `--transfers`/`--checkers` and awscli `max_concurrent_requests`, per process; one
/// process per target runs at a time, so the two together also have 64 requests in flight.
const PEER_CONCURRENCY: usize = 32;
/// How many times the floor's call sequence is timed.
const FLOOR_SAMPLES: usize = 25;
/// The longest any one part may take before the run is given up.
const PART_DEADLINE: Duration = Duration::from_secs(1800);

type Error = String;

fn sdk<E: std::fmt::Debug>(context: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{context}: {e:?}")
}

/// Clients for both emulators.
struct Env {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
    plan_s3: String,
    plan_sqs_sns: String,
    /// Where configurations and logs go.
    dir: PathBuf,
}

impl Env {
    async fn connect(plan: &Plan, dir: &Path) -> Self {
        let base: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&plan.sqs_sns)
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&base)
                .endpoint_url(&plan.s3)
                .force_path_style(true)
                .build(),
        );
        Self {
            sqs: aws_sdk_sqs::Client::new(&base),
            sns: aws_sdk_sns::Client::new(&base),
            s3,
            plan_s3: plan.s3.clone(),
            plan_sqs_sns: plan.sqs_sns.clone(),
            dir: dir.to_owned(),
        }
    }

    async fn bucket(&self, name: &str) -> Result<(), Error> {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk(&format!("create bucket {name}")))
    }

    /// Keys in `bucket` (ListObjectsV2, every page).
    async fn count(&self, bucket: &str) -> Result<usize, Error> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        let mut n = 0;
        while let Some(page) = pages.next().await {
            n += page
                .map_err(sdk(&format!("list {bucket}")))?
                .contents()
                .len();
        }
        Ok(n)
    }

    /// Every target bucket of a copy must hold all `expected` objects, or its figure means nothing.
    async fn check_targets(
        &self,
        who: &str,
        buckets: &[String],
        expected: usize,
    ) -> Result<(), Error> {
        for bucket in buckets {
            let n = self.count(bucket).await?;
            if n != expected {
                return Err(format!(
                    "{who}: {bucket} holds {n} objects, expected {expected}"
                ));
            }
        }
        Ok(())
    }
}

/// One daemon setup: its event queue, completion topic with a subscriber queue, alerts topic
/// and target buckets.
struct Route {
    name: String,
    source_bucket: String,
    queue_url: String,
    topic_arn: String,
    alerts_arn: String,
    completions_url: String,
    targets: Vec<String>,
}

impl Route {
    async fn create(env: &Env, name: &str, source_bucket: &str) -> Result<Self, Error> {
        let mut targets = Vec::new();
        for i in 1..=TARGETS {
            let bucket = format!("{name}-t{i}");
            env.bucket(&bucket).await?;
            targets.push(bucket);
        }
        let queue_url = create_queue(&env.sqs, &format!("{name}-events"), &[]).await;
        let topic_arn = create_topic(&env.sns, &format!("{name}-completed")).await;
        let alerts_arn = create_topic(&env.sns, &format!("{name}-alerts")).await;
        let completions_url = subscribe_queue(
            &env.sqs,
            &env.sns,
            &topic_arn,
            &format!("{name}-completions"),
        )
        .await;
        Ok(Self {
            name: name.to_owned(),
            source_bucket: source_bucket.to_owned(),
            queue_url,
            topic_arn,
            alerts_arn,
            completions_url,
            targets,
        })
    }

    /// The daemon's configuration; everything not named here is the daemon's default
    /// (`queue.concurrency` 64, 10 messages per receive, 20-s long polls, text logs at info).
    fn config(&self, env: &Env) -> String {
        let mut toml = format!(
            r#"[aws]
endpoint_url = "{sqs_sns}"
s3_endpoint_url = "{s3}"
region = "us-east-1"

[queue]
url = "{queue}"

[completion]
topic_arn = "{topic}"

[alerts]
topic_arn = "{alerts}"
"#,
            sqs_sns = env.plan_sqs_sns,
            s3 = env.plan_s3,
            queue = self.queue_url,
            topic = self.topic_arn,
            alerts = self.alerts_arn,
        );
        for (i, bucket) in self.targets.iter().enumerate() {
            write!(
                toml,
                "\n[[targets]]\nname = \"t{n}\"\nbucket = \"{bucket}\"\nregion = \"{region}\"\n",
                n = i + 1,
                region = TARGET_REGIONS[i],
            )
            .expect("write to a String");
        }
        write!(
            toml,
            "\n[[rules]]\nname = \"{name}\"\nsource_bucket = \"{source}\"\ntargets = [{targets}]\n",
            name = self.name,
            source = self.source_bucket,
            targets = (1..=TARGETS)
                .map(|n| format!("\"t{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .expect("write to a String");
        toml
    }
}

fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}/d={:02}/part-{i:05}.bin", i / 1000)
}

fn body(i: usize) -> Vec<u8> {
    let mut body = format!("bench object {i}\n").into_bytes();
    body.resize(OBJECT_BYTES, b'.');
    body
}

/// The `ObjectCreated:Put` event S3 would send for this object (its keys need no encoding).
fn event(bucket: &str, key: &str, etag: &str, sequencer: usize) -> String {
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": OffsetDateTime::now_utc().format(&Rfc3339).expect("format time"),
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {
                    "key": key,
                    "size": OBJECT_BYTES,
                    "eTag": etag,
                    "sequencer": format!("{sequencer:016X}"),
                },
            },
        }]
    })
    .to_string()
}

async fn put(env: &Env, bucket: &str, key: &str, body: Vec<u8>) -> Result<String, Error> {
    let out = env
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .content_type("application/octet-stream")
        .send()
        .await
        .map_err(sdk(&format!("put {bucket}/{key}")))?;
    Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_owned())
}

/// Uploads objects `0..n` under `prefix`, `CONCURRENCY` at a time; returns their ETags.
async fn upload(env: &Env, bucket: &str, prefix: &str, n: usize) -> Result<Vec<String>, Error> {
    let etags: Vec<Result<String, Error>> = stream::iter(0..n)
        .map(|i| async move { put(env, bucket, &key(prefix, i), body(i)).await })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    etags.into_iter().collect()
}

/// Sends the events of objects `0..n` to `queue_url`, ten per call, and waits until SQS
/// reports all of them.
async fn enqueue(env: &Env, route: &Route, prefix: &str, etags: &[String]) -> Result<(), Error> {
    let batches: Vec<Vec<usize>> = (0..etags.len())
        .collect::<Vec<_>>()
        .chunks(10)
        .map(<[usize]>::to_vec)
        .collect();
    let results: Vec<Result<(), Error>> = stream::iter(batches)
        .map(|batch| async move {
            let entries = batch
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(event(
                            &route.source_bucket,
                            &key(prefix, i),
                            &etags[i],
                            i + 1,
                        ))
                        .build()
                        .expect("entry")
                })
                .collect();
            let out = env
                .sqs
                .send_message_batch()
                .queue_url(&route.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk("send events"))?;
            match out.failed().first() {
                Some(f) => Err(format!("send events: {f:?}")),
                None => Ok(()),
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), Error>>()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (visible, _) = queue_depth(&env.sqs, &route.queue_url).await;
        if visible as usize >= etags.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{}: {visible} of {} events visible after 120 s",
                route.name,
                etags.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One running daemon process.
struct Daemon {
    child: Child,
    pid: u32,
    metrics_addr: String,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl Daemon {
    async fn start(plan: &Plan, env: &Env, config: &Path, n: usize) -> Result<Self, Error> {
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let log_path = env.dir.join(format!(
            "{}-{n}.log",
            config.file_stem().unwrap_or_default().to_string_lossy()
        ));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let child = Command::new(&plan.bin)
            .args(["run", "--config"])
            .arg(config)
            .env("S3R_SERVER__LISTEN", &metrics_addr)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", plan.bin.display()))?;
        let pid = child.id().expect("a running child has a pid");
        Ok(Self {
            child,
            pid,
            metrics_addr,
            log: log_path,
        })
    }

    /// Waits until any of `daemons` exits, which none should while it is measured.
    async fn any_exited(daemons: &mut [Daemon]) -> Error {
        let waits = daemons.iter_mut().map(|d| {
            Box::pin(async move {
                let status = d.child.wait().await;
                format!(
                    "a daemon exited early ({status:?}); its log: {}",
                    d.log.display()
                )
            })
        });
        futures::future::select_all(waits).await.0
    }

    /// User + system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    /// The daemon's `/metrics` page.
    async fn metrics(&self) -> Result<String, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.metrics_addr)
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        let mut page = String::new();
        stream
            .read_to_string(&mut page)
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        Ok(page
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or(page))
    }

    /// SIGTERM, and the exit status once it stopped.
    async fn stop(mut self) -> Result<(), Error> {
        let status = signal_and_wait(&mut self.child, self.pid, "TERM", "a daemon").await?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("a daemon exited with {status}"))
        }
    }
}

/// Sends SIG`signal` to `child` (process `pid`) and waits up to 60 s for it to exit.
async fn signal_and_wait(
    child: &mut Child,
    pid: u32,
    signal: &str,
    what: &str,
) -> Result<std::process::ExitStatus, Error> {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .await;
    tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .map_err(|_| format!("{what} did not stop within 60 s of SIG{signal}"))?
        .map_err(|e| e.to_string())
}

/// User + system CPU seconds of process `pid` so far, its threads included (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The emulators' processes (`BENCH_S3_PID`, `BENCH_SQS_PID` from scripts/bench.sh), to show
/// which of them a run kept busy.
#[derive(Clone)]
struct Emulators(Vec<(&'static str, u32)>);

impl Emulators {
    fn from_env() -> Self {
        let pid = |var: &str| std::env::var(var).ok().and_then(|v| v.parse().ok());
        let mut found = Vec::new();
        if let Some(p) = pid("BENCH_S3_PID") {
            found.push(("s3s-fs", p));
        }
        if let Some(p) = pid("BENCH_SQS_PID") {
            found.push(("LocalStack", p));
        }
        Self(found)
    }

    /// Starts measuring; [`LoadProbe::finish`] gives each emulator's cores busy since.
    fn probe(&self) -> LoadProbe {
        LoadProbe {
            started: Instant::now(),
            cpu: self
                .0
                .iter()
                .map(|&(name, pid)| (name, pid, cpu_seconds(pid)))
                .collect(),
        }
    }
}

struct LoadProbe {
    started: Instant,
    cpu: Vec<(&'static str, u32, f64)>,
}

impl LoadProbe {
    fn finish(&self) -> Vec<EmulatorLoad> {
        let secs = self.started.elapsed().as_secs_f64();
        self.cpu
            .iter()
            .map(|&(name, pid, before)| EmulatorLoad {
                emulator: name.to_owned(),
                cores: (cpu_seconds(pid) - before) / secs,
            })
            .collect()
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn epoch_ms(t: OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64
}

/// A completion event as the subscriber reads it: the key and `completed_at` (epoch ms).
fn completion(body: &str) -> Option<(String, f64)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let key = v.pointer("/source/key")?.as_str()?.to_owned();
    let at = OffsetDateTime::parse(v.get("completed_at")?.as_str()?, &Rfc3339).ok()?;
    Some((key, epoch_ms(at)))
}

/// Completion events received so far, per key: when they arrived and their `completed_at`.
#[derive(Default)]
struct Arrivals {
    by_key: HashMap<String, (Instant, f64)>,
    duplicates: usize,
}

/// Receives (and deletes) completion events with four pollers until `expected` keys have one or
/// the deadline passes.
async fn collect(env: &Env, url: &str, expected: usize, deadline: Instant) -> Arrivals {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let poller = |arrivals: Arc<Mutex<Arrivals>>| async move {
        while arrivals.lock().expect("arrivals").by_key.len() < expected
            && Instant::now() < deadline
        {
            let Ok(messages) = receive_ten(env, url).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let now = Instant::now();
            for m in &messages {
                if let Some((key, at)) = completion(m.body().unwrap_or_default()) {
                    let mut a = arrivals.lock().expect("arrivals");
                    if a.by_key.insert(key, (now, at)).is_some() {
                        a.duplicates += 1;
                    }
                }
            }
            // A failed delete only makes a message come back, which counts as a duplicate.
            let _ = delete_all(env, url, &messages).await;
        }
    };
    futures::future::join_all((0..4).map(|_| poller(arrivals.clone()))).await;
    Arc::try_unwrap(arrivals)
        .ok()
        .expect("pollers finished")
        .into_inner()
        .expect("arrivals")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Part 1: objects uploaded at a steady rate, each one's time from PutObject returning to its
/// completion event on the subscriber queue.
async fn latency(plan: &Plan, env: &Env) -> Result<Latency, Error> {
    let n = plan.latency_objects;
    env.bucket("lat-src").await?;
    let route = Route::create(env, "lat", "lat-src").await?;
    let config = env.dir.join("lat.toml");
    std::fs::write(&config, route.config(env)).map_err(|e| e.to_string())?;
    let mut daemon = [Daemon::start(plan, env, &config, 1).await?];
    // Let it start polling before the first upload.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let deadline = Instant::now() + PART_DEADLINE;
    let collector = collect(env, &route.completions_url, n, deadline);
    let interval = Duration::from_secs_f64(1.0 / plan.latency_rate);
    let started = Instant::now();
    let uploads = stream::iter(0..n)
        .map(|i| {
            let route = &route;
            async move {
                tokio::time::sleep_until((started + interval * i as u32).into()).await;
                let key = key("lat", i);
                let etag = put(env, "lat-src", &key, body(i)).await?;
                let put_returned = Instant::now();
                env.sqs
                    .send_message()
                    .queue_url(&route.queue_url)
                    .message_body(event("lat-src", &key, &etag, i + 1))
                    .send()
                    .await
                    .map_err(sdk("send event"))?;
                Ok::<_, Error>((key, put_returned))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    let (arrivals, uploads) = tokio::select! {
        both = async { tokio::join!(collector, uploads) } => both,
        e = Daemon::any_exited(&mut daemon) => return Err(e),
    };
    let [daemon] = daemon;
    daemon.stop().await?;
    let mut latencies = Vec::with_capacity(n);
    for upload in uploads {
        let (key, put_returned) = upload?;
        let (arrived, _) = arrivals
            .by_key
            .get(&key)
            .ok_or_else(|| format!("latency: no completion event for {key}"))?;
        latencies.push(ms(arrived.duration_since(put_returned)));
    }
    latencies.sort_by(f64::total_cmp);
    let floor = floor(env).await?;
    let p50 = percentile(&latencies, 50.0);
    Ok(Latency {
        objects: n,
        object_bytes: OBJECT_BYTES,
        targets: TARGETS,
        rate_per_s: plan.latency_rate,
        p50_ms: p50,
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        ratio_p50_to_floor: p50 / floor.median_ms,
        floor,
    })
}

/// The floor: the calls the daemon needs for one object — receive the event, copy to each
/// target, publish the completion, delete the event — made one after another by a minimal
/// client, timed `FLOOR_SAMPLES` times.
async fn floor(env: &Env) -> Result<Floor, Error> {
    env.bucket("floor-src").await?;
    let route = Route::create(env, "floor", "floor-src").await?;
    let names = [
        "sqs:ReceiveMessage",
        "s3:CopyObject (target 1)",
        "s3:CopyObject (target 2)",
        "sns:Publish",
        "sqs:DeleteMessage",
    ];
    let mut calls: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut totals = Vec::new();
    let mut deliveries = Vec::new();
    for i in 0..FLOOR_SAMPLES {
        let key = key("floor", i);
        let etag = put(env, "floor-src", &key, body(i)).await?;
        let message = event("floor-src", &key, &etag, i + 1);
        env.sqs
            .send_message()
            .queue_url(&route.queue_url)
            .message_body(&message)
            .send()
            .await
            .map_err(sdk("floor: send event"))?;

        let mut times = Vec::with_capacity(names.len());
        let t = Instant::now();
        let received = env
            .sqs
            .receive_message()
            .queue_url(&route.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(5)
            .send()
            .await
            .map_err(sdk("floor: receive"))?;
        times.push(t.elapsed());
        let receipt = received
            .messages()
            .first()
            .and_then(|m| m.receipt_handle())
            .ok_or("floor: the event was not received within 5 s")?
            .to_owned();
        for target in &route.targets {
            let t = Instant::now();
            env.s3
                .copy_object()
                .bucket(target)
                .key(&key)
                .copy_source(format!("floor-src/{key}"))
                .send()
                .await
                .map_err(sdk("floor: copy"))?;
            times.push(t.elapsed());
        }
        let t = Instant::now();
        env.sns
            .publish()
            .topic_arn(&route.topic_arn)
            .message(&message)
            .send()
            .await
            .map_err(sdk("floor: publish"))?;
        let published = Instant::now();
        times.push(published - t);
        let t = Instant::now();
        env.sqs
            .delete_message()
            .queue_url(&route.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sdk("floor: delete"))?;
        times.push(t.elapsed());
        totals.push(ms(times.iter().sum()));
        for (c, d) in calls.iter_mut().zip(&times) {
            c.push(ms(*d));
        }
        // SNS → SQS delivery of the published message, which the daemon's latency includes.
        let got = env
            .sqs
            .receive_message()
            .queue_url(&route.completions_url)
            .wait_time_seconds(5)
            .send()
            .await
            .map_err(sdk("floor: receive the published message"))?;
        let m = got
            .messages()
            .first()
            .ok_or("floor: the published message did not arrive within 5 s")?;
        deliveries.push(ms(published.elapsed()));
        env.sqs
            .delete_message()
            .queue_url(&route.completions_url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(sdk("floor: delete the published message"))?;
    }
    Ok(Floor {
        samples: FLOOR_SAMPLES,
        median_ms: median(&totals),
        min_ms: totals.iter().copied().fold(f64::INFINITY, f64::min),
        calls: names
            .iter()
            .zip(&calls)
            .map(|(name, c)| CallTime {
                call: (*name).to_owned(),
                median_ms: median(c),
            })
            .collect(),
        delivery_ms: median(&deliveries),
    })
}

/// A concurrent client issuing only the copies: `n` objects × the targets.
async fn raw_copies(env: &Env, n: usize) -> Result<RawCapacity, Error> {
    let targets = ["raw-t1", "raw-t2"];
    for t in targets {
        env.bucket(t).await?;
    }
    let probe = Emulators::from_env().probe();
    let started = Instant::now();
    let results: Vec<Result<(), Error>> =
        stream::iter((0..n).flat_map(|i| targets.map(|t| (i, t))))
            .map(|(i, target)| async move {
                let key = key("tp", i);
                env.s3
                    .copy_object()
                    .bucket(target)
                    .key(&key)
                    .copy_source(format!("tp-src/{key}"))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(sdk("raw copy"))
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let secs = started.elapsed().as_secs_f64();
    let emulator_load = probe.finish();
    results.into_iter().collect::<Result<(), Error>>()?;
    env.check_targets("raw copies", &targets.map(str::to_owned), n)
        .await?;
    let copies_per_s = (n * TARGETS) as f64 / secs;
    Ok(RawCapacity {
        concurrency: CONCURRENCY,
        copies_per_s,
        objects_per_s: copies_per_s / TARGETS as f64,
        emulator_load,
    })
}

/// The same client shape issuing only SNS Publish calls to a topic with one SQS subscriber.
async fn raw_publishes(env: &Env, n: usize) -> Result<f64, Error> {
    let topic = create_topic(&env.sns, "ceiling-completed").await;
    let queue = subscribe_queue(&env.sqs, &env.sns, &topic, "ceiling-completions").await;
    let message = event("tp-src", &key("tp", 0), "0", 1);
    let started = Instant::now();
    let results: Vec<Result<(), Error>> = stream::iter(0..n)
        .map(|_| {
            let topic = &topic;
            let message = &message;
            async move {
                env.sns
                    .publish()
                    .topic_arn(topic)
                    .message(message)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(sdk("publish"))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    results.into_iter().collect::<Result<(), Error>>()?;
    // SNS answers before it delivers: wait until the subscriber queue holds every message, so
    // that the emulator is idle again for the next part, then drop the queue.
    let deadline = Instant::now() + PART_DEADLINE;
    while (queue_depth(&env.sqs, &queue).await.0 as usize) < n {
        if Instant::now() > deadline {
            return Err("SNS ceiling: the published messages were not delivered".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = env.sqs.delete_queue().queue_url(&queue).send().await;
    Ok(n as f64 / secs)
}

/// Up to ten messages of `url`, waiting up to a second for them.
async fn receive_ten(env: &Env, url: &str) -> Result<Vec<aws_sdk_sqs::types::Message>, Error> {
    let out = env
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .map_err(sdk("receive"))?;
    Ok(out.messages.unwrap_or_default())
}

/// Deletes `messages` from `url` in one call; returns how many there were.
async fn delete_all(
    env: &Env,
    url: &str,
    messages: &[aws_sdk_sqs::types::Message],
) -> Result<usize, Error> {
    if messages.is_empty() {
        return Ok(0);
    }
    let entries = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("entry")
        })
        .collect();
    env.sqs
        .delete_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(sdk("delete"))?;
    Ok(messages.len())
}

/// The same client shape receiving and deleting `etags.len()` events, ten per call, from a
/// queue that holds them all (the daemon's side of SQS).
async fn raw_receives(env: &Env, etags: &[String]) -> Result<f64, Error> {
    let route = Route {
        name: "ceiling-sqs".into(),
        source_bucket: "tp-src".into(),
        queue_url: create_queue(&env.sqs, "ceiling-events", &[]).await,
        topic_arn: String::new(),
        alerts_arn: String::new(),
        completions_url: String::new(),
        targets: Vec::new(),
    };
    enqueue(env, &route, "tp", etags).await?;
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    // When the last message was deleted: the pollers' final empty long polls do not count.
    let finished = Arc::new(Mutex::new(started));
    let deadline = started + PART_DEADLINE;
    let poller = |received: Arc<std::sync::atomic::AtomicUsize>, finished: Arc<Mutex<Instant>>| {
        let url = &route.queue_url;
        async move {
            use std::sync::atomic::Ordering::Relaxed;
            while received.load(Relaxed) < etags.len() && Instant::now() < deadline {
                let messages = receive_ten(env, url).await?;
                let n = delete_all(env, url, &messages).await?;
                if n == 0 {
                    continue;
                }
                received.fetch_add(n, Relaxed);
                *finished.lock().expect("finished") = Instant::now();
            }
            Ok::<(), Error>(())
        }
    };
    // Seven pollers: the daemon's receive calls in flight at 64 messages in flight.
    let results =
        futures::future::join_all((0..7).map(|_| poller(received.clone(), finished.clone()))).await;
    let secs = finished
        .lock()
        .expect("finished")
        .duration_since(started)
        .as_secs_f64();
    results.into_iter().collect::<Result<(), Error>>()?;
    let _ = env
        .sqs
        .delete_queue()
        .queue_url(&route.queue_url)
        .send()
        .await;
    Ok(received.load(std::sync::atomic::Ordering::Relaxed) as f64 / secs)
}

/// The emulator's ceiling for the daemon's queue and topic work alone: what the daemon does for
/// each object minus S3 — receive the events (ten per call), publish one completion per event,
/// delete the batch — with seven pollers and ten publishes each in flight (about the daemon's
/// 64), while the subscriber queue is drained as in the daemon's runs. Objects per second, from
/// the start to the last completion's `completed_at`.
async fn raw_queue_topic(env: &Env, etags: &[String]) -> Result<(f64, Vec<EmulatorLoad>), Error> {
    let n = etags.len();
    let route = Route::create(env, "ceiling-qt", "tp-src").await?;
    enqueue(env, &route, "tp", etags).await?;
    let probe = Emulators::from_env().probe();
    let t0 = epoch_ms(OffsetDateTime::now_utc());
    let deadline = Instant::now() + PART_DEADLINE;
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let poller = |handled: Arc<std::sync::atomic::AtomicUsize>| {
        let route = &route;
        async move {
            use std::sync::atomic::Ordering::Relaxed;
            while handled.load(Relaxed) < n && Instant::now() < deadline {
                let messages = receive_ten(env, &route.queue_url).await?;
                let publishes = messages.iter().map(|m| async move {
                    let event: serde_json::Value =
                        serde_json::from_str(m.body().unwrap_or_default())
                            .map_err(|e| format!("event: {e}"))?;
                    let key = event
                        .pointer("/Records/0/s3/object/key")
                        .and_then(|k| k.as_str())
                        .unwrap_or_default();
                    let completed_at = OffsetDateTime::now_utc()
                        .format(&Rfc3339)
                        .expect("format time");
                    let body = serde_json::json!({
                        "source": {"key": key},
                        "completed_at": completed_at,
                    });
                    env.sns
                        .publish()
                        .topic_arn(&route.topic_arn)
                        .message(body.to_string())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(sdk("publish"))
                });
                futures::future::try_join_all(publishes).await?;
                let count = delete_all(env, &route.queue_url, &messages).await?;
                handled.fetch_add(count, Relaxed);
            }
            Ok::<(), Error>(())
        }
    };
    let pollers = futures::future::join_all((0..7).map(|_| poller(handled.clone())));
    let (results, arrivals) =
        tokio::join!(pollers, collect(env, &route.completions_url, n, deadline));
    let emulator_load = probe.finish();
    results.into_iter().collect::<Result<(), Error>>()?;
    if arrivals.by_key.len() < n {
        return Err(format!(
            "queue + topic ceiling: {} of {n} completions arrived",
            arrivals.by_key.len()
        ));
    }
    let last = arrivals
        .by_key
        .values()
        .map(|(_, at)| *at)
        .fold(f64::MIN, f64::max);
    Ok((n as f64 / ((last - t0) / 1000.0), emulator_load))
}

/// One throughput run of the daemon: `daemons` processes drain `n` events from one queue.
struct DaemonRun {
    seconds: f64,
    cpu_seconds: f64,
    metrics: Vec<String>,
    emulator_load: Vec<EmulatorLoad>,
}

/// `name` distinguishes the queue, topic and buckets of each run. With `profile`, `perf record`
/// samples the first daemon's CPU into that file from its start until every completion arrived.
async fn daemon_run(
    plan: &Plan,
    env: &Env,
    name: &str,
    daemons: usize,
    etags: &[String],
    profile: Option<&Path>,
) -> Result<DaemonRun, Error> {
    let n = etags.len();
    let route = Route::create(env, name, "tp-src").await?;
    enqueue(env, &route, "tp", etags).await?;
    let config = env.dir.join(format!("{name}.toml"));
    std::fs::write(&config, route.config(env)).map_err(|e| e.to_string())?;

    let probe = Emulators::from_env().probe();
    let t0 = epoch_ms(OffsetDateTime::now_utc());
    let mut running = Vec::new();
    for i in 1..=daemons {
        running.push(Daemon::start(plan, env, &config, i).await?);
    }
    let perf = match profile {
        Some(path) => Some(Perf::attach(running[0].pid, path)?),
        None => None,
    };
    let deadline = Instant::now() + PART_DEADLINE;
    let arrivals = tokio::select! {
        a = collect(env, &route.completions_url, n, deadline) => a,
        e = Daemon::any_exited(&mut running) => return Err(e),
    };
    let emulator_load = probe.finish();
    if let Some(perf) = perf {
        perf.stop().await?;
    }
    let mut cpu_seconds = 0.0;
    let mut metrics = Vec::new();
    for daemon in running {
        cpu_seconds += daemon.cpu_seconds();
        metrics.push(daemon.metrics().await?);
        daemon.stop().await?;
    }
    if arrivals.by_key.len() < n {
        return Err(format!(
            "{daemons} daemon(s): {} of {n} completion events within {} s",
            arrivals.by_key.len(),
            PART_DEADLINE.as_secs()
        ));
    }
    env.check_targets(&format!("{daemons} daemon(s)"), &route.targets, n)
        .await?;
    let last = arrivals
        .by_key
        .values()
        .map(|(_, at)| *at)
        .fold(f64::MIN, f64::max);
    let seconds = (last - t0) / 1000.0;
    println!(
        "{daemons} daemon(s): {n} objects in {seconds:.1} s = {:.0} objects/s; CPU {cpu_seconds:.1} s; {} duplicate completion events; emulators busy: {}",
        n as f64 / seconds,
        arrivals.duplicates,
        super::report::loads(&emulator_load)
    );
    Ok(DaemonRun {
        seconds,
        cpu_seconds,
        metrics,
        emulator_load,
    })
}

/// `perf record` attached to a running process (software CPU clock: it needs no hardware
/// counters, which virtual machines often lack).
struct Perf {
    child: Child,
}

impl Perf {
    fn attach(pid: u32, out: &Path) -> Result<Self, Error> {
        let child = Command::new("perf")
            .args([
                "record",
                "--quiet",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "--call-graph",
                "dwarf,16384",
                "-p",
            ])
            .arg(pid.to_string())
            .arg("-o")
            .arg(out)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("perf record (Debian's linux-perf): {e}"))?;
        Ok(Self { child })
    }

    /// SIGINT, which makes perf write its file and exit.
    async fn stop(mut self) -> Result<(), Error> {
        let pid = self.child.id().ok_or("perf record exited early")?;
        let status = signal_and_wait(&mut self.child, pid, "INT", "perf record").await?;
        // perf exits with the signal's status after a clean write.
        if status.success() || status.code() == Some(130) || status.code().is_none() {
            Ok(())
        } else {
            Err(format!("perf record exited with {status}"))
        }
    }
}

/// A peer tool copying `src` into each target bucket, one process per target, both at once.
async fn peer(
    env: &Env,
    name: &str,
    commands: Vec<Command>,
    targets: &[String],
    n: usize,
) -> Result<(f64, Vec<EmulatorLoad>), Error> {
    let probe = Emulators::from_env().probe();
    let started = Instant::now();
    let mut children = Vec::new();
    for (i, mut command) in commands.into_iter().enumerate() {
        let log = std::fs::File::create(env.dir.join(format!("{name}-{i}.log")))
            .map_err(|e| e.to_string())?;
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        children.push(child);
    }
    for mut child in children {
        let status = child.wait().await.map_err(|e| format!("{name}: {e}"))?;
        if !status.success() {
            return Err(format!(
                "{name} exited with {status} (log in {})",
                env.dir.display()
            ));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let emulator_load = probe.finish();
    env.check_targets(name, targets, n).await?;
    println!(
        "{name}: {n} objects × {} targets in {seconds:.1} s = {:.0} objects/s",
        targets.len(),
        n as f64 / seconds
    );
    Ok((seconds, emulator_load))
}

async fn rclone(plan: &Plan, env: &Env, n: usize) -> Result<(f64, Vec<EmulatorLoad>), Error> {
    let targets: Vec<String> = (1..=TARGETS).map(|i| format!("rclone-t{i}")).collect();
    let mut commands = Vec::new();
    for target in &targets {
        env.bucket(target).await?;
        let mut c = Command::new(&plan.rclone);
        c.args(["copy", "bench:tp-src", &format!("bench:{target}")])
            .args(["--transfers", &PEER_CONCURRENCY.to_string()])
            .args(["--checkers", &PEER_CONCURRENCY.to_string()])
            .arg("--s3-no-check-bucket")
            .env_remove("AWS_CA_BUNDLE")
            .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
            .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
            .env("RCLONE_CONFIG_BENCH_ENDPOINT", &env.plan_s3)
            .env("RCLONE_CONFIG_BENCH_REGION", "us-east-1")
            .env("RCLONE_CONFIG_BENCH_ENV_AUTH", "true");
        commands.push(c);
    }
    peer(env, "rclone copy", commands, &targets, n).await
}

async fn aws_sync(plan: &Plan, env: &Env, n: usize) -> Result<(f64, Vec<EmulatorLoad>), Error> {
    let targets: Vec<String> = (1..=TARGETS).map(|i| format!("aws-t{i}")).collect();
    let config = env.dir.join("aws-config");
    std::fs::write(
        &config,
        format!("[default]\ns3 =\n  max_concurrent_requests = {PEER_CONCURRENCY}\n"),
    )
    .map_err(|e| e.to_string())?;
    let mut commands = Vec::new();
    for target in &targets {
        env.bucket(target).await?;
        let mut c = Command::new(&plan.aws);
        c.args(["--endpoint-url", &env.plan_s3, "s3", "sync", "s3://tp-src"])
            .arg(format!("s3://{target}"))
            .arg("--only-show-errors")
            .env("AWS_CONFIG_FILE", &config);
        commands.push(c);
    }
    peer(env, "aws s3 sync", commands, &targets, n).await
}

/// `s3r_aws_requests_total` of one `/metrics` page: `service:Operation` → count.
fn requests_of(page: &str, into: &mut BTreeMap<String, f64>) {
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("s3r_aws_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let count: f64 = value.trim().parse().unwrap_or(0.0);
        *into
            .entry(format!("{}:{}", label("service"), label("operation")))
            .or_default() += count;
    }
}

/// Requests per object per target, from the metrics of the one-daemon run, beside CRR's.
fn requests(metrics: &[String], n: usize) -> Result<Requests, Error> {
    let mut counts = BTreeMap::new();
    for page in metrics {
        requests_of(page, &mut counts);
    }
    if counts.is_empty() {
        return Err("requests: the daemon's /metrics has no s3r_aws_requests_total".into());
    }
    let per = (n * TARGETS) as f64;
    let per_object_per_target: Vec<RequestRate> = counts
        .iter()
        .map(|(request, count)| RequestRate {
            request: request.clone(),
            per_object_per_target: count / per,
        })
        .collect();
    // S3 pricing, "Replication": CRR bills one replication PUT request per object per
    // destination (plus storage and inter-region transfer); its reads of the source are not
    // billed as requests, and it needs no queue or topic.
    let crr = vec![RequestRate {
        request: "s3:PUT (replication)".into(),
        per_object_per_target: 1.0,
    }];
    Ok(Requests {
        objects: n,
        targets: TARGETS,
        total_per_object_per_target: per_object_per_target
            .iter()
            .map(|r| r.per_object_per_target)
            .sum(),
        per_object_per_target,
        crr_total_per_object_per_target: crr.iter().map(|r| r.per_object_per_target).sum(),
        crr,
    })
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Every part, in this order: latency first (on idle emulators), the emulators' ceilings, the
/// daemon with one and two processes, then the peers.
pub async fn run(plan: &Plan) -> Result<Results, Error> {
    let dir = PathBuf::from(".bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let env = Env::connect(plan, &dir).await;
    let mut results = Results {
        schema: SCHEMA.into(),
        run: Run {
            started_at: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .expect("format time"),
            command: plan.command.clone(),
            revision: revision(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_average_start: load_average(),
            load_average_end: f64::NAN,
            emulators: vec![
                Emulator {
                    service: "s3".into(),
                    name: std::env::var("BENCH_S3_EMULATOR").unwrap_or_else(|_| "s3s-fs".into()),
                },
                Emulator {
                    service: "sqs, sns".into(),
                    name: std::env::var("BENCH_SQS_EMULATOR")
                        .unwrap_or_else(|_| "LocalStack".into()),
                },
            ],
        },
        ..Results::default()
    };
    let n = plan.objects;

    println!("== source: {n} objects of {OBJECT_BYTES} bytes into tp-src");
    env.bucket("tp-src").await?;
    let started = Instant::now();
    let etags = upload(&env, "tp-src", "tp", n).await?;
    println!("uploaded in {:.1} s", started.elapsed().as_secs_f64());

    println!(
        "== latency: {} objects at {}/s",
        plan.latency_objects, plan.latency_rate
    );
    let latency = latency(plan, &env).await?;
    println!(
        "p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; floor {:.0} ms (ratio {:.1})",
        latency.p50_ms,
        latency.p95_ms,
        latency.p99_ms,
        latency.max_ms,
        latency.floor.median_ms,
        latency.ratio_p50_to_floor
    );
    results.latency = Some(latency);

    println!("== the emulators' ceilings");
    let raw = raw_copies(&env, n).await?;
    println!(
        "raw CopyObject: {:.0} copies/s = {:.0} objects/s to {TARGETS} targets",
        raw.copies_per_s, raw.objects_per_s
    );
    let sns_publish_per_s = raw_publishes(&env, n).await?;
    println!("raw SNS Publish: {sns_publish_per_s:.0}/s");
    let sqs_receive_delete_per_s = raw_receives(&env, &etags).await?;
    println!("raw SQS receive + delete: {sqs_receive_delete_per_s:.0} messages/s");
    let (queue_topic_per_s, queue_topic_load) = raw_queue_topic(&env, &etags).await?;
    println!(
        "raw queue + topic work (receive, publish, delete; S3 aside): {queue_topic_per_s:.0} objects/s; emulators busy: {}",
        super::report::loads(&queue_topic_load)
    );

    let mut rows = Vec::new();
    let row = |tool: &str, how: String, seconds: f64, emulator_load| ThroughputRow {
        tool: tool.into(),
        how,
        seconds,
        objects_per_s: n as f64 / seconds,
        ratio_to_raw: n as f64 / seconds / raw.objects_per_s,
        emulator_load,
    };
    for daemons in [1, 2] {
        println!("== throughput: {daemons} daemon(s)");
        let d = daemon_run(plan, &env, &format!("d{daemons}"), daemons, &etags, None).await?;
        let label = if daemons == 1 {
            "s3-replicator (1 daemon)".to_owned()
        } else {
            format!("s3-replicator ({daemons} daemons)")
        };
        rows.push(row(
            &label,
            "queue.concurrency 64 per process (the default), events on one queue".into(),
            d.seconds,
            d.emulator_load.clone(),
        ));
        results.scale.push(ScaleRow {
            daemons,
            seconds: d.seconds,
            objects_per_s: n as f64 / d.seconds,
            daemon_cpu_seconds: d.cpu_seconds,
        });
        if daemons == 1 {
            results.requests = Some(requests(&d.metrics, n)?);
        }
    }
    println!("== throughput: rclone copy");
    let (s, load) = rclone(plan, &env, n).await?;
    rows.push(row("rclone copy", format!("server-side, one process per target, --transfers {PEER_CONCURRENCY} --checkers {PEER_CONCURRENCY}"), s, load));
    println!("== throughput: aws s3 sync");
    let (s, load) = aws_sync(plan, &env, n).await?;
    rows.push(row(
        "aws s3 sync",
        format!("server-side, one process per target, max_concurrent_requests {PEER_CONCURRENCY}"),
        s,
        load,
    ));

    results.throughput = Some(Throughput {
        objects: n,
        object_bytes: OBJECT_BYTES,
        targets: TARGETS,
        raw,
        sns_publish_per_s,
        sqs_receive_delete_per_s,
        queue_topic_per_s,
        queue_topic_load,
        rows,
    });
    results.run.load_average_end = load_average();
    Ok(results)
}

/// What `bench profile` measured: one daemon draining `objects` events under `perf record`.
pub struct Profile {
    pub objects: usize,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// The throughput part alone, one daemon, sampled by `perf record` into `perf_data`; the
/// uploads and the events are made first, outside the profile.
pub async fn profile(plan: &Plan, perf_data: &Path) -> Result<Profile, Error> {
    let dir = PathBuf::from(".bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let env = Env::connect(plan, &dir).await;
    let n = plan.objects;
    println!("== source: {n} objects of {OBJECT_BYTES} bytes into tp-src");
    env.bucket("tp-src").await?;
    let etags = upload(&env, "tp-src", "tp", n).await?;
    println!(
        "== throughput: 1 daemon under perf record ({})",
        perf_data.display()
    );
    let d = daemon_run(plan, &env, "prof", 1, &etags, Some(perf_data)).await?;
    Ok(Profile {
        objects: n,
        seconds: d.seconds,
        cpu_seconds: d.cpu_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
# TYPE s3r_aws_requests_total counter
s3r_aws_requests_total{service=\"s3\",operation=\"HeadObject\"} 30
s3r_aws_requests_total{service=\"s3\",operation=\"CopyObject\"} 20
s3r_aws_requests_total{service=\"sns\",operation=\"Publish\"} 10
s3r_objects_replicated_total{target=\"t1\",method=\"server_side_copy\"} 10
";

    #[test]
    fn requests_per_object_per_target_add_up_across_daemons() {
        // Two daemons' pages, 20 objects in all, two targets: 40 object-targets.
        let q = requests(&[PAGE.to_owned(), PAGE.to_owned()], 20).expect("requests");
        let rate = |name: &str| {
            q.per_object_per_target
                .iter()
                .find(|r| r.request == name)
                .map(|r| r.per_object_per_target)
        };
        assert_eq!(rate("s3:HeadObject"), Some(1.5));
        assert_eq!(rate("s3:CopyObject"), Some(1.0));
        assert_eq!(rate("sns:Publish"), Some(0.5));
        assert_eq!(
            q.per_object_per_target.len(),
            3,
            "other families are not requests"
        );
        assert!((q.total_per_object_per_target - 3.0).abs() < 1e-9);
        assert_eq!(q.crr_total_per_object_per_target, 1.0);
    }

    #[test]
    fn a_page_without_request_counts_is_an_error() {
        let err = requests(&["s3r_messages_in_flight 0\n".to_owned()], 10).unwrap_err();
        assert!(err.contains("s3r_aws_requests_total"), "{err}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 50.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&sorted, 100.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn the_cpu_time_of_this_process_is_read_from_proc() {
        let before = cpu_seconds(std::process::id());
        // Spin until the kernel's next tick counts it, or give up at the deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut x = 0u64;
        while cpu_seconds(std::process::id()) <= before {
            for _ in 0..1_000_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            assert!(
                Instant::now() < deadline,
                "no CPU time counted after {x} additions"
            );
        }
    }
}
