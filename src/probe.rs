//! Trying a target's store with this process's credentials: can it write there, and what does
//! the store support (docs/design.md, "Targets beyond AWS").
//!
//! One small object is written under the target's probe prefix, read back, written again with
//! each feature a store may lack, and deleted. `check-config --probe` reports the result for
//! every target; the replicator runs the detection once, before its first write to a target on
//! its own endpoint whose capabilities are not all declared.

use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::warn;

use crate::config::{Capabilities, TargetConfig};
use crate::metrics::Metrics;
use crate::store::{
    ChecksumAlgorithm, NewObject, ObjectRef, ObjectStore, StoreError, StoreErrorKind, Tag,
    WriteCondition,
};
use crate::transfer::content;

/// The probe object's body.
const BODY: &[u8] = b"s3-replicator probe: safe to delete\n";

/// Whether this process may write to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The probe object was written and read back.
    Reachable,
    /// The store refused the credentials or the permission.
    Denied(String),
    /// The bucket does not exist.
    Missing(String),
    /// Anything else: the store did not answer, or answered something unusable.
    Failed(String),
}

impl Access {
    /// `reachable`, `denied`, `missing` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Access::Reachable => "reachable",
            Access::Denied(_) => "denied",
            Access::Missing(_) => "missing",
            Access::Failed(_) => "failed",
        }
    }

    fn of(error: &StoreError) -> Self {
        let message = error.to_string();
        match error.kind {
            StoreErrorKind::AccessDenied => Access::Denied(message),
            StoreErrorKind::NoSuchBucket => Access::Missing(message),
            _ => Access::Failed(message),
        }
    }
}

/// What a store supports, every feature settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub tagging: bool,
    pub conditional_writes: bool,
    pub checksums: bool,
    pub storage_classes: bool,
}

impl Features {
    /// Every feature, as S3 has them.
    pub const ALL: Features = Features {
        tagging: true,
        conditional_writes: true,
        checksums: true,
        storage_classes: true,
    };

    /// `declared`, each undeclared feature taken from `otherwise`.
    pub fn declared_or(declared: &Capabilities, otherwise: Features) -> Self {
        Self {
            tagging: declared.tagging.unwrap_or(otherwise.tagging),
            conditional_writes: declared
                .conditional_writes
                .unwrap_or(otherwise.conditional_writes),
            checksums: declared.checksums.unwrap_or(otherwise.checksums),
            storage_classes: declared
                .storage_classes
                .unwrap_or(otherwise.storage_classes),
        }
    }

    /// The features missing, by their configuration names.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("tagging", self.tagging),
            ("conditional_writes", self.conditional_writes),
            ("checksums", self.checksums),
            ("storage_classes", self.storage_classes),
        ]
        .into_iter()
        .filter(|(_, has)| !has)
        .map(|(name, _)| name)
        .collect()
    }
}

/// The result of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub access: Access,
    /// What was detected, when asked and the target was reachable.
    pub features: Option<Features>,
    /// The probe object could not be deleted: where it is, and why.
    pub left_behind: Option<String>,
}

/// Writes, reads and deletes a probe object in `target`'s bucket through `store`; with
/// `detect`, finds which features the store supports on the way.
pub async fn probe<S: ObjectStore>(store: &S, target: &TargetConfig, detect: bool) -> Report {
    let key = format!(
        "{}{}-{:016x}",
        target.probe_prefix(),
        std::process::id(),
        fastrand::u64(..)
    );
    let object = ObjectRef {
        bucket: target.bucket.clone(),
        key: key.clone(),
        version_id: None,
    };
    let plain = new_object(target, &key);
    let access = match store.put_object(&plain, Bytes::from_static(BODY)).await {
        Ok(_) => match store.head_object(&object, None).await {
            Ok(Some(_)) => Access::Reachable,
            Ok(None) => Access::Failed(format!(
                "s3://{}/{key} was written but is not there when read back",
                target.bucket
            )),
            Err(e) => Access::of(&e),
        },
        Err(e) => Access::of(&e),
    };
    if access != Access::Reachable {
        return Report {
            access,
            features: None,
            left_behind: None,
        };
    }
    let features = if detect {
        match detect_features(store, target, &plain, &object).await {
            Ok(features) => Some(features),
            Err(e) => {
                return Report {
                    access: Access::Failed(format!("detecting the store's features: {e}")),
                    features: None,
                    left_behind: cleanup(store, target, &key).await,
                }
            }
        }
    } else {
        None
    };
    Report {
        access,
        features,
        left_behind: cleanup(store, target, &key).await,
    }
}

fn new_object(target: &TargetConfig, key: &str) -> NewObject {
    NewObject {
        bucket: target.bucket.clone(),
        key: key.to_owned(),
        metadata: BTreeMap::from([("s3r-probe".to_owned(), "1".to_owned())]),
        ..NewObject::default()
    }
}

async fn cleanup<S: ObjectStore>(store: &S, target: &TargetConfig, key: &str) -> Option<String> {
    match store
        .delete_object(&target.bucket, key, &WriteCondition::None)
        .await
    {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the probe object s3://{}/{key} could not be deleted: {e}",
            target.bucket
        )),
    }
}

/// A failure that says nothing about the feature tried: the detection is tried again later.
fn passing(e: &StoreError) -> bool {
    matches!(
        e.kind,
        StoreErrorKind::Transient | StoreErrorKind::Throttled
    )
}

/// Each undeclared feature, tried on the probe object (which exists).
async fn detect_features<S: ObjectStore>(
    store: &S,
    target: &TargetConfig,
    plain: &NewObject,
    object: &ObjectRef,
) -> Result<Features, StoreError> {
    let declared = &target.capabilities;
    let body = || Bytes::from_static(BODY);
    // A write with a feature: refused means unsupported, unless the refusal is passing.
    let try_write = |with: NewObject| async move {
        match store.put_object(&with, body()).await {
            Ok(_) => Ok(true),
            Err(e) if passing(&e) => Err(e),
            Err(_) => Ok(false),
        }
    };
    let checksums = match declared.checksums {
        Some(value) => value,
        None => {
            let sent = content::checksum_of(ChecksumAlgorithm::Crc64Nvme, BODY);
            let with = NewObject {
                expected_checksum: Some(sent.clone()),
                ..plain.clone()
            };
            try_write(with).await?
                && store
                    .head_object(object, None)
                    .await?
                    .and_then(|head| head.checksum)
                    .is_some_and(|returned| {
                        returned.comparable_with(&sent) && returned.value == sent.value
                    })
        }
    };
    let conditional_writes = match declared.conditional_writes {
        Some(value) => value,
        None => {
            // The key exists: a store that honours If-None-Match answers 412.
            let with = NewObject {
                condition: WriteCondition::Absent,
                ..plain.clone()
            };
            match store.put_object(&with, body()).await {
                Err(e) if e.kind == StoreErrorKind::PreconditionFailed => true,
                Err(e) if passing(&e) => return Err(e),
                _ => false,
            }
        }
    };
    let tagging = match declared.tagging {
        Some(value) => value,
        None => {
            let tag = Tag {
                key: "s3r-probe".to_owned(),
                value: "1".to_owned(),
            };
            let with = NewObject {
                tags: vec![tag.clone()],
                ..plain.clone()
            };
            try_write(with).await?
                && match store.get_object_tagging(object).await {
                    Ok(tags) => tags.contains(&tag),
                    Err(e) if passing(&e) => return Err(e),
                    Err(_) => false,
                }
        }
    };
    let storage_classes = match (declared.storage_classes, &target.storage_class) {
        (Some(value), _) => value,
        // Nothing to try: no replica asks for a class.
        (None, None) => true,
        (None, Some(class)) => {
            let with = NewObject {
                storage_class: Some(class.clone()),
                ..plain.clone()
            };
            try_write(with).await?
        }
    };
    Ok(Features {
        tagging,
        conditional_writes,
        checksums,
        storage_classes,
    })
}

/// The features `target`'s replicas are written with: declared ones as declared; on a target
/// on its own endpoint the rest detected through `store`; on AWS the rest as S3 has them. Each
/// missing one is logged once here and marked in `s3r_target_capability_missing`.
pub async fn resolve<S: ObjectStore>(
    store: &S,
    target: &TargetConfig,
    metrics: &Metrics,
) -> Result<Features, StoreError> {
    let declared = &target.capabilities;
    let all_declared = declared.declared().iter().all(|(_, v)| v.is_some());
    let features = if target.endpoint_url.is_none() || all_declared {
        Features::declared_or(declared, Features::ALL)
    } else {
        let report = probe(store, target, true).await;
        if let Some(left) = &report.left_behind {
            warn!(message = "The capability probe's object was left behind.", target = %target.name, why = %left);
        }
        match (report.access, report.features) {
            (Access::Reachable, Some(features)) => features,
            (access, _) => {
                let (kind, why) = match access {
                    Access::Denied(why) => (StoreErrorKind::AccessDenied, why),
                    Access::Missing(why) => (StoreErrorKind::NoSuchBucket, why),
                    Access::Failed(why) => (StoreErrorKind::Transient, why),
                    Access::Reachable => (
                        StoreErrorKind::Transient,
                        "no features were detected".to_owned(),
                    ),
                };
                return Err(StoreError::new(
                    crate::store::Operation::PutObject,
                    &target.bucket,
                    &target.probe_prefix(),
                    kind,
                    format!("the capability probe of target {}: {why}", target.name),
                ));
            }
        }
    };
    for missing in features.missing() {
        warn!(message = "The target's store lacks a feature; its replicas go without it.", target = %target.name, capability = missing, declared = declared.declared().iter().any(|(n, v)| *n == missing && v.is_some()));
        metrics.set_capability_missing(&target.name, missing);
    }
    Ok(features)
}

/// `check-config --probe`: every target probed (with its features detected when it is on its
/// own endpoint), one paragraph each. Returns the text and whether every target is reachable.
/// `store_of` gives the store that writes a target, by name.
pub async fn check_targets<'a, S: ObjectStore + 'a>(
    config: &crate::config::Config,
    store_of: impl Fn(&str) -> Option<&'a S>,
) -> (String, bool) {
    use std::fmt::Write as _;
    let mut out = String::from(
        "Probe (one object written, read back and deleted under each target's probe prefix)\n",
    );
    let mut all_reachable = true;
    let missing = config.missing_credentials();
    for target in &config.targets {
        let _ = write!(out, "  {:<20} ", target.name);
        if let Some(why) = missing
            .iter()
            .find(|m| m.starts_with(&format!("targets.{}:", target.name)))
        {
            all_reachable = false;
            let _ = writeln!(out, "failed      {why}");
            continue;
        }
        let Some(store) = store_of(&target.name) else {
            continue;
        };
        let report = probe(store, target, target.endpoint_url.is_some()).await;
        all_reachable &= report.access == Access::Reachable;
        let at = format!("s3://{}/{}", target.bucket, target.probe_prefix());
        let _ = match &report.access {
            Access::Reachable => writeln!(out, "reachable   {at}"),
            Access::Denied(why) | Access::Missing(why) | Access::Failed(why) => {
                writeln!(out, "{:<11} {why}", report.access.as_str())
            }
        };
        if let Some(features) = report.features {
            let features = Features::declared_or(&Capabilities::default(), features);
            let list = [
                ("tagging", features.tagging),
                ("conditional_writes", features.conditional_writes),
                ("checksums", features.checksums),
                ("storage_classes", features.storage_classes),
            ]
            .iter()
            .map(|(name, has)| format!("{name} {}", if *has { "yes" } else { "no" }))
            .collect::<Vec<_>>()
            .join(", ");
            let _ = writeln!(out, "  {:<20} features:   {list}", "");
        }
        if let Some(left) = report.left_behind {
            let _ = writeln!(out, "  {:<20} warning:    {left}", "");
        }
    }
    (out, all_reachable)
}
