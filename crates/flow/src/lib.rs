//! The compile-checked OAuth 2.0 authorization-code flow for Zoho and any RFC 6749 server, with
//! the device flow (RFC 8628 and Zoho's) and client credentials beside it.
//!
//! `Flow<Unauthorized>` becomes `Flow<CodeIssued>` when it builds the authorization URL, and
//! `Flow<Authorized>` when it exchanges the callback. Every transition consumes the flow, so
//! exchanging a code that was never requested, calling the API before authorization, or reusing a
//! consumed state does not compile.
//!
//! The front-channel mechanics (PKCE, `state`, the authorization URL) come from [`oauth2`],
//! behind one module; token requests are small form posts read in one parse by
//! `zoho_oauth_core::dialect`, where every Zoho quirk is decided.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use zoho_oauth_core::{ClientSecret, DataCenter, Endpoints, Environment, HttpClient, Scopes};
//! # use zoho_oauth_flow::{ClientConfig, Flow};
//! # async fn example(http: Arc<dyn HttpClient>, callback_url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Eu, Environment::Production))
//!     .client_secret(ClientSecret::new("from your secret store"))
//!     .redirect_uri("https://app.example.com/oauth/callback")?
//!     .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"])?);
//! let (url, pending) = Flow::new(config, http).authorization_url(); // Flow<CodeIssued>
//! // ... send the user to `url`; Zoho redirects back to the callback ...
//! let session = pending.exchange(callback_url).await?; // Flow<Authorized>
//! let token = session.access_token().await?; // refreshed when near expiry
//! # drop((url, token));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod authorized;
mod client;
mod client_credentials;
mod code_issued;
mod config;
mod deadline;
mod device;
mod discovery;
mod error;
mod flow;
mod grant;
mod http;
mod manager;
mod oauth;
mod requests;
mod unauthorized;

pub use authorized::RevokeError;
pub use code_issued::ExchangeError;
pub use config::{
    AccessType, ClientConfig, DEFAULT_REFRESH_MARGIN, Prompt, RESERVED_AUTHORIZATION_PARAMS, RefreshPolicy,
};
pub use device::{ClockSleeper, DeviceError, Poll, Sleeper, Waiting};
pub use discovery::{DiscoveryError, ServerMetadata, discover};
pub use error::{Error, RefreshError, Result};
pub use flow::{Authorized, CodeIssued, DeviceCodeIssued, Flow, FlowState, Redirect, SelfClient, Unauthorized};
pub use http::{DEFAULT_API_BODY_LIMIT, DEFAULT_TIMEOUT, HttpPolicy, RetryPolicy, TOKEN_BODY_LIMIT};
pub use manager::CurrentToken;
pub use zoho_oauth_store::FailureKind;
