//! The behaviour every `TokenStore` backend must have, written once and run against each backend.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{arb_key, arb_tokens, assert_same, key, same, tokens};
use proptest::prelude::*;
use tempfile::TempDir;
use zoho_oauth_core::{Environment, TokenSet};
use zoho_oauth_store::{
    Error, FailureKind, FailureRecord, FileStore, MemoryStore, Record, RefreshState, StoreKey, TokenStore,
};

/// A store under test, with whatever must outlive it.
struct Fixture {
    store: Arc<dyn TokenStore>,
    /// Opens a second, independent handle on the same storage, as another part of the program
    /// (or, for the file backend, a restarted program) would.
    reopen: Box<dyn Fn() -> Arc<dyn TokenStore> + Send + Sync>,
    _dir: Option<TempDir>,
}

fn memory() -> Fixture {
    let store = MemoryStore::new();
    let shared = store.clone();
    Fixture { store: Arc::new(store), reopen: Box::new(move || Arc::new(shared.clone())), _dir: None }
}

fn file() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let again = path.clone();
    Fixture {
        store: Arc::new(FileStore::new(path)),
        reopen: Box::new(move || Arc::new(FileStore::new(again.clone()))),
        _dir: Some(dir),
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// The suite itself: each function is one behaviour, given a fresh store.
mod suite {
    use super::*;

    pub(super) async fn empty_store(f: Fixture) {
        let store = &f.store;
        assert!(store.load(&key("nobody")).await.unwrap().is_none());
        assert!(store.keys().await.unwrap().is_empty());
        assert!(!store.delete(&key("nobody")).await.unwrap());
        assert!(store.keys().await.unwrap().is_empty());
    }

    pub(super) async fn save_load_replace_delete(f: Fixture) {
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
    }

    pub(super) async fn every_key_field_matters(f: Fixture) {
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
    }

    pub(super) async fn another_handle_sees_the_same_tokens(f: Fixture) {
        f.store.save(&key("a"), &tokens("one")).await.unwrap();
        let other = (f.reopen)();
        assert_same(&other.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("one"));
        other.save(&key("b"), &tokens("two")).await.unwrap();
        assert_eq!(f.store.keys().await.unwrap(), vec![key("a"), key("b")]);
    }

    pub(super) async fn concurrent_saves_lose_nothing(f: Fixture) {
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
    }

    pub(super) async fn lock_excludes_other_tasks_for_the_same_key_only(f: Fixture) {
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
    }

    /// The pattern the token manager follows: with the lock held, load, decide, save.
    /// Every increment must survive, which it would not if two tasks could hold the lock at once.
    pub(super) async fn locked_read_modify_write_is_serialised(f: Fixture) {
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
    }

    /// `update` writes only over the revision it read, so a writer that lost a race never
    /// overwrites newer tokens; `save` always wins, as a new grant must.
    pub(super) async fn update_is_compare_and_swap(f: Fixture) {
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
    }

    /// The refresh state is kept beside the tokens for every handle, and a new grant clears it.
    pub(super) async fn refresh_state_is_shared_and_cleared_by_a_new_grant(f: Fixture) {
        let k = key("state");
        f.store.save(&k, &tokens("t")).await.unwrap();
        let read = f.store.load(&k).await.unwrap().unwrap();
        assert!(read.refresh_state().is_clear());
        let at = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
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
    }

    pub(super) async fn debug_output_holds_no_token(f: Fixture) {
        f.store.save(&key("a"), &tokens("1000.sekrit-access")).await.unwrap();
        let guard = f.store.lock(&key("a")).await.unwrap();
        let printed = format!("{:?} {:?} {:#?}", f.store, guard, f.store);
        assert!(!printed.contains("sekrit"), "{printed}");
    }

    pub(super) async fn round_trip(f: Fixture, entries: Vec<(StoreKey, TokenSet)>) {
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
    }
}

/// Runs the whole suite against one backend.
macro_rules! behaviour_suite {
    ($backend:ident, cases = $cases:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn empty_store() {
                suite::empty_store(super::$backend()).await;
            }

            #[tokio::test]
            async fn save_load_replace_delete() {
                suite::save_load_replace_delete(super::$backend()).await;
            }

            #[tokio::test]
            async fn every_key_field_matters() {
                suite::every_key_field_matters(super::$backend()).await;
            }

            #[tokio::test]
            async fn another_handle_sees_the_same_tokens() {
                suite::another_handle_sees_the_same_tokens(super::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_saves_lose_nothing() {
                suite::concurrent_saves_lose_nothing(super::$backend()).await;
            }

            #[tokio::test]
            async fn lock_excludes_other_tasks_for_the_same_key_only() {
                suite::lock_excludes_other_tasks_for_the_same_key_only(super::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn locked_read_modify_write_is_serialised() {
                suite::locked_read_modify_write_is_serialised(super::$backend()).await;
            }

            #[tokio::test]
            async fn update_is_compare_and_swap() {
                suite::update_is_compare_and_swap(super::$backend()).await;
            }

            #[tokio::test]
            async fn refresh_state_is_shared_and_cleared_by_a_new_grant() {
                suite::refresh_state_is_shared_and_cleared_by_a_new_grant(super::$backend()).await;
            }

            #[tokio::test]
            async fn debug_output_holds_no_token() {
                suite::debug_output_holds_no_token(super::$backend()).await;
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases($cases))]

                #[test]
                fn round_trip(entries in proptest::collection::vec((arb_key(), arb_tokens()), 0..6)) {
                    block_on(suite::round_trip(super::$backend(), entries));
                }

                /// Saving the same key twice keeps only the second value, whatever the key.
                #[test]
                fn upsert_keeps_the_last_value(k in arb_key(), first in arb_tokens(), second in arb_tokens()) {
                    block_on(async {
                        let f = super::$backend();
                        f.store.save(&k, &first).await.unwrap();
                        f.store.save(&k, &second).await.unwrap();
                        assert!(same(&f.store.load(&k).await.unwrap().unwrap().into_tokens(), &second));
                        assert_eq!(f.store.keys().await.unwrap(), vec![k.clone()]);
                        assert!(f.store.delete(&k).await.unwrap());
                        assert!(f.store.load(&k).await.unwrap().is_none());
                    });
                }
            }
        }
    };
}

behaviour_suite!(memory, cases = 64);
behaviour_suite!(file, cases = 32);

/// The trait is object safe and both backends fit behind `Arc<dyn TokenStore>`.
#[test]
fn stores_are_shareable_trait_objects() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<MemoryStore>();
    assert_send_sync::<FileStore>();
    let _: Vec<Arc<dyn TokenStore>> = vec![Arc::new(MemoryStore::new()), Arc::new(FileStore::new("unused.json"))];
}
