//! Zoho's client-credentials grant on `POST /oauth/v2/token`, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{Harness, Reply, assert_error, post_form};
use zoho_accounts_emulator::{Counters, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

const SOID: &str = "ZohoCRM.60012345678";

/// Asks `dc` for a client-credentials token as the demo client, with `extra` parameters.
async fn client_credentials(h: &Harness, dc: &str, extra: &[(&str, &str)]) -> Reply {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", "ZohoCRM.modules.ALL,ZohoCRM.users.READ"),
    ];
    pairs.extend_from_slice(extra);
    post_form(&h.url(dc, "/oauth/v2/token"), &pairs).await
}

#[tokio::test]
async fn the_answer_has_an_access_token_and_no_refresh_token() {
    let h = Harness::start().await;
    let reply = client_credentials(&h, "eu", &[("soid", SOID)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["access_token"].as_str().unwrap().starts_with("1000."), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["scope"], "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(url::Url::parse(body["api_domain"].as_str().unwrap()).unwrap(), h.emulator.api_domain("eu"));

    let authorization = format!("Zoho-oauthtoken {}", body["access_token"].as_str().unwrap());
    assert_eq!(h.crm("eu", &authorization).await.status, 200);
    assert_eq!(h.crm("us", &authorization).await.status, 401, "the token belongs to the data center that minted it");
    h.clock.advance(Duration::seconds(3600));
    assert_eq!(h.crm("eu", &authorization).await.status, 401);

    // Exactly one request, counted as a client-credentials request.
    assert_eq!(h.emulator.counters_for("eu"), Counters { token_client_credentials: 1, api: 2, ..Counters::default() });
}

#[tokio::test]
async fn without_soid_the_answer_is_missing_org_info() {
    let h = Harness::start().await;
    assert_error(&client_credentials(&h, "us", &[]).await, 200, "missing_org_info");
    assert_error(&client_credentials(&h, "us", &[("soid", "60012345678")]).await, 200, "missing_org_info");
    let counters = h.emulator.counters();
    assert_eq!((counters.token_client_credentials, counters.token_errors), (2, 2));
}

#[tokio::test]
async fn client_authentication_and_scope_are_checked() {
    let h = Harness::start().await;
    let url = h.url("us", "/oauth/v2/token");
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", "wrong"),
        ("scope", "ZohoCRM.modules.ALL"),
        ("soid", SOID),
    ];
    assert_error(&post_form(&url, &pairs).await, 200, "invalid_client_secret");
    pairs[1] = ("client_id", "1000.NOBODY");
    assert_error(&post_form(&url, &pairs).await, 200, "invalid_client");
    let no_scope = [pairs[0], ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET), ("soid", SOID)];
    assert_error(&post_form(&url, &no_scope).await, 200, "invalid_scope");
    h.emulator.set_error_status(400);
    assert_error(&client_credentials(&h, "us", &[]).await, 400, "missing_org_info");
}

#[tokio::test]
async fn the_rate_limit_applies_per_client_and_org() {
    let h = Harness::start().await;
    for i in 1..=10 {
        assert_eq!(client_credentials(&h, "us", &[("soid", SOID)]).await.json()["expires_in"], 3600, "token {i}");
    }
    let denied = client_credentials(&h, "us", &[("soid", SOID)]).await.json();
    assert_eq!(denied["error"], "Access Denied");
    assert_eq!(denied["status"], "failure");
    // Another org is another source.
    let other = client_credentials(&h, "us", &[("soid", "ZohoCRM.7")]).await.json();
    assert!(other["access_token"].is_string(), "{other}");
    h.clock.advance(Duration::minutes(15));
    assert!(client_credentials(&h, "us", &[("soid", SOID)]).await.json()["access_token"].is_string());
}

#[tokio::test]
async fn legacy_mode_applies_too() {
    let h = Harness::start().await;
    h.emulator.set_legacy_expires(true);
    let body = client_credentials(&h, "us", &[("soid", SOID)]).await.json();
    assert_eq!((body["expires_in_sec"].as_i64(), body["expires_in"].as_i64()), (Some(3600), Some(3_600_000)));
}

#[tokio::test]
async fn the_sixteenth_live_token_invalidates_the_oldest() {
    let h = Harness::start().await;
    let mut tokens = Vec::new();
    for _ in 0..16 {
        // Two minutes apart, so the ten-per-ten-minutes limit never bites.
        h.clock.advance(Duration::minutes(2));
        let body = client_credentials(&h, "us", &[("soid", SOID)]).await.json();
        tokens.push(format!("Zoho-oauthtoken {}", body["access_token"].as_str().unwrap()));
    }
    assert_eq!(h.crm("us", &tokens[0]).await.status, 401);
    assert_eq!(h.crm("us", &tokens[1]).await.status, 200);
    assert_eq!(h.crm("us", &tokens[15]).await.status, 200);
}
