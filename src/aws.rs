//! Building SDK clients, and reading SDK errors once.
//!
//! Every client is made from one base [`SdkConfig`] (credential chain, retry config, endpoint)
//! so that the SDK's own retries stay the only transport-level retries. Targets with a
//! `role_arn` get an [`AssumeRoleProvider`], which caches and refreshes its credentials by
//! itself before they expire.
//!
//! Every S3, SQS and SNS client carries [`CountRequests`], so that `s3r_aws_requests_total`
//! sees each request the daemon sends. The STS client inside [`AssumeRoleProvider`] does not:
//! the provider builds it from an [`SdkConfig`], which has no place for interceptors, so
//! `AssumeRole` is not counted (one call per target role and credential lifetime, about an hour).
//!
//! Every client also carries timeouts by kind of request ([`Timeouts`], `[timeouts]` in the
//! configuration): a connect timeout, and an attempt timeout that is short for small requests
//! and generous for those that move object bytes, set per operation by [`LongerAttempts`].
//! Without them a request that stalls before its response would hold its message, its slot
//! and its key lock forever while the heartbeat keeps the message hidden. A timed-out attempt
//! is a transport failure, retried by the SDK and then by the daemon ([`SdkFailure`]). Bodies
//! read after a response arrived (`GetObject`) are not covered by the attempt timeout; the
//! SDK's stalled-stream protection (on by default) ends a body that stops moving.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use crate::config::{AwsConfig, Config, TargetConfig};
use crate::metrics::Metrics;

/// How long requests may take, by kind (`[timeouts]` and `queue.wait_time_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection.
    pub connect: Duration,
    /// One attempt of a small request (HEAD, tagging, listing, SQS, SNS).
    pub request: Duration,
    /// One attempt of a request that moves or assembles object bytes.
    pub transfer: Duration,
    /// One attempt of `ReceiveMessage`: its long poll and a margin.
    pub receive: Duration,
}

impl Timeouts {
    /// The timeouts of `config`.
    pub fn from_config(config: &Config) -> Self {
        let t = &config.timeouts;
        let wait = config.queue.wait_time_secs.max(0) as u64;
        Self {
            connect: Duration::from_secs(t.connect_secs),
            request: Duration::from_secs(t.request_secs),
            transfer: Duration::from_secs(t.transfer_secs),
            receive: Duration::from_secs(wait + t.receive_margin_secs),
        }
    }

    /// The client-wide timeouts: the connect timeout and the small requests' attempt timeout.
    fn client(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.request)
            .build()
    }
}

impl Default for Timeouts {
    /// The defaults of `[timeouts]` with the default long poll.
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// S3 operations that move or assemble object bytes: their attempts get
/// [`Timeouts::transfer`]. `CopyObject` and `CompleteMultipartUpload` may run for minutes on
/// S3's side (it answers `200 OK` early and keeps the connection open while it works).
fn is_s3_transfer(input: &Input) -> bool {
    use aws_sdk_s3::operation as op;
    input
        .downcast_ref::<op::copy_object::CopyObjectInput>()
        .is_some()
        || input
            .downcast_ref::<op::upload_part_copy::UploadPartCopyInput>()
            .is_some()
        || input
            .downcast_ref::<op::upload_part::UploadPartInput>()
            .is_some()
        || input
            .downcast_ref::<op::put_object::PutObjectInput>()
            .is_some()
        || input
            .downcast_ref::<op::get_object::GetObjectInput>()
            .is_some()
        || input
            .downcast_ref::<op::complete_multipart_upload::CompleteMultipartUploadInput>()
            .is_some()
}

/// `ReceiveMessage`, which waits up to its long poll before answering.
fn is_sqs_receive(input: &Input) -> bool {
    input
        .downcast_ref::<aws_sdk_sqs::operation::receive_message::ReceiveMessageInput>()
        .is_some()
}

/// Gives the operations `applies` picks a longer attempt timeout than their client's.
///
/// The client's timeout config covers the small requests. Before an operation resolves its
/// timeouts, this interceptor puts `attempt` into the operation's own config layer, which
/// takes precedence over the client's (the SDK merges timeout settings field by field, the
/// operation's first); the connect timeout still comes from the client. The operation is
/// recognised by its input type: client interceptors run before the operation's metadata
/// (its name) is in the config.
#[derive(Debug, Clone)]
pub struct LongerAttempts {
    name: &'static str,
    applies: fn(&Input) -> bool,
    attempt: Duration,
}

impl Intercept for LongerAttempts {
    fn name(&self) -> &'static str {
        self.name
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if (self.applies)(context.input()) {
            cfg.interceptor_state().store_put(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(self.attempt)
                    .build(),
            );
        }
        Ok(())
    }
}

/// The role session name, visible in the target account's CloudTrail.
const SESSION_NAME: &str = "s3-replicator";

/// Loads the base SDK configuration: the default credential chain, the configured region
/// (or the SDK's default chain when unset) and the endpoint override for emulators.
pub async fn load_base(aws: &AwsConfig, fallback_region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = aws.region.clone().or(fallback_region) {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = &aws.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An S3 client in `region`, with `credentials` when given (else the base chain).
///
/// `endpoint` (`aws.s3_endpoint_url`) overrides the base's endpoint for S3 alone. Path-style
/// addressing is forced when either overrides S3's endpoint: emulators and S3-compatible
/// stores on 127.0.0.1 cannot serve `bucket.127.0.0.1` host names. Small requests get
/// `timeouts.request` per attempt, copies, uploads and downloads `timeouts.transfer`.
pub fn s3_client(
    base: &SdkConfig,
    endpoint: Option<&str>,
    region: &str,
    credentials: Option<SharedCredentialsProvider>,
    timeouts: &Timeouts,
    metrics: &Arc<Metrics>,
) -> aws_sdk_s3::Client {
    let builder = s3_builder(base, endpoint, region, credentials, timeouts, metrics);
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// The S3 client of a target: [`s3_client`]'s, on the target's own endpoint and addressing
/// when it names them (`endpoint_url`, `force_path_style`).
///
/// On its own endpoint the SDK computes no checksum of its own accord: S3-compatible stores
/// differ in which checksums and `aws-chunked` trailers they accept, and the daemon sends the
/// full-object checksum it computed while streaming, as a header, when the store takes it
/// (docs/design.md, "Targets beyond AWS"). Responses are not validated against checksums the
/// SDK did not ask for either.
pub fn target_s3_client(
    base: &SdkConfig,
    default_endpoint: Option<&str>,
    target: &TargetConfig,
    credentials: Option<SharedCredentialsProvider>,
    timeouts: &Timeouts,
    metrics: &Arc<Metrics>,
) -> aws_sdk_s3::Client {
    let endpoint = target.endpoint_url.as_deref().or(default_endpoint);
    let mut builder = s3_builder(
        base,
        endpoint,
        &target.region,
        credentials,
        timeouts,
        metrics,
    );
    if let Some(path_style) = target.force_path_style {
        builder = builder.force_path_style(path_style);
    }
    if target.endpoint_url.is_some() {
        builder = builder
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

fn s3_builder(
    base: &SdkConfig,
    endpoint: Option<&str>,
    region: &str,
    credentials: Option<SharedCredentialsProvider>,
    timeouts: &Timeouts,
    metrics: &Arc<Metrics>,
) -> aws_sdk_s3::config::Builder {
    let mut builder = aws_sdk_s3::config::Builder::from(base)
        .region(Region::new(region.to_owned()))
        .timeout_config(timeouts.client())
        .interceptor(LongerAttempts {
            name: "S3TransferTimeouts",
            applies: is_s3_transfer,
            attempt: timeouts.transfer,
        })
        .interceptor(CountRequests(Arc::clone(metrics)));
    if let Some(credentials) = credentials {
        builder = builder.credentials_provider(credentials);
    }
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if endpoint.is_some() || base.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    builder
}

/// An SQS client from `base` (its region and endpoint), its requests counted: `ReceiveMessage`
/// gets `timeouts.receive` per attempt (its long poll and a margin: SQS asks for an HTTP
/// timeout longer than `WaitTimeSeconds`), the other requests `timeouts.request`.
pub fn sqs_client(
    base: &SdkConfig,
    timeouts: &Timeouts,
    metrics: &Arc<Metrics>,
) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(base)
            .timeout_config(timeouts.client())
            .interceptor(LongerAttempts {
                name: "SqsReceiveTimeouts",
                applies: is_sqs_receive,
                attempt: timeouts.receive,
            })
            .interceptor(CountRequests(Arc::clone(metrics)))
            .build(),
    )
}

/// An SNS client from `base` (its endpoint; `region` when given, else the base's), its requests
/// counted, each attempt limited to `timeouts.request`.
pub fn sns_client(
    base: &SdkConfig,
    region: Option<&str>,
    timeouts: &Timeouts,
    metrics: &Arc<Metrics>,
) -> aws_sdk_sns::Client {
    let mut builder = aws_sdk_sns::config::Builder::from(base);
    if let Some(region) = region {
        builder = builder.region(Region::new(region.to_owned()));
    }
    aws_sdk_sns::Client::from_conf(
        builder
            .timeout_config(timeouts.client())
            .interceptor(CountRequests(Arc::clone(metrics)))
            .build(),
    )
}

/// Counts each request a client transmits in [`crate::metrics::AWS_REQUESTS`], by service and
/// operation as the SDK names them (`S3`/`HeadObject`, `SQS`/`DeleteMessageBatch`).
///
/// `read_before_transmit` runs once per attempt, right before it goes on the wire: the SDK's
/// transport retries count, a request that fails before it is sent (no credentials, say) does
/// not.
#[derive(Debug, Clone)]
pub struct CountRequests(pub Arc<Metrics>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every generated operation stores its Metadata; "unknown" would only show an SDK change.
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        self.0.record_aws_request(service, operation);
        Ok(())
    }
}

/// Credentials for a target: its profile or environment variables when it names them, an
/// assumed role when it names one, else `None` (the daemon's own credentials).
///
/// The environment variables are read here, once; a variable that is not set gives a provider
/// that fails every request with an error naming the variable (the daemon's `run` refuses to
/// start before that: [`crate::config::Config::missing_credentials`]). Their values are never
/// logged: [`Credentials`](aws_credential_types::Credentials) redacts them in its `Debug`.
pub async fn target_credentials(
    base: &SdkConfig,
    target: &TargetConfig,
) -> Option<SharedCredentialsProvider> {
    if let Some(profile) = &target.profile {
        let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build();
        return Some(SharedCredentialsProvider::new(provider));
    }
    if let (Some(id), Some(secret)) = (&target.access_key_id_env, &target.secret_access_key_env) {
        return Some(match (std::env::var(id), std::env::var(secret)) {
            (Ok(id), Ok(secret)) => {
                SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                    id,
                    secret,
                    None,
                    None,
                    "target-environment",
                ))
            }
            (id_value, _) => SharedCredentialsProvider::new(MissingCredentials(format!(
                "target {}: the environment variable {} is not set",
                target.name,
                if id_value.is_err() { id } else { secret }
            ))),
        });
    }
    let role_arn = target.role_arn.as_ref()?;
    let mut builder = AssumeRoleProvider::builder(role_arn)
        .session_name(SESSION_NAME)
        .configure(base);
    if let Some(external_id) = &target.external_id {
        builder = builder.external_id(external_id);
    }
    Some(SharedCredentialsProvider::new(builder.build().await))
}

/// Credentials that cannot be had: every request fails with why.
#[derive(Debug)]
struct MissingCredentials(String);

impl aws_credential_types::provider::ProvideCredentials for MissingCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(self.0.clone()),
        ))
    }
}

/// The region in an ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`), if it has one.
pub fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The region in an SQS queue URL (`https://sqs.REGION.amazonaws.com/…`), if it names one.
pub fn region_of_queue_url(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(region)) if region != "amazonaws" => Some(region),
        _ => None,
    }
}

/// What an SDK error amounts to, read once at the adapter.
#[derive(Debug, Clone)]
pub struct SdkFailure {
    /// The service's error code (`NoSuchBucket`, `AccessDenied`, `SlowDown`, …).
    pub code: Option<String>,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The whole error chain, for people.
    pub message: String,
    /// No usable response arrived: connection refused or reset, timeout, unreadable answer.
    pub transport: bool,
}

impl SdkFailure {
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = DisplayErrorContext(err).to_string();
        match err {
            SdkError::ServiceError(service) => Self {
                code: service.err().code().map(str::to_owned),
                status: Some(service.raw().status().as_u16()),
                message,
                transport: false,
            },
            SdkError::ResponseError(response) => Self {
                code: None,
                status: Some(response.raw().status().as_u16()),
                message,
                transport: true,
            },
            SdkError::ConstructionFailure(_) => Self {
                code: None,
                status: None,
                message,
                transport: false,
            },
            _ => Self {
                code: None,
                status: None,
                message,
                transport: true,
            },
        }
    }

    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestLimitExceeded"
                    | "RequestThrottled"
                    | "TooManyRequestsException"
                    | "ProvisionedThroughputExceededException"
            )
        ) || matches!(self.status, Some(429 | 503))
    }

    /// Worth retrying: transport failures, throttling, server errors, credentials that
    /// expired in flight (the provider refreshes them).
    pub fn is_transient(&self) -> bool {
        self.transport
            || self.is_throttling()
            || matches!(
                self.code.as_deref(),
                Some("ExpiredToken" | "RequestExpired" | "InternalError" | "RequestTimeout")
            )
            || self.status.is_some_and(|s| s >= 500)
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "AccessDenied"
                    | "AccessDeniedException"
                    | "AuthorizationError"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
            )
        ) || self.status == Some(403)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use tokio::sync::mpsc;

    /// Answers every request `404`; reports what it was asked.
    async fn capture() -> (u16, mpsc::UnboundedReceiver<String>) {
        crate::test_http::answering(crate::test_http::NOT_FOUND).await
    }

    /// Sends one `HeadObject` through [`s3_client`] made the daemon's way from `aws`.
    async fn head_through(aws: AwsConfig) {
        let base = load_base(&aws, None).await;
        let credentials =
            SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "unit"));
        let client = s3_client(
            &base,
            aws.s3_endpoint_url.as_deref(),
            "eu-west-1",
            Some(credentials),
            &Timeouts::default(),
            &Arc::default(),
        );
        // The capture answers 404; only where the request went matters.
        let _ = client
            .head_object()
            .bucket("unit-bucket")
            .key("some/key")
            .send()
            .await;
    }

    #[tokio::test]
    async fn s3_goes_to_s3_endpoint_url_path_style_else_to_endpoint_url() {
        // `localhost`, not an IP: the SDK would address a bucket on it virtual-host style
        // (`unit-bucket.localhost`) unless path-style is forced.
        let (shared, mut at_shared) = capture().await;
        let (s3, mut at_s3) = capture().await;
        let url = |port: u16| Some(format!("http://localhost:{port}"));
        let request = |port: u16| format!("HEAD /unit-bucket/some/key HTTP/1.1 @ localhost:{port}");

        // Both set: S3 uses its own, the shared endpoint sees nothing.
        head_through(AwsConfig {
            endpoint_url: url(shared),
            s3_endpoint_url: url(s3),
            region: Some("us-east-1".into()),
        })
        .await;
        assert_eq!(at_s3.try_recv().as_deref(), Ok(request(s3).as_str()));
        assert!(at_shared.try_recv().is_err());

        // Only the S3 endpoint: still path-style.
        head_through(AwsConfig {
            endpoint_url: None,
            s3_endpoint_url: url(s3),
            region: Some("us-east-1".into()),
        })
        .await;
        assert_eq!(at_s3.try_recv().as_deref(), Ok(request(s3).as_str()));

        // Only the shared endpoint: S3 follows it, path-style.
        head_through(AwsConfig {
            endpoint_url: url(shared),
            s3_endpoint_url: None,
            region: Some("us-east-1".into()),
        })
        .await;
        assert_eq!(
            at_shared.try_recv().as_deref(),
            Ok(request(shared).as_str())
        );
        assert!(at_s3.try_recv().is_err());
    }

    /// The attempt and connect timeouts of one request.
    type Seen = (Option<Duration>, Option<Duration>);

    /// Records the attempt and connect timeouts each request is sent with.
    #[derive(Debug, Clone, Default)]
    struct SeeTimeouts(std::sync::Arc<std::sync::Mutex<Vec<Seen>>>);

    impl Intercept for SeeTimeouts {
        fn name(&self) -> &'static str {
            "SeeTimeouts"
        }

        fn read_before_transmit(
            &self,
            _context: &BeforeTransmitInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let t = cfg.load::<TimeoutConfig>().expect("a timeout config");
            self.0
                .lock()
                .unwrap()
                .push((t.operation_attempt_timeout(), t.connect_timeout()));
            Ok(())
        }
    }

    impl SeeTimeouts {
        fn take(&self) -> Seen {
            self.0.lock().unwrap().remove(0)
        }
    }

    #[tokio::test]
    async fn each_kind_of_request_gets_its_own_attempt_timeout() {
        let (port, _requests) = capture().await;
        let base = load_base(
            &AwsConfig {
                endpoint_url: Some(format!("http://127.0.0.1:{port}")),
                s3_endpoint_url: None,
                region: Some("us-east-1".into()),
            },
            None,
        )
        .await;
        let base = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "unit",
            )))
            .build();
        let secs = Duration::from_secs;
        let timeouts = Timeouts {
            connect: secs(3),
            request: secs(7),
            transfer: secs(11),
            receive: secs(13),
        };
        let seen = SeeTimeouts::default();
        // Sends `call` with the observer and checks the attempt and connect timeouts it ran with.
        macro_rules! attempt {
            ($call:expr, $attempt:expr, $what:literal) => {{
                let _ = $call.customize().interceptor(seen.clone()).send().await;
                assert_eq!(seen.take(), (Some($attempt), Some(secs(3))), $what);
            }};
        }
        let s3 = s3_client(&base, None, "us-east-1", None, &timeouts, &Arc::default());
        attempt!(s3.head_object().bucket("b").key("k"), secs(7), "HeadObject");
        attempt!(
            s3.get_object_tagging().bucket("b").key("k"),
            secs(7),
            "tagging"
        );
        attempt!(s3.get_object().bucket("b").key("k"), secs(11), "GetObject");
        attempt!(
            s3.copy_object().bucket("b").key("k").copy_source("a/k"),
            secs(11),
            "CopyObject"
        );
        attempt!(
            s3.complete_multipart_upload()
                .bucket("b")
                .key("k")
                .upload_id("u"),
            secs(11),
            "CompleteMultipartUpload"
        );

        let sqs = sqs_client(&base, &timeouts, &Arc::default());
        let url = format!("http://127.0.0.1:{port}/123456789012/q");
        attempt!(
            sqs.receive_message().queue_url(&url),
            secs(13),
            "ReceiveMessage"
        );
        attempt!(
            sqs.change_message_visibility()
                .queue_url(&url)
                .receipt_handle("h")
                .visibility_timeout(1),
            secs(7),
            "ChangeMessageVisibility"
        );

        let sns = sns_client(&base, None, &timeouts, &Arc::default());
        attempt!(
            sns.publish()
                .topic_arn("arn:aws:sns:us-east-1:123456789012:t")
                .message("m"),
            secs(7),
            "Publish"
        );
    }

    #[test]
    fn timeouts_follow_the_configuration_and_the_long_poll() {
        let mut config = Config::default();
        config.queue.wait_time_secs = 20;
        config.timeouts.receive_margin_secs = 10;
        config.timeouts.request_secs = 30;
        config.timeouts.transfer_secs = 900;
        let t = Timeouts::from_config(&config);
        assert_eq!(t.receive, Duration::from_secs(30));
        assert_eq!(t.request, Duration::from_secs(30));
        assert_eq!(t.transfer, Duration::from_secs(900));
    }

    #[test]
    fn a_timed_out_request_is_a_transient_transport_failure() {
        let err: SdkError<aws_sdk_s3::operation::head_object::HeadObjectError, HttpResponse> =
            SdkError::timeout_error("attempt timeout occurred after 1s");
        let failure = SdkFailure::from_sdk(&err);
        assert!(failure.transport && failure.is_transient(), "{failure:?}");
    }

    #[test]
    fn every_client_counts_its_requests() {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let counting =
            |names: Vec<&'static str>| names.iter().filter(|n| **n == "CountRequests").count();
        let timeouts = Timeouts::default();
        let s3 = s3_client(&base, None, "eu-west-1", None, &timeouts, &Arc::default());
        let sqs = sqs_client(&base, &timeouts, &Arc::default());
        let sns = sns_client(&base, None, &timeouts, &Arc::default());
        assert_eq!(
            counting(s3.config().interceptors().map(|i| i.name()).collect()),
            1
        );
        assert_eq!(
            counting(sqs.config().interceptors().map(|i| i.name()).collect()),
            1
        );
        assert_eq!(
            counting(sns.config().interceptors().map(|i| i.name()).collect()),
            1
        );
    }

    #[test]
    fn regions_from_arns_and_queue_urls() {
        assert_eq!(
            region_of_arn("arn:aws:sns:eu-west-1:111111111111:replication-completed"),
            Some("eu-west-1")
        );
        assert_eq!(region_of_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(
            region_of_queue_url("https://sqs.us-east-1.amazonaws.com/111111111111/q"),
            Some("us-east-1")
        );
        assert_eq!(
            region_of_queue_url("http://127.0.0.1:5000/123456789012/q"),
            None
        );
        assert_eq!(region_of_queue_url("https://queue.amazonaws.com/1/q"), None);
    }
}
