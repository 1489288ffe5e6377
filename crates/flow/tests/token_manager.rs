//! The token manager's decisions, with a scripted in-process transport and a manual clock:
//! when it refreshes, how often, and what it does after failures.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use zoho_oauth_core::{
    AccessToken, BoxFuture, Clock, DataCenter, Endpoints, Environment, HttpClient, HttpRequest, ManualClock,
    RefreshToken, RequestKind, Scopes, StreamingResponse, TokenSet, TransportError, TransportErrorKind,
};
use zoho_oauth_flow::{Authorized, ClientConfig, Error, Flow, HttpPolicy, RetryPolicy};

/// Answers refresh requests from a script; once the script is empty, with fresh tokens.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(u16, String), TransportErrorKind>>>,
    refreshes: AtomicUsize,
    revocations: AtomicUsize,
    minted: AtomicUsize,
    /// The lifetime of minted tokens, in seconds (3600 when zero).
    lifetime: AtomicUsize,
}

impl Scripted {
    fn then(self, status: u16, body: &str) -> Self {
        self.script.lock().unwrap().push_back(Ok((status, body.to_owned())));
        self
    }

    fn then_fail(self, kind: TransportErrorKind) -> Self {
        self.script.lock().unwrap().push_back(Err(kind));
        self
    }

    fn minting_for(self, seconds: usize) -> Self {
        self.lifetime.store(seconds, Ordering::SeqCst);
        self
    }
}

impl HttpClient for Scripted {
    fn execute(
        &self,
        _request: HttpRequest,
        kind: RequestKind,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        if kind == RequestKind::Revoke {
            self.revocations.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async { Ok(http::Response::builder().status(200).body(Vec::new().into()).unwrap()) });
        }
        assert_eq!(kind, RequestKind::Refresh);
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let next = self.script.lock().unwrap().pop_front().unwrap_or_else(|| {
            let n = self.minted.fetch_add(1, Ordering::SeqCst);
            let lifetime = match self.lifetime.load(Ordering::SeqCst) {
                0 => 3600,
                seconds => seconds,
            };
            Ok((200, format!(r#"{{"access_token":"fresh-{n}","expires_in":{lifetime},"token_type":"Bearer"}}"#)))
        });
        Box::pin(async move {
            // Yield so that concurrent callers really overlap with the request in flight.
            tokio::task::yield_now().await;
            let (status, body) = next.map_err(|kind| TransportError::new(kind, "scripted failure"))?;
            Ok(http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.into())
                .unwrap())
        })
    }
}

/// The tokens every test starts from: `initial`, refreshable with `refresh`, expiring in `expires_in`.
fn initial_tokens(clock: &ManualClock, expires_in: Duration) -> TokenSet {
    TokenSet::new(
        AccessToken::new("initial"),
        Some(RefreshToken::new("refresh")),
        clock.now() + expires_in,
        None,
        DataCenter::Us.accounts_server(),
        Scopes::empty(),
    )
}

fn session(http: Arc<Scripted>, clock: &ManualClock, expires_in: Duration) -> Flow<Authorized> {
    // No HTTP retries: these tests count the token manager's attempts, one request each.
    let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
        .clock(Arc::new(clock.clone()))
        .http_policy(HttpPolicy::default().retry(RetryPolicy::none()));
    Flow::new(config, http).restore(initial_tokens(clock, expires_in)).unwrap()
}

#[tokio::test]
async fn a_fresh_token_needs_no_request() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::hours(1));
    for _ in 0..100 {
        assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    }
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_token_is_renewed_within_the_margin_not_before() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::hours(1));
    clock.advance(Duration::minutes(54));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    clock.advance(Duration::minutes(2)); // four minutes left: inside the default five-minute margin
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "fresh-0");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_refresh() {
    for n in [1usize, 10, 1000] {
        let http = Arc::new(Scripted::default());
        let clock = ManualClock::starting_now();
        let session = Arc::new(session(http.clone(), &clock, Duration::seconds(-1)));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move { session.access_token().await.unwrap().expose_secret().to_owned() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "fresh-0");
        }
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "n = {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failure() {
    let http = Arc::new(Scripted::default().then(503, "<html>unavailable</html>"));
    let clock = ManualClock::starting_now();
    let session = Arc::new(session(http.clone(), &clock, Duration::seconds(-1)));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.access_token().await })
        })
        .collect();
    for task in tasks {
        let result = task.await.unwrap();
        assert!(matches!(result.as_ref().map_err(Error::cause), Err(Error::MalformedResponse { .. })), "{result:?}");
    }
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "the failure is shared, not retried by each caller");
}

#[tokio::test]
async fn a_failed_refresh_backs_off_and_keeps_the_refresh_token() {
    let http =
        Arc::new(Scripted::default().then_fail(TransportErrorKind::Timeout).then_fail(TransportErrorKind::Timeout));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));

    let transport =
        |result: &Result<_, Error>| matches!(result.as_ref().map_err(Error::cause), Err(Error::Transport(_)));
    assert!(transport(&session.access_token().await));
    assert!(transport(&session.access_token().await), "inside the backoff: the last error");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");

    clock.advance(Duration::seconds(2)); // the first backoff has passed
    assert!(transport(&session.access_token().await));
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
    clock.advance(Duration::seconds(3)); // the second backoff (4 s) has not
    assert!(session.access_token().await.is_err());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
    clock.advance(Duration::seconds(1));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "fresh-0");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rate_limit_answer_locks_refreshes_out() {
    let body = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;
    let http = Arc::new(Scripted::default().then(200, body));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    assert!(session.access_token().await.unwrap_err().is_rate_limited());
    clock.advance(Duration::minutes(14));
    assert!(session.refresh().await.unwrap_err().is_rate_limited(), "even a forced refresh waits");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    clock.advance(Duration::minutes(1));
    assert!(session.access_token().await.is_ok());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dead_refresh_token_is_final() {
    let http = Arc::new(Scripted::default().then(200, r#"{"error":"invalid_code"}"#));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    let error = session.access_token().await.unwrap_err();
    assert!(error.needs_reauthorization(), "{error:?}");
    clock.advance(Duration::days(1));
    assert!(session.access_token().await.unwrap_err().needs_reauthorization());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "no retry can revive a revoked refresh token");
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");
}

#[tokio::test]
async fn a_token_within_the_margin_is_still_served_when_renewal_fails() {
    let http = Arc::new(Scripted::default().then(502, "<html>Bad Gateway</html>"));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::minutes(3));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rotation_replaces_the_refresh_token() {
    let http =
        Arc::new(Scripted::default().then(200, r#"{"access_token":"a2","refresh_token":"r2","expires_in":3600}"#));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "a2");
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "r2");
}

/// A token that lives no longer than the refresh margin is not renewed on every call: the margin
/// is bounded by half its lifetime, and renewals are at least the floor apart.
#[tokio::test]
async fn short_lived_tokens_are_not_renewed_per_call() {
    for lifetime in [60, 120] {
        let http = Arc::new(Scripted::default().minting_for(lifetime));
        let clock = ManualClock::starting_now();
        let session = session(http.clone(), &clock, Duration::seconds(-1));
        for _ in 0..15 {
            session.access_token().await.unwrap();
            clock.advance(Duration::milliseconds(66));
        }
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "{lifetime} s tokens, 15 calls in a second");
        // Half the lifetime later the token is renewed once more.
        clock.advance(Duration::seconds(i64::try_from(lifetime).unwrap() / 2));
        session.access_token().await.unwrap();
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 2, "{lifetime} s tokens");
    }
}

/// A margin longer than the token's lifetime (`--refresh-margin 3700` against Zoho's hour) renews
/// once, not on every call.
#[tokio::test]
async fn a_margin_longer_than_the_lifetime_renews_once() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
        .clock(Arc::new(clock.clone()))
        .refresh_margin(Duration::seconds(3700));
    let session = Flow::new(config, http.clone()).restore(initial_tokens(&clock, Duration::seconds(-1))).unwrap();
    for _ in 0..15 {
        session.access_token().await.unwrap();
        clock.advance(Duration::milliseconds(66));
    }
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
}

/// A refusal the server will repeat (an empty 400, a wrong client secret) is retried on the backoff
/// schedule a few times, then reported as needing attention, and no request is sent after that.
#[tokio::test]
async fn a_repeated_refusal_stops_being_retried() {
    for refusal in [(400, ""), (400, "not json at all"), (200, r#"{"error":"invalid_client"}"#)] {
        let http = Arc::new(
            Scripted::default().then(refusal.0, refusal.1).then(refusal.0, refusal.1).then(refusal.0, refusal.1),
        );
        let clock = ManualClock::starting_now();
        let session = session(http.clone(), &clock, Duration::seconds(-1));
        let mut last = None;
        for _ in 0..3 {
            let error = session.access_token().await.unwrap_err();
            clock.advance(Duration::minutes(6)); // past any backoff
            last = Some(error);
        }
        let last = last.unwrap();
        assert!(last.needs_attention(), "{refusal:?}: {last:?}");
        assert!(!last.needs_reauthorization(), "a refused client is not a dead grant: {last:?}");
        assert!(last.retry_at().is_none(), "{last:?}");
        assert!(last.to_string().contains("check the client's configuration"), "{last}");
        clock.advance(Duration::days(1));
        assert!(session.access_token().await.unwrap_err().needs_attention());
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 3, "{refusal:?}: never retried for ever");
        assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");
    }
}

/// A session shared behind an `Arc` can be revoked; afterwards every holder gets `Revoked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_session_can_be_revoked() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let session = Arc::new(session(http.clone(), &clock, Duration::hours(1)));
    let holder = session.clone();
    assert!(holder.access_token().await.is_ok());
    session.revoke_shared().await.unwrap();
    assert_eq!(http.revocations.load(Ordering::SeqCst), 1);
    assert!(matches!(holder.access_token().await, Err(Error::Revoked)));
    assert!(holder.access_token().await.unwrap_err().needs_reauthorization());
    assert!(matches!(holder.refresh().await, Err(Error::Revoked)));
    assert!(holder.is_revoked());
    session.revoke_shared().await.unwrap();
    assert_eq!(http.revocations.load(Ordering::SeqCst), 1, "revoking twice sends nothing more");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 0);
}

mod with_a_store {
    use super::*;
    use zoho_oauth_core::{BoxFuture as Fut, Environment};
    use zoho_oauth_store::{FileStore, MemoryStore, Record, StoreKey, StoreLock, TokenStore};

    fn key() -> StoreKey {
        StoreKey::new("1000.CLIENT", "alice", DataCenter::Us.accounts_server(), Environment::Production)
    }

    fn stored_session(http: Arc<Scripted>, clock: &ManualClock, store: Arc<dyn TokenStore>) -> Flow<Authorized> {
        let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
            .clock(Arc::new(clock.clone()));
        let rt = tokio::runtime::Handle::current();
        let flow = Flow::new(config, http).with_store(store, "alice");
        tokio::task::block_in_place(|| rt.block_on(flow.restore_from_store())).unwrap().expect("tokens were saved")
    }

    async fn seed(store: &dyn TokenStore, clock: &ManualClock, expires_in: Duration) {
        store.save(&key(), &initial_tokens(clock, expires_in)).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_sharing_a_file_make_one_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let clock = ManualClock::starting_now();
        // Two handles on one file stand for two processes: the file lock excludes other handles too.
        let first: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).await.unwrap());
        let second: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).await.unwrap());
        seed(&*first, &clock, Duration::hours(1)).await;
        let http = Arc::new(Scripted::default());
        let a = Arc::new(stored_session(http.clone(), &clock, first));
        let b = Arc::new(stored_session(http.clone(), &clock, second));
        clock.advance(Duration::minutes(58));
        let (ta, tb) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { a.access_token().await.unwrap().expose_secret().to_owned() }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { b.access_token().await.unwrap().expose_secret().to_owned() }
            }),
        );
        assert_eq!(ta.unwrap(), "fresh-0");
        assert_eq!(tb.unwrap(), "fresh-0", "the second process adopted the first one's refresh");
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refreshed_tokens_are_saved_and_survive_a_restart() {
        let store = MemoryStore::new();
        let clock = ManualClock::starting_now();
        seed(&store, &clock, Duration::seconds(-1)).await;
        let http = Arc::new(Scripted::default());
        let session = stored_session(http.clone(), &clock, Arc::new(store.clone()));
        session.access_token().await.unwrap();
        drop(session);
        let saved = store.load(&key()).await.unwrap().unwrap().into_tokens();
        assert_eq!(saved.access_token().expose_secret(), "fresh-0");
        assert_eq!(saved.refresh_token().unwrap().expose_secret(), "refresh");
        let restarted = stored_session(http.clone(), &clock, Arc::new(store.clone()));
        assert_eq!(restarted.access_token().await.unwrap().expose_secret(), "fresh-0");
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    }

    fn disk_full() -> zoho_oauth_store::Error {
        zoho_oauth_store::Error::Io {
            path: "/full/tokens.json".into(),
            source: std::io::Error::other("no space left on device"),
        }
    }

    /// A store whose saves fail, as a full disk would.
    #[derive(Debug)]
    struct FullDisk(MemoryStore);

    impl TokenStore for FullDisk {
        fn load<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<Option<Record>>> {
            self.0.load(key)
        }
        fn save<'a>(&'a self, _: &'a StoreKey, _: &'a TokenSet) -> Fut<'a, zoho_oauth_store::Result<u64>> {
            Box::pin(async { Err(disk_full()) })
        }
        fn update<'a>(&'a self, _: &'a StoreKey, _: &'a Record) -> Fut<'a, zoho_oauth_store::Result<u64>> {
            Box::pin(async { Err(disk_full()) })
        }
        fn delete<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<bool>> {
            self.0.delete(key)
        }
        fn keys(&self) -> Fut<'_, zoho_oauth_store::Result<Vec<StoreKey>>> {
            self.0.keys()
        }
        fn lock<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<Box<dyn StoreLock>>> {
            self.0.lock(key)
        }
    }

    /// A store whose `update` waits until the test lets it finish, to look at the session while a
    /// save is in flight.
    #[derive(Debug)]
    struct SlowSave {
        inner: MemoryStore,
        entered: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    impl TokenStore for SlowSave {
        fn load<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<Option<Record>>> {
            self.inner.load(key)
        }
        fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> Fut<'a, zoho_oauth_store::Result<u64>> {
            self.inner.save(key, tokens)
        }
        fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> Fut<'a, zoho_oauth_store::Result<u64>> {
            Box::pin(async move {
                self.entered.notify_one();
                self.release.notified().await;
                self.inner.update(key, record).await
            })
        }
        fn delete<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<bool>> {
            self.inner.delete(key)
        }
        fn keys(&self) -> Fut<'_, zoho_oauth_store::Result<Vec<StoreKey>>> {
            self.inner.keys()
        }
        fn lock<'a>(&'a self, key: &'a StoreKey) -> Fut<'a, zoho_oauth_store::Result<Box<dyn StoreLock>>> {
            self.inner.lock(key)
        }
    }

    /// New tokens are saved before any caller can read them: while the save is in flight, every
    /// reader still gets the old token, and the new one only once it is durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_tokens_are_saved_before_anyone_sees_them() {
        let inner = MemoryStore::new();
        let clock = ManualClock::starting_now();
        seed(&inner, &clock, Duration::hours(1)).await;
        let store =
            Arc::new(SlowSave { inner, entered: tokio::sync::Notify::new(), release: tokio::sync::Notify::new() });
        let http = Arc::new(Scripted::default());
        let session = Arc::new(stored_session(http.clone(), &clock, store.clone()));
        // Four minutes left: inside the margin, so a caller renews while the old token still works.
        clock.advance(Duration::minutes(56));
        let renewing = tokio::spawn({
            let session = session.clone();
            async move { session.access_token().await.unwrap().expose_secret().to_owned() }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), store.entered.notified()).await.unwrap();
        // The refresh answered and the save is in flight: nobody sees the new token yet.
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(session.tokens().access_token().expose_secret(), "initial");
        let stored = store.inner.load(&key()).await.unwrap().unwrap();
        assert_eq!(stored.tokens().access_token().expose_secret(), "initial");
        store.release.notify_one();
        assert_eq!(renewing.await.unwrap(), "fresh-0");
        let stored = store.inner.load(&key()).await.unwrap().unwrap();
        assert_eq!(stored.tokens().access_token().expose_secret(), "fresh-0", "durable before it was handed out");
        assert_eq!(session.tokens().access_token().expose_secret(), "fresh-0");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_save_is_reported_and_loses_nothing() {
        let memory = MemoryStore::new();
        let clock = ManualClock::starting_now();
        seed(&memory, &clock, Duration::seconds(-1)).await;
        let http = Arc::new(Scripted::default());
        let session = stored_session(http.clone(), &clock, Arc::new(FullDisk(memory)));
        match session.access_token().await {
            Err(error @ Error::NotSaved { .. }) => {
                let message = error.to_string();
                // A caller walking the source chain reaches the operating system's error.
                let mut chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source());
                assert!(chain.any(|e| e.downcast_ref::<std::io::Error>().is_some()), "{error:?}");
                let Error::NotSaved { tokens, source } = error else { unreachable!() };
                assert_eq!(tokens.access_token().expose_secret(), "fresh-0");
                assert!(message.contains("/full/tokens.json"), "{message}");
                assert!(message.contains("no space left on device"), "the operating system's reason: {message}");
                assert!(matches!(*source, zoho_oauth_store::Error::Io { .. }), "the typed source is kept");
            }
            other => panic!("expected NotSaved, got {other:?}"),
        }
        assert_eq!(session.access_token().await.unwrap().expose_secret(), "fresh-0", "the new tokens are held");
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn nothing_saved_means_no_session() {
        let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production));
        let flow = Flow::new(config, Arc::new(Scripted::default())).with_store(Arc::new(MemoryStore::new()), "bob");
        assert!(flow.restore_from_store().await.unwrap().is_none());
    }
}
