//! The [`TokenStore`] trait every backend implements.

use std::fmt;
use std::sync::Arc;

use zoho_oauth_core::{BoxFuture, TokenSet};

use crate::error::Result;
use crate::key::StoreKey;

/// Where token sets are kept between requests and across restarts.
///
/// A store maps [`StoreKey`]s to [`TokenSet`]s. It keeps what the flow needs to call an API and to
/// refresh: access token, refresh token, absolute expiry, API domain, accounts server and scopes.
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
/// A token manager refreshes like this:
///
/// ```
/// # use zoho_oauth_store::{MemoryStore, StoreKey, TokenStore};
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
/// if current.is_fresh(Utc::now(), Duration::minutes(5)) {
///     return Ok(Some(current));
/// }
/// let refreshed = refresh_over_the_network(&current).await;
/// store.save(key, &refreshed).await?;
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
/// [`delete`](TokenStore::delete) and [`keys`](TokenStore::keys) work whether or not anyone holds it,
/// and each of them is atomic on its own.
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The token set stored under `key`, or `None` when there is none.
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<TokenSet>>>;

    /// Stores `tokens` under `key`, replacing whatever was there.
    ///
    /// When this returns `Ok`, the tokens are durable as far as the backend can make them:
    /// the file backend has flushed them to disk.
    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<()>>;

    /// Removes the token set stored under `key`, returning whether there was one.
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>>;

    /// Every key that has a token set, in ascending order.
    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>>;

    /// Waits until no other task or process holds the refresh lock for `key`, then takes it.
    ///
    /// The lock is released when the returned guard is dropped.
    /// It is advisory: it excludes only others who also call `lock`.
    /// Hold it across "load, refresh over the network, save", as the [trait docs](TokenStore) show.
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
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<TokenSet>>> {
        (**self).load(key)
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<()>> {
        (**self).save(key, tokens)
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
