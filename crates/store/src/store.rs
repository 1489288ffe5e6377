//! The [`TokenStore`] trait every backend implements.

use std::fmt;
use std::sync::Arc;

use zoho_oauth_core::{BoxFuture, TokenSet};

use crate::error::Result;
use crate::key::StoreKey;
use crate::record::Record;

/// Where authorizations are kept between requests, across restarts and across processes.
///
/// A store maps [`StoreKey`]s to [`Record`]s: the [`TokenSet`] the flow needs to call an API and
/// to refresh (access token, refresh token, absolute expiry, API domain, accounts server, scopes),
/// the [`RefreshState`](crate::RefreshState) every process sharing the store respects (backoff,
/// rate-limit lock-out, when the tokens were last renewed), and a revision.
/// It never holds the client secret, which belongs in the application's configuration.
///
/// The trait is object safe, so a token manager can hold an `Arc<dyn TokenStore>`.
/// Its methods return boxed futures instead of using `async fn` for that reason.
///
/// # Coordinating refreshes
///
/// Zoho limits how often a client may refresh, and a refresh in one process is wasted work,
/// or worse a lockout, when another process sharing the same store has just done it.
/// [`TokenStore::lock`] takes a lock on one key that excludes every other task and, for stores
/// that persist, every other process using the same store.
/// [`TokenStore::update`] writes only if the entry has not changed since it was read, so a writer
/// that lost a race never overwrites newer tokens.
/// A token manager refreshes like this:
///
/// ```
/// # use zoho_oauth_store::{MemoryStore, Record, StoreKey, TokenStore};
/// # use zoho_oauth_core::{AccessToken, Environment, Scopes, TokenSet};
/// # use chrono::{Duration, Utc};
/// # async fn refresh_over_the_network(old: &TokenSet) -> TokenSet {
/// #     TokenSet::new(AccessToken::new("new"), None, Utc::now() + Duration::hours(1), None,
/// #         old.accounts_server(), Scopes::empty())
/// # }
/// # async fn example(store: &dyn TokenStore, key: &StoreKey)
/// #     -> Result<Option<TokenSet>, zoho_oauth_store::Error> {
/// let _guard = store.lock(key).await?;
/// // Load again while holding the lock: another process may have refreshed while we waited.
/// let Some(current) = store.load(key).await? else { return Ok(None) };
/// if current.tokens().is_fresh(Utc::now(), Duration::minutes(5)) {
///     return Ok(Some(current.into_tokens()));
/// }
/// let refreshed = refresh_over_the_network(current.tokens()).await;
/// // Saved before anyone is handed the new tokens; refused if the entry changed meanwhile.
/// store.update(key, &current.with_tokens(refreshed.clone())).await?;
/// // `_guard` is dropped on return, which lets the next waiter in.
/// Ok(Some(refreshed))
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let store = MemoryStore::new();
/// # let key = StoreKey::new("client", "me", "https://accounts.zoho.com", Environment::Production);
/// # assert!(example(&store, &key).await.unwrap().is_none());
/// # });
/// ```
///
/// The lock guards only refreshes: [`load`](TokenStore::load), [`save`](TokenStore::save),
/// [`update`](TokenStore::update), [`delete`](TokenStore::delete) and [`keys`](TokenStore::keys)
/// work whether or not anyone holds it, and each of them is atomic on its own.
///
/// Every backend passes the same behaviour suite: `zoho_oauth_store::behaviour_suite!` and the
/// `testing` module, behind the cargo feature `testing`, which other crates run against theirs.
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The record stored under `key`, or `None` when there is none.
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>>;

    /// Stores `tokens` under `key` as a new authorization, replacing whatever was there and
    /// clearing its refresh state, and returns the entry's new revision.
    ///
    /// This is what a new grant (a code exchange, a new login) does: it wins over anything stored.
    /// When this returns `Ok`, the tokens are durable as far as the backend can make them:
    /// the file backend has flushed them to disk.
    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>>;

    /// Writes `record`'s tokens and refresh state under `key` only if the stored entry still has
    /// [`record.revision()`](Record::revision), and returns the entry's new revision.
    ///
    /// When the entry changed or disappeared since `record` was read, nothing is written and the
    /// answer is [`Error::Conflict`](crate::Error::Conflict): the caller should load again.
    /// A record of revision 0 (never stored) is written only where no entry exists.
    /// Durable on `Ok`, like [`save`](TokenStore::save).
    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>>;

    /// Removes the entry stored under `key`, returning whether there was one.
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>>;

    /// Every key that has an entry, in ascending order.
    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>>;

    /// Waits until no other task or process holds the refresh lock for `key`, then takes it.
    ///
    /// The lock is released when the returned guard is dropped, and by the backend when the
    /// process holding it dies.
    /// It is advisory: it excludes only others who also call `lock`.
    /// Hold it across "load, refresh over the network, update", as the [trait docs](TokenStore) show.
    /// Taking it twice for the same key in the same task deadlocks.
    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>>;
}

/// A held refresh lock, from [`TokenStore::lock`]. Dropping it releases the lock.
pub trait StoreLock: Send + Sync + fmt::Debug {
    /// The key this lock is held for.
    fn key(&self) -> &StoreKey;
}

/// A shared store is a store, so generic code can take `S: TokenStore` and be given an `Arc`.
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>> {
        (**self).load(key)
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>> {
        (**self).save(key, tokens)
    }

    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>> {
        (**self).update(key, record)
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>> {
        (**self).delete(key)
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>> {
        (**self).keys()
    }

    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>> {
        (**self).lock(key)
    }
}
