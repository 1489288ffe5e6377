//! The in-memory backend.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OwnedMutexGuard;
use zoho_oauth_core::{BoxFuture, TokenSet};

use crate::error::{Error, Result};
use crate::key::StoreKey;
use crate::record::{Record, RefreshState};
use crate::store::{StoreLock, TokenStore};

/// A store that keeps tokens in memory only, for tests and for applications that do not persist
/// tokens across restarts.
///
/// Cloning is cheap and every clone shares the same tokens and locks.
/// Its refresh lock excludes other tasks of this process, which is all that can share it.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// The entries, and the highest revision ever given to each key, so that a key deleted and saved
/// again never reuses a revision a stale writer may still hold.
#[derive(Default)]
struct Entries {
    records: BTreeMap<StoreKey, Record>,
    revisions: HashMap<StoreKey, u64>,
}

impl Entries {
    fn next_revision(&mut self, key: &StoreKey) -> u64 {
        let revision = self.revisions.entry(key.clone()).or_default();
        *revision += 1;
        *revision
    }
}

#[derive(Default)]
struct Inner {
    // A standard mutex is right for the map: it is never held across an await point,
    // and every critical section is a few map operations.
    tokens: Mutex<Entries>,
    refresh_locks: RefreshLocks,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn tokens(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated:
        // every update is a single insert or remove, so the data is still consistent.
        self.inner.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Prints only how many token sets the store holds.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("len", &self.tokens().records.len()).finish_non_exhaustive()
    }
}

impl TokenStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>> {
        // The work happens when the future is first polled, as with any future: one that is
        // dropped unpolled changes nothing.
        Box::pin(async move { Ok(self.tokens().records.get(key).cloned()) })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut entries = self.tokens();
            let revision = entries.next_revision(key);
            entries.records.insert(key.clone(), Record::stored(tokens.clone(), RefreshState::default(), revision));
            Ok(revision)
        })
    }

    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut entries = self.tokens();
            let stored = entries.records.get(key).map_or(0, Record::revision);
            if stored != record.revision() {
                return Err(Error::Conflict { key: key.clone() });
            }
            let revision = entries.next_revision(key);
            let updated = Record::stored(record.tokens().clone(), record.refresh_state().clone(), revision);
            entries.records.insert(key.clone(), updated);
            Ok(revision)
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.tokens().records.remove(key).is_some()) })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>> {
        Box::pin(async move { Ok(self.tokens().records.keys().cloned().collect()) })
    }

    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>> {
        Box::pin(async move {
            let guard = self.inner.refresh_locks.acquire(key).await;
            Ok(Box::new(MemoryLock { key: key.clone(), _guard: guard }) as Box<dyn StoreLock>)
        })
    }
}

/// A refresh lock held on a [`MemoryStore`].
struct MemoryLock {
    key: StoreKey,
    _guard: OwnedMutexGuard<()>,
}

impl fmt::Debug for MemoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLock").field("key", &self.key).finish_non_exhaustive()
    }
}

impl StoreLock for MemoryLock {
    fn key(&self) -> &StoreKey {
        &self.key
    }
}

/// One async mutex per key, for the refresh locks of this process.
///
/// The file backend uses it too, in front of its lock files, so that tasks of one process queue
/// here instead of each tying up a blocking thread waiting on the same lock file.
#[derive(Default)]
pub(crate) struct RefreshLocks {
    locks: Mutex<HashMap<StoreKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    /// Waits for the lock on `key` and returns its guard.
    pub(crate) async fn acquire(&self, key: &StoreKey) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget the mutexes nobody holds or waits for, so the map does not grow with every
            // key ever locked. Only the map and the guards hold clones, and both are created
            // under this lock, so a count of one cannot go up behind our back.
            locks.retain(|_, mutex| Arc::strong_count(mutex) > 1);
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        mutex.lock_owned().await
    }
}
