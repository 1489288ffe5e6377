//! Data centers, revocation, the CRM endpoint and the counters, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{Harness, assert_error, post_form, request};
use zoho_accounts_emulator::{Counters, Emulator, EmulatorConfig};

fn zoho_auth(token: &serde_json::Value) -> String {
    format!("Zoho-oauthtoken {}", token.as_str().unwrap())
}

fn assert_invalid_token(reply: &common::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"})
    );
}

#[tokio::test]
async fn a_code_for_an_eu_user_is_only_valid_at_eu() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let reply = common::get(&h.auth_url("us", &[])).await;
    let params = reply.location_params();
    assert_eq!(params["location"], "eu");
    assert_eq!(params["accounts-server"], h.emulator.accounts_url("eu").origin().ascii_serialization());

    assert_error(&h.exchange("us", &params["code"], &[]).await, 200, "invalid_code");
    // The failed attempt at us did not spend the code: it does not exist there.
    let tokens = h.exchange("eu", &params["code"], &[]).await.json();
    assert_eq!(url::Url::parse(tokens["api_domain"].as_str().unwrap()).unwrap(), h.emulator.api_domain("eu"));

    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_error(&h.refresh("us", refresh).await, 200, "invalid_code");
    assert_eq!(h.refresh("eu", refresh).await.status, 200);
    assert_invalid_token(&h.crm("us", &zoho_auth(&tokens["access_token"])).await);
    assert_eq!(h.crm("eu", &zoho_auth(&tokens["access_token"])).await.status, 200);
}

#[tokio::test]
async fn the_crm_endpoint_accepts_a_live_token_only() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let reply = h.crm("us", &zoho_auth(&tokens["access_token"])).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["users"][0]["full_name"], "Emulated User");
    assert_eq!(body["users"][0]["id"], "4150868000000225013");

    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_invalid_token(&h.crm("us", &bearer).await);
    h.emulator.set_accept_bearer(true);
    assert_eq!(h.crm("us", &bearer).await.status, 200);

    assert_invalid_token(&h.crm("us", "Zoho-oauthtoken 1000.made.up").await);
    let url = h.emulator.api_domain("us").join("/crm/v8/users?type=CurrentUser").unwrap();
    assert_invalid_token(&request("GET", &url, &[], "").await);

    h.clock.advance(Duration::seconds(3600));
    assert_invalid_token(&h.crm("us", &zoho_auth(&tokens["access_token"])).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_access_tokens() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshed = h.refresh("us", refresh).await.json();
    // An unrelated grant must survive the revocation.
    let other = h.tokens("us").await;

    let reply = h.revoke("us", refresh).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"status": "success"}));
    assert_invalid_token(&h.crm("us", &zoho_auth(&tokens["access_token"])).await);
    assert_invalid_token(&h.crm("us", &zoho_auth(&refreshed["access_token"])).await);
    assert_error(&h.refresh("us", refresh).await, 200, "invalid_code");
    assert_eq!(h.crm("us", &zoho_auth(&other["access_token"])).await.status, 200);

    // A new offline consent after the revocation yields a new refresh token.
    assert!(h.tokens("us").await["refresh_token"].is_string());
}

#[tokio::test]
async fn revoking_an_access_token_kills_only_it() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    // RFC 7009 sends the token in the body; Zoho's SDKs send it in the query.
    let mut url = h.url("us", "/oauth/v2/token/revoke");
    url.query_pairs_mut().append_pair("token", tokens["access_token"].as_str().unwrap());
    let reply = request("POST", &url, &[], "").await;
    assert_eq!(reply.json(), serde_json::json!({"status": "success"}));
    assert_invalid_token(&h.crm("us", &zoho_auth(&tokens["access_token"])).await);
    assert_eq!(h.refresh("us", tokens["refresh_token"].as_str().unwrap()).await.status, 200);
}

#[tokio::test]
async fn revocation_answers_success_for_unknown_tokens_and_refuses_none() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let revoke_url = h.url("us", "/oauth/v2/token/revoke");
    let pairs = [("token", "1000.unknown.token"), ("token_type_hint", "refresh_token")];
    assert_eq!(post_form(&revoke_url, &pairs).await.json(), serde_json::json!({"status": "success"}));
    // A token minted at us is unknown at eu, so revoking it there changes nothing.
    assert_eq!(h.revoke("eu", tokens["refresh_token"].as_str().unwrap()).await.status, 200);
    assert_eq!(h.crm("us", &zoho_auth(&tokens["access_token"])).await.status, 200);

    assert_error(&post_form(&revoke_url, &[]).await, 200, "invalid_request");
}

#[tokio::test]
async fn counters_count_every_request_per_data_center() {
    let h = Harness::start().await;
    let tokens = h.tokens("us").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    h.refresh("us", refresh).await;
    h.refresh("eu", refresh).await;
    h.crm("us", &zoho_auth(&tokens["access_token"])).await;
    h.crm("eu", "Zoho-oauthtoken nope").await;
    h.revoke("us", refresh).await;

    let us = Counters { authorize: 1, token_exchange: 1, token_refresh: 1, revoke: 1, api: 1, ..Counters::default() };
    let eu = Counters { token_refresh: 1, api: 1, token_errors: 1, ..Counters::default() };
    assert_eq!(h.emulator.counters_for("us"), us);
    assert_eq!(h.emulator.counters_for("eu"), eu);
    let total = h.emulator.counters();
    assert_eq!((total.token_refresh, total.api, total.token_errors), (2, 2, 1));
}

#[tokio::test]
async fn three_data_centers_and_shutdown() {
    let emulator = Emulator::start(EmulatorConfig::new().data_centers(&["us", "eu", "in"])).await.unwrap();
    assert_eq!(emulator.data_centers(), ["us", "eu", "in"]);
    let urls: Vec<_> = emulator.data_centers().iter().map(|dc| emulator.accounts_url(dc)).collect();
    assert!(urls.iter().all(|u| u.host_str() == Some("127.0.0.1")));
    assert_ne!(urls[0], urls[2]);
    let address = (urls[2].host_str().unwrap().to_owned(), urls[2].port().unwrap());
    emulator.shutdown().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener is closed");

    let duplicate = Emulator::start(EmulatorConfig::new().data_centers(&["us", "us"])).await;
    assert_eq!(duplicate.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert!(Emulator::start(EmulatorConfig::new().data_centers(&[])).await.is_err());
}

#[tokio::test]
async fn ports_can_be_fixed_per_data_center() {
    // A port that was free a moment ago; another process taking it in between would only make
    // this test fail, never pass wrongly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let emulator = Emulator::start(EmulatorConfig::new().port("eu", port)).await.unwrap();
    assert_eq!(emulator.accounts_url("eu").port(), Some(port));
    assert_ne!(emulator.accounts_url("us").port(), Some(port));
    emulator.shutdown().await;

    let unserved = Emulator::start(EmulatorConfig::new().port("jp", 8080)).await;
    assert_eq!(unserved.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
