//! Archived sources (docs/design.md, "Archived sources"): an object in S3 Glacier Flexible
//! Retrieval, Deep Archive or an Intelligent-Tiering archive tier cannot be copied until it is
//! restored. Redelivering its message cannot change that, so the message is acknowledged in
//! either mode, and counted:
//!
//! - `archived = "alert"`: one `source_archived` alert per rule and window, with the storage
//!   class and how to restore;
//! - `archived = "restore"`: `RestoreObject` with the rule's tier and days; the copy happens
//!   when S3 announces `s3:ObjectRestore:Completed` (the bucket notification must include it),
//!   and its completion names the archive class in `source.restored_from`.

use tracing::{error, info, warn};

use super::{Handling, Pipeline, Verdict};
use crate::config::Archived;
use crate::publish::{AlertKind, Publisher};
use crate::store::{ArchivedObject, ObjectRef, ObjectStore};

impl<S: ObjectStore, P: Publisher> Pipeline<S, P> {
    pub(super) async fn archived(
        &self,
        at: &Handling<'_>,
        source: &ObjectRef,
        archived: &ArchivedObject,
    ) -> Verdict {
        let rule = at.rule;
        let class = archived
            .archive_status
            .as_deref()
            .map_or(archived.storage_class.clone(), |tier| {
                format!("{} ({tier})", archived.storage_class)
            });
        self.metrics.record_event("archived");
        if archived.restoring {
            // A restore runs already (ours, or someone's): its completion event brings the copy.
            self.metrics
                .record_archived(&rule.name, "restore_in_progress");
            info!(message = "Source archived; its restore is running, the copy follows its ObjectRestore:Completed event.", rule = %rule.name, bucket = %source.bucket, key = %source.key, storage_class = %class);
            return Verdict::Delete;
        }
        match rule.archived {
            Archived::Alert => {
                self.metrics.record_archived(&rule.name, "alerted");
                warn!(message = "Source archived and not restored; not copied.", rule = %rule.name, bucket = %source.bucket, key = %source.key, storage_class = %class);
                let alert = at.alert(
                    AlertKind::SourceArchived,
                    format!(
                        "{source} is in {class} and not restored: it cannot be copied until it is"
                    ),
                    format!(
                        "Restore it (aws s3api restore-object --bucket {} --key '{}' \
                         --restore-request '{{\"Days\":1,\"GlacierJobParameters\":{{\"Tier\":\"Standard\"}}}}'; \
                         Intelligent-Tiering archive tiers take no Days), or set archived = \"restore\" \
                         on rule {} to have the daemon do it. Once restored, the object is copied \
                         when its s3:ObjectRestore:Completed event arrives (if the bucket notification \
                         sends it), or upload it again, or run `s3-replicator backfill`. The message \
                         was acknowledged: redelivering it cannot make the object readable.",
                        source.bucket, source.key, rule.name
                    ),
                );
                self.alert(alert).await;
                Verdict::Delete
            }
            Archived::Restore => {
                let tier = rule.restore_tier.as_str();
                let restored = self
                    .replicator
                    .restore(source, &at.object.region, archived, tier, rule.restore_days)
                    .await;
                match restored {
                    Ok(()) => {
                        self.metrics
                            .record_archived(&rule.name, "restore_requested");
                        info!(message = "Source archived; restore requested, the copy follows its ObjectRestore:Completed event.", rule = %rule.name, bucket = %source.bucket, key = %source.key, storage_class = %class, tier, days = rule.restore_days);
                        Verdict::Delete
                    }
                    Err(e) => {
                        let disposition = e.disposition();
                        error!(message = "Restore of an archived source failed.", rule = %rule.name, bucket = %source.bucket, key = %source.key, error = %e, %disposition);
                        if Self::alerts_on(at.message, disposition) {
                            let action = if e.kind == crate::store::StoreErrorKind::AccessDenied {
                                "Grant the daemon's role s3:RestoreObject on the source bucket (terraform: restore_archived_sources = true). The message is retried until it reaches the dead-letter queue."
                            } else {
                                e.advice()
                            };
                            self.alert(at.alert(AlertKind::SourceArchived, e.to_string(), action))
                                .await;
                        }
                        Verdict::of(disposition)
                    }
                }
            }
        }
    }
}
