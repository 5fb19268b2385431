//! s3-replicator: replicate every new S3 object to every configured target, then announce it.
//!
//! The modules follow the pipeline of docs/design.md, top to bottom:
//!
//! - [`config`]   — the configuration file (figment: defaults → TOML → `S3R_…` environment) and its validation.
//! - [`event`]    — decoding SQS message bodies: S3 events, SNS envelopes, EventBridge events, test events.
//! - [`queue`]    — the message source: the [`queue::MessageSource`] trait and its SQS adapter.
//! - [`route`]    — which rule (and so which targets) an object belongs to.
//! - [`store`]    — the object store seam: the [`store::ObjectStore`] trait, our own types, the S3 adapter.
//! - [`replicate`] — copying one object to every target of a rule and verifying what was written.
//! - [`transfer`] — how the bytes move: CopyObject, multipart UploadPartCopy, streamed copy within a byte budget.
//! - [`publish`]  — completion events and alerts: their formats and the SNS adapter.
//! - [`alerts`]   — alert aggregation: one alert per (kind, target) per window, then a summary.
//! - [`partition`] — partition completion: a marker object closes its prefix, checked in every target.
//! - [`pipeline`] — one message, start to finish: decode → route → replicate → publish → acknowledge.
//! - [`daemon`]   — the long-running loop: long polling, bounded concurrency, batch deletes, shutdown.
//! - [`backfill`] — the `backfill` command: replicate what existed before, through the same engine.
//! - [`verify`]   — the `verify` command: compare sources and targets in bounded memory.
//! - [`heartbeat`] — keeping a message invisible while its copies run.
//! - [`aws`]      — SDK clients: endpoints, regions, assumed-role credentials, request counting.
//! - [`error`]    — what the pipeline does about a failure (retry, alert, ignore).
//! - [`timestamp`] — reading event times, writing the fixed millisecond form of every published one.
//!
//! Operating it:
//!
//! - [`server`]   — `/healthz`, `/readyz` and `/metrics` on a small HTTP server.
//! - [`metrics`]  — every metric name, the process-wide registry, the Prometheus text format.
//! - [`logging`]  — text or JSON logs, one span per queue message.

pub mod alerts;
pub mod aws;
pub mod backfill;
#[cfg(feature = "bug-injection")]
pub mod bugs;

/// `true` when the named `bugs::Bug` is switched on; always `false` without `bug-injection`.
#[macro_export]
macro_rules! bug {
    ($bug:ident) => {{
        #[cfg(feature = "bug-injection")]
        let on = $crate::bugs::active($crate::bugs::Bug::$bug);
        #[cfg(not(feature = "bug-injection"))]
        let on = false;
        on
    }};
}

pub mod config;
pub mod daemon;
pub mod error;
pub mod event;
pub mod heartbeat;
pub mod listing;
pub mod logging;
pub mod metrics;
pub mod partition;
pub mod pipeline;
pub mod probe;
pub mod publish;
pub mod queue;
pub mod replicate;
pub mod retry;
pub mod route;
pub mod server;
pub mod store;
pub mod table;
#[cfg(test)]
mod test_http;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod timestamp;
pub mod transfer;
pub mod verify;
pub mod wiring;
