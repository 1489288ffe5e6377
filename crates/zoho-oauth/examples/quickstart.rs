//! The whole Zoho OAuth flow against the embedded accounts emulator: no Zoho account needed.
//!
//! Run with `cargo run --example quickstart`. Every step prints one line; no secret is printed.
//! It shows what the README teaches: the consent, the exchange at the user's data center, saving to
//! a `FileStore`, `send()`, a restart restored without a browser, a renewal with its new expiry,
//! and revocation.

use std::sync::Arc;

use anyhow::{Context, bail};
use zoho_accounts_emulator::{Emulator, EmulatorConfig};
use zoho_oauth::{
    Authorized, ClientConfig, ClientSecret, Endpoints, FileStore, Flow, HttpPolicy, ManualClock, RequestKind,
    ReqwestClient, Scopes,
};

const CLIENT_ID: &str = "1000.DEMOCLIENT";
const CLIENT_SECRET: &str = "demo-client-secret";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Two data centers; the user's account lives in the second, as with Zoho's multi-DC sign-in.
    // The emulator and the client share a manual clock, so step 7 can jump an hour ahead.
    let clock = ManualClock::starting_now();
    let emulator =
        Emulator::start(EmulatorConfig::new().data_centers(&["us", "eu"]).clock(Arc::new(clock.clone()))).await?;
    emulator.set_user_data_center("eu");
    let us = emulator.accounts_url("us");
    let eu = emulator.accounts_url("eu");
    println!("1. emulator up: accounts servers us={us} eu={eu}");

    let endpoints = Endpoints::zoho_custom(us.as_str(), None, &[eu.as_str()])?;
    let config = ClientConfig::new(CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .redirect_uri(REDIRECT_URI)?
        .scopes(Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?)
        .clock(Arc::new(clock.clone()));
    let http = Arc::new(ReqwestClient::new()?);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("zoho").join("tokens.json");
    let store = Arc::new(FileStore::open(&path).await?);
    let flow = Flow::new(config.clone(), http.clone()).with_store(store.clone(), "me@example.com");

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
        "4. code exchanged at {}: api_domain={api} expires_at={} scopes={} refresh_token={}; saved to {} (mode {})",
        session.accounts_server(),
        tokens.expires_at().format("%H:%M:%S"),
        tokens.scopes().join(" "),
        if tokens.refresh_token().is_some() { "held" } else { "none" },
        path.display(),
        file_mode(&path),
    );

    let status = crm_user(&session, &api).await?;
    println!("5. session.send(GET {api}crm/v8/users?type=CurrentUser) -> {status}");

    // A restart: the process forgets the session; the token file brings it back without a browser.
    drop(session);
    let session = Flow::new(config, http.clone())
        .with_store(store, "me@example.com")
        .restore_from_store()
        .await?
        .context("the tokens were saved")?;
    println!("6. after a restart: restored from the token file, no browser; API at {}", session.accounts_server());

    let before = session.tokens().expires_at();
    clock.advance(chrono::Duration::minutes(58));
    let header = session.authorization_header().await?;
    println!(
        "7. 58 minutes later the token was within its margin and was renewed: expiry {} -> {} (saved first)",
        before.format("%H:%M:%S"),
        session.tokens().expires_at().format("%H:%M:%S"),
    );

    let status = crm_user(&session, &api).await?;
    println!("8. session.send(GET .../users?type=CurrentUser) -> {status}");

    let _unauthorized = session.revoke().await.map_err(|e| e.error)?;
    println!(
        "9. revoked the refresh token and its access tokens at the accounts server, and deleted them from the file"
    );

    let status = call_crm(&http, &api, header).await?;
    println!("10. the old access token after revocation: GET ... -> {status}");
    if status != "401 INVALID_TOKEN" {
        bail!("the API accepted a revoked token");
    }

    let c = emulator.counters();
    println!(
        "11. requests seen by the emulator: authorize={} exchange={} refresh={} revoke={} api={}",
        c.authorize, c.token_exchange, c.token_refresh, c.revoke, c.api
    );
    Ok(())
}

/// Calls the CRM's current-user endpoint through the session: the `Authorization` header is added,
/// and a rejected token is refreshed once.
async fn crm_user(session: &Flow<Authorized>, api: &url::Url) -> anyhow::Result<String> {
    let request = http::Request::get(api.join("/crm/v8/users?type=CurrentUser")?.as_str()).body(Vec::new())?;
    let response = session.send(request).await?;
    describe(response.status().as_u16(), response.body())
}

/// The token file's permission bits, e.g. `0600`.
fn file_mode(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(path) {
            return format!("{:04o}", metadata.permissions().mode() & 0o777);
        }
    }
    let _ = path;
    "unknown".to_owned()
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
    describe(response.status().as_u16(), response.body())
}

/// Describes a CRM answer in a few words.
fn describe(status: u16, body: &[u8]) -> anyhow::Result<String> {
    let body: serde_json::Value = serde_json::from_slice(body)?;
    Ok(match status {
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
