//! What to do about one target, given what it holds at the replica's key: nothing (it holds
//! this source's bytes, proven), give up (it holds this source from a newer event), refuse (it
//! holds another source's replica), or write.
//!
//! Where it sits: the decision [`super::target`] takes before every write, and that
//! [`crate::replicate`] takes over all targets first, so that one newer replica makes the whole
//! event stale. Content is compared by [`crate::transfer::verify::proof`], never by the
//! metadata a replica records.

use std::collections::BTreeMap;

use super::{Target, TargetFailure};
use crate::event::Sequencer;
use crate::store::{
    ObjectHead, ObjectRef, ObjectStore, Tag, META_CONTENT_CHECKSUM, META_SEQUENCER,
    META_SOURCE_BUCKET, META_SOURCE_ETAG, META_SOURCE_KEY_SHA256, META_SOURCE_VERSION,
};
use crate::transfer::verify::{proof_on, Proof};

/// A target and what it holds at the replica's key, before the copy.
pub(super) struct Replica<'a, S> {
    pub(super) target: &'a Target<S>,
    pub(super) key: String,
    pub(super) existing: Option<ObjectHead>,
    pub(super) started: std::time::Instant,
}

/// Why the event is stale, when a target already holds a replica of this source from a newer
/// event.
pub(super) fn newer_replica<S: ObjectStore>(
    copy: &SourceCopy<'_, S>,
    replicas: &[Result<Replica<'_, S>, TargetFailure>],
) -> Option<String> {
    replicas.iter().flatten().find_map(|replica| {
        let trusts_etags = replica.target.config.trusts_etags();
        let Decision::Newer(theirs) = copy.decide(replica.existing.as_ref(), trusts_etags) else {
            return None;
        };
        Some(format!(
            "target {} already holds s3://{}/{} from a newer event (sequencer {theirs} > {})",
            replica.target.config.name,
            replica.target.config.bucket,
            replica.key,
            copy.sequencer.as_ref().map_or("", |s| s.as_str())
        ))
    })
}

/// What to do about one target, given what it holds at the replica's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// It holds this source's bytes, proven: nothing to write.
    Present,
    /// It holds this source from a newer event (by sequencer): this event is stale.
    Newer(String),
    /// It holds a replica of another source object: a configuration conflict, never "newer".
    OtherSource(String),
    /// It holds a replica of another version of this (versioned) source that records no
    /// sequencer (written by a backfill, which has none): the sequencers cannot order the two,
    /// so the source must say whether this event's version is still the current one.
    Unordered,
    /// Write (conditionally on what was read).
    Write,
}

/// The source as read, shared by every target's copy.
pub(super) struct SourceCopy<'a, S> {
    /// The store that reads this source (in its region).
    pub(super) store: S,
    pub(super) object: ObjectRef,
    pub(super) key_digest: String,
    pub(super) head: &'a ObjectHead,
    pub(super) tags: &'a [Tag],
    pub(super) sequencer: Option<Sequencer>,
}

impl<S> SourceCopy<'_, S> {
    /// The source's version id, as announced or as read.
    fn version(&self) -> Option<&String> {
        self.object
            .version_id
            .as_ref()
            .or(self.head.version_id.as_ref())
    }

    /// The source's user metadata plus the record of where the replica came from.
    pub(super) fn replica_metadata(&self) -> BTreeMap<String, String> {
        let mut metadata = self.head.metadata.clone();
        metadata.insert(META_SOURCE_BUCKET.to_owned(), self.object.bucket.clone());
        metadata.insert(META_SOURCE_KEY_SHA256.to_owned(), self.key_digest.clone());
        metadata.insert(META_SOURCE_ETAG.to_owned(), self.head.etag.clone());
        match self.version() {
            Some(version) => metadata.insert(META_SOURCE_VERSION.to_owned(), version.clone()),
            None => metadata.remove(META_SOURCE_VERSION),
        };
        // Recorded only by a write to a store whose ETags are not trusted, for its own bytes.
        metadata.remove(META_CONTENT_CHECKSUM);
        match &self.sequencer {
            Some(sequencer) => {
                metadata.insert(META_SEQUENCER.to_owned(), sequencer.as_str().to_owned())
            }
            None => metadata.remove(META_SEQUENCER),
        };
        metadata
    }

    /// What to do about a target holding `existing` at the replica's key.
    ///
    /// An object that records no source at all is not a replica (someone else's): it is
    /// replaced, conditionally. A replica that records another source bucket or key is a
    /// conflict. Replicas written before the source bucket and key were recorded count as
    /// this source's. The sequencer orders events for one key (right-padded, compared as text,
    /// never as an integer); replicas without one never block a copy.
    /// `trusts_etags`: whether the target's ETags may prove content (S3's), see
    /// [`proof_on`].
    pub(super) fn decide(&self, existing: Option<&ObjectHead>, trusts_etags: bool) -> Decision {
        let Some(replica) = existing else {
            return Decision::Write;
        };
        let recorded = |key: &str| replica.metadata.get(key);
        if recorded(META_SOURCE_ETAG).is_none() {
            return Decision::Write;
        }
        let bucket = recorded(META_SOURCE_BUCKET);
        let digest = recorded(META_SOURCE_KEY_SHA256);
        if bucket.is_some_and(|b| *b != self.object.bucket)
            || digest.is_some_and(|d| *d != self.key_digest)
        {
            return Decision::OtherSource(format!(
                "the target key holds a replica of another source object (s3://{}/… , key digest {}), \
                 not of s3://{}/{}",
                bucket.map_or("?", String::as_str),
                digest.map_or("?", String::as_str),
                self.object.bucket,
                self.object.key
            ));
        }
        if let (Some(ours), Some(theirs)) = (&self.sequencer, recorded(META_SEQUENCER)) {
            if Sequencer::new(theirs.as_str()) > *ours {
                return Decision::Newer(theirs.clone());
            }
        }
        if self.is_replicated_in(replica, trusts_etags) {
            Decision::Present
        } else if self.sequencer.is_some()
            && self.version().is_some()
            && recorded(META_SEQUENCER).is_none()
            && recorded(META_SOURCE_VERSION) != self.version()
        {
            Decision::Unordered
        } else {
            Decision::Write
        }
    }

    /// Whether `replica` holds exactly this source version: it records this source ETag and
    /// version, and its content is proven equal (MD5 ETags or full-object checksums). A replica
    /// whose content cannot be proven is written again, never trusted.
    fn is_replicated_in(&self, replica: &ObjectHead, trusts_etags: bool) -> bool {
        if crate::bug!(TrustRecordedMetadata) {
            return replica.metadata.get(META_SOURCE_ETAG) == Some(&self.head.etag)
                && replica.metadata.get(META_SOURCE_VERSION) == self.version()
                && replica.size == self.head.size;
        }
        replica.metadata.get(META_SOURCE_ETAG) == Some(&self.head.etag)
            && replica.metadata.get(META_SOURCE_VERSION) == self.version()
            && proof_on(self.head, replica, trusts_etags) == Proof::Same
    }
}
