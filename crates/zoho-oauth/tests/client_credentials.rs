//! Zoho's client-credentials grant (self client with `soid`) against the emulator over real
//! loopback HTTP: with and without `soid`, renewal at expiry by the same single flight as a
//! refresh, and a session restored from a store that still renews the same way.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::Harness;
use zoho_oauth::{Clock, Error, ErrorCode, MemoryStore, Renewal, TokenStore};

const SOID: &str = "ZohoCRM.749281044";

#[tokio::test]
async fn a_token_for_the_org_without_a_refresh_token() {
    let h = Harness::start().await;
    let session = h.flow().client_credentials(Some(SOID)).await.expect("the org's token is issued");
    let tokens = session.tokens();
    assert!(tokens.refresh_token().is_none(), "client credentials carry no refresh token");
    assert_eq!(tokens.renewal(), &Renewal::ClientCredentials { soid: Some(SOID.to_owned()) });
    assert_eq!(tokens.expires_at(), h.clock.now() + Duration::hours(1));
    assert_eq!(tokens.scopes().len(), 2, "the granted scopes are kept for renewal");
    let (status, _) = h.call_crm(&session.api_domain().unwrap(), session.authorization_header().await.unwrap()).await;
    assert_eq!(status, 200);
    let counters = h.emulator.counters();
    assert_eq!((counters.token_client_credentials, counters.token_exchange, counters.token_refresh), (1, 0, 0));
}

#[tokio::test]
async fn without_soid_zoho_answers_missing_org_info() {
    let h = Harness::start().await;
    let error = h.flow().client_credentials(None).await.expect_err("Zoho needs the org");
    match error {
        Error::Server(e) => assert_eq!(e.error, ErrorCode::parse("missing_org_info")),
        other => panic!("expected Server(missing_org_info), got {other:?}"),
    }
}

#[tokio::test]
async fn a_hundred_callers_at_expiry_make_one_request() {
    let h = Harness::start().await;
    let session = Arc::new(h.flow().client_credentials(Some(SOID)).await.unwrap());
    let first = session.tokens().access_token().clone();
    h.clock.advance(Duration::minutes(56));
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.access_token().await.map(|t| t.into_owned()) })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.unwrap().expect("every caller gets a token"));
    }
    assert!(tokens.iter().all(|t| t.ct_eq(&tokens[0])), "every caller gets the one new token");
    assert!(!tokens[0].ct_eq(&first), "the token was renewed");
    let counters = h.emulator.counters();
    assert_eq!(counters.token_client_credentials, 2, "one grant, then exactly one renewal");
    assert_eq!(counters.token_refresh, 0, "no refresh is attempted without a refresh token");
    assert_eq!(session.tokens().renewal(), &Renewal::ClientCredentials { soid: Some(SOID.to_owned()) });
}

#[tokio::test]
async fn a_restored_session_renews_with_client_credentials() {
    let h = Harness::start().await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let session = h.flow().with_store(store.clone(), "nightly-job").client_credentials(Some(SOID)).await.unwrap();
    drop(session);
    let restored = h.flow().with_store(store, "nightly-job").restore_from_store().await.unwrap().expect("saved");
    assert_eq!(restored.tokens().renewal(), &Renewal::ClientCredentials { soid: Some(SOID.to_owned()) });
    h.clock.advance(Duration::minutes(56));
    let header = restored.authorization_header().await.expect("the restored session renews");
    assert_eq!(h.emulator.counters().token_client_credentials, 2);
    assert_eq!(h.emulator.counters().token_refresh, 0);
    let (status, _) = h.call_crm(&restored.api_domain().unwrap(), header).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn renewal_failures_back_off_like_a_refresh() {
    let h = Harness::start().await;
    let session = h.flow().client_credentials(Some(SOID)).await.unwrap();
    h.clock.advance(Duration::hours(2));
    h.emulator.set_fault(Some(zoho_accounts_emulator::Fault::EmptyBody));
    let error = session.access_token().await.expect_err("the renewal fails");
    assert!(error.retry_at().is_some(), "a transient failure is retried after a backoff: {error:?}");
    let sent = h.emulator.counters().token_errors;
    let again = session.access_token().await.expect_err("held back by the backoff");
    assert!(matches!(again, Error::Refresh(_)));
    assert_eq!(h.emulator.counters().token_errors, sent, "nothing is sent during the backoff");
}
