//! The demo web app: the Zoho accounts emulator (two data centers, an HTML consent page) and an
//! axum app that signs users in with `zoho-oauth-axum` and shows their CRM user record.
//!
//! Shared by the `web` example and the browser tests (`tests/browser.rs`), so the tests drive
//! exactly the app people run.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;
use zoho_accounts_emulator::{ClientRegistration, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, EmulatorConfig};
use zoho_oauth::{ClientConfig, ClientSecret, Endpoints, MemoryStore, Scopes, SharedClock};
use zoho_oauth_axum::{ZohoAuth, ZohoSession, escape_html};

/// A running demo: the emulator, the app's address, its token store and its sign-in.
pub(crate) struct Demo {
    /// The emulated Zoho accounts servers (`us` and `eu`).
    pub(crate) emulator: Emulator,
    /// The app's address, such as `http://127.0.0.1:8080/`.
    pub(crate) url: Url,
    /// Where the app keeps every user's grant.
    pub(crate) store: Arc<MemoryStore>,
    /// The app's sign-in.
    pub(crate) auth: ZohoAuth,
    server: JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The app's state: only the sign-in here; a real app adds its own fields.
#[derive(Clone)]
struct AppState {
    auth: ZohoAuth,
}

impl FromRef<AppState> for ZohoAuth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Starts the emulator and the app on `127.0.0.1:port` (0 for any free port).
///
/// `app_clock` replaces the app's clock for the pending and sign-in lifetimes (tests move a
/// `ManualClock`); the emulator keeps the system clock.
pub(crate) async fn start(port: u16, app_clock: Option<SharedClock>) -> anyhow::Result<Demo> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.context("binding the app's port")?;
    let url = Url::parse(&format!("http://{}/", listener.local_addr()?))?;

    // The demo client, registered with this app's exact redirect URI, as in Zoho's API console.
    let redirect = url.join("auth/callback")?;
    let client = ClientRegistration::demo().redirect_uri(redirect.as_str());
    let config = EmulatorConfig::new().data_centers(&["us", "eu"]).consent_page(true).client(client);
    let emulator = Emulator::start(config).await.context("starting the accounts emulator")?;

    let us = emulator.accounts_url("us");
    let eu = emulator.accounts_url("eu");
    let endpoints = Endpoints::zoho_custom(us.as_str(), None, &[eu.as_str()])?;
    let config = ClientConfig::new(DEMO_CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(DEMO_CLIENT_SECRET))
        .scopes(Scopes::zoho(["ZohoCRM.users.READ"])?);
    let store = Arc::new(MemoryStore::new());
    let mut builder = ZohoAuth::builder(config, store.clone(), url.as_str());
    if let Some(clock) = app_clock {
        builder = builder.clock(clock);
    }
    let auth = builder.build()?;

    let app = Router::new().route("/", get(home)).merge(auth.router()).with_state(AppState { auth: auth.clone() });
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the demo app stopped");
        }
    });
    Ok(Demo { emulator, url, store, auth, server })
}

/// The one page: a sign-in link, or the signed-in user's CRM record and the token's expiry.
async fn home(session: Option<ZohoSession>) -> Response {
    let Some(session) = session else {
        return page(
            StatusCode::OK,
            "<h1>Zoho sign-in demo</h1>\n<p>Not signed in.</p>\n\
             <p><a id=\"sign-in\" href=\"/auth/login\">Sign in with Zoho</a></p>\n",
        );
    };
    // Asked live with the user's token, which the session refreshes through the store when due.
    let record = match crm_user(&session).await {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(%error, "the CRM user record could not be read");
            return page(StatusCode::BAD_GATEWAY, "<h1>Zoho sign-in demo</h1>\n<p>The CRM did not answer.</p>\n");
        }
    };
    let field = |name: &str| escape_html(record.get(name).and_then(|v| v.as_str()).unwrap_or(""));
    let data_center = match field("data_center") {
        dc if dc.is_empty() => escape_html(&session.user().data_center),
        dc => dc,
    };
    let expires = session.session().tokens().expires_at();
    let body = format!(
        "<h1>Zoho sign-in demo</h1>\n<p>Signed in. Your CRM user record:</p>\n<dl>\n\
         <dt>Name</dt><dd id=\"name\">{}</dd>\n<dt>E-mail</dt><dd id=\"email\">{}</dd>\n\
         <dt>Data center</dt><dd id=\"data-center\">{}</dd>\n<dt>CRM user id</dt><dd id=\"user-id\">{}</dd>\n\
         <dt>Access token expires</dt><dd id=\"expires\">{}</dd>\n</dl>\n{}\n",
        field("full_name"),
        field("email"),
        data_center.to_uppercase(),
        field("id"),
        expires.format("%Y-%m-%d %H:%M:%S UTC"),
        session.logout_form(),
    );
    page(StatusCode::OK, &body)
}

/// `GET {api_domain}/crm/v8/users?type=CurrentUser` with the session's token.
async fn crm_user(session: &ZohoSession) -> anyhow::Result<serde_json::Value> {
    let flow = session.session();
    let url = flow.api_url("/crm/v8/users?type=CurrentUser")?;
    let request = axum::http::Request::get(url.as_str()).body(Vec::new())?;
    let response = flow.send(request).await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "HTTP {}", response.status());
    let mut answer: serde_json::Value = serde_json::from_slice(response.body())?;
    let users = answer.get_mut("users").and_then(|u| u.as_array_mut()).context("no users in the answer")?;
    anyhow::ensure!(!users.is_empty(), "an empty users list");
    Ok(users.swap_remove(0))
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Zoho sign-in demo</title>\n\
         <style>body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; }} \
         dt {{ font-weight: bold; }} dd {{ margin: 0 0 0.6rem 0; }}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`: with `no-referrer` the browser would send the logout form with `Origin: null`,
    // which the logout route refuses; other sites still get no referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    response
}
