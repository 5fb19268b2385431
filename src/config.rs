//! Configuration: what to read (queue), where to copy (targets), which objects go where (rules),
//! whom to tell (completion and alert topics) and how hard to push (copy limits).
//!
//! Layers, later ones winning: built-in defaults → TOML file → environment variables `S3R_…`
//! with `__` between nesting levels (`S3R_QUEUE__URL`, `S3R_COPY__PART_SIZE="8 MiB"`).
//!
//! Loading happens in two steps so that the user sees every mistake at once:
//! 1. [`Config::figment`] + extraction: syntax, types, unknown and missing fields
//!    ([`ConfigError::Load`], each error names its field path and its source).
//! 2. [`Config::validate`]: the semantic checks (ranges, ARNs, references between rules and
//!    targets, replication loops), all collected into one [`ConfigError::Invalid`].
//!
//! A target that no rule uses is allowed and not reported: it lets an operator stage a target
//! before routing data to it, or park one while a rule is switched off. `describe` lists such
//! targets so that they are visible in `check-config`.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::Path;
use std::str::FromStr;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "S3R_";
/// Separator between nesting levels in environment variable names (`S3R_QUEUE__URL`).
pub const ENV_SEPARATOR: &str = "__";
/// The top-level tables of the file. Every key lives below one of them, so a configuration
/// variable always reads `S3R_SECTION__KEY`.
const SECTIONS: &[&str] = &[
    "aws",
    "queue",
    "completion",
    "alerts",
    "copy",
    "targets",
    "rules",
    "server",
    "log",
    "timeouts",
];

/// Whether a variable (name after the prefix) is meant as a configuration key: it nests with
/// `__`, or starts with a section name and `_` (a typo like `S3R_QUEUE_URL`, reported as an
/// unknown field rather than silently ignored). Other variables under the prefix belong to
/// someone else and are skipped: `S3R_CONFIG` (the CLI's `--config`), the test scripts'
/// `S3R_TEST_ENDPOINT`, `S3R_EMULATOR_PORT`.
fn is_config_var(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains(ENV_SEPARATOR)
        || SECTIONS.iter().any(|s| {
            name.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with('_'))
        })
}

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
    #[serde(default = "default_wait_time_secs")]
    pub wait_time_secs: i32,
    /// Initial visibility timeout of a received message, in seconds (SQS: 1..=43200). The
    /// heartbeat extends it while a copy runs, so it only needs to cover one heartbeat period.
    #[serde(default = "default_visibility_timeout_secs")]
    pub visibility_timeout_secs: i32,
    /// Source objects in flight at once in this process; at least 1.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// On SIGTERM/SIGINT, how long in-flight messages may take to finish, in seconds, before
    /// their copies are cancelled (multipart uploads aborted) and the messages handed back to the
    /// queue. The default, 25, fits inside ECS's default 30 s `stopTimeout`.
    #[serde(default = "default_shutdown_timeout_secs")]
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
    #[serde(default = "default_alert_window_secs")]
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
    /// each other blindly. `false` for a store that rejects conditional writes: weaker (README,
    /// "Concurrent writers").
    #[serde(default = "default_true")]
    pub conditional_writes: bool,
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
        }
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
    #[serde(default = "default_complete_deadline_secs")]
    pub complete_deadline_secs: u64,
}

const fn default_complete_deadline_secs() -> u64 {
    900
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

// ---------------------------------------------------------------------------------------------
// Loading

impl Config {
    /// Defaults → TOML file → environment `S3R_…` (`__` nests: `S3R_QUEUE__URL`,
    /// `S3R_COPY__PART_SIZE="8 MiB"`, `S3R_AWS__ENDPOINT_URL`). Does not validate.
    ///
    /// The file is read from exactly `path` (no search in parent directories); a missing file
    /// is an error at extraction.
    pub fn figment(path: &Path) -> Figment {
        Self::figment_with_env(path, Self::env_provider(ENV_PREFIX))
    }

    /// The environment layer: variables named `prefix` + key path in capitals with `__`
    /// between levels (`S3R_QUEUE__URL`). Variables under the prefix that name no section
    /// (`S3R_CONFIG`, `S3R_TEST_ENDPOINT`) are skipped. [`Config::figment`] uses [`ENV_PREFIX`].
    pub fn env_provider(prefix: &str) -> Env {
        Env::prefixed(prefix)
            .filter(|name| is_config_var(name.as_str()))
            .split(ENV_SEPARATOR)
    }

    /// Like [`Config::figment`] with a caller-chosen environment provider (tests use a prefix
    /// of their own so that they don't race on the process environment).
    pub fn figment_with_env(path: &Path, env: Env) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(path))
            .merge(env)
    }

    /// [`Config::figment`] extracted, then [`Config::validate`]d.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::from_figment(&Self::figment(path))
    }

    /// Extracts from any figment (e.g. one with extra layers) and validates.
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract()?;
        config.validate()?;
        Ok(config)
    }

    /// The target called `name`, if any.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed, or a field has the wrong type, is unknown or is
    /// missing. Each problem names the field path and where the value came from.
    #[error("cannot load the configuration:\n{}", Lines(.0))]
    Load(Vec<Problem>),
    /// One or more semantic problems; all of them, not just the first.
    #[error("the configuration has {} problem{}:\n{}", .0.len(), plural(.0.len()), Lines(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The individual problems, whichever kind of error this is.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Load(p) | ConfigError::Invalid(p) => p,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Displays problems one per line, indented.
struct Lines<'a>(&'a [Problem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            // Continuation lines (e.g. a TOML parse error's excerpt) stay under their problem.
            write!(f, "  {}", p.to_string().replace('\n', "\n    "))?;
        }
        Ok(())
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the field, e.g. `rules[0].targets[1]` or `queue.max_messages`; empty when the
    /// problem concerns the whole file (unreadable, not TOML).
    pub field: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Problem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        ConfigError::Load(error.into_iter().map(|e| load_problem(&e)).collect())
    }
}

/// Turns one figment error into a problem naming its field path and its source.
fn load_problem(error: &figment::Error) -> Problem {
    use figment::error::Kind;

    let mut path = error.path.clone();
    let message = match &error.kind {
        Kind::UnknownField(name, valid) => {
            // Figment usually has the field in the path already; serde alone does not.
            if path.last() != Some(name) {
                path.push(name.clone());
            }
            format!("unknown field; valid fields here: {}", quoted_list(valid))
        }
        Kind::MissingField(name) => {
            if path.last().map(String::as_str) != Some(name.as_ref()) {
                path.push(name.to_string());
            }
            // The metadata names the layer that supplied the parent table (often the built-in
            // defaults), which says nothing useful: tell where the value can be given instead.
            let field = render_path(&path);
            if path.iter().any(|k| k.bytes().all(|b| b.is_ascii_digit())) {
                // Inside an array of tables: only the file can supply it.
                return Problem::new(field, "missing; this field is required");
            }
            let var: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
            let var = format!("{ENV_PREFIX}{}", var.join(ENV_SEPARATOR));
            return Problem::new(
                field,
                format!(
                    "missing; this field is required (set it in the file or with the \
                     environment variable {var})"
                ),
            );
        }
        Kind::UnknownVariant(value, valid) => {
            format!("unknown value {value:?}; valid: {}", quoted_list(valid))
        }
        kind => kind.to_string(),
    };
    let field = render_path(&path);
    let message = message.trim_end().to_owned();
    let source = match &error.metadata {
        Some(md) if md.name.contains("environment variable") => {
            // The prefix is in the provider's name: "`S3R_` environment variable(s)".
            let prefix = md.name.split('`').nth(1).unwrap_or("");
            if path.is_empty() {
                md.name.to_string()
            } else {
                let var: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
                let hint = if matches!(error.kind, Kind::UnknownField(..)) {
                    "; levels are separated by `__`, e.g. S3R_QUEUE__URL"
                } else {
                    ""
                };
                format!(
                    "environment variable {prefix}{}{hint}",
                    var.join(ENV_SEPARATOR)
                )
            }
        }
        Some(md) => match &md.source {
            Some(source) => format!("{} {source}", md.name),
            None => md.name.to_string(),
        },
        None => String::new(),
    };
    if source.is_empty() {
        Problem::new(field, message)
    } else if field.is_empty() {
        // Not about one field: the whole file is unreadable or not TOML.
        Problem::new(field, format!("{source}: {message}"))
    } else {
        let from = if source.starts_with("environment") {
            "from"
        } else {
            "in"
        };
        Problem::new(field, format!("{message} ({from} {source})"))
    }
}

/// `["rules", "0", "targets"]` → `rules[0].targets`.
fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            let _ = write!(out, "[{segment}]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn quoted_list(items: &[&str]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Collects problems.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(field, message));
    }
}

impl Config {
    /// Every semantic problem, not just the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.validate_aws(&mut p);
        self.validate_queue(&mut p);
        check_topic_arn(&mut p, "completion.topic_arn", &self.completion.topic_arn);
        check_topic_arn(&mut p, "alerts.topic_arn", &self.alerts.topic_arn);
        self.validate_copy(&mut p);
        self.validate_targets(&mut p);
        self.validate_rules(&mut p);
        self.validate_operations(&mut p);
        self.validate_timeouts(&mut p);
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(p.0))
        }
    }

    fn validate_aws(&self, p: &mut Problems) {
        if let Some(url) = &self.aws.endpoint_url {
            if let Err(why) = check_http_url(url) {
                p.push(
                    "aws.endpoint_url",
                    format!("{why}; expected an http(s) URL such as \"http://127.0.0.1:5000\", or leave it out for AWS"),
                );
            }
        }
        if let Some(url) = &self.aws.s3_endpoint_url {
            if let Err(why) = check_http_url(url) {
                p.push(
                    "aws.s3_endpoint_url",
                    format!("{why}; expected an http(s) URL such as \"http://127.0.0.1:9000\", or leave it out to reach S3 like the other services"),
                );
            }
        }
        if let Some(region) = &self.aws.region {
            if let Err(why) = check_region(region) {
                p.push(
                    "aws.region",
                    format!("{why}; leave it out to use the SDK's default region chain"),
                );
            }
        }
    }

    fn validate_queue(&self, p: &mut Problems) {
        let q = &self.queue;
        if let Err(why) = check_http_url(&q.url) {
            p.push(
                "queue.url",
                format!("{why}; expected the SQS queue URL, e.g. \"https://sqs.us-east-1.amazonaws.com/111111111111/replication-events\""),
            );
        }
        check_range(
            p,
            "queue.max_messages",
            q.max_messages,
            1,
            10,
            "messages per ReceiveMessage (an SQS limit)",
        );
        check_range(
            p,
            "queue.wait_time_secs",
            q.wait_time_secs,
            0,
            20,
            "seconds of long polling (an SQS limit)",
        );
        check_range(
            p,
            "queue.visibility_timeout_secs",
            q.visibility_timeout_secs,
            1,
            43_200,
            "seconds (an SQS limit: 12 hours)",
        );
        if q.concurrency == 0 {
            p.push(
                "queue.concurrency",
                "is 0, so nothing would ever be copied; must be at least 1",
            );
        }
        if q.shutdown_timeout_secs > 3_600 {
            p.push(
                "queue.shutdown_timeout_secs",
                format!(
                    "is {}; must be 0..=3600 seconds (keep it below the ECS task's stopTimeout)",
                    q.shutdown_timeout_secs
                ),
            );
        }
        if self.alerts.window_secs > 86_400 {
            p.push(
                "alerts.window_secs",
                format!(
                    "is {}; must be 0..=86400 seconds (0 sends every alert)",
                    self.alerts.window_secs
                ),
            );
        }
    }

    fn validate_copy(&self, p: &mut Problems) {
        let c = &self.copy;
        if c.part_size < MIN_PART_SIZE || c.part_size > MAX_PART_SIZE {
            p.push(
                "copy.part_size",
                format!(
                    "is {}; S3 parts must be {MIN_PART_SIZE}..={MAX_PART_SIZE}",
                    c.part_size
                ),
            );
        }
        if c.multipart_threshold < MIN_PART_SIZE {
            p.push(
                "copy.multipart_threshold",
                format!(
                    "is {}; must be at least {MIN_PART_SIZE}, the smallest multipart part",
                    c.multipart_threshold
                ),
            );
        } else if c.multipart_threshold > MAX_PART_SIZE {
            p.push(
                "copy.multipart_threshold",
                format!(
                    "is {}; must be at most {MAX_PART_SIZE}, the largest object CopyObject can copy",
                    c.multipart_threshold
                ),
            );
        }
        if c.max_inflight_bytes < c.part_size {
            p.push(
                "copy.max_inflight_bytes",
                format!(
                    "is {}, less than copy.part_size ({}), so no streamed part could start; must be at least copy.part_size",
                    c.max_inflight_bytes, c.part_size
                ),
            );
        }
    }

    fn validate_targets(&self, p: &mut Problems) {
        if self.targets.is_empty() {
            p.push(
                "targets",
                "no target is defined; add at least one [[targets]] table with name, bucket and region",
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.targets.iter().enumerate() {
            let at = |field: &str| format!("targets[{i}].{field}");
            if t.name.trim().is_empty() {
                p.push(
                    at("name"),
                    "is empty; give the target a name that rules can refer to",
                );
            } else if let Some(first) = seen.insert(t.name.as_str(), i) {
                seen.insert(t.name.as_str(), first);
                p.push(
                    at("name"),
                    format!(
                        "{:?} is already the name of targets[{first}]; target names must be unique",
                        t.name
                    ),
                );
            }
            if let Err(why) = check_bucket(&t.bucket) {
                p.push(at("bucket"), why);
            }
            if let Err(why) = check_region(&t.region) {
                p.push(
                    at("region"),
                    format!("{why}; the region of the target bucket, e.g. \"eu-west-1\""),
                );
            }
            if let Some(role) = &t.role_arn {
                if !is_role_arn(role) {
                    p.push(
                        at("role_arn"),
                        format!("{role:?} is not an IAM role ARN; expected \"arn:aws:iam::123456789012:role/NAME\""),
                    );
                }
            }
            match (&t.external_id, &t.role_arn) {
                (Some(_), None) => p.push(
                    at("external_id"),
                    "is set without role_arn; an external ID is only sent when assuming a role, so set role_arn or remove external_id",
                ),
                (Some(id), Some(_)) if id.is_empty() => {
                    p.push(at("external_id"), "is empty; remove it or give the value the role's trust policy expects")
                }
                _ => {}
            }
            if let Some(class) = &t.storage_class {
                if !STORAGE_CLASSES.contains(&class.as_str()) {
                    p.push(
                        at("storage_class"),
                        format!(
                            "{class:?} is not an S3 storage class; valid: {}",
                            STORAGE_CLASSES.join(", ")
                        ),
                    );
                }
            }
            if let Some(key) = &t.sse_kms_key_id {
                if key.trim().is_empty() {
                    p.push(
                        at("sse_kms_key_id"),
                        "is empty; give a KMS key ID, alias or ARN, or remove it to use the bucket's default encryption",
                    );
                }
            }
        }
    }

    fn validate_rules(&self, p: &mut Problems) {
        if self.rules.is_empty() {
            p.push(
                "rules",
                "no rule is defined, so nothing would be replicated; add at least one [[rules]] \
                 table with name, source_bucket and targets",
            );
        }
        let defined: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let sources: HashSet<&str> = self
            .rules
            .iter()
            .map(|r| r.source_bucket.as_str())
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("rules[{i}].{field}");
            if r.name.trim().is_empty() {
                p.push(
                    at("name"),
                    "is empty; rules need a name (it is reported in completion events)",
                );
            } else if let Some(first) = seen.insert(r.name.as_str(), i) {
                seen.insert(r.name.as_str(), first);
                p.push(
                    at("name"),
                    format!(
                        "{:?} is already the name of rules[{first}]; rule names must be unique",
                        r.name
                    ),
                );
            }
            if let Err(why) = check_bucket(&r.source_bucket) {
                p.push(at("source_bucket"), why);
            }
            if let Some(marker) = &r.complete_on {
                if marker.is_empty() || marker.contains('/') {
                    p.push(
                        at("complete_on"),
                        format!(
                            "is {marker:?}; must be an object name without '/', e.g. \"_SUCCESS\""
                        ),
                    );
                }
            }
            if r.targets.is_empty() {
                p.push(
                    at("targets"),
                    format!(
                        "is empty; name at least one target (defined: {})",
                        name_list(&defined)
                    ),
                );
            }
            let mut in_rule: HashMap<&str, usize> = HashMap::new();
            for (j, name) in r.targets.iter().enumerate() {
                let field = format!("rules[{i}].targets[{j}]");
                if let Some(first) = in_rule.insert(name.as_str(), j) {
                    in_rule.insert(name.as_str(), first);
                    p.push(
                        field,
                        format!("{name:?} is already listed as rules[{i}].targets[{first}]; list each target once"),
                    );
                    continue;
                }
                let Some(target) = self.target(name) else {
                    p.push(
                        field,
                        format!(
                            "{name:?} is not a defined target; defined targets: {}",
                            name_list(&defined)
                        ),
                    );
                    continue;
                };
                for (k, other) in self.rules.iter().enumerate().take(i) {
                    for other_name in &other.targets {
                        let Some(other_target) = self.target(other_name) else {
                            continue;
                        };
                        if let Some(why) = overlap((r, target), (other, other_target)) {
                            p.push(
                                field.clone(),
                                format!(
                                    "rule {:?} → target {name:?} and rule {:?} → target {other_name:?} \
                                     (rules[{k}]) can write the same key of bucket {:?} from different \
                                     source objects ({why}); a replica of one would be taken for the \
                                     other's. Give them separate buckets, or key_prefix values that do \
                                     not nest",
                                    r.name, other.name, target.bucket
                                ),
                            );
                        }
                    }
                }
                for other_name in r.targets.iter().take(j) {
                    let Some(other_target) = self.target(other_name) else {
                        continue;
                    };
                    if let Some(why) = overlap((r, target), (r, other_target)) {
                        p.push(
                            field.clone(),
                            format!(
                                "target {name:?} and target {other_name:?} of this rule can write the \
                                 same key of bucket {:?} from different source objects ({why}). Give \
                                 them separate buckets, or key_prefix values that do not nest",
                                target.bucket
                            ),
                        );
                    }
                }
                if sources.contains(target.bucket.as_str()) {
                    let source_rules: Vec<&str> = self
                        .rules
                        .iter()
                        .filter(|o| o.source_bucket == target.bucket)
                        .map(|o| o.name.as_str())
                        .collect();
                    let source_rules = name_list(&source_rules);
                    let rule = if source_rules.contains(", ") {
                        "rules"
                    } else {
                        "rule"
                    };
                    p.push(
                        field,
                        format!(
                            "target {name:?} writes to bucket {:?}, which is also the source bucket of \
                             {rule} {source_rules}; every replica would create a new event there and \
                             be replicated again, forever. Use a target bucket that no rule reads from",
                            target.bucket,
                        ),
                    );
                }
            }
        }
    }
}

/// Why two (rule, target) destinations can map different source objects onto one target key,
/// or `None` when they cannot. A destination maps source key `k` of its rule's bucket to
/// `key_prefix + k` in its target's bucket; two of them collide when the buckets are one, the
/// key spaces they write (`key_prefix + prefix`) nest, and the mapping differs (another source
/// bucket, or another key_prefix). Disjoint suffixes keep them apart.
fn overlap(a: (&RuleConfig, &TargetConfig), b: (&RuleConfig, &TargetConfig)) -> Option<String> {
    let ((rule_a, target_a), (rule_b, target_b)) = (a, b);
    if target_a.bucket != target_b.bucket {
        return None;
    }
    let key_prefix = |t: &TargetConfig| t.key_prefix.clone().unwrap_or_default();
    let same_mapping = rule_a.source_bucket == rule_b.source_bucket
        && key_prefix(target_a) == key_prefix(target_b);
    if same_mapping {
        // The same source object lands on the same key: one replica, not a collision.
        return None;
    }
    let space = |r: &RuleConfig, t: &TargetConfig| {
        format!("{}{}", key_prefix(t), r.prefix.as_deref().unwrap_or(""))
    };
    let (space_a, space_b) = (space(rule_a, target_a), space(rule_b, target_b));
    if !(space_a.starts_with(&space_b) || space_b.starts_with(&space_a)) {
        return None;
    }
    if let (Some(sa), Some(sb), None, None) = (
        &rule_a.suffix,
        &rule_b.suffix,
        &rule_a.complete_on,
        &rule_b.complete_on,
    ) {
        if !(sa.ends_with(sb.as_str()) || sb.ends_with(sa.as_str())) {
            return None;
        }
    }
    Some(format!(
        "they write under {:?} and {:?}",
        if space_a.is_empty() {
            "(the whole bucket)".to_owned()
        } else {
            space_a
        },
        if space_b.is_empty() {
            "(the whole bucket)".to_owned()
        } else {
            space_b
        },
    ))
}

fn check_range(p: &mut Problems, field: &str, value: i32, min: i32, max: i32, what: &str) {
    if !(min..=max).contains(&value) {
        p.push(field, format!("is {value}; must be {min}..={max} {what}"));
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} does not start with https:// or http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} contains whitespace"));
    }
    Ok(())
}

fn check_region(region: &str) -> Result<(), String> {
    if region.trim().is_empty() {
        Err("is empty".to_owned())
    } else if region.chars().any(char::is_whitespace) {
        Err(format!("{region:?} contains whitespace"))
    } else {
        Ok(())
    }
}

/// Only catches the common mistakes (empty, `s3://…`, a key prefix in the name): buckets
/// created before 2018 in us-east-1 may legally use names that today's rules forbid.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.trim().is_empty() {
        Err("is empty; give the bucket name".to_owned())
    } else if bucket.starts_with("s3://") || bucket.starts_with("arn:") {
        Err(format!(
            "{bucket:?} is not a plain bucket name; write only the name, e.g. \"my-bucket\""
        ))
    } else if bucket.contains('/') || bucket.chars().any(char::is_whitespace) {
        Err(format!(
            "{bucket:?} is not a bucket name (it contains '/' or whitespace); put key prefixes in prefix or key_prefix"
        ))
    } else {
        Ok(())
    }
}

fn check_topic_arn(p: &mut Problems, field: &str, arn: &str) {
    if arn.trim().is_empty() {
        p.push(
            field,
            "is empty; expected an SNS topic ARN, e.g. \"arn:aws:sns:us-east-1:111111111111:NAME\"",
        );
    } else if !is_topic_arn(arn) {
        p.push(
            field,
            format!(
                "{arn:?} is not an SNS topic ARN; expected \"arn:aws:sns:REGION:ACCOUNT:NAME\""
            ),
        );
    }
}

/// `arn:aws[-cn|-us-gov…]:sns:REGION:ACCOUNT:NAME`.
fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws") && !region.is_empty() && is_account_id(account) && !name.is_empty()
    )
}

/// `arn:aws[-…]:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && is_account_id(account)
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty() && !n.ends_with('/'))
    )
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `"a", "b"`: distinct non-empty names in first-seen order, or `none`.
fn name_list(names: &[&str]) -> String {
    let mut seen = HashSet::new();
    let quoted: Vec<String> = names
        .iter()
        .filter(|n| !n.is_empty() && seen.insert(**n))
        .map(|n| format!("{n:?}"))
        .collect();
    if quoted.is_empty() {
        "none".to_owned()
    } else {
        quoted.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Description for `check-config`

impl Config {
    /// Human-readable resolved view for `check-config`: queue, topics, copy limits, then each
    /// rule with its source and its targets resolved. Plain text, stable order (file order).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) -> fmt::Result {
        let q = &self.queue;
        writeln!(out, "Queue")?;
        writeln!(out, "  url:                     {}", q.url)?;
        writeln!(out, "  max_messages:            {}", q.max_messages)?;
        writeln!(out, "  wait_time_secs:          {}", q.wait_time_secs)?;
        writeln!(
            out,
            "  visibility_timeout_secs: {}",
            q.visibility_timeout_secs
        )?;
        writeln!(out, "  concurrency:             {}", q.concurrency)?;
        writeln!(
            out,
            "  shutdown_timeout_secs:   {}",
            q.shutdown_timeout_secs
        )?;
        writeln!(out, "Topics")?;
        writeln!(
            out,
            "  completion:              {}",
            self.completion.topic_arn
        )?;
        writeln!(out, "  alerts:                  {}", self.alerts.topic_arn)?;
        writeln!(
            out,
            "  alert window_secs:       {}",
            self.alerts.window_secs
        )?;
        writeln!(out, "AWS")?;
        writeln!(
            out,
            "  region:                  {}",
            self.aws.region.as_deref().unwrap_or("(SDK default chain)")
        )?;
        writeln!(
            out,
            "  endpoint_url:            {}",
            self.aws
                .endpoint_url
                .as_deref()
                .unwrap_or("(AWS endpoints)")
        )?;
        writeln!(
            out,
            "  s3_endpoint_url:         {}",
            self.aws
                .s3_endpoint_url
                .as_deref()
                .unwrap_or("(as endpoint_url)")
        )?;
        let c = &self.copy;
        writeln!(out, "Copy")?;
        writeln!(out, "  multipart_threshold:     {}", c.multipart_threshold)?;
        writeln!(out, "  part_size:               {}", c.part_size)?;
        writeln!(out, "  max_inflight_bytes:      {}", c.max_inflight_bytes)?;
        writeln!(out, "Operations")?;
        writeln!(out, "  server.listen:           {}", self.server.listen)?;
        writeln!(out, "  log.format:              {:?}", self.log.format)?;
        self.write_timeouts(out)?;

        writeln!(out)?;
        writeln!(out, "Rules ({})", self.rules.len())?;
        for rule in &self.rules {
            writeln!(out, "  {}", rule.name)?;
            writeln!(out, "    source bucket: {}", rule.source_bucket)?;
            writeln!(
                out,
                "    prefix:        {}",
                quoted_or(rule.prefix.as_deref(), "(any)")
            )?;
            writeln!(
                out,
                "    suffix:        {}",
                quoted_or(rule.suffix.as_deref(), "(any)")
            )?;
            if let Some(marker) = &rule.complete_on {
                writeln!(
                    out,
                    "    partition:     closed by {marker:?}; alert after {} s",
                    rule.complete_deadline_secs
                )?;
            }
            writeln!(out, "    targets ({}):", rule.targets.len())?;
            for name in &rule.targets {
                match self.target(name) {
                    Some(t) => write_target(out, t, "      ")?,
                    None => writeln!(out, "      {name}  (NOT DEFINED)")?,
                }
            }
        }

        let unused: Vec<&TargetConfig> = self
            .targets
            .iter()
            .filter(|t| !self.rules.iter().any(|r| r.targets.contains(&t.name)))
            .collect();
        if !unused.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "Targets used by no rule ({}; allowed, they receive nothing)",
                unused.len()
            )?;
            for t in unused {
                write_target(out, t, "  ")?;
            }
        }
        Ok(())
    }
}

fn write_target(out: &mut String, t: &TargetConfig, indent: &str) -> fmt::Result {
    let prefix = t.key_prefix.as_deref().unwrap_or("");
    writeln!(
        out,
        "{indent}{} -> s3://{}/{prefix}<source key>",
        t.name, t.bucket
    )?;
    writeln!(out, "{indent}  region:        {}", t.region)?;
    match (&t.role_arn, &t.external_id) {
        (Some(role), Some(_)) => {
            writeln!(out, "{indent}  role:          {role} (with external ID)")?
        }
        (Some(role), None) => writeln!(out, "{indent}  role:          {role}")?,
        (None, _) => writeln!(
            out,
            "{indent}  role:          (none: the daemon's own credentials)"
        )?,
    }
    writeln!(
        out,
        "{indent}  key prefix:    {}",
        quoted_or(t.key_prefix.as_deref(), "(none: same key)")
    )?;
    writeln!(
        out,
        "{indent}  storage class: {}",
        t.storage_class.as_deref().unwrap_or("(bucket default)")
    )?;
    writeln!(
        out,
        "{indent}  SSE-KMS key:   {}",
        t.sse_kms_key_id
            .as_deref()
            .unwrap_or("(bucket default encryption)")
    )?;
    writeln!(out, "{indent}  copy mode:     {}", t.copy_mode)?;
    writeln!(
        out,
        "{indent}  writes:        {}",
        if t.conditional_writes {
            "conditional (If-Match / If-None-Match on what was read)"
        } else {
            "unconditional (conditional_writes = false: concurrent writers are not detected)"
        }
    )
}

fn quoted_or(value: Option<&str>, none: &str) -> String {
    value.map_or_else(|| none.to_owned(), |v| format!("{v:?}"))
}

// ---------------------------------------------------------------------------------------------
// ByteSize

/// Human byte size: accepts "64 MiB", "5MiB", "1.5 GiB", "512 KB" (SI: KB = 1000, MB, GB, TB,
/// PB, EB; IEC: KiB = 1024, MiB, GiB, TiB, PiB, EiB; units are case-insensitive), "0", "17 B",
/// and plain integers as bytes (in TOML as an integer or a string). A fraction must come out as
/// a whole number of bytes. Displays as the shortest exact IEC form ("64 MiB", "1536 KiB",
/// "17 B").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// `n` GiB.
    pub const fn gib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

const IEC_UNITS: [(&str, u64); 6] = [
    ("EiB", 1 << 60),
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n != 0 {
            for (unit, size) in IEC_UNITS {
                if n.is_multiple_of(size) {
                    return write!(f, "{} {unit}", n / size);
                }
            }
        }
        write!(f, "{n} B")
    }
}

/// Why a byte size could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid byte size {input:?}: {reason}")]
pub struct ParseByteSizeError {
    input: String,
    reason: String,
}

impl ParseByteSizeError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

const UNIT_HELP: &str =
    "use B, KB, MB, GB, TB, PB, EB (powers of 1000) or KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024)";

fn unit_multiplier(unit: &str) -> Option<u64> {
    let m = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        "eb" => 1_000_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        "eib" => 1 << 60,
        _ => return None,
    };
    Some(m)
}

impl FromStr for ByteSize {
    type Err = ParseByteSizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ParseByteSizeError::new(input, reason);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty; expected a size such as \"64 MiB\""));
        }
        if s.starts_with('-') {
            return Err(err("sizes cannot be negative"));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = (&s[..split], s[split..].trim());
        if number.is_empty() {
            return Err(err(
                "expected a number followed by a unit, such as \"64 MiB\"",
            ));
        }
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
            return Err(err(
                "not a number; expected e.g. \"64\" or \"1.5\" followed by a unit",
            ));
        }
        let multiplier = unit_multiplier(unit)
            .ok_or_else(|| err(&format!("unknown unit {unit:?}; {UNIT_HELP}")))?;

        let too_large = || err("too large; the maximum is 18446744073709551615 B (16 EiB - 1 B)");
        // 10^20 > u64::MAX: more integer digits than that (after leading zeros) cannot fit.
        let int = int.trim_start_matches('0');
        if int.len() > 20 {
            return Err(too_large());
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_large())?
        };
        let frac = frac.trim_end_matches('0');
        if frac.len() > 19 {
            return Err(err("too many decimal places"));
        }
        let frac_value: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err("not a number"))?
        };
        let denominator = 10u128.pow(frac.len() as u32);
        // Both products fit: 10^20 · 2^60 < 2^128.
        let frac_bytes = frac_value * u128::from(multiplier);
        if !frac_bytes.is_multiple_of(denominator) {
            return Err(err("not a whole number of bytes"));
        }
        let total = int * u128::from(multiplier) + frac_bytes / denominator;
        u64::try_from(total).map(ByteSize).map_err(|_| too_large())
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a byte size such as \"64 MiB\" or \"512 KB\", or an integer number of bytes",
                )
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Operations: the health/metrics server and the logs

/// Environment variable holding the whole TOML file, for containers that get their
/// configuration through the environment only (the ECS task definition of `terraform/`): arrays
/// of tables (`[[targets]]`, `[[rules]]`) cannot be expressed as `S3R_…` key variables.
/// Used when no `--config` file is given; `S3R_…` key variables still override it.
pub const CONFIG_TOML_ENV: &str = "S3R_CONFIG_TOML";

impl Config {
    /// Like [`Config::figment`], with the file's text given directly instead of a path.
    pub fn figment_from_str(toml: &str) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .merge(Self::env_provider(ENV_PREFIX))
    }

    /// [`Config::figment_from_str`] extracted and validated.
    pub fn load_str(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(&Self::figment_from_str(toml))
    }

    fn validate_operations(&self, p: &mut Problems) {
        if let Err(why) = self.server.listen.parse::<std::net::SocketAddr>() {
            p.push(
                "server.listen",
                format!(
                    "{:?} is not an address: {why}; expected IP:PORT such as \"0.0.0.0:9090\" (port 0 picks a free one)",
                    self.server.listen
                ),
            );
        }
    }
}

/// The small HTTP server for `/healthz`, `/readyz` and `/metrics` (Prometheus text format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, `IP:PORT`. Default `0.0.0.0:9090`: inside a container the port is
    /// reachable only where the task's security group lets it be; port 0 picks a free one.
    #[serde(default = "default_listen")]
    pub listen: String,
}

/// Where the health and metrics server listens by default.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9090";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

/// How log lines are written to stderr. The level comes from `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for a person at a terminal, `json` (one object per line) for CloudWatch Logs.
    #[serde(default)]
    pub format: LogFormat,
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured only on a terminal.
    #[default]
    Text,
    /// One JSON object per line: CloudWatch Logs Insights finds fields without parsing.
    Json,
}

#[cfg(test)]
mod operations_tests {
    use super::*;

    use super::tests::MINIMAL;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_figment(
            &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    #[test]
    fn server_and_log_default_to_all_interfaces_and_text() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:9090");
        assert_eq!(c.log.format, LogFormat::Text);
    }

    #[test]
    fn server_and_log_are_read() {
        let c = load(&format!(
            "{MINIMAL}\n[server]\nlisten = \"127.0.0.1:0\"\n[log]\nformat = \"json\""
        ))
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:0");
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn bad_listen_address_and_log_format_are_named() {
        let err = load(&format!("{MINIMAL}\n[server]\nlisten = \"localhost\"")).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
        assert_eq!(err.problems()[0].field, "server.listen", "{err}");
        assert!(err.to_string().contains("0.0.0.0:9090"), "{err}");

        let err = load(&format!("{MINIMAL}\n[log]\nformat = \"xml\"")).unwrap_err();
        assert_eq!(err.problems()[0].field, "log.format", "{err}");
        assert!(err.to_string().contains("`json`"), "{err}");

        let err = load(&format!("{MINIMAL}\n[server]\nport = 1")).unwrap_err();
        assert_eq!(err.problems()[0].field, "server.port", "{err}");
    }

    #[test]
    fn describe_shows_the_server_and_log_settings() {
        let text = load(MINIMAL).unwrap().describe();
        assert!(
            text.contains("server.listen:           0.0.0.0:9090"),
            "{text}"
        );
        assert!(text.contains("log.format:              Text"), "{text}");
    }

    #[test]
    fn the_whole_file_can_come_from_a_string() {
        let c = Config::load_str(MINIMAL).unwrap();
        assert_eq!(c.targets[0].name, "t");
        assert!(Config::load_str("[queue").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::path::PathBuf;

    /// The DESIGN.md example as shipped in `config/example.toml`.
    const EXAMPLE: &str = include_str!("../config/example.toml");

    fn write_toml(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    /// An environment provider under a prefix nobody sets, so that tests see only the file.
    fn no_env() -> Env {
        Config::env_provider("S3R_UNIT_TEST_UNSET_PREFIX_")
    }

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let file = write_toml(text);
        Config::from_figment(&Config::figment_with_env(file.path(), no_env()))
    }

    fn extract_text(text: &str) -> Config {
        let file = write_toml(text);
        Config::figment_with_env(file.path(), no_env())
            .extract()
            .unwrap()
    }

    pub(super) const MINIMAL: &str = r#"
        [queue]
        url = "https://sqs.us-east-1.amazonaws.com/111111111111/q"
        [completion]
        topic_arn = "arn:aws:sns:us-east-1:111111111111:done"
        [alerts]
        topic_arn = "arn:aws:sns:us-east-1:111111111111:alerts"
        [[targets]]
        name = "t"
        bucket = "target-bucket"
        region = "eu-west-1"
        [[rules]]
        name = "r"
        source_bucket = "source-bucket"
        targets = ["t"]
    "#;

    fn fields(err: &ConfigError) -> Vec<&str> {
        err.problems().iter().map(|p| p.field.as_str()).collect()
    }

    fn valid() -> Config {
        load_text(MINIMAL).unwrap()
    }

    #[test]
    fn defaults_are_applied() {
        let config = load_text(MINIMAL).unwrap();
        assert_eq!(config.aws, AwsConfig::default());
        assert_eq!(config.aws.region, None);
        assert_eq!(config.queue.max_messages, 10);
        assert_eq!(config.queue.wait_time_secs, 20);
        assert_eq!(config.queue.visibility_timeout_secs, 60);
        assert_eq!(config.queue.concurrency, 64);
        assert_eq!(config.copy.multipart_threshold, ByteSize::mib(64));
        assert_eq!(config.copy.part_size, ByteSize::mib(64));
        assert_eq!(config.copy.max_inflight_bytes, ByteSize::mib(512));
        let t = &config.targets[0];
        assert_eq!(t.copy_mode, CopyMode::Auto);
        assert_eq!(
            (t.role_arn.as_deref(), t.key_prefix.as_deref()),
            (None, None)
        );
        assert_eq!(config.rules[0].prefix, None);
    }

    #[test]
    fn example_loads_and_validates() {
        let config = load_text(EXAMPLE).unwrap();
        assert_eq!(
            config.queue.url,
            "https://sqs.us-east-1.amazonaws.com/111111111111/replication-events"
        );
        assert_eq!(
            config.completion.topic_arn,
            "arn:aws:sns:us-east-1:111111111111:replication-completed"
        );
        assert_eq!(config.targets.len(), 2);
        let dr = config.target("dr-account").unwrap();
        assert_eq!(
            dr.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/replication-writer")
        );
        assert_eq!(config.rules[0].targets, ["analytics-eu", "dr-account"]);
        assert_eq!(config.rules[0].prefix.as_deref(), Some("curated/"));
        assert!(config.target("nope").is_none());
    }

    #[test]
    fn example_loads_through_the_public_entry_point() {
        // Uses the real `S3R_` environment: the test scripts set only variables that name no
        // section (S3R_TEST_ENDPOINT), which the environment layer skips.
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.rules.len(), 1);
    }

    #[test]
    fn every_documented_optional_key_parses() {
        let text = format!(
            "{MINIMAL}\n{}",
            r#"
            [[targets]]
            name = "full"
            bucket = "full-bucket"
            region = "us-west-2"
            role_arn = "arn:aws:iam::222222222222:role/path/writer"
            external_id = "secret"
            key_prefix = "replica/"
            storage_class = "STANDARD_IA"
            sse_kms_key_id = "arn:aws:kms:us-west-2:222222222222:key/abc"
            copy_mode = "server-side"
            "#
        );
        let config = load_text(&text).unwrap();
        let t = config.target("full").unwrap();
        assert_eq!(t.copy_mode, CopyMode::ServerSide);
        assert_eq!(t.storage_class.as_deref(), Some("STANDARD_IA"));
        for (text, mode) in [("auto", CopyMode::Auto), ("stream", CopyMode::Stream)] {
            let c = extract_text(&format!(
                "{MINIMAL}\n[[targets]]\nname=\"x\"\nbucket=\"b\"\nregion=\"r\"\ncopy_mode=\"{text}\""
            ));
            assert_eq!(c.targets[1].copy_mode, mode);
        }
    }

    #[test]
    fn env_overrides_nest() {
        // A prefix of this test's own: other tests never read it, so setting it cannot race.
        let prefix = "S3RTEST_ENV_OVERRIDES_";
        let vars = [
            ("QUEUE__MAX_MESSAGES", "5"),
            ("COPY__PART_SIZE", "8 MiB"),
            ("COPY__MAX_INFLIGHT_BYTES", "1073741824"),
            ("AWS__ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS__S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("QUEUE__URL", "http://127.0.0.1:5000/111111111111/other"),
            // Variables of the CLI and the test scripts share the prefix; they are not keys.
            ("CONFIG", "/etc/s3-replicator.toml"),
            ("TEST_ENDPOINT", "http://127.0.0.1:1"),
            ("EMULATOR_PORT", "5000"),
        ];
        for (k, v) in vars {
            std::env::set_var(format!("{prefix}{k}"), v);
        }
        let file = write_toml(MINIMAL);
        let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
        let config = Config::from_figment(&figment).unwrap();
        assert_eq!(config.queue.max_messages, 5);
        assert_eq!(
            config.queue.wait_time_secs, 20,
            "untouched keys keep their value"
        );
        assert_eq!(config.queue.url, "http://127.0.0.1:5000/111111111111/other");
        assert_eq!(config.copy.part_size, ByteSize::mib(8));
        assert_eq!(config.copy.max_inflight_bytes, ByteSize::gib(1));
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            config.aws.s3_endpoint_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );

        // A bad value from the environment names the variable.
        // Figment reads its providers when they are merged: build it again.
        std::env::set_var(format!("{prefix}QUEUE__CONCURRENCY"), "many");
        let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
        let err = Config::from_figment(&figment).unwrap_err();
        for (k, _) in vars {
            std::env::remove_var(format!("{prefix}{k}"));
        }
        std::env::remove_var(format!("{prefix}QUEUE__CONCURRENCY"));
        let text = err.to_string();
        assert_eq!(fields(&err), ["queue.concurrency"], "{text}");
        assert!(
            text.contains("S3RTEST_ENV_OVERRIDES_QUEUE__CONCURRENCY"),
            "{text}"
        );

        // One underscore instead of two is reported, with a hint, not silently ignored.
        let prefix = "S3RTEST_ENV_TYPO_";
        std::env::set_var(format!("{prefix}QUEUE_URL"), "http://x");
        let figment = Config::figment_with_env(file.path(), Config::env_provider(prefix));
        std::env::remove_var(format!("{prefix}QUEUE_URL"));
        let err = Config::from_figment(&figment).unwrap_err();
        let text = err.to_string();
        assert_eq!(fields(&err), ["queue_url"], "{text}");
        assert!(text.contains("S3RTEST_ENV_TYPO_QUEUE_URL"), "{text}");
        assert!(text.contains("`__`"), "{text}");
    }

    #[test]
    fn env_variable_names() {
        assert!(is_config_var("QUEUE__URL"));
        assert!(is_config_var("copy__part_size"));
        assert!(is_config_var("QUEUE_URL"));
        assert!(is_config_var("BOGUS__X"));
        assert!(!is_config_var("CONFIG"));
        assert!(!is_config_var("TEST_ENDPOINT"));
        assert!(!is_config_var("EMULATOR_PORT"));
        assert!(!is_config_var("QUEUES"));
    }

    #[test]
    fn later_layers_win_over_the_file() {
        let file = write_toml(MINIMAL);
        let figment = Config::figment_with_env(file.path(), no_env())
            .merge(Serialized::default("queue.max_messages", 3));
        assert_eq!(
            Config::from_figment(&figment).unwrap().queue.max_messages,
            3
        );
    }

    #[test]
    fn unknown_field_is_named_with_the_valid_ones() {
        let err =
            load_text(&MINIMAL.replace("[completion]", "[completion]\ntopic = \"x\"")).unwrap_err();
        assert!(matches!(err, ConfigError::Load(_)), "{err}");
        assert_eq!(fields(&err), ["completion.topic"], "{err}");
        assert!(err.to_string().contains("`topic_arn`"), "{err}");

        let err = load_text(&MINIMAL.replace(
            "region = \"eu-west-1\"",
            "region = \"eu-west-1\"\nbuckett = \"x\"",
        ))
        .unwrap_err();
        assert_eq!(fields(&err), ["targets[0].buckett"], "{err}");
        assert!(err.to_string().contains("`copy_mode`"), "{err}");

        let err = load_text(&format!("{MINIMAL}\n[extra]\na = 1")).unwrap_err();
        assert_eq!(fields(&err), ["extra"], "{err}");
    }

    #[test]
    fn wrong_type_names_field_and_file() {
        let file = write_toml(&MINIMAL.replace(
            "url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"",
            "url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"\nmax_messages = \"x\"",
        ));
        let err =
            Config::from_figment(&Config::figment_with_env(file.path(), no_env())).unwrap_err();
        let text = err.to_string();
        assert_eq!(fields(&err), ["queue.max_messages"], "{text}");
        assert!(
            text.contains("queue.max_messages: invalid type: found string \"x\", expected i32"),
            "{text}"
        );
        // figment shows the path relative to the working directory when it can: match the name.
        let name = file
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(text.contains(&name), "{text}");
    }

    #[test]
    fn bad_enum_and_size_values_are_load_errors() {
        let err = load_text(&MINIMAL.replace(
            "region = \"eu-west-1\"",
            "region = \"eu-west-1\"\ncopy_mode = \"fast\"",
        ))
        .unwrap_err();
        assert_eq!(fields(&err), ["targets[0].copy_mode"], "{err}");
        assert!(err.to_string().contains("`server-side`"), "{err}");

        let err = load_text(&format!("{MINIMAL}\n[copy]\npart_size = \"12 parsecs\"")).unwrap_err();
        assert_eq!(fields(&err), ["copy.part_size"], "{err}");
        assert!(err.to_string().contains("unknown unit"), "{err}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = load_text(&MINIMAL.replace(
            "[queue]\n        url = \"https://sqs.us-east-1.amazonaws.com/111111111111/q\"",
            "",
        ))
        .unwrap_err();
        assert_eq!(fields(&err), ["queue.url"], "{err}");

        let err = load_text(&MINIMAL.replace(
            "topic_arn = \"arn:aws:sns:us-east-1:111111111111:alerts\"",
            "",
        ))
        .unwrap_err();
        assert_eq!(fields(&err), ["alerts.topic_arn"], "{err}");

        let err = load_text(&MINIMAL.replace("region = \"eu-west-1\"", "")).unwrap_err();
        assert_eq!(fields(&err), ["targets[0].region"], "{err}");
    }

    #[test]
    fn unreadable_and_malformed_files_are_load_errors() {
        let err = Config::from_figment(&Config::figment_with_env(
            Path::new("/nonexistent/s3r/config.toml"),
            no_env(),
        ))
        .unwrap_err();
        assert!(matches!(err, ConfigError::Load(_)));
        assert!(
            err.to_string().contains("/nonexistent/s3r/config.toml"),
            "{err}"
        );

        let err = load_text("[queue\nurl = ").unwrap_err();
        assert!(matches!(err, ConfigError::Load(_)));
        assert!(err.to_string().contains("TOML"), "{err}");
    }

    #[test]
    fn every_validation_problem_is_reported_together() {
        let mut c = valid();
        c.aws.endpoint_url = Some("localhost:5000".into());
        c.aws.s3_endpoint_url = Some("s3://bucket".into());
        c.aws.region = Some(String::new());
        c.queue.url = "sqs://nope".into();
        c.queue.max_messages = 11;
        c.queue.wait_time_secs = 21;
        c.queue.visibility_timeout_secs = 0;
        c.queue.concurrency = 0;
        c.completion.topic_arn = "arn:aws:sqs:us-east-1:111111111111:x".into();
        c.alerts.topic_arn = String::new();
        c.copy.part_size = ByteSize::mib(1);
        c.copy.multipart_threshold = ByteSize::gib(6);
        c.copy.max_inflight_bytes = ByteSize(0);
        let t = c.targets[0].clone();
        c.targets.push(TargetConfig {
            bucket: String::new(),
            region: String::new(),
            role_arn: Some("arn:aws:iam::2222:role/x".into()),
            storage_class: Some("COLD".into()),
            sse_kms_key_id: Some(String::new()),
            ..t.clone()
        });
        c.targets.push(TargetConfig {
            name: String::new(),
            external_id: Some("id".into()),
            bucket: "source-bucket".into(),
            ..t.clone()
        });
        c.targets.push(TargetConfig {
            name: "loop".into(),
            bucket: "source-bucket".into(),
            ..t.clone()
        });
        let r = c.rules[0].clone();
        c.rules.push(RuleConfig {
            targets: vec!["t".into(), "missing".into(), "t".into(), "loop".into()],
            ..r.clone()
        });
        c.rules.push(RuleConfig {
            name: String::new(),
            source_bucket: String::new(),
            targets: vec![],
            ..r
        });

        let err = c.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)));
        let text = err.to_string();
        let expected = [
            "aws.endpoint_url",
            "aws.s3_endpoint_url",
            "aws.region",
            "queue.url",
            "queue.max_messages",
            "queue.wait_time_secs",
            "queue.visibility_timeout_secs",
            "queue.concurrency",
            "completion.topic_arn",
            "alerts.topic_arn",
            "copy.part_size",
            "copy.multipart_threshold",
            "copy.max_inflight_bytes",
            "targets[1].name",
            "targets[1].bucket",
            "targets[1].region",
            "targets[1].role_arn",
            "targets[1].storage_class",
            "targets[1].sse_kms_key_id",
            "targets[2].name",
            "targets[2].external_id",
            "rules[1].name",
            "rules[1].targets[1]",
            "rules[1].targets[2]",
            "rules[1].targets[3]",
            "rules[2].name",
            "rules[2].source_bucket",
            "rules[2].targets",
        ];
        assert_eq!(fields(&err), expected, "{text}");
        assert_eq!(text.lines().count(), expected.len() + 1, "{text}");
        assert!(text.starts_with(&format!(
            "the configuration has {} problems:\n",
            expected.len()
        )));
        assert!(text.contains("rules[1].targets[1]: \"missing\" is not a defined target; defined targets: \"t\", \"loop\"\n"), "{text}");
        assert!(
            text.contains("queue.max_messages: is 11; must be 1..=10"),
            "{text}"
        );
        assert!(
            text.contains("copy.part_size: is 1 MiB; S3 parts must be 5 MiB..=5 GiB"),
            "{text}"
        );
        assert!(text.contains("replicated again, forever"), "{text}");
        assert!(text.contains("STANDARD_IA"), "{text}");
    }

    /// `MINIMAL` plus targets and rules, for the overlap checks.
    fn destinations(extra: &str) -> Result<Config, ConfigError> {
        load_text(&format!("{MINIMAL}\n{extra}"))
    }

    #[test]
    fn overlapping_destinations_from_different_sources_are_rejected() {
        // Two source buckets into one target bucket, same keys: a.csv of either lands on one key.
        let err = destinations(
            r#"
            [[rules]]
            name = "other"
            source_bucket = "other-source"
            targets = ["t"]
            "#,
        )
        .unwrap_err();
        assert_eq!(fields(&err), ["rules[1].targets[0]"], "{err}");
        assert!(
            err.to_string()
                .contains("can write the same key of bucket \"target-bucket\""),
            "{err}"
        );
        // One rule, two targets on one bucket whose key_prefix values nest: source key
        // "r/x" through "t" and source key "x" through "nested" both land on "r/x".
        let err = destinations(
            r#"
            [[targets]]
            name = "nested"
            bucket = "target-bucket"
            region = "eu-west-1"
            key_prefix = "r/"
            [[rules]]
            name = "both"
            source_bucket = "third-source"
            targets = ["t", "nested"]
            "#,
        )
        .unwrap_err();
        assert!(fields(&err).contains(&"rules[1].targets[1]"), "{err}");
    }

    #[test]
    fn destinations_that_cannot_collide_are_accepted() {
        // Same source, same mapping (two rules of one bucket into one target): one replica.
        // Another source under a key_prefix that does not nest with the first's keys... except
        // that "" nests with everything, so it goes to its own prefix of a bucket shared with a
        // prefixed first rule. Disjoint suffixes keep two sources apart too.
        destinations(
            r#"
            [[targets]]
            name = "shared"
            bucket = "shared-bucket"
            region = "eu-west-1"
            key_prefix = "from-a/"
            [[targets]]
            name = "shared-b"
            bucket = "shared-bucket"
            region = "eu-west-1"
            key_prefix = "from-b/"
            [[targets]]
            name = "suffixed"
            bucket = "suffix-bucket"
            region = "eu-west-1"
            [[rules]]
            name = "same-source"
            source_bucket = "source-bucket"
            prefix = "logs/"
            targets = ["t"]
            [[rules]]
            name = "a"
            source_bucket = "bucket-a"
            targets = ["shared"]
            [[rules]]
            name = "b"
            source_bucket = "bucket-b"
            targets = ["shared-b"]
            [[rules]]
            name = "csv"
            source_bucket = "bucket-a"
            suffix = ".csv"
            targets = ["suffixed"]
            [[rules]]
            name = "json"
            source_bucket = "bucket-b"
            suffix = ".json"
            targets = ["suffixed"]
            "#,
        )
        .unwrap();
    }

    #[test]
    fn conditional_writes_default_on_and_can_be_turned_off() {
        assert!(valid().targets[0].conditional_writes);
        let c = destinations(
            r#"
            [[targets]]
            name = "plain"
            bucket = "plain-bucket"
            region = "eu-west-1"
            conditional_writes = false
            "#,
        )
        .unwrap();
        assert!(!c.targets[1].conditional_writes);
        assert!(c.describe().contains("unconditional"), "{}", c.describe());
    }

    #[test]
    fn s3_endpoint_url_is_validated_on_its_own_and_described() {
        let with = |url: &str| format!("{MINIMAL}\n[aws]\ns3_endpoint_url = \"{url}\"\n");
        let config = load_text(&with("http://127.0.0.1:9000")).unwrap();
        assert_eq!(
            config.aws.s3_endpoint_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(config.aws.endpoint_url, None);
        let text = config.describe();
        assert!(
            text.contains("  endpoint_url:            (AWS endpoints)\n  s3_endpoint_url:         http://127.0.0.1:9000\n"),
            "{text}"
        );
        assert!(
            valid()
                .describe()
                .contains("  s3_endpoint_url:         (as endpoint_url)\n"),
            "unset: S3 follows endpoint_url"
        );

        for (bad, why) in [
            ("127.0.0.1:9000", "does not start with https:// or http://"),
            ("", "is empty"),
            ("http://", "has no host"),
            ("http://127.0.0.1:9000/ x", "contains whitespace"),
        ] {
            let err = load_text(&with(bad)).unwrap_err();
            assert_eq!(fields(&err), ["aws.s3_endpoint_url"], "{bad:?}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("aws.s3_endpoint_url: ") && text.contains(why),
                "{bad:?}: {text}"
            );
        }
        // A valid S3 endpoint does not excuse an invalid shared one, and the other way round.
        let mut c = valid();
        c.aws.endpoint_url = Some("localhost:5000".into());
        c.aws.s3_endpoint_url = Some("http://127.0.0.1:9000".into());
        assert_eq!(fields(&c.validate().unwrap_err()), ["aws.endpoint_url"]);
        c.aws.endpoint_url = Some("http://127.0.0.1:5000".into());
        c.aws.s3_endpoint_url = Some("localhost:9000".into());
        assert_eq!(fields(&c.validate().unwrap_err()), ["aws.s3_endpoint_url"]);
    }

    #[test]
    fn empty_targets_and_rules_are_problems() {
        let mut c = valid();
        c.targets.clear();
        c.rules.clear();
        let err = c.validate().unwrap_err();
        assert_eq!(fields(&err), ["targets", "rules"], "{err}");
    }

    #[test]
    fn target_bucket_that_is_a_source_bucket_is_a_loop() {
        let mut c = valid();
        c.rules.push(RuleConfig {
            name: "second".into(),
            source_bucket: "target-bucket".into(),
            prefix: None,
            suffix: None,
            targets: vec!["other".into()],
            ..Default::default()
        });
        c.targets.push(TargetConfig {
            name: "other".into(),
            bucket: "elsewhere".into(),
            ..c.targets[0].clone()
        });
        let err = c.validate().unwrap_err();
        assert_eq!(fields(&err), ["rules[0].targets[0]"], "{err}");
        assert!(
            err.to_string().contains("source bucket of rule \"second\""),
            "{err}"
        );
    }

    #[test]
    fn unused_targets_are_allowed_and_described() {
        let mut c = valid();
        c.targets.push(TargetConfig {
            name: "spare".into(),
            bucket: "spare-bucket".into(),
            ..c.targets[0].clone()
        });
        c.validate().unwrap();
        let text = c.describe();
        assert!(text.contains("Targets used by no rule (1"), "{text}");
        assert!(
            text.contains("spare -> s3://spare-bucket/<source key>"),
            "{text}"
        );
    }

    #[test]
    fn arn_and_url_checks() {
        assert!(is_topic_arn("arn:aws:sns:us-east-1:111111111111:t"));
        assert!(is_topic_arn(
            "arn:aws-cn:sns:cn-north-1:111111111111:t.fifo"
        ));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:111111111111"));
        assert!(!is_topic_arn("arn:aws:sns:us-east-1:1111:t"));
        assert!(is_role_arn(
            "arn:aws:iam::222222222222:role/replication-writer"
        ));
        assert!(is_role_arn("arn:aws-us-gov:iam::222222222222:role/a/b"));
        assert!(!is_role_arn("arn:aws:iam::222222222222:user/bob"));
        assert!(!is_role_arn("arn:aws:iam:us-east-1:222222222222:role/x"));
        assert!(!is_role_arn("arn:aws:iam::222222222222:role/"));
        assert!(check_http_url("http://127.0.0.1:5000").is_ok());
        assert!(check_http_url("https://").is_err());
        assert!(check_http_url("ftp://x").is_err());
        assert!(check_bucket("s3://b").is_err());
        assert!(check_bucket("b/prefix").is_err());
        assert!(check_bucket("Legacy_Bucket").is_ok());
    }

    #[test]
    fn describe_resolves_rules_and_targets() {
        let config = load_text(EXAMPLE).unwrap();
        let text = config.describe();
        for needle in [
            "url:                     https://sqs.us-east-1.amazonaws.com/111111111111/replication-events",
            "completion:              arn:aws:sns:us-east-1:111111111111:replication-completed",
            "part_size:               64 MiB",
            "Rules (1)",
            "  curated\n    source bucket: data-lake-curated\n    prefix:        \"curated/\"\n    suffix:        (any)",
            "analytics-eu -> s3://analytics-eu-west-1/<source key>",
            "role:          arn:aws:iam::222222222222:role/replication-writer",
            "copy mode:     auto",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("Targets used by no rule"), "{text}");
        assert_eq!(text, config.describe(), "stable");

        let mut broken = config.clone();
        broken.rules[0].targets.push("ghost".into());
        assert!(broken.describe().contains("ghost  (NOT DEFINED)"));
    }

    #[test]
    fn byte_size_parses() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("17", 17),
            ("17 B", 17),
            ("64 MiB", 64 << 20),
            ("5MiB", 5 << 20),
            ("1.5 GiB", 3 << 29),
            ("512 KB", 512_000),
            ("1.5 KB", 1_500),
            ("  2 gib ", 2 << 30),
            ("1 EB", 1_000_000_000_000_000_000),
            ("18446744073709551615", u64::MAX),
            ("00010 KiB", 10 << 10),
            ("2.50 MB", 2_500_000),
        ];
        for &(text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
    }

    #[test]
    fn byte_size_rejects_nonsense() {
        for text in [
            "",
            "12 parsecs",
            "-1 MiB",
            "MiB",
            "1.2.3 MiB",
            "1. MiB",
            ".5 MiB",
            "0.3 KiB",
            "1.5 B",
            "16 EiB",
            "18446744073709551616",
            "99999999999999999999999 B",
            "20 EB",
        ] {
            assert!(
                text.parse::<ByteSize>().is_err(),
                "{text:?} should not parse"
            );
        }
        let err = "12 parsecs".parse::<ByteSize>().unwrap_err().to_string();
        assert!(
            err.contains("unknown unit \"parsecs\"") && err.contains("MiB"),
            "{err}"
        );
        let err = "-1 MiB".parse::<ByteSize>().unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
        let err = "16 EiB".parse::<ByteSize>().unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn byte_size_displays_shortest_exact_iec() {
        for (bytes, text) in [
            (0, "0 B"),
            (17, "17 B"),
            (1024, "1 KiB"),
            (64 << 20, "64 MiB"),
            (3 << 19, "1536 KiB"),
            (512_000, "500 KiB"),
            (1 << 60, "1 EiB"),
            (u64::MAX, "18446744073709551615 B"),
        ] {
            assert_eq!(ByteSize(bytes).to_string(), text);
        }
    }

    #[test]
    fn byte_size_round_trips() {
        for bytes in [
            0,
            1,
            17,
            1000,
            1024,
            1536,
            3 << 19,
            5 << 20,
            5 << 30,
            1 << 62,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let size = ByteSize(bytes);
            assert_eq!(size.to_string().parse::<ByteSize>(), Ok(size), "{size}");
        }
        assert_eq!(ByteSize::mib(64).as_u64(), 64 * 1024 * 1024);
    }

    #[test]
    fn byte_size_in_toml_as_integer_or_string_and_serializes_as_text() {
        let c = extract_text(&format!(
            "{MINIMAL}\n[copy]\nmultipart_threshold = 8388608\npart_size = \"8 MiB\"\nmax_inflight_bytes = \"1 GiB\""
        ));
        assert_eq!(c.copy.multipart_threshold, ByteSize::mib(8));
        assert_eq!(c.copy.part_size, ByteSize::mib(8));
        assert_eq!(c.copy.max_inflight_bytes, ByteSize::gib(1));

        let file = write_toml(&format!("{MINIMAL}\n[copy]\npart_size = -5"));
        let err =
            Config::from_figment(&Config::figment_with_env(file.path(), no_env())).unwrap_err();
        assert_eq!(fields(&err), ["copy.part_size"], "{err}");

        let value = figment::value::Value::serialize(ByteSize::mib(64)).unwrap();
        assert_eq!(value.as_str(), Some("64 MiB"));
    }

    #[test]
    fn defaults_layer_holds_no_required_value() {
        use figment::Provider as _;
        let dict = Serialized::defaults(Config::default()).data().unwrap();
        let text = format!("{dict:?}");
        assert!(!text.contains("\"url\""), "{text}");
        assert!(!text.contains("topic_arn"), "{text}");
    }

    #[test]
    fn fixtures_in_repo_fail_as_documented() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
        let load = |name: &str| {
            Config::from_figment(&Config::figment_with_env(&dir.join(name), no_env())).unwrap_err()
        };

        let err = load("unknown_field.toml");
        assert!(matches!(err, ConfigError::Load(_)), "{err}");
        assert_eq!(fields(&err), ["queue.max_mesages"], "{err}");

        let err = load("not_toml.toml");
        assert!(matches!(err, ConfigError::Load(_)), "{err}");

        let err = load("missing_queue.toml");
        assert!(matches!(err, ConfigError::Load(_)), "{err}");
        assert_eq!(fields(&err), ["queue.url"], "{err}");

        let err = load("bad_values.toml");
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
        assert_eq!(
            fields(&err),
            [
                "queue.max_messages",
                "copy.part_size",
                "rules[0].targets[1]",
                "rules[0].targets[2]",
                "rules[1].targets",
            ],
            "{err}"
        );

        let err = load("bad_references.toml");
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
        assert_eq!(
            fields(&err),
            [
                "completion.topic_arn",
                "targets[1].name",
                "targets[1].role_arn",
                "targets[1].storage_class",
                "targets[2].bucket",
                "targets[2].external_id",
                "rules[1].name",
                "rules[1].targets[0]",
                "rules[1].targets[1]",
            ],
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Timeouts: AWS requests by kind, and the handling of one message

/// SQS's cap on a message's invisibility, counted from its receipt: a message deadline must end
/// before it, or the message would be delivered again while its first handling still runs.
pub const MAX_MESSAGE_DEADLINE_SECS: u64 = 12 * 60 * 60 - 1;

/// How long AWS requests and the handling of one message may take. Every limit is per attempt
/// of one request (the SDK retries a timed-out attempt as a transient failure), except
/// `message_deadline_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Establishing a connection (TCP and TLS), every client.
    #[serde(default = "default_connect_secs")]
    pub connect_secs: u64,
    /// One attempt of a small request: S3 `HeadObject`, `GetObjectTagging`, `ListObjectsV2`,
    /// `CreateMultipartUpload`, `AbortMultipartUpload`, `ListMultipartUploads`; SQS requests but
    /// `ReceiveMessage`; SNS `Publish`.
    #[serde(default = "default_request_secs")]
    pub request_secs: u64,
    /// One attempt of a request that moves or assembles object bytes: `CopyObject`,
    /// `UploadPartCopy`, `UploadPart`, `PutObject`, `GetObject` (until its body starts) and
    /// `CompleteMultipartUpload` (which S3 may take minutes to answer).
    #[serde(default = "default_transfer_secs")]
    pub transfer_secs: u64,
    /// `ReceiveMessage` may take `queue.wait_time_secs` (its long poll) plus this.
    #[serde(default = "default_receive_margin_secs")]
    pub receive_margin_secs: u64,
    /// The whole handling of one message (every copy, the completion). When it passes, the
    /// handling is cancelled (multipart uploads aborted), the message handed back for a retry
    /// and an alert raised. Below SQS's 12-hour visibility cap.
    #[serde(default = "default_message_deadline_secs")]
    pub message_deadline_secs: u64,
}

const fn default_connect_secs() -> u64 {
    5
}

const fn default_request_secs() -> u64 {
    30
}

const fn default_transfer_secs() -> u64 {
    900
}

const fn default_receive_margin_secs() -> u64 {
    10
}

const fn default_message_deadline_secs() -> u64 {
    2 * 60 * 60
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            connect_secs: default_connect_secs(),
            request_secs: default_request_secs(),
            transfer_secs: default_transfer_secs(),
            receive_margin_secs: default_receive_margin_secs(),
            message_deadline_secs: default_message_deadline_secs(),
        }
    }
}

impl Config {
    fn validate_timeouts(&self, p: &mut Problems) {
        let t = &self.timeouts;
        let mut check = |field: &str, value: u64, max: u64, what: &str| {
            if !(1..=max).contains(&value) {
                p.push(
                    format!("timeouts.{field}"),
                    format!("is {value}; must be 1..={max} seconds ({what})"),
                );
            }
        };
        check("connect_secs", t.connect_secs, 300, "to open a connection");
        check(
            "request_secs",
            t.request_secs,
            3_600,
            "per attempt of a small request",
        );
        check(
            "transfer_secs",
            t.transfer_secs,
            43_200,
            "per attempt of a copy, upload or download",
        );
        check(
            "receive_margin_secs",
            t.receive_margin_secs,
            300,
            "added to queue.wait_time_secs for ReceiveMessage",
        );
        check(
            "message_deadline_secs",
            t.message_deadline_secs,
            MAX_MESSAGE_DEADLINE_SECS,
            "per message; below SQS's 12-hour visibility cap",
        );
        if (1..=MAX_MESSAGE_DEADLINE_SECS).contains(&t.message_deadline_secs)
            && t.message_deadline_secs < t.transfer_secs
        {
            p.push(
                "timeouts.message_deadline_secs",
                format!(
                    "is {}, less than timeouts.transfer_secs ({}), so a copy that needs its whole \
                     attempt could never finish; must be at least timeouts.transfer_secs",
                    t.message_deadline_secs, t.transfer_secs
                ),
            );
        }
    }

    fn write_timeouts(&self, out: &mut String) -> fmt::Result {
        let t = &self.timeouts;
        writeln!(out, "Timeouts")?;
        writeln!(out, "  connect_secs:            {}", t.connect_secs)?;
        writeln!(
            out,
            "  request_secs:            {} (per attempt: HEAD, tagging, listing, SQS, SNS)",
            t.request_secs
        )?;
        writeln!(
            out,
            "  transfer_secs:           {} (per attempt: copy, upload, download, complete)",
            t.transfer_secs
        )?;
        writeln!(
            out,
            "  receive:                 {} (queue.wait_time_secs + receive_margin_secs {})",
            self.queue.wait_time_secs.max(0) as u64 + t.receive_margin_secs,
            t.receive_margin_secs
        )?;
        writeln!(
            out,
            "  message_deadline_secs:   {}",
            t.message_deadline_secs
        )
    }
}

#[cfg(test)]
mod timeouts_tests {
    use super::*;

    use super::tests::MINIMAL;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_figment(
            &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    #[test]
    fn timeouts_default_to_short_requests_generous_transfers_and_a_two_hour_deadline() {
        let t = load(MINIMAL).unwrap().timeouts;
        assert_eq!(
            (
                t.connect_secs,
                t.request_secs,
                t.transfer_secs,
                t.receive_margin_secs,
                t.message_deadline_secs
            ),
            (5, 30, 900, 10, 7_200)
        );
    }

    #[test]
    fn timeouts_are_read_from_their_section() {
        let t = load(&format!(
            "{MINIMAL}\n[timeouts]\nconnect_secs = 2\nrequest_secs = 3\ntransfer_secs = 4\nreceive_margin_secs = 5\nmessage_deadline_secs = 60"
        ))
        .unwrap()
        .timeouts;
        assert_eq!(
            (
                t.connect_secs,
                t.request_secs,
                t.transfer_secs,
                t.receive_margin_secs,
                t.message_deadline_secs
            ),
            (2, 3, 4, 5, 60)
        );
    }

    #[test]
    fn zero_or_too_long_timeouts_are_named_with_their_range() {
        let err = load(&format!(
            "{MINIMAL}\n[timeouts]\nconnect_secs = 0\nrequest_secs = 0\nreceive_margin_secs = 0\nmessage_deadline_secs = 43200"
        ))
        .unwrap_err();
        let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "timeouts.connect_secs",
                "timeouts.request_secs",
                "timeouts.receive_margin_secs",
                "timeouts.message_deadline_secs"
            ],
            "{err}"
        );
        assert!(
            err.to_string().contains("must be 1..=43199 seconds"),
            "{err}"
        );
        assert!(err.to_string().contains("12-hour"), "{err}");
    }

    #[test]
    fn a_message_deadline_shorter_than_one_transfer_is_refused() {
        let err = load(&format!(
            "{MINIMAL}\n[timeouts]\ntransfer_secs = 600\nmessage_deadline_secs = 300"
        ))
        .unwrap_err();
        assert_eq!(
            err.problems()[0].field,
            "timeouts.message_deadline_secs",
            "{err}"
        );
        assert!(
            err.to_string().contains("timeouts.transfer_secs (600)"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_timeout_key_is_named() {
        let err = load(&format!("{MINIMAL}\n[timeouts]\nread_secs = 1")).unwrap_err();
        assert_eq!(err.problems()[0].field, "timeouts.read_secs", "{err}");
        assert!(err.to_string().contains("`message_deadline_secs`"), "{err}");
    }

    #[test]
    fn describe_shows_the_timeouts_and_the_receive_limit() {
        let text = load(MINIMAL).unwrap().describe();
        assert!(text.contains("Timeouts"), "{text}");
        assert!(
            text.contains(
                "receive:                 30 (queue.wait_time_secs + receive_margin_secs 10)"
            ),
            "{text}"
        );
        assert!(text.contains("message_deadline_secs:   7200"), "{text}");
    }

    #[test]
    fn timeouts_come_from_the_environment_too() {
        assert!(is_config_var("TIMEOUTS__REQUEST_SECS"));
    }
}
