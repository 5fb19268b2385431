//! One lock per source object in flight in this process, so that two events of one key are
//! handled one at a time and the sequencer check decides between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A source object: (bucket, key).
type ObjectId = (String, String);
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// One async lock per source object, for the events of that object in flight in this process.
#[derive(Debug, Default)]
pub(super) struct KeyLocks {
    locks: Mutex<HashMap<ObjectId, KeyLock>>,
}

/// Holds the lock of one source object; forgets the lock when nobody else waits for it.
pub(super) struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    id: ObjectId,
    lock: KeyLock,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn map(&self) -> MutexGuard<'_, HashMap<ObjectId, KeyLock>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn lock(&self, bucket: &str, key: &str) -> KeyGuard<'_> {
        let id = (bucket.to_owned(), key.to_owned());
        let lock = Arc::clone(self.map().entry(id.clone()).or_default());
        let guard = Arc::clone(&lock).lock_owned().await;
        KeyGuard {
            locks: self,
            id,
            lock,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map();
        // The map's reference and ours: nobody else holds or awaits this lock.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.id);
        }
    }
}
