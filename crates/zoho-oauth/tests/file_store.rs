//! The whole flow through a real token file: exchange, restart, refresh, revoke.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::{CLIENT_ID, Harness};
use zoho_oauth::{Environment, FileStore, StoreKey, TokenStore};

#[tokio::test]
async fn tokens_survive_a_restart_and_follow_every_change() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoho").join("tokens.json");
    let eu = h.emulator.accounts_url("eu").origin().ascii_serialization();
    let key = StoreKey::new(CLIENT_ID, "alice", &eu, Environment::Production);

    // First run: consent and exchange; the tokens are on disk before the flow is handed back.
    {
        let store = Arc::new(FileStore::open(&path).await.unwrap());
        let (url, pending) = h.flow().with_store(store.clone(), "alice").authorization_url();
        let session = pending.exchange(&h.consent(&url).await).await.unwrap();
        let saved = store.load(&key).await.unwrap().expect("saved under the user's data center");
        assert!(saved.tokens().access_token().ct_eq(session.tokens().access_token()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the token file is private");
        }
    }

    // Second run, as after a restart: no browser, and refreshes are saved.
    let store = Arc::new(FileStore::open(&path).await.unwrap());
    let session = h.flow().with_store(store.clone(), "alice").restore_from_store().await.unwrap().expect("restored");
    assert_eq!(session.accounts_server(), eu, "the session knows its data center after a restart");
    h.clock.advance(Duration::minutes(58));
    let fresh = session.access_token().await.unwrap();
    assert_eq!(h.emulator.counters_for("eu").token_refresh, 1);
    assert!(store.load(&key).await.unwrap().unwrap().tokens().access_token().ct_eq(&fresh), "the refresh was saved");

    // Revocation removes the tokens at the server and on disk.
    let _unauthorized = session.revoke().await.unwrap();
    assert!(store.load(&key).await.unwrap().is_none());
    let again = h.flow().with_store(store, "alice").restore_from_store().await.unwrap();
    assert!(again.is_none(), "after a revocation the user must consent again");
}
