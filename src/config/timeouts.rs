//! The `[timeouts]` table: how long AWS requests, by kind, and the handling of one message may
//! take. Part of [`crate::config`] (types only; checked in [`super::validate`], printed by
//! [`super::describe`]).

use serde::{Deserialize, Serialize};

use super::units;

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
    #[serde(default = "default_connect_secs", deserialize_with = "units::secs")]
    pub connect_secs: u64,
    /// One attempt of a small request: S3 `HeadObject`, `GetObjectTagging`, `ListObjectsV2`,
    /// `CreateMultipartUpload`, `AbortMultipartUpload`, `ListMultipartUploads`; SQS requests but
    /// `ReceiveMessage`; SNS `Publish`.
    #[serde(default = "default_request_secs", deserialize_with = "units::secs")]
    pub request_secs: u64,
    /// One attempt of a request that moves or assembles object bytes: `CopyObject`,
    /// `UploadPartCopy`, `UploadPart`, `PutObject`, `GetObject` (until its body starts) and
    /// `CompleteMultipartUpload` (which S3 may take minutes to answer).
    #[serde(default = "default_transfer_secs", deserialize_with = "units::secs")]
    pub transfer_secs: u64,
    /// `ReceiveMessage` may take `queue.wait_time_secs` (its long poll) plus this.
    #[serde(
        default = "default_receive_margin_secs",
        deserialize_with = "units::secs"
    )]
    pub receive_margin_secs: u64,
    /// The whole handling of one message (every copy, the completion). When it passes, the
    /// handling is cancelled (multipart uploads aborted), the message handed back for a retry
    /// and an alert raised. Below SQS's 12-hour visibility cap.
    #[serde(
        default = "default_message_deadline_secs",
        deserialize_with = "units::secs"
    )]
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
