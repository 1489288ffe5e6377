//! The flow against a misbehaving accounts server (the emulator's fault switches and limits),
//! over real loopback HTTP: every failure is a distinct typed error, and nothing is lost.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::time::Duration;

use common::Harness;
use zoho_accounts_emulator::Fault;
use zoho_oauth::{Authorized, Error, ErrorCode, Flow, HttpPolicy, MalformedKind, RetryPolicy, TransportErrorKind};

async fn session(h: &Harness) -> Flow<Authorized> {
    let (url, pending) = h.flow().authorization_url();
    pending.exchange(&h.consent(&url).await).await.unwrap()
}

#[tokio::test]
async fn an_html_502_from_a_proxy_is_retried_then_typed() {
    let h = Harness::start().await;
    let session = session(&h).await;
    h.emulator.set_fault(Some(Fault::BadGatewayHtml));
    match session.refresh().await.as_ref().map_err(Error::cause) {
        Err(Error::MalformedResponse { status: 502, kind: MalformedKind::Html, excerpt }) => {
            assert!(excerpt.contains("Bad Gateway"), "{excerpt}");
        }
        other => panic!("expected an HTML 502, got {other:?}"),
    }
    assert_eq!(h.emulator.counters().token_errors, 3, "a refresh is retried on 5xx, within the attempt budget");
    assert!(session.tokens().refresh_token().is_some());
}

#[tokio::test]
async fn a_code_exchange_is_never_retried() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    h.emulator.set_fault(Some(Fault::BadGatewayHtml));
    assert!(matches!(
        pending.exchange(&callback).await.map_err(Error::from),
        Err(Error::MalformedResponse { status: 502, .. })
    ));
    assert_eq!(h.emulator.counters().token_errors, 1);
}

#[tokio::test]
async fn an_empty_body_is_typed() {
    let h = Harness::start().await;
    let session = session(&h).await;
    h.emulator.set_fault(Some(Fault::EmptyBody));
    assert!(matches!(
        session.refresh().await.as_ref().map_err(Error::cause),
        Err(Error::MalformedResponse { kind: MalformedKind::EmptyBody, .. })
    ));
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused() {
    let h = Harness::start().await;
    let session = session(&h).await;
    h.emulator.set_fault(Some(Fault::HugeBody));
    match session.refresh().await.as_ref().map_err(Error::cause) {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge),
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let h = Harness::start().await;
    let policy = HttpPolicy::default().timeout(Duration::from_millis(300)).retry(RetryPolicy::none());
    let (url, pending) = Flow::new(h.config().http_policy(policy), h.http.clone()).authorization_url();
    let session = pending.exchange(&h.consent(&url).await).await.unwrap();
    h.emulator.set_fault(Some(Fault::Silent));
    match session.refresh().await.as_ref().map_err(Error::cause) {
        Err(Error::Transport(e)) => assert_eq!(e.kind(), TransportErrorKind::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn zohos_rate_limit_is_typed_and_respected() {
    let h = Harness::start().await;
    let session = session(&h).await;
    for _ in 0..9 {
        // Past the floor between two renewals, so each refresh is sent.
        h.clock.advance(chrono::Duration::seconds(31));
        session.refresh().await.unwrap();
    }
    h.clock.advance(chrono::Duration::seconds(31));
    match session.refresh().await.as_ref().map_err(Error::cause) {
        Err(Error::RateLimited(e)) => assert_eq!(e.error, ErrorCode::TooManyRequests),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    let sent = h.emulator.counters().token_refresh;
    for _ in 0..5 {
        assert!(session.access_token().await.is_ok(), "the held token is still valid");
        assert!(session.refresh().await.is_err_and(|e| e.is_rate_limited()));
    }
    assert_eq!(h.emulator.counters().token_refresh, sent, "no request during the lock-out");
}

#[tokio::test]
async fn the_api_client_refreshes_once_on_invalid_token() {
    let h = Harness::start().await;
    let session = session(&h).await;
    let url = session.api_url("/crm/v8/users?type=CurrentUser").unwrap();
    let request = || http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    assert_eq!(session.send(request()).await.unwrap().status(), 200);

    // The server forgets the token (as the 16th live token would make it): one refresh, one retry.
    let saved = session.tokens();
    let other = h.flow().restore(saved).unwrap();
    let _ = other.revoke().await.unwrap();
    let response = session.send(request()).await;
    assert!(response.as_ref().is_err_and(Error::needs_reauthorization), "revoked everywhere: {response:?}");
    assert_eq!(h.emulator.counters().token_refresh, 1, "one refresh, never a loop");
}

#[tokio::test]
async fn the_api_client_recovers_from_an_invalidated_token_with_one_refresh() {
    let h = Harness::start().await;
    let session = session(&h).await;
    let url = session.api_url("/crm/v8/users?type=CurrentUser").unwrap();
    let request = || http::Request::get(url.as_str()).body(Vec::new()).unwrap();

    // Another holder of the same refresh token mints fifteen access tokens, one a minute:
    // Zoho keeps fifteen alive per refresh token, so the session's token is invalidated.
    let other = h.flow().restore(session.tokens()).unwrap();
    for _ in 0..15 {
        h.clock.advance(chrono::Duration::seconds(61));
        other.refresh().await.unwrap();
    }
    // Let Zoho's ten-per-ten-minutes window pass, so the recovery is not rate limited.
    h.clock.advance(chrono::Duration::minutes(10));
    let before = h.emulator.counters().token_refresh;
    let response = session.send(request()).await.unwrap();
    assert_eq!(response.status(), 200, "one refresh, then the retried request succeeds");
    assert_eq!(h.emulator.counters().token_refresh, before + 1);
    assert_eq!(h.emulator.counters().api, 2, "the first attempt and the retry");
}
