//! Zoho's device flow, `POST /oauth/v3/device/code` and `/oauth/v3/device/token`, with its
//! verification page, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{Harness, Reply, assert_error, assert_self_contained, get, input_value, post_form, submit};
use serde_json::Value;
use zoho_accounts_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

const SCOPES: &str = "ZohoCRM.modules.ALL,ZohoCRM.users.READ";

/// Starts a device request at `dc` with `extra` parameters and returns the answer.
async fn start(h: &Harness, dc: &str, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![("grant_type", "device_request"), ("client_id", DEMO_CLIENT_ID), ("scope", SCOPES)];
    pairs.extend_from_slice(extra);
    let reply = post_form(&h.url(dc, "/oauth/v3/device/code"), &pairs).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json;charset=UTF-8"));
    reply.json()
}

/// Polls a device request at `dc` as the demo client.
async fn poll(h: &Harness, dc: &str, device: &Value) -> Reply {
    let pairs = [
        ("grant_type", "device_token"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("code", device["device_code"].as_str().unwrap()),
    ];
    post_form(&h.url(dc, "/oauth/v3/device/token"), &pairs).await
}

fn user_code(device: &Value) -> &str {
    device["user_code"].as_str().unwrap()
}

#[tokio::test]
async fn a_device_request_answers_in_zohos_shape_in_seconds() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[]).await;
    let code = user_code(&device);
    assert_eq!(code.len(), 9, "{device}");
    assert!(device["device_code"].as_str().unwrap().starts_with("1000."));
    assert_eq!(device["verification_url"], format!("{}oauth/v3/device", h.emulator.accounts_url("us")));
    assert_eq!(device["interval"], 30);
    assert_eq!(device["expires_in"], 300);
    assert_eq!(h.emulator.counters_for("us").device_code, 1);
}

#[tokio::test]
async fn the_milliseconds_variant_and_configured_times() {
    let h = Harness::start_with(|config| {
        config
            .device_times_in_milliseconds(true)
            .device_code_lifetime(Duration::minutes(10))
            .device_poll_interval(Duration::seconds(5))
    })
    .await;
    let device = start(&h, "us", &[]).await;
    assert_eq!(device["interval"], 5000);
    assert_eq!(device["expires_in"], 600_000);
}

#[tokio::test]
async fn pending_then_slow_down_then_tokens_once_approved() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[("access_type", "offline")]).await;
    assert_error(&poll(&h, "us", &device).await, 200, "authorization_pending");
    h.clock.advance(Duration::seconds(29));
    assert_error(&poll(&h, "us", &device).await, 200, "slow_down");
    // A poll that came too soon does not restart the wait.
    h.clock.advance(Duration::seconds(1));
    assert_error(&poll(&h, "us", &device).await, 200, "authorization_pending");

    assert!(h.emulator.approve_device(user_code(&device), "alice@example.com"));
    assert!(!h.emulator.approve_device(user_code(&device), "alice@example.com"), "a decided request is not pending");
    h.clock.advance(Duration::seconds(10));
    assert_error(&poll(&h, "us", &device).await, 200, "slow_down");
    h.clock.advance(Duration::seconds(20));
    let reply = poll(&h, "us", &device).await;
    assert_eq!(reply.status, 200);
    let tokens = reply.json();
    assert!(tokens["access_token"].as_str().unwrap().starts_with("1000."), "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "offline access has a refresh token: {tokens}");
    assert_eq!(tokens["scope"], "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(url::Url::parse(tokens["api_domain"].as_str().unwrap()).unwrap(), h.emulator.api_domain("us"));

    let me = h.crm("us", &format!("Zoho-oauthtoken {}", tokens["access_token"].as_str().unwrap())).await.json();
    assert_eq!(me["users"][0]["email"], "alice@example.com");
    let refreshed = h.refresh("us", tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200);

    // The device code is spent.
    h.clock.advance(Duration::seconds(30));
    assert_error(&poll(&h, "us", &device).await, 200, "invalid_code");
    assert_eq!(h.emulator.counters_for("us").device_token, 6);
    assert_eq!(h.emulator.counters_for("us").token_errors, 0, "device polls are not token-endpoint errors");
}

#[tokio::test]
async fn online_access_has_no_refresh_token() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[]).await;
    assert!(h.emulator.approve_device(user_code(&device), "chloe@example.com"));
    let tokens = poll(&h, "us", &device).await.json();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn a_denied_request_answers_access_denied() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[]).await;
    assert!(h.emulator.deny_device(user_code(&device)));
    assert_error(&poll(&h, "us", &device).await, 200, "access_denied");
    assert!(!h.emulator.approve_device(user_code(&device), "alice@example.com"));
}

#[tokio::test]
async fn an_undecided_request_expires() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[]).await;
    h.clock.advance(Duration::seconds(300));
    assert_error(&poll(&h, "us", &device).await, 200, "expired");
    assert!(!h.emulator.approve_device(user_code(&device), "alice@example.com"), "too late to approve");
    h.clock.advance(Duration::seconds(30));
    assert_error(&poll(&h, "us", &device).await, 200, "expired");
}

#[tokio::test]
async fn a_user_of_another_data_center_sends_the_polls_there() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[("access_type", "offline")]).await;
    // Before anyone approves, only the data center of the request knows it.
    assert_error(&poll(&h, "eu", &device).await, 200, "invalid_code");
    assert!(h.emulator.approve_device(user_code(&device), "bruno@example.eu"));
    let reply = poll(&h, "us", &device).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({ "error": "other_dc", "user_location": "eu" }));

    // Separate servers keep separate poll clocks, so the client may go to eu at once.
    let tokens = poll(&h, "eu", &device).await.json();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    assert_eq!(url::Url::parse(tokens["api_domain"].as_str().unwrap()).unwrap(), h.emulator.api_domain("eu"));
    let me = h.crm("eu", &format!("Zoho-oauthtoken {}", tokens["access_token"].as_str().unwrap())).await.json();
    assert_eq!(me["users"][0]["email"], "bruno@example.eu");
    assert_eq!(me["users"][0]["data_center"], "eu");
}

#[tokio::test]
async fn polls_need_the_right_client_and_parameters() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[]).await;
    let url = h.url("us", "/oauth/v3/device/token");
    let device_code = device["device_code"].as_str().unwrap();
    let mut pairs = vec![
        ("grant_type", "device_token"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", "wrong"),
        ("code", device_code),
    ];
    assert_error(&post_form(&url, &pairs).await, 200, "invalid_client_secret");
    pairs[1] = ("client_id", "1000.NOBODY");
    assert_error(&post_form(&url, &pairs).await, 200, "invalid_client");
    let wrong_grant = [("grant_type", "device_code"), pairs[1], pairs[2], pairs[3]];
    assert_error(&post_form(&url, &wrong_grant).await, 200, "unsupported_grant_type");
    let no_code =
        [("grant_type", "device_token"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)];
    assert_error(&post_form(&url, &no_code).await, 200, "invalid_request");
    let unknown = [no_code[0], no_code[1], no_code[2], ("code", "1000.made.up")];
    assert_error(&post_form(&url, &unknown).await, 200, "invalid_code");

    // The existing switch for the status of error bodies applies here too.
    h.emulator.set_error_status(400);
    assert_error(&poll(&h, "us", &device).await, 400, "authorization_pending");
}

#[tokio::test]
async fn device_requests_need_a_known_client_and_a_scope() {
    let h = Harness::start().await;
    let url = h.url("us", "/oauth/v3/device/code");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("grant_type", "device_request"), ("client_id", "1000.NOBODY"), ("scope", SCOPES)], "invalid_client"),
        (&[("grant_type", "device_request"), ("client_id", DEMO_CLIENT_ID), ("scope", " ,")], "invalid_scope"),
        (&[("grant_type", "device_token"), ("client_id", DEMO_CLIENT_ID), ("scope", SCOPES)], "unsupported_grant_type"),
        (&[("client_id", DEMO_CLIENT_ID), ("scope", SCOPES)], "invalid_request"),
    ];
    for (pairs, error) in cases {
        assert_error(&post_form(&url, pairs).await, 200, error);
    }
    assert_eq!(h.emulator.counters().device_code, 4);
}

#[tokio::test]
async fn a_person_approves_on_the_verification_page() {
    let h = Harness::start().await;
    let device = start(&h, "us", &[("access_type", "offline")]).await;
    let verification = url::Url::parse(device["verification_url"].as_str().unwrap()).unwrap();
    let entry = get(&verification).await;
    assert_eq!(entry.status, 200);
    assert_self_contained(&entry);
    assert!(entry.text().contains("name=\"user_code\""));

    let mut wrong = verification.clone();
    wrong.query_pairs_mut().append_pair("user_code", "<b>NOPE</b>");
    let reply = get(&wrong).await;
    assert_eq!(reply.status, 404);
    assert_self_contained(&reply);
    assert!(reply.text().contains("&lt;b&gt;NOPE&lt;/b&gt;"));

    // People type codes in lower case and without the dash.
    let typed = user_code(&device).replace('-', "").to_lowercase();
    let mut with_code = verification.clone();
    with_code.query_pairs_mut().append_pair("user_code", &typed);
    let page = get(&with_code).await;
    assert_eq!(page.status, 200);
    assert_self_contained(&page);
    let html = page.text();
    assert!(!html.contains(device["device_code"].as_str().unwrap()), "the device code is the device's secret");
    assert!(html.contains("refresh token"));
    let bruno = h.emulator.users().into_iter().find(|u| u.email == "bruno@example.eu").unwrap().id;
    let request = input_value(&html, "request");
    let form = [("request", request.as_str()), ("user", bruno.as_str()), ("decision", "accept")];
    let reply = submit(&verification, &form).await;
    assert_eq!(reply.status, 200);
    assert_self_contained(&reply);
    assert!(reply.text().contains("Device connected"));
    assert_eq!(submit(&verification, &form).await.status, 400, "the form is single use");

    assert_eq!(poll(&h, "us", &device).await.json()["user_location"], "eu");
    assert!(poll(&h, "eu", &device).await.json()["access_token"].is_string());
}

#[tokio::test]
async fn a_person_denies_on_the_verification_page() {
    let h = Harness::start().await;
    let device = start(&h, "eu", &[]).await;
    let mut url = h.url("eu", "/oauth/v3/device");
    url.query_pairs_mut().append_pair("user_code", user_code(&device));
    let html = get(&url).await.text();
    let request = input_value(&html, "request");
    let reply = submit(&h.url("eu", "/oauth/v3/device"), &[("request", &request), ("decision", "deny")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.text().contains("Access denied"));
    assert_error(&poll(&h, "eu", &device).await, 200, "access_denied");
    // The page is gone once the request is decided.
    assert_eq!(get(&url).await.status, 404);
}
