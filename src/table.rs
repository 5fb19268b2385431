//! Delta Lake tables under a rule with `table_format = "delta"`: which objects of a table must
//! wait for which (docs/design.md, "Tables").
//!
//! A Delta reader lists `_delta_log/`, takes the newest commit and opens the files it adds. A
//! commit that reaches a target before its data files makes the target's table point at files
//! it does not hold. So a commit `_delta_log/N.json` is copied only once every file it adds
//! (`add`, `cdc`, and the deletion vectors they reference) and commit N−1 are in every target;
//! checkpoints, `N.crc` and compacted logs only once the commit they describe is; and
//! `_last_checkpoint` only once the commit and checkpoint it names are. Everything else (data
//! files, deletion vectors, change data, sidecars, staged commits) is copied at once.
//!
//! Paths in a commit are URIs relative to the table root, percent-encoded once (delta-rs
//! encodes partition values in the directory name and then the whole path again: decoding
//! once gives the object key). Absolute paths are followed only within the source bucket.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// The log directory's name.
const LOG: &str = "_delta_log/";

/// An object of a Delta table, by what it is to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `_delta_log/N.json`.
    Commit(u64),
    /// A checkpoint of version N: `N.checkpoint.parquet`, a part `N.checkpoint.I.P.parquet`, or
    /// a v2 checkpoint `N.checkpoint.UUID.json|parquet`.
    Checkpoint(u64),
    /// `N.crc`: the table's state after commit N.
    Crc(u64),
    /// `X.Y.compacted.json`: commits X to Y in one file.
    Compacted(u64),
    /// `_delta_log/_last_checkpoint`.
    LastCheckpoint,
    /// Anything else: data files, deletion vectors, change data, sidecars, staged commits.
    Free,
}

/// An object of a table: its table's root (the key prefix before `_delta_log/`, `""` or ending
/// in `/`) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableObject {
    pub root: String,
    pub kind: Kind,
}

impl TableObject {
    /// Whether the object waits for others before it is copied.
    pub fn held(&self) -> bool {
        self.kind != Kind::Free
    }
}

/// The key of commit `version` of the table at `root`.
pub fn commit_key(root: &str, version: u64) -> String {
    format!("{root}{LOG}{version:020}.json")
}

/// What `key` is to a Delta table; `None` when no `_delta_log/` is on its path (a data file of
/// a table, or any object: copied at once either way).
pub fn classify(key: &str) -> Option<TableObject> {
    let at = key
        .match_indices(LOG)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || key.as_bytes()[i - 1] == b'/')?;
    let root = key[..at].to_owned();
    let name = &key[at + LOG.len()..];
    Some(TableObject {
        root,
        kind: kind_of(name),
    })
}

fn version(text: &str) -> Option<u64> {
    digits(text, 20).then(|| text.parse().ok()).flatten()
}

fn digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn kind_of(name: &str) -> Kind {
    if name == "_last_checkpoint" {
        return Kind::LastCheckpoint;
    }
    // Sidecars, staged commits and anything else in a subdirectory are not held.
    if name.contains('/') {
        return Kind::Free;
    }
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [n, "json"] => version(n).map_or(Kind::Free, Kind::Commit),
        [n, "crc"] => version(n).map_or(Kind::Free, Kind::Crc),
        [n, "checkpoint", "parquet"] => version(n).map_or(Kind::Free, Kind::Checkpoint),
        [n, "checkpoint", i, p, "parquet"] if digits(i, 10) && digits(p, 10) => {
            version(n).map_or(Kind::Free, Kind::Checkpoint)
        }
        [n, "checkpoint", uuid, "json" | "parquet"] if uuid.len() == 36 => {
            version(n).map_or(Kind::Free, Kind::Checkpoint)
        }
        [x, y, "compacted", "json"] => match (version(x), version(y)) {
            (Some(_), Some(y)) => Kind::Compacted(y),
            _ => Kind::Free,
        },
        _ => Kind::Free,
    }
}

/// A file a commit needs in every target before it is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// The file's key in the source bucket.
    pub key: String,
    /// Its size, when the commit records it.
    pub size: Option<u64>,
}

/// What a commit adds to its table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Data files (`add`), change data (`cdc`) and deletion vectors, each once.
    pub needs: Vec<Needed>,
    /// `add` actions.
    pub files_added: u64,
    /// Their `size`s, summed.
    pub bytes_added: u64,
}

/// Reads commit `body` of the table at `root` in `bucket`.
pub fn parse_commit(root: &str, bucket: &str, body: &[u8]) -> Result<Commit, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the commit is not UTF-8: {e}"))?;
    let mut commit = Commit::default();
    let mut needs: Vec<Needed> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let action: Value = serde_json::from_str(line)
            .map_err(|e| format!("line {} of the commit is not JSON: {e}", n + 1))?;
        if let Some(add) = action.get("add") {
            let size = add.get("size").and_then(Value::as_u64);
            commit.files_added += 1;
            commit.bytes_added += size.unwrap_or(0);
            needs.push(Needed {
                key: file_key(root, bucket, path_of(add, "add")?)?,
                size,
            });
            if let Some(dv) = add.get("deletionVector").filter(|v| !v.is_null()) {
                if let Some(key) = deletion_vector_key(root, bucket, dv)? {
                    needs.push(Needed { key, size: None });
                }
            }
        } else if let Some(cdc) = action.get("cdc") {
            needs.push(Needed {
                key: file_key(root, bucket, path_of(cdc, "cdc")?)?,
                size: cdc.get("size").and_then(Value::as_u64),
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    needs.retain(|n| seen.insert(n.key.clone()));
    commit.needs = needs;
    Ok(commit)
}

fn path_of<'a>(action: &'a Value, name: &str) -> Result<&'a str, String> {
    action
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("an {name} action has no path"))
}

/// The key of a file named by `path` (a URI, percent-encoded once) in the table at `root`.
fn file_key(root: &str, bucket: &str, path: &str) -> Result<String, String> {
    // A URI scheme (`file:/…`, `abfss://…`): ':' before any '/' (a relative path's ':' is
    // percent-encoded).
    let scheme = path
        .split_once(':')
        .filter(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'))
        .map(|(scheme, _)| scheme);
    if scheme.is_some() && !path.contains("://") {
        return Err(format!(
            "the commit names {path}, outside the table's bucket s3://{bucket}: a replica \
             would read it from there"
        ));
    }
    if let Some((scheme, rest)) = path.split_once("://") {
        let (in_bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if !matches!(scheme, "s3" | "s3a" | "s3n") || in_bucket != bucket {
            return Err(format!(
                "the commit names {path}, outside the table's bucket s3://{bucket}: a replica \
                 would read it from there"
            ));
        }
        return decode(key);
    }
    Ok(format!("{root}{}", decode(path)?))
}

fn decode(path: &str) -> Result<String, String> {
    percent_decode_str(path)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|e| format!("the path {path:?} does not decode to UTF-8: {e}"))
}

/// The key of the deletion-vector file a descriptor references, if it references one.
fn deletion_vector_key(root: &str, bucket: &str, dv: &Value) -> Result<Option<String>, String> {
    let storage = dv.get("storageType").and_then(Value::as_str).unwrap_or("");
    let path = dv
        .get("pathOrInlineDv")
        .and_then(Value::as_str)
        .ok_or("a deletion vector has no pathOrInlineDv")?;
    match storage {
        "i" => Ok(None),
        "u" | "p" if crate::bug!(DeletionVectorsIgnored) => Ok(None),
        "p" => file_key(root, bucket, path).map(Some),
        "u" => {
            // An optional random prefix, then a UUID in 20 characters of Z85 (never
            // URL-decoded: Z85 uses '%', '/', '?' and '#').
            let split = path
                .len()
                .checked_sub(20)
                .filter(|&at| path.is_char_boundary(at))
                .ok_or_else(|| format!("deletion vector {path:?} is shorter than a UUID"))?;
            let (prefix, encoded) = path.split_at(split);
            let uuid =
                z85_uuid(encoded).ok_or_else(|| format!("deletion vector {path:?} is not Z85"))?;
            let dir = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            Ok(Some(format!("{root}{dir}deletion_vector_{uuid}.bin")))
        }
        other => Err(format!("unknown deletion vector storage type {other:?}")),
    }
}

/// The UUID in 20 characters of Z85 (ZeroMQ RFC 32), as `8-4-4-4-12` lowercase hex.
fn z85_uuid(encoded: &str) -> Option<String> {
    const ALPHABET: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    let mut bytes = Vec::with_capacity(16);
    for chunk in encoded.as_bytes().chunks(5) {
        if chunk.len() != 5 {
            return None;
        }
        let mut value: u64 = 0;
        for c in chunk {
            let digit = ALPHABET.iter().position(|a| a == c)? as u64;
            value = value * 85 + digit;
        }
        bytes.extend_from_slice(&u32::try_from(value).ok()?.to_be_bytes());
    }
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// The sidecar files a v2 checkpoint in JSON (`N.checkpoint.UUID.json`) of the table at `root`
/// references: `sidecar` actions, paths relative to `_delta_log/_sidecars/`.
pub fn checkpoint_sidecars(root: &str, body: &[u8]) -> Result<Vec<String>, String> {
    let text =
        std::str::from_utf8(body).map_err(|e| format!("the checkpoint is not UTF-8: {e}"))?;
    let mut sidecars = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let action: Value = serde_json::from_str(line)
            .map_err(|e| format!("a line of the checkpoint is not JSON: {e}"))?;
        if let Some(path) = action
            .get("sidecar")
            .and_then(|s| s.get("path"))
            .and_then(Value::as_str)
        {
            sidecars.push(sidecar_key(root, path)?);
        }
    }
    Ok(sidecars)
}

fn sidecar_key(root: &str, path: &str) -> Result<String, String> {
    if path.contains("://") {
        return Err(format!(
            "sidecar {path} is not relative to _delta_log/_sidecars/"
        ));
    }
    Ok(format!("{root}{LOG}_sidecars/{}", decode(path)?))
}

/// What `_last_checkpoint` says: the checkpoint's version and the keys of its files.
pub fn parse_last_checkpoint(root: &str, body: &[u8]) -> Result<(u64, Vec<String>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("_last_checkpoint is not JSON: {e}"))?;
    let version = value
        .get("version")
        .and_then(Value::as_u64)
        .ok_or("_last_checkpoint has no version")?;
    let log = format!("{root}{LOG}");
    let v2 = value.get("v2Checkpoint");
    let files = if let Some(path) = v2.and_then(|v| v.get("path")).and_then(Value::as_str) {
        let mut files = vec![format!("{log}{path}")];
        let sidecars = v2
            .and_then(|v| v.get("sidecarFiles"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("path").and_then(Value::as_str));
        for sidecar in sidecars {
            files.push(sidecar_key(root, sidecar)?);
        }
        files
    } else if let Some(parts) = value.get("parts").and_then(Value::as_u64) {
        (1..=parts)
            .map(|i| format!("{log}{version:020}.checkpoint.{i:010}.{parts:010}.parquet"))
            .collect()
    } else {
        vec![format!("{log}{version:020}.checkpoint.parquet")]
    };
    Ok((version, files))
}

#[cfg(test)]
mod tests;
