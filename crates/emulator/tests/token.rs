//! The token endpoint, `POST /oauth/v2/token`, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use common::{Harness, assert_error, pkce_pair, post_form, request};
use zoho_accounts_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI};

fn is_zoho_token(value: &serde_json::Value) -> bool {
    let parts: Vec<&str> = value.as_str().unwrap_or_default().split('.').collect();
    parts.len() == 3 && parts[0] == "1000" && parts[1..].iter().all(|p| p.len() == 32)
}

#[tokio::test]
async fn a_code_is_exchanged_for_tokens_in_zohos_shape() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    let reply = h.exchange("us", &code, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json;charset=UTF-8"));
    let body = reply.json();
    assert!(is_zoho_token(&body["access_token"]), "{body}");
    assert!(is_zoho_token(&body["refresh_token"]), "{body}");
    assert_eq!(body["scope"], "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let api_domain = url::Url::parse(body["api_domain"].as_str().unwrap()).unwrap();
    assert_eq!(api_domain, h.emulator.api_domain("us"));
}

#[tokio::test]
async fn a_reused_code_is_invalid_code_with_http_200() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    assert_eq!(h.exchange("us", &code, &[]).await.status, 200);
    assert_error(&h.exchange("us", &code, &[]).await, 200, "invalid_code");
}

#[tokio::test]
async fn a_failed_attempt_spends_the_code() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    let wrong = [("redirect_uri", "http://127.0.0.1/elsewhere")];
    // The extra pair conflicts with the default redirect_uri, so send the request by hand.
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        wrong[0],
    ];
    assert_error(&post_form(&h.url("us", "/oauth/v2/token"), &pairs).await, 200, "invalid_redirect_uri");
    assert_error(&h.exchange("us", &code, &[]).await, 200, "invalid_code");
}

#[tokio::test]
async fn an_expired_code_is_invalid_code() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    h.clock.advance(Duration::seconds(121));
    assert_error(&h.exchange("us", &code, &[]).await, 200, "invalid_code");
}

#[tokio::test]
async fn pkce_needs_the_right_verifier() {
    let h = Harness::start().await;
    let (verifier, challenge) = pkce_pair();
    let with_challenge = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];

    let code = h.code("us", &with_challenge).await;
    assert_eq!(h.exchange("us", &code, &[("code_verifier", &verifier)]).await.status, 200);

    let code = h.code("us", &with_challenge).await;
    let wrong = "another-verifier-that-is-also-long-enough-for-rfc-7636";
    assert_error(&h.exchange("us", &code, &[("code_verifier", wrong)]).await, 200, "invalid_code");

    let code = h.code("us", &with_challenge).await;
    assert_error(&h.exchange("us", &code, &[]).await, 200, "invalid_code");

    let code = h.code("us", &[]).await;
    assert_error(&h.exchange("us", &code, &[("code_verifier", &verifier)]).await, 200, "invalid_code");
}

#[tokio::test]
async fn client_authentication_errors_name_what_is_wrong() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    let token_url = h.url("us", "/oauth/v2/token");
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", "not-the-secret"),
        ("redirect_uri", DEMO_REDIRECT_URI),
    ];
    assert_error(&post_form(&token_url, &pairs).await, 200, "invalid_client_secret");
    pairs[2] = ("client_id", "1000.NOBODY");
    assert_error(&post_form(&token_url, &pairs).await, 200, "invalid_client");
    // A refused client never reached the code, so the code still works.
    assert_eq!(h.exchange("us", &code, &[]).await.status, 200);
}

#[tokio::test]
async fn the_error_status_is_configurable() {
    let h = Harness::start().await;
    h.emulator.set_error_status(400);
    assert_error(&h.exchange("us", "1000.nonsense", &[]).await, 400, "invalid_code");
    assert_eq!(h.exchange("us", &h.code("us", &[]).await, &[]).await.status, 200);
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_invalid_redirect_uri() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
    ];
    assert_error(&post_form(&h.url("us", "/oauth/v2/token"), &pairs).await, 200, "invalid_redirect_uri");
}

#[tokio::test]
async fn basic_authentication_and_query_parameters_are_accepted() {
    let h = Harness::start().await;
    let code = h.code("us", &[]).await;
    let mut url = h.url("us", "/oauth/v2/token");
    url.query_pairs_mut()
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", DEMO_REDIRECT_URI);
    let basic = format!("Basic {}", STANDARD.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}")));
    let reply = request("POST", &url, &[("Authorization", &basic)], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let wrong = format!("Basic {}", STANDARD.encode(format!("{DEMO_CLIENT_ID}:nope")));
    let reply = request("POST", &url, &[("Authorization", &wrong)], "").await;
    assert_error(&reply, 200, "invalid_client_secret");
}

#[tokio::test]
async fn refresh_mints_a_new_access_token_without_a_refresh_token() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let reply = h.refresh("us", tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert!(is_zoho_token(&body["access_token"]));
    assert_ne!(body["access_token"], tokens["access_token"]);
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["scope"], "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    assert_eq!(body["expires_in"], 3600);

    assert_error(&h.refresh("us", "1000.unknown.token").await, 200, "invalid_code");
}

#[tokio::test]
async fn refresh_tokens_follow_access_type_and_prompt() {
    let h = Harness::start().await;
    let exchange = |extra: &'static [(&'static str, &'static str)]| {
        let h = &h;
        async move {
            let code = h.code("us", extra).await;
            h.exchange("us", &code, &[]).await.json()
        }
    };
    let first = exchange(&[]).await;
    assert!(first["refresh_token"].is_string(), "the first offline grant has a refresh token");
    let second = exchange(&[]).await;
    assert!(second.get("refresh_token").is_none(), "later offline grants have none: {second}");
    let forced = exchange(&[("prompt", "consent")]).await;
    assert!(forced["refresh_token"].is_string(), "prompt=consent forces a new one");

    // An online grant never has one.
    let mut url = h.auth_url("us", &[]);
    let pairs: Vec<(String, String)> =
        url.query_pairs().into_owned().filter(|(name, _)| name != "access_type").collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let code = common::get(&url).await.location_params()["code"].clone();
    assert!(h.exchange("us", &code, &[]).await.json().get("refresh_token").is_none());
}

#[tokio::test]
async fn legacy_mode_sends_expires_in_sec_and_milliseconds() {
    let h = Harness::start().await;
    h.emulator.set_legacy_expires(true);
    let tokens = h.tokens("us").await;
    assert_eq!(tokens["expires_in_sec"], 3600);
    assert_eq!(tokens["expires_in"], 3_600_000);
    let refreshed = h.refresh("us", tokens["refresh_token"].as_str().unwrap()).await.json();
    assert_eq!(refreshed["expires_in_sec"], 3600);
    assert_eq!(refreshed["expires_in"], 3_600_000);
}

#[tokio::test]
async fn malformed_token_requests_are_refused() {
    let h = Harness::start().await;
    let token_url = h.url("us", "/oauth/v2/token");
    let unsupported = [("grant_type", "password"), ("client_id", DEMO_CLIENT_ID)];
    assert_error(&post_form(&token_url, &unsupported).await, 200, "unsupported_grant_type");
    assert_error(&post_form(&token_url, &[("client_id", DEMO_CLIENT_ID)]).await, 200, "invalid_request");
    let no_code =
        [("grant_type", "authorization_code"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)];
    assert_error(&post_form(&token_url, &no_code).await, 200, "invalid_request");
    let no_secret = [("grant_type", "refresh_token"), ("client_id", DEMO_CLIENT_ID), ("refresh_token", "x")];
    assert_error(&post_form(&token_url, &no_secret).await, 200, "invalid_request");

    let counters = h.emulator.counters();
    assert_eq!((counters.token_exchange, counters.token_refresh, counters.token_errors), (1, 1, 4));
}

#[tokio::test]
async fn a_self_client_code_needs_no_redirect_uri_and_lives_as_long_as_chosen() {
    let h = Harness::start().await;
    let code = h.emulator.issue_self_client_code("us", DEMO_CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(10));
    h.clock.advance(Duration::minutes(9));
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
    ];
    let body = post_form(&h.url("us", "/oauth/v2/token"), &pairs).await.json();
    assert!(body["refresh_token"].is_string(), "{body}");
    assert_eq!(body["scope"], "ZohoCRM.modules.ALL");

    let late = h.emulator.issue_self_client_code("us", DEMO_CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(1));
    h.clock.advance(Duration::minutes(2));
    let pairs = [("code", late.as_str()), pairs[0], pairs[2], pairs[3]];
    assert_error(&post_form(&h.url("us", "/oauth/v2/token"), &pairs).await, 200, "invalid_code");
}
