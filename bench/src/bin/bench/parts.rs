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
use aws_sdk_sns::types::PublishBatchRequestEntry;
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
    /// Objects of the run with every service on LocalStack (S3 too); 0 skips it.
    pub one_emulator_objects: usize,
    /// Objects of the scale-out run with each daemon held to `capped_concurrency`; 0 skips it.
    pub capped_objects: usize,
    pub capped_concurrency: usize,
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
    /// A queue of its own for the [`Pulse`]'s requests.
    pulse_queue: String,
}

impl Env {
    async fn connect(plan: &Plan, dir: &Path) -> Self {
        Self::connect_s3(plan, dir, &plan.s3).await
    }

    /// The same with S3 at `s3_url` (LocalStack's own S3 for the one-emulator part).
    async fn connect_s3(plan: &Plan, dir: &Path, s3_url: &str) -> Self {
        let base: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&plan.sqs_sns)
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&base)
                .endpoint_url(s3_url)
                .force_path_style(true)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&base);
        let pulse_queue = create_queue(&sqs, "bench-pulse", &[]).await;
        Self {
            sqs,
            sns: aws_sdk_sns::Client::new(&base),
            s3,
            plan_s3: s3_url.to_owned(),
            plan_sqs_sns: plan.sqs_sns.clone(),
            dir: dir.to_owned(),
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
    /// (`queue.concurrency` 64 unless `concurrency` names another, 10 messages per receive,
    /// 20-s long polls, text logs at info).
    fn config(&self, env: &Env, concurrency: Option<usize>) -> String {
        let mut toml = format!(
            r#"[aws]
endpoint_url = "{sqs_sns}"
s3_endpoint_url = "{s3}"
region = "us-east-1"

[queue]
url = "{queue}"
{concurrency}
[completion]
topic_arn = "{topic}"

[alerts]
topic_arn = "{alerts}"
"#,
            sqs_sns = env.plan_sqs_sns,
            s3 = env.plan_s3,
            queue = self.queue_url,
            concurrency = concurrency.map_or(String::new(), |c| format!("concurrency = {c}\n")),
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

    /// `s3r_startup_seconds`: process start → first `ReceiveMessage` sent.
    async fn startup_seconds(&self) -> Result<f64, Error> {
        let page = self.metrics().await?;
        gauge(&page, "s3r_startup_seconds")
            .ok_or_else(|| "the daemon's /metrics has no s3r_startup_seconds".into())
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

/// The value of the unlabelled gauge `name` on a `/metrics` page.
fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let (n, value) = line.split_once(' ')?;
        (n == name).then(|| value.trim().parse().ok())?
    })
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
/// which of them a run kept busy, and LocalStack's log (`BENCH_SQS_LOG`), which names every
/// request it served.
#[derive(Clone)]
struct Emulators {
    pids: Vec<(&'static str, u32)>,
    localstack_log: Option<PathBuf>,
}

impl Emulators {
    fn from_env() -> Self {
        let pid = |var: &str| std::env::var(var).ok().and_then(|v| v.parse().ok());
        let mut pids = Vec::new();
        if let Some(p) = pid("BENCH_S3_PID") {
            pids.push(("s3s-fs", p));
        }
        if let Some(p) = pid("BENCH_SQS_PID") {
            pids.push(("LocalStack", p));
        }
        Self {
            pids,
            localstack_log: std::env::var_os("BENCH_SQS_LOG").map(PathBuf::from),
        }
    }

    /// Starts measuring; [`LoadProbe::finish`] gives each emulator's cores busy since, the
    /// whole machine's, the requests LocalStack served and how long the emulators took to
    /// answer a small request meanwhile.
    fn probe(&self, env: &Env) -> LoadProbe {
        LoadProbe {
            started: Instant::now(),
            machine: machine_busy_seconds(),
            cpu: self
                .pids
                .iter()
                .map(|&(name, pid)| (name, pid, cpu_seconds(pid)))
                .collect(),
            log: self.localstack_log.as_ref().map(|path| {
                let len = std::fs::metadata(path).map_or(0, |m| m.len());
                (path.clone(), len)
            }),
            pulse: Pulse::start(env),
        }
    }
}

struct LoadProbe {
    started: Instant,
    machine: f64,
    cpu: Vec<(&'static str, u32, f64)>,
    /// LocalStack's log and its length at the start.
    log: Option<(PathBuf, u64)>,
    pulse: Pulse,
}

/// What a [`LoadProbe`] measured.
struct Load {
    seconds: f64,
    emulators: Vec<EmulatorLoad>,
    machine_cores: f64,
    /// `service.Operation` → requests LocalStack logged.
    localstack_requests: BTreeMap<String, usize>,
    answers: AnswerTimes,
}

impl Load {
    /// LocalStack's requests per object.
    fn localstack_per_object(&self, objects: usize) -> Vec<OperationRate> {
        self.localstack_requests
            .iter()
            .map(|(operation, count)| OperationRate {
                operation: operation.clone(),
                per_object: *count as f64 / objects.max(1) as f64,
            })
            .collect()
    }

    fn localstack_per_s(&self) -> f64 {
        self.localstack_requests.values().sum::<usize>() as f64 / self.seconds
    }

    /// One line for the console.
    fn summary(&self) -> String {
        format!(
            "emulators busy: {}; machine {:.2} cores; LocalStack {:.0} requests/s; answer times (p50/p90): LocalStack {:.1}/{:.1} ms, S3 {:.1}/{:.1} ms",
            super::report::loads(&self.emulators),
            self.machine_cores,
            self.localstack_per_s(),
            self.answers.localstack_p50_ms,
            self.answers.localstack_p90_ms,
            self.answers.s3_p50_ms,
            self.answers.s3_p90_ms
        )
    }
}

impl LoadProbe {
    async fn finish(self) -> Load {
        let seconds = self.started.elapsed().as_secs_f64();
        let machine_cores = (machine_busy_seconds() - self.machine) / seconds;
        let emulators = self
            .cpu
            .iter()
            .map(|&(name, pid, before)| EmulatorLoad {
                emulator: name.to_owned(),
                cores: (cpu_seconds(pid) - before) / seconds,
            })
            .collect();
        let localstack_requests = self
            .log
            .map(|(path, from)| localstack_requests(&path, from))
            .unwrap_or_default();
        Load {
            seconds,
            emulators,
            machine_cores,
            localstack_requests,
            answers: self.pulse.finish().await,
        }
    }
}

/// Requests in LocalStack's log after byte `from`: its request logger writes one line
/// `… localstack.request.aws … : AWS sqs.ReceiveMessage => 200` per request.
fn localstack_requests(path: &Path, from: u64) -> BTreeMap<String, usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(": AWS ") else {
            continue;
        };
        if let Some(operation) = rest.split_whitespace().next() {
            *counts.entry(operation.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// A small request to each emulator every [`PULSE_EVERY`] while a part runs — SQS
/// `GetQueueAttributes` on a queue of its own (LocalStack) and S3 `HeadObject` of the first
/// source object — timed: how long a request waits in an emulator under that part's load.
struct Pulse {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(Vec<f64>, Vec<f64>)>,
}

const PULSE_EVERY: Duration = Duration::from_millis(100);

impl Pulse {
    fn start(env: &Env) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let sqs = env.sqs.clone();
        let s3 = env.s3.clone();
        let queue = env.pulse_queue.clone();
        let task = tokio::spawn(async move {
            let (mut sqs_ms, mut s3_ms) = (Vec::new(), Vec::new());
            let mut tick = tokio::time::interval(PULSE_EVERY);
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
                    sqs_ms.push(ms(t.elapsed()));
                }
                let t = Instant::now();
                if s3
                    .head_object()
                    .bucket("tp-src")
                    .key(key("tp", 0))
                    .send()
                    .await
                    .is_ok()
                {
                    s3_ms.push(ms(t.elapsed()));
                }
            }
            (sqs_ms, s3_ms)
        });
        Self { stop, task }
    }

    async fn finish(self) -> AnswerTimes {
        let _ = self.stop.send(true);
        let (mut sqs_ms, mut s3_ms) = self.task.await.unwrap_or_default();
        sqs_ms.sort_by(f64::total_cmp);
        s3_ms.sort_by(f64::total_cmp);
        AnswerTimes {
            localstack_p50_ms: percentile(&sqs_ms, 50.0),
            localstack_p90_ms: percentile(&sqs_ms, 90.0),
            s3_p50_ms: percentile(&s3_ms, 50.0),
            s3_p90_ms: percentile(&s3_ms, 90.0),
        }
    }
}

/// CPU seconds every core of the machine spent busy since boot: `/proc/stat`'s `cpu` line, all
/// but idle and iowait.
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
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy / clock_ticks()
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
/// completion event on the subscriber queue; with the daemon's start-up time.
async fn latency(plan: &Plan, env: &Env) -> Result<(Latency, f64), Error> {
    let n = plan.latency_objects;
    env.bucket("lat-src").await?;
    let route = Route::create(env, "lat", "lat-src").await?;
    let config = env.dir.join("lat.toml");
    std::fs::write(&config, route.config(env, None)).map_err(|e| e.to_string())?;
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
    let startup = daemon.startup_seconds().await?;
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
    // Every object's latency in upload order, for reading the tail against the daemon's log.
    let series: String = latencies
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{} {l:.1}\n", key("lat", i)))
        .collect();
    std::fs::write(env.dir.join("latency-ms.txt"), series).map_err(|e| e.to_string())?;
    latencies.sort_by(f64::total_cmp);
    let floor = floor(env).await?;
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let latency = Latency {
        objects: n,
        object_bytes: OBJECT_BYTES,
        targets: TARGETS,
        rate_per_s: plan.latency_rate,
        p50_ms: p50,
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: p99,
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        ratio_p50_to_floor: p50 / floor.median_ms,
        ratio_p99_to_floor: p99 / floor.median_ms,
        floor,
    };
    Ok((latency, startup))
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
    let mut sends = Vec::new();
    for i in 0..FLOOR_SAMPLES {
        let key = key("floor", i);
        let etag = put(env, "floor-src", &key, body(i)).await?;
        let message = event("floor-src", &key, &etag, i + 1);
        let t = Instant::now();
        env.sqs
            .send_message()
            .queue_url(&route.queue_url)
            .message_body(&message)
            .send()
            .await
            .map_err(sdk("floor: send event"))?;
        sends.push(ms(t.elapsed()));

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
        event_send_ms: median(&sends),
    })
}

/// A concurrent client issuing only the copies: `n` objects × the targets; with the load it
/// caused.
async fn raw_copies(env: &Env, n: usize) -> Result<(RawCapacity, Load), Error> {
    let targets = ["raw-t1", "raw-t2"];
    for t in targets {
        env.bucket(t).await?;
    }
    let probe = Emulators::from_env().probe(env);
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
    let load = probe.finish().await;
    results.into_iter().collect::<Result<(), Error>>()?;
    env.check_targets("raw copies", &targets.map(str::to_owned), n)
        .await?;
    let copies_per_s = (n * TARGETS) as f64 / secs;
    let raw = RawCapacity {
        concurrency: CONCURRENCY,
        copies_per_s,
        objects_per_s: copies_per_s / TARGETS as f64,
        emulator_load: load.emulators.clone(),
    };
    Ok((raw, load))
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

/// What a ceiling of the queue and topic work measured: objects/s, each emulator's busy cores
/// and the machine's.
struct Ceiling {
    objects_per_s: f64,
    load: Load,
}

/// Which requests a bare client makes per batch of ten events in [`raw_queue_topic`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Receive, one `Publish` per event (ten in flight), delete: the daemon's queue and topic
    /// work before completions were batched.
    PublishEach,
    /// Receive, one `PublishBatch` of the ten, delete: the daemon's queue and topic work.
    PublishBatch,
    /// The same with the daemon's S3 work for each event first, all ten at once: `HeadObject`
    /// of the source, then `CopyObject` to both targets at once — every request the daemon
    /// makes for a first delivery of a small object.
    Full,
}

/// The emulators' ceiling for the daemon's queue and topic work (`mix`; with its S3 work too
/// for [`Mix::Full`]) made by a bare client: receive the events (ten per call), publish the
/// completions, delete the batch — with seven pollers (the daemon's receives in flight at 64),
/// while the subscriber queue is drained as in the daemon's runs. Objects per second, from the
/// start to the last completion's `completed_at`.
async fn raw_queue_topic(env: &Env, etags: &[String], mix: Mix) -> Result<Ceiling, Error> {
    let n = etags.len();
    let name = match mix {
        Mix::PublishEach => "ceiling-qt",
        Mix::PublishBatch => "ceiling-qtb",
        Mix::Full => "ceiling-full",
    };
    let route = Route::create(env, name, "tp-src").await?;
    enqueue(env, &route, "tp", etags).await?;
    let probe = Emulators::from_env().probe(env);
    let t0 = epoch_ms(OffsetDateTime::now_utc());
    let deadline = Instant::now() + PART_DEADLINE;
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let poller = |handled: Arc<std::sync::atomic::AtomicUsize>| {
        let route = &route;
        async move {
            use std::sync::atomic::Ordering::Relaxed;
            while handled.load(Relaxed) < n && Instant::now() < deadline {
                let messages = receive_ten(env, &route.queue_url).await?;
                let keys = messages
                    .iter()
                    .map(|m| event_key(m.body().unwrap_or_default()))
                    .collect::<Result<Vec<_>, _>>()?;
                if mix == Mix::Full {
                    futures::future::try_join_all(
                        keys.iter().map(|key| replicate(env, &route.targets, key)),
                    )
                    .await?;
                }
                let bodies: Vec<String> = keys.iter().map(|k| completion_body(k)).collect();
                if mix != Mix::PublishEach && !bodies.is_empty() {
                    let entries = bodies
                        .into_iter()
                        .enumerate()
                        .map(|(i, body)| {
                            PublishBatchRequestEntry::builder()
                                .id(i.to_string())
                                .message(body)
                                .build()
                                .expect("entry")
                        })
                        .collect();
                    let out = env
                        .sns
                        .publish_batch()
                        .topic_arn(&route.topic_arn)
                        .set_publish_batch_request_entries(Some(entries))
                        .send()
                        .await
                        .map_err(sdk("publish batch"))?;
                    if let Some(f) = out.failed().first() {
                        return Err(format!("publish batch: {f:?}"));
                    }
                } else {
                    let publishes = bodies.into_iter().map(|body| {
                        env.sns
                            .publish()
                            .topic_arn(&route.topic_arn)
                            .message(body)
                            .send()
                    });
                    futures::future::try_join_all(publishes)
                        .await
                        .map_err(sdk("publish"))?;
                }
                let count = delete_all(env, &route.queue_url, &messages).await?;
                handled.fetch_add(count, Relaxed);
            }
            Ok::<(), Error>(())
        }
    };
    let pollers = futures::future::join_all((0..7).map(|_| poller(handled.clone())));
    let (results, arrivals) =
        tokio::join!(pollers, collect(env, &route.completions_url, n, deadline));
    let load = probe.finish().await;
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
    Ok(Ceiling {
        objects_per_s: n as f64 / ((last - t0) / 1000.0),
        load,
    })
}

/// The object key of an S3 event's message body.
fn event_key(event: &str) -> Result<String, Error> {
    let event: serde_json::Value =
        serde_json::from_str(event).map_err(|e| format!("event: {e}"))?;
    Ok(event
        .pointer("/Records/0/s3/object/key")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned())
}

/// The smallest completion event the subscriber can read: the key and `completed_at` (now).
fn completion_body(key: &str) -> String {
    let completed_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("format time");
    serde_json::json!({
        "source": {"key": key},
        "completed_at": completed_at,
    })
    .to_string()
}

/// The daemon's S3 requests for a first delivery of a small object, bare: `HeadObject` of the
/// source, then `CopyObject` to every target at once.
async fn replicate(env: &Env, targets: &[String], key: &str) -> Result<(), Error> {
    env.s3
        .head_object()
        .bucket("tp-src")
        .key(key)
        .send()
        .await
        .map_err(sdk("head source"))?;
    futures::future::try_join_all(targets.iter().map(|target| {
        env.s3
            .copy_object()
            .bucket(target)
            .key(key)
            .copy_source(format!("tp-src/{key}"))
            .send()
    }))
    .await
    .map_err(sdk("copy"))?;
    Ok(())
}

/// One throughput run of the daemon: `daemons` processes drain `n` events from one queue.
struct DaemonRun {
    seconds: f64,
    cpu_seconds: f64,
    metrics: Vec<String>,
    load: Load,
    /// Each process's `s3r_startup_seconds`.
    startup: Vec<f64>,
}

/// `name` distinguishes the queue, topic and buckets of each run; `concurrency` is each
/// process's `queue.concurrency` (the default 64 when `None`). With `profile`, `perf record`
/// samples the first daemon's CPU into that file from its start until every completion arrived.
async fn daemon_run(
    plan: &Plan,
    env: &Env,
    name: &str,
    daemons: usize,
    concurrency: Option<usize>,
    etags: &[String],
    profile: Option<&Path>,
) -> Result<DaemonRun, Error> {
    let n = etags.len();
    let route = Route::create(env, name, "tp-src").await?;
    enqueue(env, &route, "tp", etags).await?;
    let config = env.dir.join(format!("{name}.toml"));
    std::fs::write(&config, route.config(env, concurrency)).map_err(|e| e.to_string())?;

    let probe = Emulators::from_env().probe(env);
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
    let load = probe.finish().await;
    if let Some(perf) = perf {
        perf.stop().await?;
    }
    let mut cpu_seconds = 0.0;
    let mut metrics = Vec::new();
    let mut startup = Vec::new();
    for (i, daemon) in running.iter().enumerate() {
        cpu_seconds += daemon.cpu_seconds();
        let page = daemon.metrics().await?;
        // Kept beside the daemon's log, for reading a run's figures back.
        let _ = std::fs::write(env.dir.join(format!("{name}-{}.metrics", i + 1)), &page);
        startup.push(gauge(&page, "s3r_startup_seconds").unwrap_or(f64::NAN));
        metrics.push(page);
    }
    // All at once: each waits for its long polls to end.
    futures::future::try_join_all(running.into_iter().map(Daemon::stop)).await?;
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
        "{daemons} daemon(s): {n} objects in {seconds:.1} s = {:.0} objects/s; CPU {cpu_seconds:.1} s; {} duplicate completion events; start-up {}; {}",
        n as f64 / seconds,
        arrivals.duplicates,
        startup.iter().map(|s| format!("{s:.3} s")).collect::<Vec<_>>().join(", "),
        load.summary()
    );
    Ok(DaemonRun {
        seconds,
        cpu_seconds,
        metrics,
        load,
        startup,
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
) -> Result<PeerRun, Error> {
    let probe = Emulators::from_env().probe(env);
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
    let load = probe.finish().await;
    env.check_targets(name, targets, n).await?;
    println!(
        "{name}: {n} objects × {} targets in {seconds:.1} s = {:.0} objects/s; {}",
        targets.len(),
        n as f64 / seconds,
        load.summary()
    );
    Ok(PeerRun { seconds, load })
}

/// A peer's copy: its duration and the load it caused.
struct PeerRun {
    seconds: f64,
    load: Load,
}

async fn rclone(plan: &Plan, env: &Env, n: usize) -> Result<PeerRun, Error> {
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

async fn aws_sync(plan: &Plan, env: &Env, n: usize) -> Result<PeerRun, Error> {
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
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    for (request, count) in &counts {
        let service = request.split_once(':').map_or(request.as_str(), |(s, _)| s);
        *by_service.entry(service.to_owned()).or_default() += count / n as f64;
    }
    let per_object_by_service = by_service
        .into_iter()
        .map(|(service, per_object)| ServiceRate {
            service,
            per_object,
        })
        .collect();
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
        per_object_by_service,
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
/// daemon with one and two processes, the peers, the capped scale-out, then every service on
/// LocalStack alone.
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
                    name: sqs_emulator(),
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
    let (latency, startup) = latency(plan, &env).await?;
    println!(
        "p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; floor {:.0} ms (p50 {:.2}×, p99 {:.2}×); start-up {startup:.3} s",
        latency.p50_ms,
        latency.p95_ms,
        latency.p99_ms,
        latency.max_ms,
        latency.floor.median_ms,
        latency.ratio_p50_to_floor,
        latency.ratio_p99_to_floor
    );
    results.latency = Some(latency);
    results.startup.push(Startup {
        daemon: "latency".into(),
        seconds: startup,
    });

    println!("== the emulators' answer times, idle");
    let idle = Emulators::from_env().probe(&env);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = idle.finish().await;
    println!("idle: {}", idle.summary());

    println!("== the emulators' ceilings");
    let (raw, raw_load) = raw_copies(&env, n).await?;
    println!(
        "raw CopyObject: {:.0} copies/s = {:.0} objects/s to {TARGETS} targets; {}",
        raw.copies_per_s,
        raw.objects_per_s,
        raw_load.summary()
    );
    let sns_publish_per_s = raw_publishes(&env, n).await?;
    println!("raw SNS Publish: {sns_publish_per_s:.0}/s");
    let sqs_receive_delete_per_s = raw_receives(&env, &etags).await?;
    println!("raw SQS receive + delete: {sqs_receive_delete_per_s:.0} messages/s");
    let each = raw_queue_topic(&env, &etags, Mix::PublishEach).await?;
    println!(
        "raw queue + topic work (receive 10, publish each, delete; S3 aside): {:.0} objects/s; {}",
        each.objects_per_s,
        each.load.summary()
    );
    let batched = raw_queue_topic(&env, &etags, Mix::PublishBatch).await?;
    println!(
        "raw queue + topic work (receive 10, one PublishBatch, delete; S3 aside): {:.0} objects/s; {}",
        batched.objects_per_s,
        batched.load.summary()
    );
    let full = raw_queue_topic(&env, &etags, Mix::Full).await?;
    println!(
        "raw full mix (receive 10; HeadObject, 2 CopyObject each; one PublishBatch; delete): {:.0} objects/s; {}",
        full.objects_per_s,
        full.load.summary()
    );

    let mut rows = Vec::new();
    for daemons in [1, 2] {
        println!("== throughput: {daemons} daemon(s)");
        let d = daemon_run(
            plan,
            &env,
            &format!("d{daemons}"),
            daemons,
            None,
            &etags,
            None,
        )
        .await?;
        let label = daemons_label(daemons);
        rows.push(throughput_row(
            &label,
            "queue.concurrency 64 per process (the default), events on one queue".into(),
            n,
            d.seconds,
            raw.objects_per_s,
            &d.load,
        ));
        results.scale.push(scale_row(daemons, 64, n, &d));
        push_startup(
            &mut results.startup,
            &format!("throughput, {label}"),
            &d.startup,
        );
        if daemons == 1 {
            results.requests = Some(requests(&d.metrics, n)?);
        }
    }
    println!("== throughput: rclone copy");
    let p = rclone(plan, &env, n).await?;
    rows.push(throughput_row(
        "rclone copy",
        format!("server-side, one process per target, --transfers {PEER_CONCURRENCY} --checkers {PEER_CONCURRENCY}"),
        n,
        p.seconds,
        raw.objects_per_s,
        &p.load,
    ));
    println!("== throughput: aws s3 sync");
    let p = aws_sync(plan, &env, n).await?;
    rows.push(throughput_row(
        "aws s3 sync",
        format!("server-side, one process per target, max_concurrent_requests {PEER_CONCURRENCY}"),
        n,
        p.seconds,
        raw.objects_per_s,
        &p.load,
    ));

    let full_mix = throughput_row(
        "bare client: the daemon's whole request mix",
        "receive 10; per event HeadObject, then CopyObject to both targets, all ten at once; one PublishBatch; delete the batch; 7 pollers".into(),
        n,
        n as f64 / full.objects_per_s,
        raw.objects_per_s,
        &full.load,
    );
    results.throughput = Some(Throughput {
        objects: n,
        object_bytes: OBJECT_BYTES,
        targets: TARGETS,
        raw,
        sns_publish_per_s,
        sqs_receive_delete_per_s,
        queue_topic_per_s: each.objects_per_s,
        queue_topic_load: each.load.emulators.clone(),
        queue_topic_batch_per_s: batched.objects_per_s,
        queue_topic_batch_load: batched.load.emulators.clone(),
        raw_machine_cores: raw_load.machine_cores,
        queue_topic_machine_cores: each.load.machine_cores,
        queue_topic_batch_machine_cores: batched.load.machine_cores,
        queue_topic_batch_localstack_per_s: batched.load.localstack_per_s(),
        queue_topic_batch_answers: Some(batched.load.answers),
        full_mix: Some(full_mix),
        idle_answers: Some(idle.answers),
        rows,
    });

    let capped = plan.capped_objects.min(n);
    if capped > 0 {
        let c = plan.capped_concurrency;
        for daemons in [1, 2] {
            println!("== scale-out, queue.concurrency {c}: {daemons} daemon(s), {capped} objects");
            let d = daemon_run(
                plan,
                &env,
                &format!("c{daemons}"),
                daemons,
                Some(c),
                &etags[..capped],
                None,
            )
            .await?;
            results.scale_capped.push(scale_row(daemons, c, capped, &d));
            push_startup(
                &mut results.startup,
                &format!("scale-out at concurrency {c}, {}", daemons_label(daemons)),
                &d.startup,
            );
        }
    }

    if plan.one_emulator_objects > 0 {
        results.one_emulator = Some(one_emulator(plan, &dir, &mut results.startup).await?);
    }
    results.run.load_average_end = load_average();
    Ok(results)
}

/// A throughput row of `n` objects copied in `seconds`, beside the copy capacity `raw`.
fn throughput_row(
    tool: &str,
    how: String,
    n: usize,
    seconds: f64,
    raw: f64,
    load: &Load,
) -> ThroughputRow {
    ThroughputRow {
        tool: tool.into(),
        how,
        seconds,
        objects_per_s: n as f64 / seconds,
        ratio_to_raw: if raw > 0.0 {
            n as f64 / seconds / raw
        } else {
            0.0
        },
        emulator_load: load.emulators.clone(),
        machine_cores: load.machine_cores,
        localstack_per_s: load.localstack_per_s(),
        localstack_per_object: load.localstack_per_object(n),
        answers: Some(load.answers),
    }
}

fn sqs_emulator() -> String {
    std::env::var("BENCH_SQS_EMULATOR").unwrap_or_else(|_| "LocalStack".into())
}

fn daemons_label(daemons: usize) -> String {
    if daemons == 1 {
        "s3-replicator (1 daemon)".to_owned()
    } else {
        format!("s3-replicator ({daemons} daemons)")
    }
}

fn scale_row(daemons: usize, concurrency: usize, objects: usize, d: &DaemonRun) -> ScaleRow {
    ScaleRow {
        daemons,
        seconds: d.seconds,
        objects_per_s: objects as f64 / d.seconds,
        daemon_cpu_seconds: d.cpu_seconds,
        concurrency,
        objects,
        emulator_load: d.load.emulators.clone(),
        machine_cores: d.load.machine_cores,
    }
}

fn push_startup(into: &mut Vec<Startup>, part: &str, seconds: &[f64]) {
    for (i, s) in seconds.iter().enumerate() {
        let daemon = if seconds.len() == 1 {
            part.to_owned()
        } else {
            format!("{part} #{}", i + 1)
        };
        into.push(Startup {
            daemon,
            seconds: *s,
        });
    }
}

/// Part 6: S3, SQS and SNS all on LocalStack (its own S3 beside its queues and topics), the
/// daemon (one process, defaults) and rclone copying the same objects to two targets.
async fn one_emulator(
    plan: &Plan,
    dir: &Path,
    startup: &mut Vec<Startup>,
) -> Result<OneEmulator, Error> {
    let n = plan.one_emulator_objects;
    let env = Env::connect_s3(plan, dir, &plan.sqs_sns).await;
    println!("== one emulator: {n} objects of {OBJECT_BYTES} bytes into LocalStack's S3");
    env.bucket("tp-src").await?;
    let started = Instant::now();
    let etags = upload(&env, "tp-src", "tp", n).await?;
    println!("uploaded in {:.1} s", started.elapsed().as_secs_f64());
    println!("== one emulator: 1 daemon");
    let d = daemon_run(plan, &env, "ls1", 1, None, &etags, None).await?;
    let by_service = requests(&d.metrics, n)?.per_object_by_service;
    push_startup(startup, "LocalStack alone, 1 daemon", &d.startup);
    println!("== one emulator: rclone copy");
    let p = rclone(plan, &env, n).await?;
    let rows = vec![
        throughput_row(
            "s3-replicator (1 daemon)",
            "queue.concurrency 64 (the default)".into(),
            n,
            d.seconds,
            0.0,
            &d.load,
        ),
        throughput_row(
            "rclone copy",
            format!("server-side, one process per target, --transfers {PEER_CONCURRENCY} --checkers {PEER_CONCURRENCY}"),
            n,
            p.seconds,
            0.0,
            &p.load,
        ),
    ];
    let daemon_to_rclone = rows[0].objects_per_s / rows[1].objects_per_s;
    println!("one emulator: daemon / rclone = {daemon_to_rclone:.2}");
    Ok(OneEmulator {
        emulator: sqs_emulator(),
        objects: n,
        object_bytes: OBJECT_BYTES,
        targets: TARGETS,
        rows,
        daemon_to_rclone,
        daemon_requests_per_object: by_service,
    })
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
    let d = daemon_run(plan, &env, "prof", 1, None, &etags, Some(perf_data)).await?;
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
        // By service, per object to both targets: 60 S3 and 20 SNS requests for 20 objects.
        let service = |name: &str| {
            q.per_object_by_service
                .iter()
                .find(|r| r.service == name)
                .map(|r| r.per_object)
        };
        assert_eq!(service("s3"), Some(5.0));
        assert_eq!(service("sns"), Some(1.0));
        assert_eq!(service("sqs"), None);
    }

    #[test]
    fn the_startup_gauge_is_read_by_its_exact_name() {
        let page = "# TYPE s3r_startup_seconds gauge\ns3r_startup_seconds_other 9\ns3r_startup_seconds 0.125\n";
        assert_eq!(gauge(page, "s3r_startup_seconds"), Some(0.125));
        assert_eq!(gauge(page, "s3r_missing"), None);
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
