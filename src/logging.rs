//! Logs: `tracing` to stderr, as text for people or one JSON object per line for CloudWatch
//! Logs (`log.format`), and one span per queue message carrying its id, bucket and key.
//!
//! What never goes into a log: credentials (the SDK's own crates are held at `warn`, below
//! which they may print request details) and object contents (the daemon never reads them; an
//! undecodable message body goes to the alert, shortened, not to the log).

use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::queue::Message;

/// The filter when `RUST_LOG` is unset: the daemon at `info`, the SDK's chatty crates at `warn`.
pub const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn";

/// Installs the global subscriber writing to stderr. Call once, before anything logs.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal, never in a log file or CloudWatch.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Flattened: `message`, `bucket`, `key`, … are top-level fields that Logs Insights
        // queries by name; the span's fields (message_id, bucket, key) come along on every line.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The span for one queue message: its id, and the bucket and key when it announces exactly one
/// object (a message with several records carries their count; each record's own log lines name
/// its bucket and key).
///
/// The body is decoded here a second time (the pipeline decodes it too): a few microseconds,
/// paid so that the span exists before the pipeline starts and every line of it is tagged.
pub fn message_span(message: &Message) -> Span {
    let span = tracing::info_span!(
        "message",
        message_id = %message.id,
        receive_count = message.receive_count,
        bucket = tracing::field::Empty,
        key = tracing::field::Empty,
        records = tracing::field::Empty,
    );
    if let Ok(crate::event::Notification::Objects {
        objects, removed, ..
    }) = crate::event::decode(&message.body)
    {
        let named: Vec<(&str, &str)> = objects
            .iter()
            .map(|o| (o.bucket.as_str(), o.key.as_str()))
            .chain(removed.iter().map(|o| (o.bucket.as_str(), o.key.as_str())))
            .collect();
        match named.as_slice() {
            [(bucket, key)] => {
                span.record("bucket", *bucket);
                span.record("key", *key);
            }
            many => {
                span.record("records", many.len());
            }
        }
    }
    span
}
