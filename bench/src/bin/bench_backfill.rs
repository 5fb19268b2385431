//! The backfill benchmark behind `scripts/bench-backfill.sh`: objects that existed before the
//! daemon, copied four ways in one run on the same emulators (s3s-fs for S3, LocalStack for SQS
//! and SNS):
//!
//!   (a) `s3-replicator backfill`: one process lists the source and copies;
//!   (b) `s3-replicator backfill --enqueue`, one event per object to the daemon's queue, drained
//!       by one running daemon (`s3-replicator run`);
//!   (c) the same, drained by two daemons;
//!   (d) `rclone copy`, one process per target, as `scripts/bench.sh` runs it.
//!
//!   bench_backfill --sqs-sns URL --s3 URL --bin PATH --rclone PATH [--objects N] [--bytes B]
//!
//! Each part copies every object of one source bucket (notifications off: s3s-fs sends none,
//! and nothing is configured) into two target buckets of its own, created empty for it. Its
//! time runs from the tool's start until every object is in every target: for (a) and (d) until
//! the processes exited (then both targets are listed and must hold every key); for (b) and
//! (c) until every object's completion event (`"origin": "backfill"`) arrived on a subscriber
//! of the completion topic and the event queue is empty (visible and in flight), polled every
//! 100 ms. The daemons are started, and have sent their first receive, before the clock starts,
//! as they would be running in production when a backfill is enqueued.
//!
//! Requests per object by service: the daemons' own from their `/metrics`
//! (`s3r_aws_requests_total`, measured); the backfill command exposes no metrics, so its
//! requests are counted from its summary and its code path, and its SQS `SendMessageBatch`
//! calls are also read from LocalStack's request log (measured); rclone's from its behaviour.
//! Each row says which.
//!
//! Environment, as `scripts/bench.sh` sets it: BENCH_S3_PID and BENCH_SQS_PID (the emulators'
//! processes: their busy cores per part), BENCH_SQS_LOG (LocalStack's log: its requests per
//! part), BENCH_COMMAND (the command line, for the record).

#[path = "../../../tests/it/common/stack.rs"]
mod stack;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use futures::stream::{self, StreamExt};
use tokio::process::{Child, Command};

use stack::{create_queue, create_topic, queue_depth, subscribe_queue};

type Error = String;

const TARGETS: usize = 2;
const TARGET_REGIONS: [&str; TARGETS] = ["eu-west-1", "us-west-2"];
/// Uploads in flight while the source is filled.
const UPLOADS_IN_FLIGHT: usize = 64;
/// rclone `--transfers`/`--checkers` per process, as in `scripts/bench.sh`.
const PEER_CONCURRENCY: usize = 32;
/// The longest a part may take.
const PART_DEADLINE: Duration = Duration::from_secs(1800);
const POLL: Duration = Duration::from_millis(100);
/// Keys per ListObjectsV2 page (S3's and s3s-fs's default).
const LIST_PAGE: usize = 1000;
/// SQS's entries per SendMessageBatch, as `backfill --enqueue` sends them.
const SEND_BATCH: usize = 10;
const SOURCE: &str = "bf-src";

fn sdk<E: std::fmt::Debug>(context: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{context}: {e:?}")
}

struct Plan {
    sqs_sns: String,
    s3: String,
    bin: PathBuf,
    rclone: PathBuf,
    objects: usize,
    bytes: usize,
    dir: PathBuf,
}

struct Env {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    pulse_queue: String,
}

impl Env {
    async fn connect(plan: &Plan) -> Self {
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
        let sqs = aws_sdk_sqs::Client::new(&base);
        let pulse_queue = create_queue(&sqs, "bf-pulse", &[]).await;
        Self {
            s3,
            sqs,
            sns: aws_sdk_sns::Client::new(&base),
            pulse_queue,
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

    async fn keys(&self, bucket: &str) -> Result<HashSet<String>, Error> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        let mut keys = HashSet::new();
        while let Some(page) = pages.next().await {
            for o in page.map_err(sdk(&format!("list {bucket}")))?.contents() {
                keys.insert(o.key().unwrap_or_default().to_owned());
            }
        }
        Ok(keys)
    }

    /// Every target must hold every source key, or the part's figure means nothing.
    async fn check_targets(&self, who: &str, targets: &[String], n: usize) -> Result<(), Error> {
        let source = self.keys(SOURCE).await?;
        for t in targets {
            let held = self.keys(t).await?;
            let missing = source.difference(&held).count();
            if missing > 0 || held.len() != n {
                return Err(format!(
                    "{who}: {t} holds {} objects, {missing} of the source's {n} missing",
                    held.len()
                ));
            }
        }
        Ok(())
    }
}

fn key(i: usize) -> String {
    format!("bf/d={:02}/part-{i:05}.bin", i / 1000)
}

async fn fill_source(env: &Env, plan: &Plan) -> Result<(), Error> {
    env.bucket(SOURCE).await?;
    let started = Instant::now();
    let results: Vec<Result<(), Error>> = stream::iter(0..plan.objects)
        .map(|i| async move {
            let mut body = format!("backfill bench object {i}\n").into_bytes();
            body.resize(plan.bytes, b'.');
            env.s3
                .put_object()
                .bucket(SOURCE)
                .key(key(i))
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(sdk(&format!("put {}", key(i))))
        })
        .buffer_unordered(UPLOADS_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), Error>>()?;
    println!(
        "source: {} objects of {} bytes in s3://{SOURCE} in {:.1} s (no notification configured; s3s-fs sends none)",
        plan.objects,
        plan.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One part's setup: two empty target buckets, the event queue, the completion topic with a
/// subscriber queue, the alerts topic.
struct Route {
    name: String,
    targets: Vec<String>,
    queue_url: String,
    topic_arn: String,
    alerts_arn: String,
    completions_url: String,
}

impl Route {
    async fn create(env: &Env, name: &str) -> Result<Self, Error> {
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
            targets,
            queue_url,
            topic_arn,
            alerts_arn,
            completions_url,
        })
    }

    /// The daemon's (and the backfill command's) configuration: everything not named is the
    /// default (`queue.concurrency` 64, which is also the backfill's copies in flight).
    fn config(&self, plan: &Plan) -> String {
        let mut toml = format!(
            "[aws]\nendpoint_url = \"{}\"\ns3_endpoint_url = \"{}\"\nregion = \"us-east-1\"\n\n\
             [queue]\nurl = \"{}\"\n\n[completion]\ntopic_arn = \"{}\"\n\n[alerts]\ntopic_arn = \"{}\"\n",
            plan.sqs_sns, plan.s3, self.queue_url, self.topic_arn, self.alerts_arn
        );
        for (i, bucket) in self.targets.iter().enumerate() {
            let _ = write!(
                toml,
                "\n[[targets]]\nname = \"t{}\"\nbucket = \"{bucket}\"\nregion = \"{}\"\n",
                i + 1,
                TARGET_REGIONS[i]
            );
        }
        let _ = write!(
            toml,
            "\n[[rules]]\nname = \"{}\"\nsource_bucket = \"{SOURCE}\"\ntargets = [{}]\n",
            self.name,
            (1..=TARGETS)
                .map(|n| format!("\"t{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        toml
    }

    fn write_config(&self, plan: &Plan) -> Result<PathBuf, Error> {
        let path = plan.dir.join(format!("{}.toml", self.name));
        std::fs::write(&path, self.config(plan)).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

// ---------------------------------------------------------------------------------------------
// Load: the emulators' and the machine's busy cores, LocalStack's requests, answer times.

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of `pid` so far (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / clock_ticks()
}

/// Busy CPU seconds of the whole machine since boot (`/proc/stat`, all but idle and iowait).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy / clock_ticks()
}

/// LocalStack's requests after byte `from` of its log (`… : AWS sqs.SendMessageBatch => 200`).
fn localstack_requests(path: &Path, from: u64) -> BTreeMap<String, usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.read_to_string(&mut text);
        }
    }
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some((_, rest)) = line.split_once(": AWS ") {
            if let Some(op) = rest.split_whitespace().next() {
                *counts.entry(op.to_owned()).or_default() += 1;
            }
        }
    }
    counts
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

struct Probe {
    started: Instant,
    machine: f64,
    emulators: Vec<(&'static str, u32, f64)>,
    log: Option<(PathBuf, u64)>,
    stop: tokio::sync::watch::Sender<bool>,
    pulse: tokio::task::JoinHandle<(Vec<f64>, Vec<f64>)>,
}

struct Load {
    emulators: Vec<(&'static str, f64)>,
    machine_cores: f64,
    localstack: BTreeMap<String, usize>,
    /// GetQueueAttributes on LocalStack, HeadObject on s3s-fs: p50, p90 ms.
    answers: [f64; 4],
}

impl Probe {
    fn start(env: &Env) -> Self {
        let pid = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
        let mut emulators = Vec::new();
        if let Some(p) = pid("BENCH_S3_PID") {
            emulators.push(("s3s-fs", p, cpu_seconds(p)));
        }
        if let Some(p) = pid("BENCH_SQS_PID") {
            emulators.push(("LocalStack", p, cpu_seconds(p)));
        }
        let log = std::env::var_os("BENCH_SQS_LOG")
            .map(PathBuf::from)
            .map(|p| {
                let len = std::fs::metadata(&p).map_or(0, |m| m.len());
                (p, len)
            });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (sqs, s3, queue) = (env.sqs.clone(), env.s3.clone(), env.pulse_queue.clone());
        let pulse = tokio::spawn(async move {
            let (mut q, mut s) = (Vec::new(), Vec::new());
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tick.tick() => {}
                }
                let t = Instant::now();
                if sqs
                    .get_queue_attributes()
                    .queue_url(&queue)
                    .send()
                    .await
                    .is_ok()
                {
                    q.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                let t = Instant::now();
                if s3
                    .head_object()
                    .bucket(SOURCE)
                    .key(key(0))
                    .send()
                    .await
                    .is_ok()
                {
                    s.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            (q, s)
        });
        Self {
            started: Instant::now(),
            machine: machine_busy_seconds(),
            emulators,
            log,
            stop,
            pulse,
        }
    }

    async fn finish(self) -> Load {
        let seconds = self.started.elapsed().as_secs_f64();
        let _ = self.stop.send(true);
        let (mut q, mut s) = self.pulse.await.unwrap_or_default();
        q.sort_by(f64::total_cmp);
        s.sort_by(f64::total_cmp);
        Load {
            emulators: self
                .emulators
                .iter()
                .map(|&(n, pid, before)| (n, (cpu_seconds(pid) - before) / seconds))
                .collect(),
            machine_cores: (machine_busy_seconds() - self.machine) / seconds,
            localstack: self
                .log
                .map(|(p, from)| localstack_requests(&p, from))
                .unwrap_or_default(),
            answers: [
                percentile(&q, 50.0),
                percentile(&q, 90.0),
                percentile(&s, 50.0),
                percentile(&s, 90.0),
            ],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A tool run under `/usr/bin/time`, which writes its wall, user and system seconds and peak RSS.
struct Timed {
    child: Child,
    time_file: PathBuf,
    stdout: PathBuf,
    label: String,
}

struct TimedExit {
    cpu_seconds: f64,
    max_rss_kib: f64,
    stdout: String,
}

impl Timed {
    fn spawn(
        plan: &Plan,
        label: &str,
        program: &Path,
        args: &[String],
        envs: &[(&str, &str)],
    ) -> Result<Self, Error> {
        let time_file = plan.dir.join(format!("{label}.time"));
        let stdout = plan.dir.join(format!("{label}.out"));
        let log = std::fs::File::create(plan.dir.join(format!("{label}.log")))
            .map_err(|e| e.to_string())?;
        let out = std::fs::File::create(&stdout).map_err(|e| e.to_string())?;
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f")
            .arg("%e %U %S %M")
            .arg("-o")
            .arg(&time_file)
            .arg(program)
            .args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        let child = c
            .env_remove("AWS_CA_BUNDLE")
            .stdout(out)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{label}: {e}"))?;
        Ok(Self {
            child,
            time_file,
            stdout,
            label: label.to_owned(),
        })
    }

    async fn wait(mut self) -> Result<TimedExit, Error> {
        let status = self.child.wait().await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!(
                "{} exited with {status}; see its .log and .out",
                self.label
            ));
        }
        let time = std::fs::read_to_string(&self.time_file).unwrap_or_default();
        let f: Vec<f64> = time
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        Ok(TimedExit {
            cpu_seconds: f.get(1).unwrap_or(&f64::NAN) + f.get(2).unwrap_or(&f64::NAN),
            max_rss_kib: *f.get(3).unwrap_or(&f64::NAN),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
        })
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Daemon {
    child: Child,
    pid: u32,
    metrics_addr: String,
    log: PathBuf,
}

impl Daemon {
    fn start(plan: &Plan, config: &Path, name: &str) -> Result<Self, Error> {
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let log = plan.dir.join(format!("{name}.log"));
        let child = Command::new(&plan.bin)
            .args(["run", "--config"])
            .arg(config)
            .env("S3R_SERVER__LISTEN", &metrics_addr)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", plan.bin.display()))?;
        let pid = child.id().expect("pid");
        Ok(Self {
            child,
            pid,
            metrics_addr,
            log,
        })
    }

    async fn metrics(&self) -> Result<String, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&self.metrics_addr)
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        let mut page = String::new();
        s.read_to_string(&mut page)
            .await
            .map_err(|e| format!("metrics: {e}"))?;
        Ok(page
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or(page))
    }

    /// Waits until the daemon has sent its first receive (`s3r_startup_seconds` is set).
    async fn ready(&mut self) -> Result<f64, Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "a daemon exited at start ({status}); log {}",
                    self.log.display()
                ));
            }
            if let Ok(page) = self.metrics().await {
                if let Some(v) = page.lines().find_map(|l| {
                    l.strip_prefix("s3r_startup_seconds ")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                }) {
                    return Ok(v);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "a daemon was not ready within 30 s; log {}",
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    async fn stop(mut self) -> Result<(), Error> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .map_err(|_| "a daemon did not stop within 60 s of SIGTERM".to_owned())?
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "a daemon exited with {status}; log {}",
                self.log.display()
            ))
        }
    }
}

/// `s3r_aws_requests_total` of a `/metrics` page, added into `into` as `service:Operation`.
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
        *into
            .entry(format!("{}:{}", label("service"), label("operation")))
            .or_default() += value.trim().parse::<f64>().unwrap_or(0.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Completion events.

#[derive(Default)]
struct Arrivals {
    /// Key → arrival.
    by_key: HashMap<String, Instant>,
    duplicates: usize,
    not_backfill: usize,
}

/// Receives (and deletes) completion events with four pollers until `expected` keys have one,
/// `stop` is set or the deadline passes.
fn collect(
    env: &Env,
    url: &str,
    expected: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (Arc<Mutex<Arrivals>>, tokio::task::JoinHandle<()>) {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let deadline = Instant::now() + PART_DEADLINE;
    let pollers: Vec<_> = (0..4)
        .map(|_| {
            let (sqs, url, arrivals, stop) = (
                env.sqs.clone(),
                url.to_owned(),
                arrivals.clone(),
                stop.clone(),
            );
            async move {
                let (deadline, expected) = (deadline, expected);
                while arrivals.lock().expect("arrivals").by_key.len() < expected
                    && Instant::now() < deadline
                    && !stop.load(std::sync::atomic::Ordering::Relaxed)
                {
                    let Ok(out) = sqs
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .send()
                        .await
                    else {
                        tokio::time::sleep(POLL).await;
                        continue;
                    };
                    let now = Instant::now();
                    let messages = out.messages();
                    let mut entries = Vec::new();
                    for (i, m) in messages.iter().enumerate() {
                        let v: serde_json::Value =
                            serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
                        if let Some(k) = v.pointer("/source/key").and_then(|k| k.as_str()) {
                            let mut a = arrivals.lock().expect("arrivals");
                            if v.get("origin").and_then(|o| o.as_str()) != Some("backfill") {
                                a.not_backfill += 1;
                            }
                            if a.by_key.insert(k.to_owned(), now).is_some() {
                                a.duplicates += 1;
                            }
                        }
                        entries.push(
                            DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(m.receipt_handle().unwrap_or_default())
                                .build()
                                .expect("entry"),
                        );
                    }
                    if !entries.is_empty() {
                        let _ = sqs
                            .delete_message_batch()
                            .queue_url(&url)
                            .set_entries(Some(entries))
                            .send()
                            .await;
                    }
                }
            }
        })
        .collect();
    let task = tokio::spawn(async move {
        futures::future::join_all(pollers).await;
    });
    (arrivals, task)
}

// ---------------------------------------------------------------------------------------------
// The parts.

/// Requests of one part: `service:Operation` → count, and where each figure comes from.
#[derive(Default)]
struct Requests {
    rows: Vec<(String, f64, &'static str)>,
}

impl Requests {
    fn add(&mut self, op: &str, count: f64, how: &'static str) {
        self.rows.push((op.to_owned(), count, how));
    }

    fn by_service(&self, n: usize) -> BTreeMap<String, f64> {
        let mut s = BTreeMap::new();
        for (op, count, _) in &self.rows {
            let service = op
                .split_once(':')
                .map_or(op.as_str(), |(s, _)| s)
                .to_lowercase();
            *s.entry(service).or_default() += count / n as f64;
        }
        s
    }
}

struct Part {
    label: String,
    seconds: f64,
    /// (b), (c): the `backfill --enqueue` process, start to exit.
    enqueue_seconds: Option<f64>,
    /// The tools' CPU seconds (user + system) over the part.
    tool_cpu: String,
    requests: Requests,
    load: Load,
    notes: String,
}

fn summary_number(stdout: &str, word: &str) -> Option<u64> {
    // "backfill: 10000 listed, 10000 copied (9.8 MiB), 0 already present, …"
    let line = stdout.lines().find(|l| l.starts_with("backfill"))?;
    let words: Vec<&str> = line.split([',', ':']).collect();
    words.iter().find_map(|w| {
        let w = w.trim();
        let (n, rest) = w.split_once(' ')?;
        rest.starts_with(word).then(|| n.parse().ok())?
    })
}

fn div_ceil(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

/// (a): one process lists the source and copies.
async fn one_process(plan: &Plan, env: &Env) -> Result<Part, Error> {
    let n = plan.objects;
    let route = Route::create(env, "bf-a").await?;
    let config = route.write_config(plan)?;
    let args: Vec<String> = vec![
        "backfill".into(),
        "--config".into(),
        config.display().to_string(),
    ];
    let probe = Probe::start(env);
    let started = Instant::now();
    let exit = Timed::spawn(plan, "a-backfill", &plan.bin, &args, &[])?
        .wait()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let load = probe.finish().await;
    env.check_targets("backfill", &route.targets, n).await?;
    let listed = summary_number(&exit.stdout, "listed").unwrap_or(0) as usize;
    let copied = summary_number(&exit.stdout, "copied").unwrap_or(0) as usize;
    if listed != n || copied != n {
        return Err(format!(
            "backfill: {listed} listed, {copied} copied of {n}: {}",
            exit.stdout.trim()
        ));
    }
    let mut requests = Requests::default();
    // Its summary and code path: each listed object goes through Replicator::replicate, which
    // reads first (HeadObject of the source and of each target, together), then copies to each
    // target that lacks it; the source is listed twice (the copying, and the count beside it
    // for the progress display).
    requests.add(
        "s3:ListObjectsV2",
        (2 * div_ceil(n, LIST_PAGE)) as f64,
        "counted",
    );
    requests.add("s3:HeadObject", (listed * (1 + TARGETS)) as f64, "counted");
    requests.add("s3:CopyObject", (copied * TARGETS) as f64, "counted");
    for (op, c) in &load.localstack {
        if !op.contains("GetQueueAttributes") {
            requests.add(op, *c as f64, "measured (LocalStack's log)");
        }
    }
    println!(
        "(a) backfill: {n} objects in {seconds:.1} s = {:.0} objects/s; {}",
        n as f64 / seconds,
        exit.stdout
            .lines()
            .find(|l| l.starts_with("backfill"))
            .unwrap_or_default()
    );
    Ok(Part {
        label: "(a) `backfill`, one process".into(),
        seconds,
        enqueue_seconds: None,
        tool_cpu: format!(
            "{:.2} (peak RSS {:.0} MiB)",
            exit.cpu_seconds,
            exit.max_rss_kib / 1024.0
        ),
        requests,
        load,
        notes: String::new(),
    })
}

/// (b), (c): `backfill --enqueue` while `daemons` daemons run.
async fn through_queue(plan: &Plan, env: &Env, name: &str, daemons: usize) -> Result<Part, Error> {
    let n = plan.objects;
    let route = Route::create(env, name).await?;
    let config = route.write_config(plan)?;
    let mut running = Vec::new();
    let mut startup = Vec::new();
    for i in 1..=daemons {
        let mut d = Daemon::start(plan, &config, &format!("{name}-daemon-{i}"))?;
        startup.push(d.ready().await?);
        running.push(d);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (arrivals, collector) = collect(env, &route.completions_url, n, stop.clone());

    // The daemons' CPU from here on: their start-up and idle polls before are not the part's.
    let cpu_before: Vec<f64> = running.iter().map(|d| cpu_seconds(d.pid)).collect();
    let probe = Probe::start(env);
    let t0 = Instant::now();
    let args: Vec<String> = vec![
        "backfill".into(),
        "--config".into(),
        config.display().to_string(),
        "--enqueue".into(),
    ];
    let enqueue = Timed::spawn(plan, &format!("{name}-enqueue"), &plan.bin, &args, &[])?;
    let exit = enqueue.wait().await;
    let enqueue_seconds = t0.elapsed().as_secs_f64();
    let exit = match exit {
        Ok(e) => e,
        Err(e) => {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
    };
    let enqueued = summary_number(&exit.stdout, "events sent").unwrap_or(0) as usize;
    if enqueued != n {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        return Err(format!(
            "backfill --enqueue sent {enqueued} of {n}: {}",
            exit.stdout.trim()
        ));
    }
    // Until every completion arrived and the queue is empty (visible and in flight).
    let deadline = t0 + PART_DEADLINE;
    let mut last_report = Instant::now();
    let drained_at = loop {
        let have = arrivals.lock().expect("arrivals").by_key.len();
        if have >= n {
            let (visible, in_flight) = queue_depth(&env.sqs, &route.queue_url).await;
            if visible == 0 && in_flight == 0 {
                break Instant::now();
            }
        }
        if running.iter_mut().any(Daemon::exited) {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(format!(
                "{name}: a daemon exited early; logs in {}",
                plan.dir.display()
            ));
        }
        if Instant::now() > deadline {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(format!(
                "{name}: {have} of {n} completions within {} s",
                PART_DEADLINE.as_secs()
            ));
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            println!(
                "    {name}: {:.0} s, {have} of {n} completions",
                t0.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    };
    let load = probe.finish().await;
    let _ = collector.await;
    let a = std::mem::take(&mut *arrivals.lock().expect("arrivals"));
    let last_arrival = a.by_key.values().max().copied().unwrap_or(t0);
    let seconds = drained_at.duration_since(t0).as_secs_f64();
    let mut daemon_requests = BTreeMap::new();
    let mut cpu = Vec::new();
    for (i, d) in running.iter().enumerate() {
        cpu.push(cpu_seconds(d.pid) - cpu_before[i]);
        let page = d.metrics().await?;
        let _ = std::fs::write(
            plan.dir.join(format!("{name}-daemon-{}.metrics", i + 1)),
            &page,
        );
        requests_of(&page, &mut daemon_requests);
    }
    futures::future::try_join_all(running.into_iter().map(Daemon::stop)).await?;
    env.check_targets(name, &route.targets, n).await?;

    let mut requests = Requests::default();
    for (op, c) in &daemon_requests {
        requests.add(op, *c, "measured (daemon /metrics)");
    }
    requests.add(
        "s3:ListObjectsV2",
        div_ceil(n, LIST_PAGE) as f64,
        "counted (backfill --enqueue)",
    );
    let sent_measured = load
        .localstack
        .get("sqs.SendMessageBatch")
        .copied()
        .unwrap_or(0);
    requests.add(
        "sqs:SendMessageBatch",
        div_ceil(n, SEND_BATCH) as f64,
        "counted (backfill --enqueue)",
    );
    let notes = format!(
        "SendMessageBatch in LocalStack's log: {sent_measured} (counted {}); last completion {:.2} s, queue empty {:.2} s after the start; drain after the enqueue ended {:.1} s; {} duplicate completions, {} not \"origin\":\"backfill\"; daemon start-up {}",
        div_ceil(n, SEND_BATCH),
        last_arrival.duration_since(t0).as_secs_f64(),
        seconds,
        seconds - enqueue_seconds,
        a.duplicates,
        a.not_backfill,
        startup.iter().map(|s| format!("{s:.3} s")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "({}) enqueue + {daemons} daemon(s): {n} objects in {seconds:.1} s = {:.0} objects/s; enqueue {enqueue_seconds:.1} s = {:.0} events/s; {notes}",
        if daemons == 1 { "b" } else { "c" },
        n as f64 / seconds,
        n as f64 / enqueue_seconds
    );
    Ok(Part {
        label: format!(
            "({}) `backfill --enqueue` + {daemons} daemon{}",
            if daemons == 1 { "b" } else { "c" },
            if daemons == 1 { "" } else { "s" }
        ),
        seconds,
        enqueue_seconds: Some(enqueue_seconds),
        tool_cpu: format!(
            "enqueue {:.2}, daemons {}",
            exit.cpu_seconds,
            cpu.iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(" + ")
        ),
        requests,
        load,
        notes,
    })
}

/// (e), (f): the enqueue phase alone, with no daemon running (the events stay in a queue no
/// one reads), on otherwise idle emulators; with `dry_run` only the listing and counting.
async fn enqueue_alone(plan: &Plan, env: &Env, name: &str, dry_run: bool) -> Result<Part, Error> {
    let n = plan.objects;
    let route = Route::create(env, name).await?;
    let config = route.write_config(plan)?;
    let mut args: Vec<String> = vec![
        "backfill".into(),
        "--config".into(),
        config.display().to_string(),
        "--enqueue".into(),
    ];
    if dry_run {
        args.push("--dry-run".into());
    }
    let probe = Probe::start(env);
    let started = Instant::now();
    let exit = Timed::spawn(plan, &format!("{name}-enqueue"), &plan.bin, &args, &[])?
        .wait()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let load = probe.finish().await;
    let mut requests = Requests::default();
    requests.add("s3:ListObjectsV2", div_ceil(n, LIST_PAGE) as f64, "counted");
    let sent = load
        .localstack
        .get("sqs.SendMessageBatch")
        .copied()
        .unwrap_or(0);
    let notes;
    if dry_run {
        let listed = summary_number(&exit.stdout, "objects listed").unwrap_or(0) as usize;
        if listed != n {
            return Err(format!(
                "backfill --enqueue --dry-run: {}",
                exit.stdout.trim()
            ));
        }
        notes = format!("{listed} objects counted, SendMessageBatch in LocalStack's log: {sent}");
    } else {
        let enqueued = summary_number(&exit.stdout, "events sent").unwrap_or(0) as usize;
        let (visible, _) = queue_depth(&env.sqs, &route.queue_url).await;
        if enqueued != n || visible as usize != n {
            return Err(format!(
                "backfill --enqueue alone: {enqueued} sent, {visible} in the queue, of {n}"
            ));
        }
        requests.add(
            "sqs:SendMessageBatch",
            sent as f64,
            "measured (LocalStack's log)",
        );
        notes = format!("{visible} events in the queue after it exited (none read)");
    }
    println!(
        "({}) {}: {n} objects in {seconds:.2} s = {:.0} objects/s; {notes}",
        if dry_run { "f" } else { "e" },
        if dry_run {
            "backfill --enqueue --dry-run"
        } else {
            "backfill --enqueue, no daemon"
        },
        n as f64 / seconds
    );
    Ok(Part {
        label: if dry_run {
            "(f) `backfill --enqueue --dry-run`: listing only".into()
        } else {
            "(e) `backfill --enqueue` alone, no daemon running".into()
        },
        seconds,
        enqueue_seconds: (!dry_run).then_some(seconds),
        tool_cpu: format!("{:.2}", exit.cpu_seconds),
        requests,
        load,
        notes,
    })
}

/// (d): rclone, one process per target, both at once, server-side, as `scripts/bench.sh`.
async fn rclone(plan: &Plan, env: &Env) -> Result<Part, Error> {
    let n = plan.objects;
    let targets: Vec<String> = (1..=TARGETS).map(|i| format!("bf-rclone-t{i}")).collect();
    for t in &targets {
        env.bucket(t).await?;
    }
    let s3 = plan.s3.clone();
    let envs = [
        ("RCLONE_CONFIG_BENCH_TYPE", "s3"),
        ("RCLONE_CONFIG_BENCH_PROVIDER", "Other"),
        ("RCLONE_CONFIG_BENCH_ENDPOINT", s3.as_str()),
        ("RCLONE_CONFIG_BENCH_REGION", "us-east-1"),
        ("RCLONE_CONFIG_BENCH_ENV_AUTH", "true"),
    ];
    let probe = Probe::start(env);
    let started = Instant::now();
    let mut children = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let args: Vec<String> = vec![
            "copy".into(),
            format!("bench:{SOURCE}"),
            format!("bench:{t}"),
            "--transfers".into(),
            PEER_CONCURRENCY.to_string(),
            "--checkers".into(),
            PEER_CONCURRENCY.to_string(),
            "--s3-no-check-bucket".into(),
        ];
        children.push(Timed::spawn(
            plan,
            &format!("d-rclone-{}", i + 1),
            &plan.rclone,
            &args,
            &envs,
        )?);
    }
    let mut cpu = Vec::new();
    for c in children {
        cpu.push(c.wait().await?.cpu_seconds);
    }
    let seconds = started.elapsed().as_secs_f64();
    let load = probe.finish().await;
    env.check_targets("rclone copy", &targets, n).await?;
    let mut requests = Requests::default();
    // rclone's own behaviour (not measured here; s3s-fs logs no requests): each process lists
    // the source and its target, reads each object it copies (HeadObject) and copies it; on
    // LocalStack, which logs requests, scripts/bench.sh measured 2 HeadObject and 2 CopyObject
    // per object to two targets.
    requests.add(
        "s3:ListObjectsV2",
        (2 * TARGETS * div_ceil(n, LIST_PAGE)) as f64,
        "counted (rclone's behaviour)",
    );
    requests.add(
        "s3:HeadObject",
        (TARGETS * n) as f64,
        "counted (rclone's behaviour)",
    );
    requests.add(
        "s3:CopyObject",
        (TARGETS * n) as f64,
        "counted (rclone's behaviour)",
    );
    println!(
        "(d) rclone copy: {n} objects × {TARGETS} targets in {seconds:.1} s = {:.0} objects/s",
        n as f64 / seconds
    );
    Ok(Part {
        label: "(d) `rclone copy`, one process per target".into(),
        seconds,
        enqueue_seconds: None,
        tool_cpu: cpu
            .iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join(" + "),
        requests,
        load,
        notes: String::new(),
    })
}

fn report(plan: &Plan, parts: &[Part]) -> String {
    let n = plan.objects;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{n} objects of {} bytes, {TARGETS} targets each; objects/s = objects / (start → every object in every target); (e) and (f) copy nothing: objects sent (listed) per second\n",
        plan.bytes
    );
    let _ = writeln!(out, "| part | objects/s | s | enqueue s (events/s) | tool CPU s | S3 req/object | SQS req/object | SNS req/object | s3s-fs cores | LocalStack cores | machine (of 2) | answer ms p50/p90: LocalStack, s3s-fs |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in parts {
        let s = p.requests.by_service(n);
        let svc = |k: &str| s.get(k).map_or("0".to_owned(), |v| format!("{v:.3}"));
        let core = |k: &str| {
            p.load
                .emulators
                .iter()
                .find(|(e, _)| *e == k)
                .map_or("–".to_owned(), |(_, c)| format!("{c:.2}"))
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1}/{:.1}, {:.1}/{:.1} |",
            p.label,
            n as f64 / p.seconds,
            p.seconds,
            p.enqueue_seconds
                .map_or("–".to_owned(), |e| format!("{e:.1} ({:.0})", n as f64 / e)),
            p.tool_cpu,
            svc("s3"),
            svc("sqs"),
            svc("sns"),
            core("s3s-fs"),
            core("LocalStack"),
            p.load.machine_cores,
            p.load.answers[0],
            p.load.answers[1],
            p.load.answers[2],
            p.load.answers[3],
        );
    }
    let _ = writeln!(out, "\nRequests per object, by operation (all targets together), and where each figure comes from:\n");
    let _ = writeln!(out, "| part | request | per object | how |");
    let _ = writeln!(out, "|---|---|---|---|");
    for p in parts {
        for (op, c, how) in &p.requests.rows {
            let _ = writeln!(out, "| {} | {op} | {:.4} | {how} |", p.label, c / n as f64);
        }
    }
    let _ = writeln!(out, "\nLocalStack's own request log during each part (every client: tools, the harness's completion subscriber and probe):\n");
    for p in parts {
        let total: usize = p.load.localstack.values().sum();
        let _ = writeln!(
            out,
            "- {}: {total} requests ({})",
            p.label,
            p.load
                .localstack
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for p in parts.iter().filter(|p| !p.notes.is_empty()) {
        let _ = writeln!(out, "- {}: {}", p.label, p.notes);
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(sqs_sns), Some(s3), Some(bin), Some(rclone_path)) = (
        flag("--sqs-sns"),
        flag("--s3"),
        flag("--bin"),
        flag("--rclone"),
    ) else {
        eprintln!("usage: bench_backfill --sqs-sns URL --s3 URL --bin PATH --rclone PATH [--objects N] [--bytes B] [--dir DIR]");
        return ExitCode::from(2);
    };
    let plan = Plan {
        sqs_sns,
        s3,
        bin: PathBuf::from(bin),
        rclone: PathBuf::from(rclone_path),
        objects: flag("--objects")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        bytes: flag("--bytes").and_then(|v| v.parse().ok()).unwrap_or(1024),
        dir: PathBuf::from(flag("--dir").unwrap_or_else(|| ".bench/backfill".into())),
    };
    let _ = std::fs::create_dir_all(&plan.dir);
    let outcome = async {
        let env = Env::connect(&plan).await;
        fill_source(&env, &plan).await?;
        let mut parts = Vec::new();
        parts.push(one_process(&plan, &env).await?);
        parts.push(through_queue(&plan, &env, "bf-b", 1).await?);
        parts.push(through_queue(&plan, &env, "bf-c", 2).await?);
        parts.push(rclone(&plan, &env).await?);
        // The enqueue phase on its own, after the copies (nothing else runs then).
        parts.push(enqueue_alone(&plan, &env, "bf-e", false).await?);
        parts.push(enqueue_alone(&plan, &env, "bf-f", true).await?);
        Ok::<_, Error>(report(&plan, &parts))
    }
    .await;
    match outcome {
        Ok(table) => {
            print!("{table}");
            let _ = std::fs::write(plan.dir.join("table.md"), table);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_backfill: {e}");
            ExitCode::FAILURE
        }
    }
}
