//! The `[server]` and `[log]` tables: where the health and metrics endpoint listens and how
//! log lines are shaped. Part of [`crate::config`] (types only; checked in [`super::validate`],
//! printed by [`super::describe`]).

use serde::{Deserialize, Serialize};

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
