//! The behaviour every [`TokenStore`] backend must have, written once and run against each one:
//! the backends of this crate, those of other crates, and your own.
//!
//! Enabled by the cargo feature `testing`, meant for dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! zoho-oauth-store = { version = "0.1", features = ["testing"] }
//! ```
//!
//! A test file then gives a [`Fixture`] constructor to [`behaviour_suite!`](crate::behaviour_suite),
//! which generates one `#[test]` per behaviour:
//!
//! ```
//! use std::sync::Arc;
//! use zoho_oauth_store::MemoryStore;
//! use zoho_oauth_store::testing::Fixture;
//!
//! fn memory_fixture() -> Fixture {
//!     let store = MemoryStore::new();
//!     let shared = store.clone();
//!     Fixture {
//!         store: Arc::new(store),
//!         // Clones of a MemoryStore share its tokens, as two handles on one database would.
//!         reopen: Box::new(move || Arc::new(shared.clone())),
//!         guard: Box::new(()),
//!     }
//! }
//!
//! zoho_oauth_store::behaviour_suite!(memory, memory_fixture, cases = 64);
//! # fn main() {}
//! ```
//!
//! Each generated test builds its own multi-thread tokio runtime, so the calling crate needs
//! neither tokio's macros nor proptest. The fixture constructor is a plain function: one that
//! needs async setup (creating a database schema, say) can build a small runtime of its own and
//! `block_on` it, because it is called outside the test's runtime.
//! Each behaviour is also a public function here (`fn(fn() -> Fixture)`), for running a single
//! one by hand.
//!
//! The sample values ([`key`], [`tokens`]) and strategies ([`arb_key`], [`arb_tokens`]) are public
//! too, for backend-specific tests.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use url::Url;
use zoho_oauth_core::{AccessToken, Environment, RefreshToken, Scope, Scopes, TokenSet};

use crate::{Error, FailureKind, FailureRecord, Record, RefreshState, StoreKey, TokenStore};

/// A store under test, with a way to open it again and whatever must outlive it.
pub struct Fixture {
    /// The store under test, empty.
    pub store: Arc<dyn TokenStore>,
    /// Opens a second, independent handle on the same storage (as another process would).
    pub reopen: Box<dyn Fn() -> Arc<dyn TokenStore> + Send + Sync>,
    /// Whatever must outlive the store (a temp dir, a database schema guard...).
    pub guard: Box<dyn Any + Send + Sync>,
}

/// Generates one `#[test]` per behaviour of the suite in a module named `$name`, plus the
/// proptest round trips with `cases` cases each.
///
/// `$fixture` is an expression of type `fn() -> Fixture`, called once per test (once per case for
/// the property tests), each time for a fresh, empty store.
/// Each test builds its own multi-thread tokio runtime, so the calling crate needs no tokio macros.
/// See the [module docs](crate::testing) for an example.
#[macro_export]
macro_rules! behaviour_suite {
    ($name:ident, $fixture:expr, cases = $cases:expr) => {
        mod $name {
            #[allow(unused_imports, reason = "the caller's fixture function may be the only item used")]
            use super::*;

            $crate::behaviour_suite!(@tests $fixture;
                empty_store,
                save_load_replace_delete,
                every_key_field_matters,
                another_handle_sees_the_same_tokens,
                concurrent_saves_lose_nothing,
                lock_excludes_other_tasks_for_the_same_key_only,
                locked_read_modify_write_is_serialised,
                update_is_compare_and_swap,
                refresh_state_is_shared_and_cleared_by_a_new_grant,
                debug_output_holds_no_token,
            );

            #[test]
            fn round_trip() {
                $crate::testing::round_trip($fixture, $cases);
            }

            #[test]
            fn upsert_keeps_the_last_value() {
                $crate::testing::upsert_keeps_the_last_value($fixture, $cases);
            }
        }
    };
    (@tests $fixture:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[test]
            fn $behaviour() {
                $crate::testing::$behaviour($fixture);
            }
        )*
    };
}

/// Runs `test` on a fresh fixture in a new multi-thread runtime.
fn run<F, Fut>(fixture: fn() -> Fixture, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    // The fixture is built outside the runtime, so that it may block on a runtime of its own.
    // Its guard is kept here until the test has finished: a test body that never names it must
    // not drop it (and with it a temporary directory or database schema) before the store is used.
    let Fixture { store, reopen, guard } = fixture();
    runtime().block_on(test(Fixture { store, reopen, guard: Box::new(()) }));
    drop(guard);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// An empty store loads nothing, lists nothing and deletes nothing.
pub fn empty_store(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let store = &f.store;
        assert!(store.load(&key("nobody")).await.unwrap().is_none());
        assert!(store.keys().await.unwrap().is_empty());
        assert!(!store.delete(&key("nobody")).await.unwrap());
        assert!(store.keys().await.unwrap().is_empty());
    });
}

/// A saved token set loads back, a second save replaces it, and a delete removes it.
pub fn save_load_replace_delete(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let store = &f.store;
        let k = key("alice");
        store.save(&k, &tokens("first")).await.unwrap();
        assert_same(&store.load(&k).await.unwrap().unwrap().into_tokens(), &tokens("first"));

        store.save(&k, &tokens("second")).await.unwrap();
        assert_same(&store.load(&k).await.unwrap().unwrap().into_tokens(), &tokens("second"));
        assert_eq!(store.keys().await.unwrap(), vec![k.clone()]);

        assert!(store.delete(&k).await.unwrap());
        assert!(store.load(&k).await.unwrap().is_none());
        assert!(!store.delete(&k).await.unwrap());
        assert!(store.keys().await.unwrap().is_empty());
    });
}

/// Keys that differ in any one field name different entries; `keys` lists them in order.
pub fn every_key_field_matters(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let store = &f.store;
        let base = StoreKey::new("client", "user", "https://accounts.zoho.com", Environment::Production);
        let variants = [
            base.clone(),
            StoreKey::new("client2", "user", "https://accounts.zoho.com", Environment::Production),
            StoreKey::new("client", "user2", "https://accounts.zoho.com", Environment::Production),
            StoreKey::new("client", "user", "https://accounts.zoho.eu", Environment::Production),
            StoreKey::new("client", "user", "https://accounts.zoho.com", Environment::Sandbox),
            StoreKey::new("client", "user", "https://accounts.zoho.com", Environment::Developer),
        ];
        for (i, k) in variants.iter().enumerate() {
            store.save(k, &tokens(&format!("t{i}"))).await.unwrap();
        }
        for (i, k) in variants.iter().enumerate() {
            assert_same(&store.load(k).await.unwrap().unwrap().into_tokens(), &tokens(&format!("t{i}")));
        }
        let mut expected = variants.to_vec();
        expected.sort();
        assert_eq!(store.keys().await.unwrap(), expected);

        assert!(store.delete(&variants[4]).await.unwrap());
        assert!(store.load(&variants[4]).await.unwrap().is_none());
        assert_same(&store.load(&base).await.unwrap().unwrap().into_tokens(), &tokens("t0"));
        assert_eq!(store.keys().await.unwrap().len(), variants.len() - 1);
    });
}

/// A second handle on the same storage sees what the first saved, and the other way round.
pub fn another_handle_sees_the_same_tokens(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        f.store.save(&key("a"), &tokens("one")).await.unwrap();
        let other = (f.reopen)();
        assert_same(&other.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("one"));
        other.save(&key("b"), &tokens("two")).await.unwrap();
        assert_eq!(f.store.keys().await.unwrap(), vec![key("a"), key("b")]);
    });
}

/// Eight tasks saving different keys at once, through one handle or their own, lose nothing.
pub fn concurrent_saves_lose_nothing(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let mut tasks = Vec::new();
        for t in 0..8 {
            // Half the tasks use their own handle, half share the first one.
            let store = if t % 2 == 0 { Arc::clone(&f.store) } else { (f.reopen)() };
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let k = key(&format!("task{t}-key{i}"));
                    store.save(&k, &tokens(&format!("{t}-{i}"))).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let keys = f.store.keys().await.unwrap();
        assert_eq!(keys.len(), 80);
        for t in 0..8 {
            for i in 0..10 {
                let loaded = f.store.load(&key(&format!("task{t}-key{i}"))).await.unwrap().unwrap().into_tokens();
                assert_same(&loaded, &tokens(&format!("{t}-{i}")));
            }
        }
    });
}

/// The refresh lock makes a second taker of the same key wait, through any handle, and does not
/// hold up other keys or plain reads and writes.
pub fn lock_excludes_other_tasks_for_the_same_key_only(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let guard = f.store.lock(&key("a")).await.unwrap();
        assert_eq!(guard.key(), &key("a"));

        // Another key is not held up.
        let other = tokio::time::timeout(Duration::from_secs(5), f.store.lock(&key("b")))
            .await
            .expect("a lock on another key must not wait")
            .unwrap();
        drop(other);

        // The same key waits, through this handle and through another one.
        let second = (f.reopen)();
        for store in [Arc::clone(&f.store), second] {
            let waiting = tokio::time::timeout(Duration::from_millis(100), store.lock(&key("a"))).await;
            assert!(waiting.is_err(), "a second lock on the same key must wait");
        }

        // Loading and saving work while the lock is held: the holder saves what it refreshed.
        f.store.save(&key("a"), &tokens("while-locked")).await.unwrap();
        assert!(f.store.load(&key("a")).await.unwrap().is_some());

        drop(guard);
        let again = tokio::time::timeout(Duration::from_secs(5), f.store.lock(&key("a")))
            .await
            .expect("the lock is free once the guard is dropped")
            .unwrap();
        drop(again);
    });
}

/// The pattern the token manager follows: with the lock held, load, decide, save.
/// Every increment must survive, which it would not if two tasks could hold the lock at once.
pub fn locked_read_modify_write_is_serialised(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let k = key("counter");
        f.store.save(&k, &tokens("0")).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..6 {
            let store = if t % 2 == 0 { Arc::clone(&f.store) } else { (f.reopen)() };
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let _guard = store.lock(&k).await.unwrap();
                    let current = store.load(&k).await.unwrap().unwrap().into_tokens();
                    let n: u32 = current.access_token().expose_secret().parse().unwrap();
                    // Yield while "refreshing", as a network call would.
                    tokio::task::yield_now().await;
                    store.save(&k, &tokens(&(n + 1).to_string())).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let last = f.store.load(&k).await.unwrap().unwrap().into_tokens();
        assert_eq!(last.access_token().expose_secret(), "30");
    });
}

/// `update` writes only over the revision it read, so a writer that lost a race never
/// overwrites newer tokens; `save` always wins, as a new grant must.
pub fn update_is_compare_and_swap(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let k = key("cas");
        // A record never stored is written only where nothing is.
        let first = f.store.update(&k, &Record::new(tokens("first"))).await.unwrap();
        assert!(matches!(f.store.update(&k, &Record::new(tokens("again"))).await, Err(Error::Conflict { .. })));
        let read = f.store.load(&k).await.unwrap().unwrap();
        assert_eq!(read.revision(), first);
        let other = (f.reopen)();
        let stale = other.load(&k).await.unwrap().unwrap();
        let second = f.store.update(&k, &read.with_tokens(tokens("second"))).await.unwrap();
        assert!(second > first, "revisions grow: {first} then {second}");
        match other.update(&k, &stale.clone().with_tokens(tokens("stale"))).await {
            Err(Error::Conflict { key }) => assert_eq!(key, k),
            other => panic!("a stale writer must get a conflict, got {other:?}"),
        }
        assert_same(&f.store.load(&k).await.unwrap().unwrap().into_tokens(), &tokens("second"));
        // A new grant replaces whatever is there, and later updates build on it.
        let third = other.save(&k, &tokens("new grant")).await.unwrap();
        assert!(third > second);
        assert!(matches!(f.store.update(&k, &stale).await, Err(Error::Conflict { .. })));
        // An entry deleted since it was read is a conflict too: the update does not resurrect it.
        let current = f.store.load(&k).await.unwrap().unwrap();
        assert!(f.store.delete(&k).await.unwrap());
        assert!(matches!(f.store.update(&k, &current).await, Err(Error::Conflict { .. })));
        assert!(f.store.load(&k).await.unwrap().is_none());
    });
}

/// The refresh state is kept beside the tokens for every handle, and a new grant clears it.
pub fn refresh_state_is_shared_and_cleared_by_a_new_grant(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        let k = key("state");
        f.store.save(&k, &tokens("t")).await.unwrap();
        let read = f.store.load(&k).await.unwrap().unwrap();
        assert!(read.refresh_state().is_clear());
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let state = RefreshState {
            failures: 3,
            retry_at: Some(at + chrono::Duration::minutes(15)),
            last_failure: Some(FailureRecord {
                kind: FailureKind::RateLimited,
                code: Some("Access Denied".into()),
                at,
            }),
            renewed_at: Some(at - chrono::Duration::hours(1)),
        };
        f.store.update(&k, &read.with_refresh_state(state.clone())).await.unwrap();
        let seen = (f.reopen)().load(&k).await.unwrap().unwrap();
        assert_eq!(seen.refresh_state(), &state);
        assert_same(seen.tokens(), &tokens("t"));
        f.store.save(&k, &tokens("u")).await.unwrap();
        assert!((f.reopen)().load(&k).await.unwrap().unwrap().refresh_state().is_clear());
    });
}

/// Neither the store's `Debug` nor a lock guard's prints a token.
pub fn debug_output_holds_no_token(fixture: fn() -> Fixture) {
    run(fixture, |f| async move {
        f.store.save(&key("a"), &tokens("1000.sekrit-access")).await.unwrap();
        let guard = f.store.lock(&key("a")).await.unwrap();
        let printed = format!("{:?} {:?} {:#?}", f.store, guard, f.store);
        assert!(!printed.contains("sekrit"), "{printed}");
    });
}

/// Property: any keys and token sets saved come back unchanged, through this handle and another,
/// and `keys` lists exactly them. Runs `cases` cases, each on a fresh fixture.
pub fn round_trip(fixture: fn() -> Fixture, cases: u32) {
    let runtime = runtime();
    let strategy = proptest::collection::vec((arb_key(), arb_tokens()), 0..6);
    property(cases, &strategy, |entries| {
        let f = fixture();
        runtime.block_on(async {
            let mut expected = BTreeMap::new();
            for (k, t) in entries {
                f.store.save(&k, &t).await.unwrap();
                expected.insert(k, t);
            }
            let reopened = (f.reopen)();
            for store in [&f.store, &reopened] {
                assert_eq!(store.keys().await.unwrap(), expected.keys().cloned().collect::<Vec<_>>());
                for (k, t) in &expected {
                    let loaded = store.load(k).await.unwrap().expect("a saved key loads").into_tokens();
                    assert!(same(&loaded, t), "{k:?} did not round-trip");
                }
            }
        });
    });
}

/// Property: saving the same key twice keeps only the second value, whatever the key.
/// Runs `cases` cases, each on a fresh fixture.
pub fn upsert_keeps_the_last_value(fixture: fn() -> Fixture, cases: u32) {
    let runtime = runtime();
    let strategy = (arb_key(), arb_tokens(), arb_tokens());
    property(cases, &strategy, |(k, first, second)| {
        let f = fixture();
        runtime.block_on(async {
            f.store.save(&k, &first).await.unwrap();
            f.store.save(&k, &second).await.unwrap();
            assert!(same(&f.store.load(&k).await.unwrap().unwrap().into_tokens(), &second));
            assert_eq!(f.store.keys().await.unwrap(), vec![k.clone()]);
            assert!(f.store.delete(&k).await.unwrap());
            assert!(f.store.load(&k).await.unwrap().is_none());
        });
    });
}

/// Runs a property over `cases` generated values, shrinking a failure to a minimal case and
/// panicking with it.
fn property<S: Strategy>(cases: u32, strategy: &S, test: impl Fn(S::Value)) {
    // No failure persistence: the suite runs in other crates, where it must not write files.
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(strategy, |value| {
        test(value);
        Ok(())
    }) {
        panic!("{failure}");
    }
}

/// A key for `user` at the EU accounts server in production.
pub fn key(user: &str) -> StoreKey {
    StoreKey::new("1000.TESTCLIENT", user, "https://accounts.zoho.eu", Environment::Production)
}

/// A complete token set whose access token is `access` and refresh token `refresh-for-{access}`.
pub fn tokens(access: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access),
        Some(RefreshToken::new(format!("refresh-for-{access}"))),
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).single().expect("a valid date")
            + chrono::Duration::nanoseconds(123_456_789),
        Some(Url::parse("https://www.zohoapis.eu").expect("a valid URL")),
        "https://accounts.zoho.eu",
        Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"]).expect("valid scopes"),
    )
}

/// Whether two token sets hold the same values in every field.
pub fn same(a: &TokenSet, b: &TokenSet) -> bool {
    serde_json::to_value(a).unwrap() == serde_json::to_value(b).unwrap()
}

/// Asserts that two token sets hold the same values, field by field for a readable failure.
#[track_caller]
pub fn assert_same(actual: &TokenSet, expected: &TokenSet) {
    assert_eq!(actual.access_token().expose_secret(), expected.access_token().expose_secret());
    assert_eq!(
        actual.refresh_token().map(RefreshToken::expose_secret),
        expected.refresh_token().map(RefreshToken::expose_secret)
    );
    assert_eq!(actual.expires_at(), expected.expires_at());
    assert_eq!(actual.api_domain(), expected.api_domain());
    assert_eq!(actual.accounts_server(), expected.accounts_server());
    assert_eq!(actual.scopes(), expected.scopes());
    assert!(same(actual, expected));
}

/// Any string, control characters and non-ASCII included.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("(?s).{{0,{max}}}")).unwrap()
}

/// Arbitrary keys: any text in every field, and every environment.
pub fn arb_key() -> impl Strategy<Value = StoreKey> {
    (
        any_text(24),
        any_text(24),
        any_text(32),
        prop_oneof![Just(Environment::Production), Just(Environment::Sandbox), Just(Environment::Developer),],
    )
        .prop_map(|(client, user, server, environment)| StoreKey::new(client, user, server, environment))
}

/// Arbitrary token sets, with expiry anywhere from 1970 to 9999 at nanosecond precision.
pub fn arb_tokens() -> impl Strategy<Value = TokenSet> {
    (
        any_text(64),
        proptest::option::of(any_text(64)),
        0i64..253_402_300_799,
        0u32..1_000_000_000,
        proptest::option::of("[a-z]{1,10}(\\.[a-z]{1,6}){0,2}"),
        any_text(32),
        proptest::collection::vec("[A-Za-z0-9._:/-]{1,16}", 0..5),
    )
        .prop_map(|(access, refresh, secs, nanos, host, server, scopes)| {
            let expires_at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos).expect("in range");
            let api_domain = host.map(|h| Url::parse(&format!("https://{h}/")).expect("a valid URL"));
            let scopes: Scopes = scopes.into_iter().map(|s| Scope::new(s).expect("a valid scope")).collect();
            TokenSet::new(
                AccessToken::new(access),
                refresh.map(RefreshToken::new),
                expires_at,
                api_domain,
                server,
                scopes,
            )
        })
}
