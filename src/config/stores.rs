//! The checks of a target's store: its own endpoint, its own credentials, its declared
//! capabilities and its probe prefix (docs/design.md, "Targets beyond AWS"). Part of
//! [`super::validate`].

use super::checks::{check_http_url, Problems};
use super::{CopyMode, TargetConfig};

/// Pushes every problem of target `i`'s store settings.
pub(super) fn validate_store(i: usize, t: &TargetConfig, p: &mut Problems) {
    let at = |field: &str| format!("targets[{i}].{field}");
    if let Some(url) = &t.endpoint_url {
        if let Err(why) = check_http_url(url) {
            p.push(
                at("endpoint_url"),
                format!("{why}; the store's S3 API URL, e.g. \"https://ACCOUNT.r2.cloudflarestorage.com\""),
            );
        }
    }
    if let Some(profile) = &t.profile {
        if profile.trim().is_empty() {
            p.push(
                at("profile"),
                "is empty; name a profile of the shared AWS config/credentials files, or remove it",
            );
        }
        if t.access_key_id_env.is_some() || t.secret_access_key_env.is_some() {
            p.push(
                at("profile"),
                "is set together with access_key_id_env/secret_access_key_env; give the target's credentials one way only",
            );
        }
    }
    match (&t.access_key_id_env, &t.secret_access_key_env) {
        (Some(_), None) => p.push(
            at("secret_access_key_env"),
            "is missing; access_key_id_env needs the name of the variable holding the secret key too",
        ),
        (None, Some(_)) => p.push(
            at("access_key_id_env"),
            "is missing; secret_access_key_env needs the name of the variable holding the access key ID too",
        ),
        _ => {}
    }
    for (field, name) in [
        ("access_key_id_env", &t.access_key_id_env),
        ("secret_access_key_env", &t.secret_access_key_env),
    ] {
        if let Some(name) = name {
            if !is_env_name(name) {
                p.push(
                    at(field),
                    format!(
                        "{name:?} is not an environment variable name (letters, digits and '_', \
                         not starting with a digit); give the variable's name, never the key itself"
                    ),
                );
            }
        }
    }
    if t.role_arn.is_some() && t.own_credentials() {
        p.push(
            at("role_arn"),
            "is set on a target with its own credentials (profile or access_key_id_env); a role is assumed with the daemon's credentials, so give one or the other",
        );
    }
    if t.copy_mode == CopyMode::ServerSide && t.streams_only() {
        let why = if t.endpoint_url.is_some() {
            "is on its own endpoint (endpoint_url)"
        } else {
            "is written with its own credentials (profile or access_key_id_env)"
        };
        p.push(
            at("copy_mode"),
            format!(
                "is \"server-side\", but the target {why}, so S3 cannot copy into it from the \
                 source; use \"auto\" or \"stream\" (such a target is always streamed)"
            ),
        );
    }
    if t.capabilities.conditional_writes == Some(true) && !t.conditional_writes {
        p.push(
            at("capabilities.conditional_writes"),
            "is true while conditional_writes is false; remove one of them",
        );
    }
    if t.capabilities.storage_classes == Some(false) && t.storage_class.is_some() {
        p.push(
            at("storage_class"),
            "is set, but capabilities.storage_classes is false; remove one of them",
        );
    }
    if let Some(prefix) = &t.probe_prefix {
        if prefix.is_empty() || prefix.starts_with('/') {
            p.push(
                at("probe_prefix"),
                format!("is {prefix:?}; give a key prefix such as \".s3-replicator-probe/\""),
            );
        }
    }
}

/// An environment variable name as shells and ECS accept it.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl super::Config {
    /// Each target credential variable (`access_key_id_env`, `secret_access_key_env`) that is
    /// not set in this process's environment, as `targets.NAME: VARIABLE is not set`. Names
    /// only: values are never read here.
    pub fn missing_credentials(&self) -> Vec<String> {
        self.targets
            .iter()
            .flat_map(|t| {
                [&t.access_key_id_env, &t.secret_access_key_env]
                    .into_iter()
                    .flatten()
                    .filter(|name| std::env::var_os(name.as_str()).is_none())
                    .map(|name| {
                        format!(
                            "targets.{}: the environment variable {name} (its credentials) is not set",
                            t.name
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
