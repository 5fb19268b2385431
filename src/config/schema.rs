//! The configuration's schema: the `[aws]`, `[queue]`, `[completion]`, `[alerts]`, `[copy]`,
//! `[[targets]]` and `[[rules]]` tables as types, with their defaults. Part of [`crate::config`]:
//! [`super::load`] fills them from the layers, [`super::validate`] checks them,
//! [`super::describe`] prints them; the `[server]`, `[log]` and `[timeouts]` tables live in
//! [`super::operations`] and [`super::timeouts`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::units::{self, ByteSize};
use super::{LogConfig, ServerConfig, TimeoutsConfig};

/// The storage classes S3 accepts in `x-amz-storage-class` for a PUT or copy.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

/// Smallest part S3 accepts in a multipart upload (except the last part).
pub const MIN_PART_SIZE: ByteSize = ByteSize::mib(5);
/// Largest part S3 accepts, and also the largest object a single `CopyObject` can copy.
pub const MAX_PART_SIZE: ByteSize = ByteSize::gib(5);

/// The whole configuration of the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings shared by every AWS client (endpoint override, default region).
    #[serde(default)]
    pub aws: AwsConfig,
    /// The SQS queue that receives the source buckets' `ObjectCreated` notifications.
    pub queue: QueueConfig,
    /// Where "this object is now in every target" is announced.
    pub completion: CompletionConfig,
    /// Where failures that need a person are announced.
    pub alerts: AlertsConfig,
    /// Limits for the copies themselves.
    #[serde(default)]
    pub copy: CopyConfig,
    /// Buckets that objects are copied to; rules refer to them by name.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Which source objects are copied to which targets.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// The health and metrics endpoint (see [`ServerConfig`]).
    #[serde(default)]
    pub server: ServerConfig,
    /// How logs are written (see [`LogConfig`]).
    #[serde(default)]
    pub log: LogConfig,
    /// How long AWS requests and the handling of one message may take (see [`TimeoutsConfig`]).
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
}

/// Settings shared by every AWS client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Endpoint for every service (S3, SQS, SNS, STS), for a local emulator only.
    /// `None` uses the real AWS endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Endpoint for S3 alone (the source and every target), overriding `endpoint_url` there:
    /// an S3-compatible store, or a second emulator for S3 while SQS, SNS and STS use
    /// `endpoint_url` or AWS. `None` leaves S3 to `endpoint_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_endpoint_url: Option<String>,
    /// Default region for the source side and for SQS/SNS when the queue URL or topic ARN does
    /// not name one. `None` leaves it to the SDK's default chain (`AWS_REGION`, profile, IMDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The SQS queue and how it is polled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`). Required; it has no default,
    /// so it is left out when serialized empty (the defaults layer must not supply it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Messages per `ReceiveMessage` call; SQS allows 1..=10.
    #[serde(default = "default_max_messages")]
    pub max_messages: i32,
    /// Long-poll wait per `ReceiveMessage`, in seconds; SQS allows 0..=20. 20 keeps an idle
    /// daemon cheap.
    #[serde(default = "default_wait_time_secs", deserialize_with = "units::secs")]
    pub wait_time_secs: i32,
    /// Initial visibility timeout of a received message, in seconds (SQS: 1..=43200). The
    /// heartbeat extends it while a copy runs, so it only needs to cover one heartbeat period.
    #[serde(
        default = "default_visibility_timeout_secs",
        deserialize_with = "units::secs"
    )]
    pub visibility_timeout_secs: i32,
    /// Source objects in flight at once in this process; at least 1.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// On SIGTERM/SIGINT, how long in-flight messages may take to finish, in seconds, before
    /// their copies are cancelled (multipart uploads aborted) and the messages handed back to the
    /// queue. The default, 25, fits inside ECS's default 30 s `stopTimeout`.
    #[serde(
        default = "default_shutdown_timeout_secs",
        deserialize_with = "units::secs"
    )]
    pub shutdown_timeout_secs: u64,
}

const fn default_max_messages() -> i32 {
    10
}

const fn default_wait_time_secs() -> i32 {
    20
}

const fn default_visibility_timeout_secs() -> i32 {
    60
}

const fn default_concurrency() -> usize {
    64
}

const fn default_shutdown_timeout_secs() -> u64 {
    25
}

const fn default_alert_window_secs() -> u64 {
    300
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_messages: default_max_messages(),
            wait_time_secs: default_wait_time_secs(),
            visibility_timeout_secs: default_visibility_timeout_secs(),
            concurrency: default_concurrency(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
        }
    }
}

/// The SNS topic that receives one completion event per replicated source object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionConfig {
    /// Topic ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`). Required; downstream jobs subscribe here.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topic_arn: String,
}

/// The SNS topic that receives alerts (email subscribers get a readable text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Topic ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`). Required: failures must reach a person.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topic_arn: String,
    /// At most one alert per (kind, target) per window, in seconds: the first failure is sent at
    /// once, later ones in the window are counted and sent as one summary with example keys, so
    /// that 10,000 failing objects make a handful of emails. 0 sends every alert.
    #[serde(
        default = "default_alert_window_secs",
        deserialize_with = "units::secs"
    )]
    pub window_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            topic_arn: String::new(),
            window_secs: default_alert_window_secs(),
        }
    }
}

/// Limits for the copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyConfig {
    /// Objects larger than this are copied in parts (UploadPartCopy or streamed parts); smaller
    /// ones with a single CopyObject / PutObject. 5 MiB..=5 GiB, as CopyObject stops at 5 GiB.
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold: ByteSize,
    /// Size of each part, 5 MiB..=5 GiB (S3's limits). Grown per object when the object would
    /// otherwise need more than 10,000 parts.
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// Upper bound on the bytes of streamed parts held in memory at once, across all copies.
    /// At least `part_size`, or no streamed part could ever start.
    #[serde(default = "default_max_inflight_bytes")]
    pub max_inflight_bytes: ByteSize,
}

const fn default_multipart_threshold() -> ByteSize {
    ByteSize::mib(64)
}

const fn default_part_size() -> ByteSize {
    ByteSize::mib(64)
}

const fn default_max_inflight_bytes() -> ByteSize {
    ByteSize::mib(512)
}

impl Default for CopyConfig {
    fn default() -> Self {
        Self {
            multipart_threshold: default_multipart_threshold(),
            part_size: default_part_size(),
            max_inflight_bytes: default_max_inflight_bytes(),
        }
    }
}

/// One destination bucket and how to write to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name that rules use to refer to this target; also reported in completion events.
    pub name: String,
    /// Destination bucket name (no `s3://`, no key prefix: that goes in `key_prefix`).
    pub bucket: String,
    /// Region of the destination bucket; its S3 client is built for this region.
    pub region: String,
    /// IAM role assumed (STS AssumeRole) to write here, typically in another account.
    /// `None` writes with the daemon's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External ID sent with AssumeRole when the role's trust policy requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Prepended to the source key to form the target key (`"replica/"` + key). `None`: same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Storage class of the replicas (one of [`STORAGE_CLASSES`]). `None`: the bucket default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// KMS key (ID, alias or ARN) for SSE-KMS on the replicas. `None`: the bucket's default
    /// encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_id: Option<String>,
    /// How bytes reach this target; see [`CopyMode`].
    #[serde(default)]
    pub copy_mode: CopyMode,
    /// Every write carries a compare-and-swap on what was read at the key (`If-None-Match: *`
    /// when it was empty, `If-Match: <etag>` otherwise), so that two daemons never overwrite
    /// each other blindly. `false` for a store that rejects conditional writes: weaker
    /// (docs/design.md, "Conditional writes").
    #[serde(default = "default_true")]
    pub conditional_writes: bool,
    /// On a first delivery, write at once (`If-None-Match: *`) and read the key only when the
    /// write answers 412, instead of reading it first: one request per small object instead of
    /// two. Only with `conditional_writes`, and only for a store that honours `If-None-Match` on
    /// `CopyObject` and `PutObject` (S3 does; a store that ignores it would let an older
    /// version's first delivery overwrite a newer replica). docs/design.md, "Write first".
    #[serde(default = "default_true")]
    pub write_first: bool,
    /// Whether replicas carry the source's Object Lock retention and legal hold
    /// ([`ObjectLock`]; docs/design.md, "Object Lock").
    #[serde(default)]
    pub object_lock: ObjectLock,
    /// The S3 API endpoint of an S3-compatible store (Cloudflare R2, MinIO, another cloud's
    /// object storage). `None`: `aws.s3_endpoint_url` when set, else AWS. A target on its own
    /// endpoint is always written by a streamed copy (docs/design.md, "Targets beyond AWS").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Path-style requests (`https://HOST/BUCKET/KEY`) rather than virtual-hosted ones.
    /// `None`: path style whenever an endpoint is overridden (this target's or the `[aws]`
    /// table's), virtual-hosted on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// Credentials from this profile of the shared AWS config and credentials files, instead
    /// of the daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The name of the environment variable holding this target's access key ID (never the
    /// key itself); with `secret_access_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_env: Option<String>,
    /// The name of the environment variable holding this target's secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_env: Option<String>,
    /// Features of the store, declared ([`Capabilities`]); what is left undeclared is
    /// detected before the first write to a target on its own endpoint.
    #[serde(default, skip_serializing_if = "Capabilities::is_empty")]
    pub capabilities: Capabilities,
    /// Where `check-config --probe` and capability detection write (and delete) their
    /// one-object test, within the bucket. `None`: `key_prefix` + `.s3-replicator-probe/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_prefix: Option<String>,
}

/// What an S3-compatible store supports, where it may lack what S3 has. `None`: not declared
/// (assumed on AWS; detected on first use on a target's own endpoint). `false`: never used, and
/// the replicas go without it (one log line and `s3r_target_capability_missing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Object tags (`x-amz-tagging` on writes, `GetObjectTagging`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagging: Option<bool>,
    /// `If-None-Match: *` and `If-Match` on writes, honoured (a 412 when they fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional_writes: Option<bool>,
    /// Full-object CRC checksums sent with writes, checked and returned by `HeadObject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<bool>,
    /// `x-amz-storage-class` on writes (the target's `storage_class`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_classes: Option<bool>,
}

impl Capabilities {
    /// Nothing declared.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Every feature, named as in the configuration, with its declared value.
    pub fn declared(&self) -> [(&'static str, Option<bool>); 4] {
        [
            ("tagging", self.tagging),
            ("conditional_writes", self.conditional_writes),
            ("checksums", self.checksums),
            ("storage_classes", self.storage_classes),
        ]
    }
}

const fn default_true() -> bool {
    true
}

impl TargetConfig {
    /// A target written with the daemon's own credentials, every option at its default.
    pub fn new(name: &str, bucket: &str, region: &str) -> Self {
        Self {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            role_arn: None,
            external_id: None,
            key_prefix: None,
            storage_class: None,
            sse_kms_key_id: None,
            copy_mode: CopyMode::default(),
            conditional_writes: true,
            write_first: true,
            object_lock: ObjectLock::Off,
            endpoint_url: None,
            force_path_style: None,
            profile: None,
            access_key_id_env: None,
            secret_access_key_env: None,
            capabilities: Capabilities::default(),
            probe_prefix: None,
        }
    }

    /// Whether the target has its own credentials (a profile or environment variables) rather
    /// than the daemon's (or a role assumed with them).
    pub fn own_credentials(&self) -> bool {
        self.profile.is_some() || self.access_key_id_env.is_some()
    }

    /// Whether S3 cannot copy into this target server-side: it is on its own endpoint, or it is
    /// written with other credentials than those that read the source, which S3 never sees
    /// together. Such a target is always streamed.
    pub fn streams_only(&self) -> bool {
        self.endpoint_url.is_some() || self.own_credentials()
    }

    /// Whether this target's ETags are S3's (an MD5 of the content for a single-part object
    /// without SSE-KMS): not on its own endpoint, where another implementation may give any
    /// ETag. Replicas there are proven by full-object checksums instead.
    pub fn trusts_etags(&self) -> bool {
        self.endpoint_url.is_none()
    }

    /// How bytes reach this target in effect: `stream` for a target S3 cannot copy into.
    pub fn effective_copy_mode(&self) -> CopyMode {
        if self.streams_only() {
            CopyMode::Stream
        } else {
            self.copy_mode
        }
    }

    /// The key prefix of the probe object.
    pub fn probe_prefix(&self) -> String {
        self.probe_prefix.clone().unwrap_or_else(|| {
            format!(
                "{}.s3-replicator-probe/",
                self.key_prefix.as_deref().unwrap_or("")
            )
        })
    }
}

/// How objects are copied to a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyMode {
    /// Server-side copy when one principal can read the source and write the target, otherwise
    /// stream.
    #[default]
    Auto,
    /// Always CopyObject / UploadPartCopy; fails if the target's principal cannot read the
    /// source.
    ServerSide,
    /// Always GET from the source and upload to the target, each with its own credentials.
    Stream,
}

impl CopyMode {
    /// The value as written in the TOML file.
    pub const fn as_str(self) -> &'static str {
        match self {
            CopyMode::Auto => "auto",
            CopyMode::ServerSide => "server-side",
            CopyMode::Stream => "stream",
        }
    }
}

impl fmt::Display for CopyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Routes objects of one source bucket (optionally filtered by key prefix/suffix) to targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name reported in completion events and used as an SNS message attribute.
    pub name: String,
    /// Bucket whose `ObjectCreated` events this rule handles.
    pub source_bucket: String,
    /// Only keys starting with this (decoded key). `None`: every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only keys ending with this (decoded key). `None`: every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Names of the targets (see `[[targets]]`) every matching object is copied to.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Partition completion: the name of the marker object (e.g. `_SUCCESS`) whose arrival
    /// says "this prefix is complete". When the marker is replicated, the daemon checks that
    /// every object under the marker's prefix is in every target and then publishes one
    /// `s3-replicator.prefix-completed.v1` event. The marker is replicated even when it does
    /// not match `suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_on: Option<String>,
    /// How long after the marker's event objects may still be missing before an alert names
    /// them, in seconds. The check is repeated with a growing delay until then (and after).
    #[serde(
        default = "default_complete_deadline_secs",
        deserialize_with = "units::secs"
    )]
    pub complete_deadline_secs: u64,
    /// What a delete of a source object does to its replicas ([`Deletes`]; docs/design.md,
    /// "Deletes").
    #[serde(default)]
    pub deletes: Deletes,
    /// The mass-delete guard: at most this many deletes per minute for this rule in one
    /// process; beyond it deletes are held (handed back to the queue with a delay, never
    /// dropped) and one `delete_storm` alert names the rule and the rate. At least 1.
    #[serde(default = "default_max_deletes_per_minute")]
    pub max_deletes_per_minute: u32,
    /// An object whose completion comes later than this after its S3 event time raises a
    /// `replication_late` alert (aggregated) and counts in `s3r_objects_late_total{rule}`.
    /// `None`: no threshold.
    #[serde(
        default,
        deserialize_with = "units::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub lag_alert_secs: Option<u64>,
    /// What happens to a source that is archived and not restored ([`Archived`]; docs/design.md,
    /// "Archived sources").
    #[serde(default)]
    pub archived: Archived,
    /// The retrieval tier of `archived = "restore"`'s `RestoreObject` (S3 Glacier Flexible
    /// Retrieval and Deep Archive; Intelligent-Tiering's archive tiers take none).
    #[serde(default)]
    pub restore_tier: RestoreTier,
    /// How many days a restored copy stays readable (`archived = "restore"`); 1..=30.
    #[serde(default = "default_restore_days")]
    pub restore_days: u32,
    /// Tables under the rule whose objects wait for one another ([`TableFormat`];
    /// docs/design.md, "Tables").
    #[serde(default)]
    pub table_format: TableFormat,
}

/// How a rule treats the tables under it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableFormat {
    /// Every object is copied as it comes.
    #[default]
    None,
    /// Every directory with a `_delta_log/` is a Delta Lake table: a commit is copied only once
    /// the files it adds and the commit before it are in every target, a checkpoint only once
    /// its commit is; then `s3-replicator.table-committed.v1` is published.
    Delta,
}

const fn default_complete_deadline_secs() -> u64 {
    900
}

const fn default_max_deletes_per_minute() -> u32 {
    1000
}

const fn default_restore_days() -> u32 {
    1
}

/// What a delete of a source object does to its replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deletes {
    /// Replicas stay (S3 Replication's default too).
    #[default]
    Ignore,
    /// A delete (or a delete marker) of the source deletes the replica on every target, if the
    /// replica was made from this source key by an older event; a versioned target gets a
    /// delete marker.
    Replicate,
}

/// What happens to a source that is archived (S3 Glacier Flexible Retrieval, Deep Archive, an
/// Intelligent-Tiering archive tier) and not restored, which cannot be copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Archived {
    /// One aggregated `source_archived` alert with the storage class and how to restore it;
    /// the message is acknowledged and counted.
    #[default]
    Alert,
    /// `RestoreObject` (with `restore_tier` and `restore_days`), acknowledge, and copy when the
    /// `s3:ObjectRestore:Completed` event arrives.
    Restore,
}

/// The retrieval tier of a `RestoreObject`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTier {
    /// Hours (3–5 for Flexible Retrieval, within 12 for Deep Archive).
    #[default]
    Standard,
    /// The cheapest: 5–12 hours, within 48 for Deep Archive.
    Bulk,
    /// Minutes; Flexible Retrieval only.
    Expedited,
}

impl RestoreTier {
    /// The value as written in the TOML file and sent to S3.
    pub const fn as_str(self) -> &'static str {
        match self {
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
            RestoreTier::Expedited => "Expedited",
        }
    }
}

/// Whether replicas carry the source's Object Lock settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectLock {
    /// Replicas get the target bucket's default retention, if any.
    #[default]
    Off,
    /// Replicas carry the source's retention mode, retain-until date and legal hold (the
    /// target bucket must have Object Lock enabled).
    Copy,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            source_bucket: String::new(),
            prefix: None,
            suffix: None,
            targets: Vec::new(),
            complete_on: None,
            complete_deadline_secs: default_complete_deadline_secs(),
            deletes: Deletes::Ignore,
            max_deletes_per_minute: default_max_deletes_per_minute(),
            lag_alert_secs: None,
            archived: Archived::Alert,
            restore_tier: RestoreTier::Standard,
            restore_days: default_restore_days(),
            table_format: TableFormat::None,
        }
    }
}

impl RuleConfig {
    /// Whether `key` is this rule's partition marker (`…/_SUCCESS`, or `_SUCCESS` at the top).
    pub fn is_marker(&self, key: &str) -> bool {
        self.complete_on.as_deref().is_some_and(|marker| {
            key.strip_suffix(marker)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('/'))
        })
    }

    /// Whether this rule replicates `key` of its source bucket: under its prefix, and ending
    /// with its suffix or being its partition marker.
    pub fn covers(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && (self.suffix.as_deref().is_none_or(|s| key.ends_with(s)) || self.is_marker(key))
    }
}

impl Config {
    /// The target called `name`, if any.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}
