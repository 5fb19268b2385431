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
//!
//! Sizes are exact (`"64 MiB"`, `"1.5 GiB"`, `"512 KB"`, integers of bytes: [`ByteSize`]);
//! durations, the keys ending in `_secs`, are whole seconds given as an integer or with units
//! (`"90s"`, `"15m"`, `"1h 30m"`).
//!
//! One file per concept; every item is re-exported here, so callers name `crate::config::X`:
//! - `schema`: the tables as types, with their defaults (`Config`, `QueueConfig`, `TargetConfig`,
//!   `RuleConfig`, …);
//! - `operations`: the `[server]` and `[log]` tables; `timeouts`: the `[timeouts]` table;
//! - `units`: byte sizes (`"64 MiB"`) and durations (`"15m"`) in values;
//! - `load`: the layers (figment), environment variable names, [`ConfigError`] and [`Problem`];
//! - `stores`: the checks of a target's own endpoint, credentials and capabilities;
//! - `validate`: the semantic checks; `describe`: the text `check-config` prints.

mod checks;
mod describe;
mod load;
mod operations;
mod schema;
mod stores;
mod timeouts;
mod units;
mod validate;

#[cfg(test)]
mod tests;

pub use load::{ConfigError, Problem, CONFIG_TOML_ENV, ENV_PREFIX, ENV_SEPARATOR};
pub use operations::{LogConfig, LogFormat, ServerConfig, DEFAULT_LISTEN};
pub use schema::{
    AlertsConfig, Archived, AwsConfig, Capabilities, CompletionConfig, Config, CopyConfig,
    CopyMode, Deletes, ObjectLock, QueueConfig, RestoreTier, RuleConfig, TableFormat, TargetConfig,
    MAX_PART_SIZE, MIN_PART_SIZE, STORAGE_CLASSES,
};
pub use timeouts::{TimeoutsConfig, MAX_MESSAGE_DEADLINE_SECS};
pub use units::{ByteSize, ParseByteSizeError};
