//! Zoho's limits, as the fact sheet gives them, on the emulator's manual clock.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{Harness, assert_error};
use zoho_accounts_emulator::Fault;

#[tokio::test]
async fn ten_access_tokens_per_ten_minutes_then_access_denied_for_the_lock_out() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await; // the exchange mints the first access token
    let refresh = tokens["refresh_token"].as_str().unwrap();
    for i in 2..=10 {
        assert_eq!(h.refresh("us", refresh).await.status, 200, "access token {i} of 10");
    }
    let denied = h.refresh("us", refresh).await;
    assert_eq!(denied.status, 200, "Zoho sends the rate-limit answer with HTTP 200 too");
    let body = denied.json();
    assert_eq!(body["error"], "Access Denied");
    assert_eq!(body["status"], "failure");
    assert!(body["error_description"].as_str().unwrap().contains("too many requests"));

    // The window has passed, but the lock-out (15 minutes by default) has not.
    h.clock.advance(Duration::minutes(11));
    assert_eq!(h.refresh("us", refresh).await.json()["error"], "Access Denied");
    h.clock.advance(Duration::minutes(5));
    assert_eq!(h.refresh("us", refresh).await.status, 200);
}

#[tokio::test]
async fn the_window_slides() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    for _ in 0..9 {
        h.clock.advance(Duration::minutes(2));
        assert_eq!(h.refresh("us", refresh).await.status, 200);
    }
    // Two minutes apart, at most five fall in any ten minutes: never limited.
    assert_eq!(h.emulator.counters().token_errors, 0);
}

#[tokio::test]
async fn the_sixteenth_live_access_token_invalidates_the_oldest() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let first = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let mut latest = first.clone();
    for _ in 1..15 {
        h.clock.advance(Duration::minutes(1) + Duration::seconds(1));
        latest = h.refresh("us", refresh).await.json()["access_token"].as_str().unwrap().to_owned();
    }
    assert_eq!(h.crm("us", &format!("Zoho-oauthtoken {first}")).await.status, 200, "15 live: the first still works");
    h.clock.advance(Duration::minutes(2));
    h.refresh("us", refresh).await;
    assert_eq!(h.crm("us", &format!("Zoho-oauthtoken {first}")).await.status, 401, "the 16th invalidated the oldest");
    assert_eq!(h.crm("us", &format!("Zoho-oauthtoken {latest}")).await.status, 200);
}

/// Consents with `prompt=consent`, which makes Zoho issue a new refresh token every time.
async fn consent_again(h: &Harness) -> serde_json::Value {
    let code = h.code("us", &[("prompt", "consent")]).await;
    h.exchange("us", &code, &[]).await.json()
}

#[tokio::test]
async fn the_twenty_first_refresh_token_deletes_the_oldest() {
    let h = Harness::start().await;
    let first = consent_again(&h).await;
    for _ in 1..20 {
        assert!(consent_again(&h).await["refresh_token"].is_string());
    }
    let oldest = first["refresh_token"].as_str().unwrap();
    assert_eq!(h.refresh("us", oldest).await.status, 200, "20 refresh tokens: the first still works");
    consent_again(&h).await;
    assert_error(&h.refresh("us", oldest).await, 200, "invalid_code");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(h.crm("us", &format!("Zoho-oauthtoken {access}")).await.status, 401, "its access tokens went with it");
}

#[tokio::test]
async fn faults_replace_the_protocol_until_switched_off() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    h.emulator.set_fault(Some(Fault::BadGatewayHtml));
    let reply = h.refresh("us", refresh).await;
    assert_eq!(reply.status, 502);
    assert!(reply.text().starts_with("<html>"));
    h.emulator.set_fault(Some(Fault::EmptyBody));
    let reply = h.refresh("us", refresh).await;
    assert_eq!((reply.status, reply.body.len()), (200, 0));
    h.emulator.set_fault(Some(Fault::HugeBody));
    assert_eq!(h.refresh("us", refresh).await.body.len(), 10 * 1024 * 1024);
    h.emulator.set_fault(None);
    assert_eq!(h.refresh("us", refresh).await.status, 200);
}
