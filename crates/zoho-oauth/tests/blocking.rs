//! The blocking API against the Zoho accounts emulator over real loopback HTTP, driven from plain
//! threads: the same guarantees as the async flow (one refresh at expiry however many threads ask,
//! and the store shared between flows).

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::{Arc, Barrier};

use chrono::Duration;
use common::Harness;
use zoho_oauth::blocking::{self, Flow};
use zoho_oauth::{Authorized, FileStore, ReqwestClient, TokenStore};

const THREADS: usize = 8;

/// The emulator runs on a runtime of its own, as a remote server would; the test thread has none.
fn emulator() -> (tokio::runtime::Runtime, Harness) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let harness = runtime.block_on(Harness::start());
    (runtime, harness)
}

fn authorize(runtime: &tokio::runtime::Runtime, h: &Harness, flow: Flow<zoho_oauth::Unauthorized>) -> Flow<Authorized> {
    let (url, pending) = flow.authorization_url();
    let callback = runtime.block_on(h.consent(&url));
    pending.exchange(&callback).expect("the exchange succeeds")
}

/// Calls `access_token` from `THREADS` threads released together, and returns the tokens they got.
fn from_threads(session: &Flow<Authorized>) -> Vec<String> {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    session.access_token().unwrap().expose_secret().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn threads_at_expiry_make_one_refresh() {
    let (runtime, h) = emulator();
    let flow = Flow::new(h.config(), Arc::new(ReqwestClient::new().unwrap())).unwrap();
    let session = authorize(&runtime, &h, flow);
    let first = session.tokens().access_token().expose_secret().to_owned();

    // While the token is fresh, every thread is served from the cache.
    assert!(from_threads(&session).iter().all(|t| *t == first));
    assert_eq!(h.emulator.counters().token_refresh, 0);

    h.clock.advance(Duration::minutes(56));
    let tokens = from_threads(&session);
    assert_eq!(h.emulator.counters().token_refresh, 1, "one refresh for {THREADS} threads");
    assert!(tokens.iter().all(|t| *t == tokens[0] && *t != first), "every thread got the new token");

    let api = session.api_domain().unwrap();
    let (status, _) = runtime.block_on(h.call_crm(&api, session.authorization_header().unwrap()));
    assert_eq!(status, 200);
    let _unauthorized = session.revoke().expect("the revocation succeeds");
    assert_eq!(h.emulator.counters().revoke, 1);
}

#[test]
fn flows_sharing_a_store_refresh_once() {
    let (runtime, h) = emulator();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(FileStore::new(dir.path().join("tokens.json")));
    let http = Arc::new(ReqwestClient::new().unwrap());
    let start = || Flow::new(h.config(), http.clone()).unwrap().with_store(store.clone(), "me@example.com");

    let first = authorize(&runtime, &h, start());
    // A second program (here: a second flow) finds the saved authorization without a browser.
    let second = start().restore_from_store().unwrap().expect("the exchange saved the tokens");
    assert_eq!(h.emulator.counters().token_exchange, 1);

    h.clock.advance(Duration::minutes(56));
    let barrier = Barrier::new(2 * THREADS);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2 * THREADS)
            .map(|i| {
                let (session, barrier) = (if i % 2 == 0 { &first } else { &second }, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    session.access_token().unwrap().expose_secret().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(h.emulator.counters().token_refresh, 1, "one refresh for two flows sharing the store");
    assert!(tokens.iter().all(|t| *t == tokens[0]), "both flows serve the token the store holds");
}

#[test]
fn async_and_blocking_flows_convert() {
    let (runtime, h) = emulator();
    let session = authorize(&runtime, &h, blocking::Flow::from_async(h.flow()).unwrap());
    let async_session = session.into_async();
    let again = Flow::from_async(async_session).unwrap();
    assert!(!again.access_token().unwrap().expose_secret().is_empty());
    assert!(!again.is_revoked());
}
