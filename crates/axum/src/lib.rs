//! Sign users in with Zoho in an [axum](https://docs.rs/axum) web app, over
//! [`zoho_oauth`](https://docs.rs/zoho-oauth): a login route, a callback route, a logout route,
//! and the [`ZohoSession`] extractor that hands each handler the signed-in user's authorized
//! session, kept fresh through the app's [`TokenStore`](zoho_oauth::TokenStore).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, response::Html, routing::get};
//! use zoho_oauth::{ClientConfig, ClientSecret, DataCenter, Endpoints, Environment, MemoryStore, Scopes};
//! use zoho_oauth_axum::{ZohoAuth, ZohoSession, escape_html};
//!
//! async fn home(session: ZohoSession) -> Html<String> {
//!     // The session refreshes its token through the store when needed; `send` adds the header.
//!     let user = session.user();
//!     Html(format!("<p>Hello {}</p>{}", escape_html(&user.full_name), session.logout_form()))
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
//!     .client_secret(ClientSecret::new(std::env::var("ZOHO_CLIENT_SECRET")?))
//!     .scopes(Scopes::zoho(["ZohoCRM.users.READ", "ZohoCRM.modules.ALL"])?);
//! // Register https://app.example.com/auth/callback as the redirect URI in Zoho's API console.
//! let auth = ZohoAuth::builder(config, Arc::new(MemoryStore::new()), "https://app.example.com/").build()?;
//! let app: Router = Router::new().route("/", get(home)).merge(auth.router()).with_state(auth);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The design (cookies, where the pending state lives, what is checked when, running behind a
//! proxy, plugging in another session layer) is in `docs/web.md`, the crate's README.
//! The routes are built from public steps ([`ZohoAuth::start_login`], [`ZohoAuth::finish_login`],
//! [`ZohoAuth::session_for`], [`ZohoAuth::sign_out_user`]), so an app with its own session layer
//! (tower-sessions, say) can keep the pending sign-in and the user id there instead.

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod auth;
mod cookies;
mod error;
mod extract;
mod html;
mod identity;
mod routes;

pub use auth::{
    CALLBACK_PATH, CallbackError, LOGIN_PATH, LOGOUT_PATH, PendingLogin, SignedIn, SignedInUser, ZohoAuth,
    ZohoAuthBuilder,
};
pub use error::{Error, LoginError};
pub use extract::{SessionRejection, ZohoSession};
pub use html::escape_html;

/// The axum version this crate is built against, re-exported so that apps match it.
pub use axum;
/// The flow library the sessions come from.
pub use zoho_oauth;
