//! Known bugs, switched back on one at a time at run time, so that a test can show that the
//! simulator's checker finds each of them (`tests/it/sim`). Compiled only with the `bug-injection`
//! feature, which this package's own tests and examples enable; a normal build has no switch
//! and [`bug!`](crate::bug) is `false`.

use std::cell::Cell;

/// A bug that was fixed, and can be brought back for a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Bug {
    /// A target "already holds" the object when its recorded metadata says so, unproven.
    TrustRecordedMetadata = 1,
    /// Target writes carry no `If-Match` / `If-None-Match`.
    BlindWrites = 2,
    /// A message is acknowledged even when its completion could not be published.
    AckWithoutCompletion = 3,
    /// The FIFO deduplication ID leaves out the event's sequencer (and event time).
    DeduplicationWithoutSequencer = 4,
    /// A delete removes a replica whatever its recorded sequencer (a newer put's replica too).
    DeletesIgnoreOrder = 5,
    /// An event of a versioned source's version is copied even when the key was deleted since.
    CopyDeletedVersions = 6,
    /// A Delta commit is copied at once, without waiting for the files it adds.
    TablesUnordered = 7,
    /// A Delta commit does not wait for the deletion-vector files it references.
    DeletionVectorsIgnored = 8,
}

impl Bug {
    pub const ALL: [Bug; 8] = [
        Bug::TrustRecordedMetadata,
        Bug::BlindWrites,
        Bug::AckWithoutCompletion,
        Bug::DeduplicationWithoutSequencer,
        Bug::DeletesIgnoreOrder,
        Bug::CopyDeletedVersions,
        Bug::TablesUnordered,
        Bug::DeletionVectorsIgnored,
    ];
}

thread_local! {
    /// Per thread: a simulation runs on a single-threaded runtime, and tests running on other
    /// threads of the same process must not see its bug.
    static ACTIVE: Cell<u8> = const { Cell::new(0) };
}

/// Brings `bug` back (`None`: none) on this thread.
pub fn set(bug: Option<Bug>) {
    ACTIVE.with(|a| a.set(bug.map_or(0, |b| b as u8)));
}

/// Whether `bug` is switched on for this thread.
pub fn active(bug: Bug) -> bool {
    ACTIVE.with(|a| a.get()) == bug as u8
}
