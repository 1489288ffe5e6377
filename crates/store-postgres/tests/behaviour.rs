//! The shared behaviour suite (`zoho_oauth_store::testing`) against PostgreSQL: every fixture
//! gets a schema of its own, so the tests run in parallel, and the schema is dropped afterwards.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;

use zoho_oauth_core::{BoxFuture, TokenSet};
use zoho_oauth_store::testing::Fixture;
use zoho_oauth_store::{MemoryStore, Record, Result, StoreKey, StoreLock, TokenStore};
use zoho_oauth_store_postgres::PostgresStore;

/// A store that keeps its schema alive: the suite's `run` moves only `f.store` into the test's
/// future (an `async move` block captures the fields it uses), so `f.guard` is dropped before the
/// test runs. Every handle holds the schema guard instead, and the last one drops the schema.
#[derive(Debug)]
struct Guarded {
    store: PostgresStore,
    _schema: Arc<common::DropSchema>,
}

impl TokenStore for Guarded {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>> {
        self.store.load(key)
    }
    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>> {
        self.store.save(key, tokens)
    }
    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>> {
        self.store.update(key, record)
    }
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>> {
        self.store.delete(key)
    }
    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>> {
        self.store.keys()
    }
    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>> {
        self.store.lock(key)
    }
}

fn postgres_fixture() -> Fixture {
    let Some(url) = common::database_url() else {
        // Without a database the suite runs against the memory store, so the generated tests still
        // pass; `database_url` has said the PostgreSQL run was skipped (and fails under CI=true).
        let store = MemoryStore::new();
        let shared = store.clone();
        return Fixture {
            store: Arc::new(store),
            reopen: Box::new(move || Arc::new(shared.clone())),
            guard: Box::new(()),
        };
    };
    let schema = common::unique_schema("b");
    common::migrate(&url, &schema);
    let builder = common::builder(&url, &schema);
    let guard = Arc::new(common::DropSchema { url, schema });
    let (again, reopen_guard) = (builder.clone(), Arc::clone(&guard));
    Fixture {
        // Built without I/O: the pool is created on the test's own runtime at first use.
        store: Arc::new(Guarded { store: builder.build(), _schema: Arc::clone(&guard) }),
        // A second store on the same schema shares no pool and no in-process lock with the first,
        // as another process would not.
        reopen: Box::new(move || {
            Arc::new(Guarded { store: again.clone().build(), _schema: Arc::clone(&reopen_guard) })
        }),
        guard: Box::new(guard),
    }
}

zoho_oauth_store::behaviour_suite!(postgres, postgres_fixture, cases = 12);
