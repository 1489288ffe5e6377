//! Runs the shared behaviour suite (`zoho_oauth_store::testing`) against this crate's backends.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::sync::Arc;

use zoho_oauth_store::testing::Fixture;
use zoho_oauth_store::{FileStore, MemoryStore, TokenStore};

fn memory_fixture() -> Fixture {
    let store = MemoryStore::new();
    let shared = store.clone();
    Fixture { store: Arc::new(store), reopen: Box::new(move || Arc::new(shared.clone())), guard: Box::new(()) }
}

fn file_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let again = path.clone();
    Fixture {
        store: Arc::new(FileStore::new(path)),
        // A new `FileStore` on the same path shares nothing in memory with the first,
        // as another process would not.
        reopen: Box::new(move || Arc::new(FileStore::new(again.clone()))),
        guard: Box::new(dir),
    }
}

zoho_oauth_store::behaviour_suite!(memory, memory_fixture, cases = 64);
zoho_oauth_store::behaviour_suite!(file, file_fixture, cases = 32);

/// The trait is object safe and both backends fit behind `Arc<dyn TokenStore>`.
#[test]
fn stores_are_shareable_trait_objects() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<MemoryStore>();
    assert_send_sync::<FileStore>();
    let _: Vec<Arc<dyn TokenStore>> = vec![Arc::new(MemoryStore::new()), Arc::new(FileStore::new("unused.json"))];
}
