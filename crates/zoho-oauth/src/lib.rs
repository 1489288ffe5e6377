#![doc = include_str!("../README.md")]
//!
//! # Crate map
//!
//! This facade re-exports the workspace's crates:
//! [`zoho_oauth_core`] (types, no I/O), [`zoho_oauth_flow`] (the typestate flow),
//! [`zoho_oauth_reqwest`] (the HTTP transport) and [`zoho_oauth_store`] (token storage),
//! and the foreign crates its API names: [`http`] and [`url`].
//!
//! # Cargo features
//!
//! | feature      | default | what it adds |
//! |--------------|---------|--------------|
//! | `file`       | on      | [`FileStore`]: the locked, crash-safe token file |
//! | `blocking`   | off     | `blocking`: the same flow for synchronous programs, with a one-thread runtime of its own |
//! | `encryption` | off     | `EncryptedStore` and `EncryptionKey`: tokens encrypted at rest (XChaCha20-Poly1305) around any store |
//! | `postgres`   | off     | `postgres`: the PostgreSQL token store for fleets of processes (`zoho-oauth-store-postgres`, sqlx) |
//!
//! `cargo xtask features` checks that each combination builds.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::sync::Arc;

pub use zoho_oauth_core::{
    AccessToken, AuthorizationCode, Callback, ClientAuth, ClientSecret, Clock, CsrfState, DataCenter, Dialect,
    Endpoints, Environment, ErrorCode, HttpClient, HttpRequest, HttpResponse, MalformedKind, ManualClock, PkceVerifier,
    RefreshToken, RequestKind, Scope, Scopes, ServerError, SharedClock, SystemClock, TokenSet, TransportError,
    TransportErrorKind,
};
pub use zoho_oauth_flow::{
    AccessType, Authorized, ClientConfig, CodeIssued, CurrentToken, DEFAULT_REFRESH_MARGIN, DiscoveryError, Error,
    ExchangeError, FailureKind, Flow, FlowState, Prompt, RESERVED_AUTHORIZATION_PARAMS, Redirect, RefreshError,
    RefreshPolicy, Result, RevokeError, SelfClient, ServerMetadata, Unauthorized, discover,
};
pub use zoho_oauth_reqwest::{ReqwestClient, ReqwestClientBuilder, RetryPolicy};
#[cfg(feature = "file")]
pub use zoho_oauth_store::FileStore;
#[cfg(feature = "encryption")]
pub use zoho_oauth_store::{EncryptedStore, EncryptionKey};
pub use zoho_oauth_store::{FailureRecord, MemoryStore, Record, RefreshState, StoreKey, StoreLock, TokenStore};

/// The `http` crate, whose request, response and header types the API takes and returns.
pub use http;
/// The `url` crate, whose `Url` the API takes and returns.
pub use url;

/// Token storage: the trait, its backends and its error type.
pub use zoho_oauth_store as store;

/// The core types, for what the facade does not re-export by name.
pub use zoho_oauth_core as core;

/// The PostgreSQL token store for fleets of processes (cargo feature `postgres`).
#[cfg(feature = "postgres")]
pub use zoho_oauth_store_postgres as postgres;

#[cfg(feature = "blocking")]
pub mod blocking;

/// Starts a flow for `config` over a [`ReqwestClient`] with default settings.
///
/// ```
/// use zoho_oauth::{ClientConfig, DataCenter, Endpoints, Environment, Scopes};
///
/// let config = ClientConfig::new("1000.CLIENT_ID", Endpoints::zoho(DataCenter::Eu, Environment::Production))
///     .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"])?);
/// let (url, _pending) = zoho_oauth::flow(config)?.authorization_url();
/// assert_eq!(url.host_str(), Some("accounts.zoho.eu"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn flow(config: ClientConfig) -> Result<Flow<Unauthorized>> {
    let http = ReqwestClient::new()?;
    Ok(Flow::new(config, Arc::new(http)))
}
