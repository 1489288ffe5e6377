//! The HTML consent page of `GET /oauth/v2/auth` and its form, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{Harness, assert_self_contained, get, input_value, submit, user_choices};
use zoho_accounts_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, EmulatedUser, Emulator, EmulatorConfig,
};

async fn with_page() -> Harness {
    Harness::start_with(|config| config.consent_page(true)).await
}

/// Opens the consent page at `dc` and returns its HTML.
async fn open_page(h: &Harness, dc: &str, extra: &[(&str, &str)]) -> String {
    let reply = get(&h.auth_url(dc, extra)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_self_contained(&reply);
    reply.text()
}

fn user_id(h: &Harness, email: &str) -> String {
    h.emulator.users().into_iter().find(|u| u.email == email).unwrap().id
}

fn zoho_auth(token: &serde_json::Value) -> String {
    format!("Zoho-oauthtoken {}", token.as_str().unwrap())
}

#[tokio::test]
async fn the_page_lists_the_default_users_with_their_data_centers() {
    let h = with_page().await;
    let users = h.emulator.users();
    let emails: Vec<(&str, &str)> = users.iter().map(|u| (u.email.as_str(), u.data_center.as_str())).collect();
    // Devika lives in `in`, which this emulator does not serve, so she is left out.
    assert_eq!(emails, [("alice@example.com", "us"), ("bruno@example.eu", "eu"), ("chloe@example.com", "us")]);

    let html = open_page(&h, "us", &[("state", "s1")]).await;
    assert_eq!(user_choices(&html), users.iter().map(|u| u.id.clone()).collect::<Vec<_>>());
    for needle in ["Alice Andersen", "alice@example.com", "data center US", "bruno@example.eu", "data center EU"] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    assert!(html.contains("<code>ZohoCRM.modules.ALL</code>") && html.contains("<code>ZohoCRM.users.READ</code>"));
    assert!(html.contains(DEMO_CLIENT_ID));
    assert!(!html.contains(DEMO_CLIENT_SECRET), "the page never shows the client secret");
    assert!(!html.contains("Emulated User"), "the built-in user is for headless consent only");
    assert_eq!(h.emulator.counters().authorize, 1);
}

#[tokio::test]
async fn the_page_escapes_what_it_echoes() {
    let h = with_page().await;
    let url = h.auth_url_replacing("us", &[("scope", "<script>alert(1)</script>,a\"b'c&d")]);
    let reply = get(&url).await;
    assert_self_contained(&reply);
    let html = reply.text();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a&quot;b&#39;c&amp;d"));
}

#[tokio::test]
async fn accepting_as_a_us_user_redirects_with_a_code_for_that_user() {
    let h = with_page().await;
    let html = open_page(&h, "us", &[("state", "opaque state/+&=")]).await;
    let form = [
        ("request", input_value(&html, "request")),
        ("user", user_id(&h, "alice@example.com")),
        ("decision", "accept".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let reply = submit(&h.url("us", "/oauth/v2/auth"), &form).await;
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert!(reply.header("location").unwrap().starts_with(&format!("{DEMO_REDIRECT_URI}?code=1000.")));
    let params = reply.location_params();
    assert_eq!(params["location"], "us");
    assert_eq!(params["accounts-server"], h.emulator.accounts_url("us").origin().ascii_serialization());
    assert_eq!(params["state"], "opaque state/+&=");

    let tokens = h.exchange("us", &params["code"], &[]).await.json();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let me = h.crm("us", &zoho_auth(&tokens["access_token"])).await.json();
    let record = &me["users"][0];
    assert_eq!(record["full_name"], "Alice Andersen");
    assert_eq!(record["email"], "alice@example.com");
    assert_eq!(record["id"], user_id(&h, "alice@example.com"));
    assert_eq!(record["data_center"], "us");
    // Access tokens refreshed later belong to the same user.
    let refreshed = h.refresh("us", tokens["refresh_token"].as_str().unwrap()).await.json();
    let me = h.crm("us", &zoho_auth(&refreshed["access_token"])).await.json();
    assert_eq!(me["users"][0]["email"], "alice@example.com");

    // The form was single use.
    let again = submit(&h.url("us", "/oauth/v2/auth"), &form).await;
    assert_eq!(again.status, 400);
    assert!(again.header("location").is_none());
}

#[tokio::test]
async fn an_eu_user_chosen_at_us_gets_an_eu_code() {
    let h = with_page().await;
    let html = open_page(&h, "us", &[]).await;
    let request = input_value(&html, "request");
    let bruno = user_id(&h, "bruno@example.eu");
    let form = [("request", request.as_str()), ("user", bruno.as_str()), ("decision", "accept")];
    let params = submit(&h.url("us", "/oauth/v2/auth"), &form).await.location_params();
    assert_eq!(params["location"], "eu");
    assert_eq!(params["accounts-server"], h.emulator.accounts_url("eu").origin().ascii_serialization());
    assert!(!params.contains_key("state"));

    common::assert_error(&h.exchange("us", &params["code"], &[]).await, 200, "invalid_code");
    let tokens = h.exchange("eu", &params["code"], &[]).await.json();
    assert_eq!(url::Url::parse(tokens["api_domain"].as_str().unwrap()).unwrap(), h.emulator.api_domain("eu"));
    let me = h.crm("eu", &zoho_auth(&tokens["access_token"])).await.json();
    assert_eq!(me["users"][0]["email"], "bruno@example.eu");
    assert_eq!(me["users"][0]["data_center"], "eu");
    assert_eq!(h.crm("us", &zoho_auth(&tokens["access_token"])).await.status, 401);
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let h = with_page().await;
    let html = open_page(&h, "us", &[("state", "s1")]).await;
    let request = input_value(&html, "request");
    // Deny needs no user.
    let reply = submit(&h.url("us", "/oauth/v2/auth"), &[("request", &request), ("decision", "deny")]).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(format!("{DEMO_REDIRECT_URI}?error=access_denied&state=s1").as_str()));
    assert_eq!(h.emulator.counters().token_exchange, 0);
}

#[tokio::test]
async fn accept_without_a_user_shows_the_page_again() {
    let h = with_page().await;
    let html = open_page(&h, "us", &[]).await;
    let request = input_value(&html, "request");
    let url = h.url("us", "/oauth/v2/auth");
    let reply = submit(&url, &[("request", &request), ("decision", "accept")]).await;
    assert_eq!(reply.status, 400);
    assert_self_contained(&reply);
    assert!(reply.text().contains("Choose the user"));
    // Neither a missing user nor the built-in one, which the page does not offer, spends the page.
    let built_in = [("request", request.as_str()), ("user", "4150868000000225013"), ("decision", "accept")];
    assert_eq!(submit(&url, &built_in).await.status, 400);
    let chloe = user_id(&h, "chloe@example.com");
    let reply = submit(&url, &[("request", &request), ("user", &chloe), ("decision", "accept")]).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.location_params()["location"], "us");
}

#[tokio::test]
async fn forged_stale_or_foreign_forms_are_refused() {
    let h = with_page().await;
    let html = open_page(&h, "us", &[("state", "s")]).await;
    let request = input_value(&html, "request");
    let alice = user_id(&h, "alice@example.com");
    let form = [("request", request.as_str()), ("user", alice.as_str()), ("decision", "accept")];
    let url = h.url("us", "/oauth/v2/auth");

    let made_up = [("request", "1000.made.up"), ("user", alice.as_str()), ("decision", "accept")];
    assert_eq!(submit(&url, &made_up).await.status, 400);
    // Another site's page cannot answer for the person.
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let foreign = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")];
    assert_eq!(common::request("POST", &url, &foreign, &body).await.status, 403);
    let other_port = format!("http://127.0.0.1:{}", h.emulator.accounts_url("eu").port().unwrap());
    let other_port = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", other_port.as_str())];
    assert_eq!(common::request("POST", &url, &other_port, &body).await.status, 403);
    let cross_site = [("Content-Type", "application/x-www-form-urlencoded"), ("Sec-Fetch-Site", "cross-site")];
    assert_eq!(common::request("POST", &url, &cross_site, &body).await.status, 403);
    // The value is bound to the listener that showed the page.
    assert_eq!(submit(&h.url("eu", "/oauth/v2/auth"), &form).await.status, 400);
    assert_eq!(submit(&url, &[("request", &request), ("decision", "maybe")]).await.status, 400);

    // None of that spent the page, but time does.
    h.clock.advance(Duration::minutes(10));
    let reply = submit(&url, &form).await;
    assert_eq!(reply.status, 400);
    assert_self_contained(&reply);
    assert!(reply.text().contains("expired"));
}

#[tokio::test]
async fn request_errors_are_still_redirected_or_shown_before_any_page() {
    let h = with_page().await;
    let reply = get(&h.auth_url_replacing("us", &[("scope", " "), ("state", "s")])).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.location_params()["error"], "invalid_scope");
    let mut unknown_client = h.url("us", "/oauth/v2/auth");
    unknown_client.query_pairs_mut().append_pair("client_id", "1000.NOBODY");
    assert_eq!(get(&unknown_client).await.status, 400);
}

#[tokio::test]
async fn headless_consent_stays_the_default_and_can_come_back() {
    let h = Harness::start().await;
    assert_eq!(get(&h.auth_url("us", &[])).await.status, 302);
    h.emulator.set_consent_page(true);
    assert_eq!(get(&h.auth_url("us", &[])).await.status, 200);
    h.emulator.set_consent_page(false);
    let params = get(&h.auth_url("us", &[])).await.location_params();
    let tokens = h.exchange("us", &params["code"], &[]).await.json();
    let me = h.crm("us", &zoho_auth(&tokens["access_token"])).await.json();
    assert_eq!(me["users"][0]["full_name"], "Emulated User");
}

#[tokio::test]
async fn users_are_configurable_and_checked() {
    let users = vec![
        EmulatedUser::new("Ines <Ops>", "ines@example.in", "in"),
        EmulatedUser::new("Uma", "uma@example.com", "us"),
    ];
    let h = Harness::start_with(|config| config.data_centers(&["us", "in"]).users(users).consent_page(true)).await;
    assert_eq!(h.emulator.users().len(), 2);
    let html = open_page(&h, "us", &[]).await;
    assert!(html.contains("Ines &lt;Ops&gt;") && html.contains("data center IN") && !html.contains("Alice"));
    let ines = user_id(&h, "ines@example.in");
    let request = input_value(&html, "request");
    let form = [("request", request.as_str()), ("user", ines.as_str()), ("decision", "accept")];
    let reply = submit(&h.url("us", "/oauth/v2/auth"), &form).await;
    assert_eq!(reply.location_params()["location"], "in");

    // Ids derive from the address, so they are stable across runs.
    assert_eq!(EmulatedUser::new("X", "ines@example.in", "us").id, ines);
    let start = |users: Vec<EmulatedUser>| Emulator::start(EmulatorConfig::new().users(users));
    let unserved = start(vec![EmulatedUser::new("Jo", "jo@example.jp", "jp")]).await;
    assert_eq!(unserved.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    let twice = vec![EmulatedUser::new("A", "a@example.com", "us"), EmulatedUser::new("B", "A@example.com", "eu")];
    assert_eq!(start(twice).await.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}
