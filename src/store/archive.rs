//! What a `HeadObject` says beyond the content: whether the object is archived (and restored),
//! and its Object Lock settings (docs/design.md, "Archived sources", "Object Lock").

use super::ObjectHead;

/// Object Lock settings of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectLockSettings {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: Option<String>,
    pub retain_until: Option<time::OffsetDateTime>,
    pub legal_hold: bool,
}

/// Why an object cannot be read now: it is archived and not restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedObject {
    /// `GLACIER`, `DEEP_ARCHIVE`, or `INTELLIGENT_TIERING`.
    pub storage_class: String,
    /// The Intelligent-Tiering archive tier (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`).
    pub archive_status: Option<String>,
    /// A restore is running already.
    pub restoring: bool,
}

impl ObjectHead {
    /// Whether the restored copy of an archived object is readable now.
    fn restored(&self) -> bool {
        self.restore
            .as_deref()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""))
    }

    /// `Some` when the object is archived and not (yet) restored: S3 Glacier Flexible
    /// Retrieval (`GLACIER`) or Deep Archive, or an Intelligent-Tiering archive tier. Glacier
    /// Instant Retrieval is read like any other class.
    pub fn archived(&self) -> Option<ArchivedObject> {
        let class = self.storage_class.as_deref().unwrap_or("STANDARD");
        let archive_class = matches!(class, "GLACIER" | "DEEP_ARCHIVE");
        let archive_tier = self
            .archive_status
            .as_deref()
            .is_some_and(|s| matches!(s, "ARCHIVE_ACCESS" | "DEEP_ARCHIVE_ACCESS"));
        if !(archive_class || archive_tier) || self.restored() {
            return None;
        }
        Some(ArchivedObject {
            storage_class: class.to_owned(),
            archive_status: self.archive_status.clone(),
            restoring: self
                .restore
                .as_deref()
                .is_some_and(|r| r.contains("ongoing-request=\"true\"")),
        })
    }

    /// The archive class of an object read from its restored copy (`GLACIER`, …), if it is one.
    pub fn restored_from(&self) -> Option<String> {
        let archived = matches!(
            self.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        ) || self.archive_status.is_some();
        (archived && self.restored()).then(|| {
            self.storage_class
                .clone()
                .unwrap_or_else(|| "INTELLIGENT_TIERING".to_owned())
        })
    }
}
