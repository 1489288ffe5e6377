//! The whole Zoho OAuth flow against the embedded accounts emulator: no Zoho account needed.
//!
//! Run with `cargo run --example quickstart`. Every step prints one line; no secret is printed.

use std::sync::Arc;

use anyhow::{Context, bail};
use zoho_accounts_emulator::{Emulator, EmulatorConfig};
use zoho_oauth::{ClientConfig, ClientSecret, Endpoints, Flow, HttpPolicy, RequestKind, ReqwestClient, Scopes};

const CLIENT_ID: &str = "1000.DEMOCLIENT";
const CLIENT_SECRET: &str = "demo-client-secret";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Two data centers; the user's account lives in the second, as with Zoho's multi-DC sign-in.
    let emulator = Emulator::start(EmulatorConfig::new().data_centers(&["us", "eu"])).await?;
    emulator.set_user_data_center("eu");
    let us = emulator.accounts_url("us");
    let eu = emulator.accounts_url("eu");
    println!("1. emulator up: accounts servers us={us} eu={eu}");

    let endpoints = Endpoints::zoho_custom(us.as_str(), None, &[eu.as_str()])?;
    let config = ClientConfig::new(CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .redirect_uri(REDIRECT_URI)?
        .scopes(Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?);
    let http = Arc::new(ReqwestClient::new()?);
    let flow = Flow::new(config, http.clone());

    let (url, pending) = flow.authorization_url();
    println!("2. authorization URL (state and PKCE challenge are random): {}", without_query_values(&url));

    let callback = headless_consent(&http, &url).await?;
    let callback_url = url::Url::parse(&callback)?;
    let param = |name: &str| callback_url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    println!(
        "3. user consented; redirected back with location={} accounts-server={}",
        param("location").unwrap_or_default(),
        param("accounts-server").unwrap_or_default()
    );

    let session = pending.exchange(&callback).await?;
    let tokens = session.tokens();
    let api = session.api_domain().context("the token response names an API domain")?;
    println!(
        "4. code exchanged at {}: api_domain={api} expires_at={} scopes={} refresh_token={}",
        session.accounts_server(),
        tokens.expires_at().format("%H:%M:%S"),
        tokens.scopes().join(" "),
        if tokens.refresh_token().is_some() { "held" } else { "none" },
    );

    let status = call_crm(&http, &api, session.authorization_header().await?).await?;
    println!("5. GET {api}crm/v8/users?type=CurrentUser -> {status}");

    session.refresh().await?;
    println!("6. forced a refresh: new access token expires at {}", session.tokens().expires_at().format("%H:%M:%S"));

    let header = session.authorization_header().await?;
    let status = call_crm(&http, &api, header.clone()).await?;
    println!("7. GET {api}crm/v8/users?type=CurrentUser -> {status}");

    let _unauthorized = session.revoke().await.map_err(|e| e.error)?;
    println!("8. revoked the refresh token and its access tokens at the accounts server");

    let status = call_crm(&http, &api, header).await?;
    println!("9. the old access token after revocation: GET ... -> {status}");
    if status != "401 INVALID_TOKEN" {
        bail!("the API accepted a revoked token");
    }

    let c = emulator.counters();
    println!(
        "10. requests seen by the emulator: authorize={} exchange={} refresh={} revoke={} api={}",
        c.authorize, c.token_exchange, c.token_refresh, c.revoke, c.api
    );
    Ok(())
}

/// Follows the authorization URL the way a browser would; the emulator consents at once.
async fn headless_consent(http: &ReqwestClient, url: &url::Url) -> anyhow::Result<String> {
    let request = http::Request::get(url.as_str()).body(Vec::new())?;
    let response = HttpPolicy::default().execute(http, request, RequestKind::Api).await?;
    let location = response.headers().get("location").context("the consent page redirects back")?;
    Ok(location.to_str()?.to_owned())
}

/// Calls the emulated CRM endpoint and describes the answer.
async fn call_crm(http: &ReqwestClient, api: &url::Url, authorization: http::HeaderValue) -> anyhow::Result<String> {
    let request = http::Request::get(api.join("/crm/v8/users?type=CurrentUser")?.as_str())
        .header(http::header::AUTHORIZATION, authorization)
        .body(Vec::new())?;
    let response = HttpPolicy::default().execute(http, request, RequestKind::Api).await?;
    let body: serde_json::Value = serde_json::from_slice(response.body())?;
    Ok(match response.status().as_u16() {
        200 => format!("200 OK (user: {})", body["users"][0]["full_name"].as_str().unwrap_or("?")),
        status => format!("{status} {}", body["code"].as_str().unwrap_or("?")),
    })
}

/// The URL with the values of `state` and `code_challenge` elided, to keep the line short.
fn without_query_values(url: &url::Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" || k == "code_challenge" { "...".to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}
