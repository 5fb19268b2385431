//! The benchmark's results file (`bench/results.json`): what one run of `scripts/bench.sh`
//! measured, written by the harness and read back to draw the chart.

use serde::{Deserialize, Serialize};

/// Identifies the format of the file.
pub const SCHEMA: &str = "s3-replicator.bench.v1";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub run: Run,
    /// Part 1: PutObject returned → completion event on a subscriber queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Part 2: 10,000 small objects to 2 targets, every tool against the raw copy capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// Part 3: large objects (from `scripts/bench-large.sh`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_objects: Vec<LargeObjectRow>,
    /// Part 4: the throughput run with 1 and 2 daemon processes on one queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale: Vec<ScaleRow>,
    /// Part 5: AWS API requests the daemon made, from its own metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Requests>,
    /// Part 6: every service on one LocalStack (S3 too), the daemon beside rclone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_emulator: Option<OneEmulator>,
    /// Part 7: scale-out where the emulators are not the bound: each daemon held to a small
    /// `queue.concurrency`, 1 and 2 processes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale_capped: Vec<ScaleRow>,
    /// `s3r_startup_seconds` of every daemon the run started: process start → first
    /// `ReceiveMessage` sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub startup: Vec<Startup>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Run {
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The command that produced the file.
    pub command: String,
    /// `git describe --always --dirty` of the tree measured.
    pub revision: String,
    pub cores: usize,
    /// `/proc/loadavg`'s 1-minute value at the start and at the end.
    pub load_average_start: f64,
    pub load_average_end: f64,
    /// Which emulator served each service, with its version.
    pub emulators: Vec<Emulator>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Emulator {
    /// `s3`, `sqs`, `sns`.
    pub service: String,
    /// `s3s-fs 0.14.1`, `LocalStack core 2026.3.0`.
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub objects: usize,
    pub object_bytes: usize,
    pub targets: usize,
    /// Uploads per second, evenly spaced.
    pub rate_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub floor: Floor,
    /// `p50_ms / floor.median_ms`.
    pub ratio_p50_to_floor: f64,
    /// `p99_ms / floor.median_ms`.
    #[serde(default)]
    pub ratio_p99_to_floor: f64,
}

/// The same API calls one after another by a minimal client, for one object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Floor {
    /// How many times the sequence was timed.
    pub samples: usize,
    /// Median and minimum of the whole sequence.
    pub median_ms: f64,
    pub min_ms: f64,
    /// Median of each call, in order.
    pub calls: Vec<CallTime>,
    /// Median time from `Publish` returning to the message arriving on the topic's SQS
    /// subscriber: part of the daemon's latency, not of the floor.
    #[serde(default)]
    pub delivery_ms: f64,
    /// Median time of the harness's `SendMessage` of the object's event (S3's notification in
    /// this setup): part of the daemon's latency, not of the floor.
    #[serde(default)]
    pub event_send_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallTime {
    /// `sqs:ReceiveMessage`, `s3:CopyObject (target 1)`, …
    pub call: String,
    pub median_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub objects: usize,
    pub object_bytes: usize,
    pub targets: usize,
    /// The emulator's raw capacity for the copies alone: a concurrent client issuing only the
    /// `objects × targets` CopyObject calls.
    pub raw: RawCapacity,
    /// The emulator's ceiling for the daemon's one SNS Publish per object (same client shape).
    pub sns_publish_per_s: f64,
    /// The emulator's ceiling for receiving and deleting the events (batches of 10, the
    /// daemon's receive size), messages per second.
    #[serde(default)]
    pub sqs_receive_delete_per_s: f64,
    /// The emulator's ceiling for everything the daemon does per object except S3: receive
    /// (batches of 10), one Publish per event with its SNS → SQS delivery, delete; objects/s.
    #[serde(default)]
    pub queue_topic_per_s: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_topic_load: Vec<EmulatorLoad>,
    /// The same with the completions published as the daemon now does: one `PublishBatch` of
    /// the ten received (each entry delivered to the subscriber queue); objects/s. The ceiling
    /// for the daemon's request mix.
    #[serde(default)]
    pub queue_topic_batch_per_s: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_topic_batch_load: Vec<EmulatorLoad>,
    /// Busy cores of the whole machine (`/proc/stat`) during each ceiling: copies, queue +
    /// topic, queue + topic batched.
    #[serde(default)]
    pub raw_machine_cores: f64,
    #[serde(default)]
    pub queue_topic_machine_cores: f64,
    #[serde(default)]
    pub queue_topic_batch_machine_cores: f64,
    /// Requests per second LocalStack logged during the batched queue + topic ceiling, and the
    /// emulators' answer times meanwhile.
    #[serde(default)]
    pub queue_topic_batch_localstack_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_topic_batch_answers: Option<AnswerTimes>,
    /// A bare client making every request the daemon makes for these objects (S3 too) with
    /// the same shape as the queue + topic ceilings: the emulators' and the machine's ceiling
    /// for the daemon's whole request mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_mix: Option<ThroughputRow>,
    /// The emulators' answer times on an idle machine, before the throughput parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_answers: Option<AnswerTimes>,
    /// One row per tool, the daemon's included.
    pub rows: Vec<ThroughputRow>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawCapacity {
    pub concurrency: usize,
    pub copies_per_s: f64,
    /// `copies_per_s / targets`.
    pub objects_per_s: f64,
    /// How busy each emulator was meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulator_load: Vec<EmulatorLoad>,
}

/// An emulator's CPU time over a measured run divided by the run's duration: 1.0 is one core
/// busy all along, which is all a single-threaded Python server (LocalStack) can use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmulatorLoad {
    /// `s3s-fs`, `LocalStack`.
    pub emulator: String,
    pub cores: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// `s3-replicator (1 daemon)`, `rclone copy`, `aws s3 sync`.
    pub tool: String,
    /// How it was run (flags, concurrency).
    pub how: String,
    pub seconds: f64,
    pub objects_per_s: f64,
    /// `objects_per_s / raw.objects_per_s`.
    pub ratio_to_raw: f64,
    /// How busy each emulator was meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulator_load: Vec<EmulatorLoad>,
    /// Busy cores of the whole machine meanwhile (`/proc/stat`: every process, the harness's
    /// own included); the machine has `run.cores`.
    #[serde(default)]
    pub machine_cores: f64,
    /// Requests per second LocalStack served meanwhile (from its request log), the harness's
    /// own (events, completions' subscriber, the pulse) included.
    #[serde(default)]
    pub localstack_per_s: f64,
    /// The same per object, by operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub localstack_per_object: Vec<OperationRate>,
    /// The emulators' answer times meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<AnswerTimes>,
}

/// How long the emulators took to answer a small request, sent every 100 ms while a part ran
/// (SQS `GetQueueAttributes` to LocalStack, S3 `HeadObject` to the S3 emulator): the time a
/// request waits in an emulator under that part's load.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct AnswerTimes {
    pub localstack_p50_ms: f64,
    pub localstack_p90_ms: f64,
    pub s3_p50_ms: f64,
    pub s3_p90_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OperationRate {
    /// `sqs.ReceiveMessage`, as LocalStack's log names it.
    pub operation: String,
    pub per_object: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LargeObjectRow {
    pub tool: String,
    pub mib: f64,
    pub seconds: f64,
    pub mib_per_s: f64,
    pub peak_rss_mib: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScaleRow {
    pub daemons: usize,
    pub seconds: f64,
    pub objects_per_s: f64,
    /// CPU seconds (user + system) of all daemon processes together.
    pub daemon_cpu_seconds: f64,
    /// `queue.concurrency` of each process (0 in files written before it was recorded: 64).
    #[serde(default)]
    pub concurrency: usize,
    /// Objects in the run (0 in older files: `throughput.objects`).
    #[serde(default)]
    pub objects: usize,
    /// How busy each emulator and the whole machine were meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulator_load: Vec<EmulatorLoad>,
    #[serde(default)]
    pub machine_cores: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Requests {
    pub objects: usize,
    pub targets: usize,
    /// `service:Operation` → requests per replicated object per target (calls on the source
    /// side and the queue are divided by the targets too, so the column adds up).
    pub per_object_per_target: Vec<RequestRate>,
    pub total_per_object_per_target: f64,
    /// What CRR does per object per destination, as AWS documents it.
    pub crr: Vec<RequestRate>,
    pub crr_total_per_object_per_target: f64,
    /// Every request of a service summed, per object (to all targets): `s3`, `sns`, `sqs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_object_by_service: Vec<ServiceRate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceRate {
    pub service: String,
    pub per_object: f64,
}

/// Every service on one emulator: the daemon and rclone copy the same objects to two targets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OneEmulator {
    /// `LocalStack core 2026.3.0 (host mode)`: S3, SQS and SNS.
    pub emulator: String,
    pub objects: usize,
    pub object_bytes: usize,
    pub targets: usize,
    /// The daemon's row first, then rclone's; `ratio_to_raw` is unused (0).
    pub rows: Vec<ThroughputRow>,
    /// The daemon's objects/s over rclone's.
    pub daemon_to_rclone: f64,
    /// The daemon's requests per object in this run, by service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daemon_requests_per_object: Vec<ServiceRate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Startup {
    /// The part and process: `latency`, `throughput, 2 daemons #2`, …
    pub daemon: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestRate {
    pub request: String,
    pub per_object_per_target: f64,
}
