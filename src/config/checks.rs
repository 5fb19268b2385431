//! The small checks that validation ([`super::validate`]) and the checks of targets on other
//! stores ([`super::stores`]) share: the problem list, and endpoint URLs.

use super::Problem;

/// Collects problems.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(field, message));
    }
}

pub(super) fn check_http_url(url: &str) -> Result<(), String> {
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
