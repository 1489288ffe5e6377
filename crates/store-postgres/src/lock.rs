//! The refresh lock: a session-level advisory lock on a connection of its own.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::{Connection as _, PgConnection};
use tokio::sync::OwnedMutexGuard;
use zoho_oauth_store::{StoreKey, StoreLock};

/// How long the release of a lock may take before its connection is simply closed, which
/// releases the lock too, as the session ends.
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A held refresh lock, from [`PostgresStore::lock`](zoho_oauth_store::TokenStore::lock).
///
/// It owns the connection whose session holds `pg_advisory_lock(id)`. Dropping it unlocks and
/// closes that connection in a background task (on the current tokio runtime), and when there is
/// no runtime, or the unlock does not finish within five seconds, it closes the connection
/// outright: the server ends the session and releases every lock the session held. So does a
/// process that dies while holding the lock: its socket closes and the server lets the next
/// worker in.
pub(crate) struct PostgresLock {
    key: StoreKey,
    id: i64,
    // A `Mutex` only to make the guard `Sync`, which `StoreLock` requires; it is never contended.
    connection: Mutex<Option<PgConnection>>,
    local: Option<OwnedMutexGuard<()>>,
}

impl PostgresLock {
    pub(crate) fn new(key: StoreKey, id: i64, connection: PgConnection, local: OwnedMutexGuard<()>) -> Self {
        Self { key, id, connection: Mutex::new(Some(connection)), local: Some(local) }
    }
}

impl fmt::Debug for PostgresLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLock").field("key", &self.key).field("lock_id", &self.id).finish_non_exhaustive()
    }
}

impl StoreLock for PostgresLock {
    fn key(&self) -> &StoreKey {
        &self.key
    }
}

impl Drop for PostgresLock {
    fn drop(&mut self) {
        let connection = self.connection.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        let local = self.local.take();
        let Some(mut connection) = connection else { return };
        let id = self.id;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let unlock = async {
                        let unlocked: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                            .bind(id)
                            .fetch_one(&mut connection)
                            .await?;
                        if !unlocked {
                            tracing::warn!(lock_id = id, "the refresh lock was not held when it was released");
                        }
                        connection.close().await
                    };
                    // On failure the connection is dropped, which closes it: the server releases
                    // the lock when the session ends.
                    match tokio::time::timeout(UNLOCK_TIMEOUT, unlock).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            tracing::debug!(lock_id = id, %error, "unlocking failed; the connection is closed instead");
                        }
                        Err(_) => {
                            tracing::debug!(lock_id = id, "unlocking timed out; the connection is closed instead")
                        }
                    }
                    // Only now may the next task of this process try: the lock is free at the server.
                    drop(local);
                });
            }
            Err(_) => {
                // No runtime to run the unlock on: closing the socket ends the session, which
                // releases the lock.
                drop(connection);
                drop(local);
            }
        }
    }
}

/// One async mutex per key, so the tasks of one process queue here for a refresh lock instead of
/// each opening a connection to wait at the server.
#[derive(Default)]
pub(crate) struct LocalLocks {
    locks: Mutex<HashMap<StoreKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl LocalLocks {
    pub(crate) async fn acquire(&self, key: &StoreKey) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget mutexes nobody holds or waits for; only the map and the guards hold clones,
            // and both are created under this lock, so a count of one cannot go up behind our back.
            locks.retain(|_, mutex| Arc::strong_count(mutex) > 1);
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        mutex.lock_owned().await
    }
}
