//! Loading the configuration: the layers (built-in defaults, the TOML file or its text in
//! `S3R_CONFIG_TOML`, `S3R_…` environment variables) merged by figment, and the errors that
//! name each problem's field and source. Part of [`crate::config`]: it fills the types of
//! [`super::schema`] and hands the result to [`super::validate`].

use std::fmt::{self, Write as _};
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::Config;

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
pub(super) fn is_config_var(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains(ENV_SEPARATOR)
        || SECTIONS.iter().any(|s| {
            name.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with('_'))
        })
}

/// Environment variable holding the whole TOML file, for containers that get their
/// configuration through the environment only (the ECS task definition of `terraform/`): arrays
/// of tables (`[[targets]]`, `[[rules]]`) cannot be expressed as `S3R_…` key variables.
/// Used when no `--config` file is given; `S3R_…` key variables still override it.
pub const CONFIG_TOML_ENV: &str = "S3R_CONFIG_TOML";

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

    /// Like [`Config::figment`], with the file's text given directly instead of a path.
    pub fn figment_from_str(toml: &str) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .merge(Self::env_provider(ENV_PREFIX))
    }

    /// [`Config::figment`] extracted, then [`Config::validate`]d.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::from_figment(&Self::figment(path))
    }

    /// [`Config::figment_from_str`] extracted and validated.
    pub fn load_str(toml: &str) -> Result<Config, ConfigError> {
        Self::from_figment(&Self::figment_from_str(toml))
    }

    /// Extracts from any figment (e.g. one with extra layers) and validates.
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract()?;
        config.validate()?;
        Ok(config)
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
    pub(super) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
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
