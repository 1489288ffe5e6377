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
//!
//! # Constructing the types
//!
//! Where the flow sends its requests, for Zoho, for any RFC 6749 server, or by discovery
//! ([`discover`], RFC 8414):
//!
//! ```
//! use zoho_oauth::{ClientAuth, DataCenter, Endpoints, Environment};
//!
//! let zoho = Endpoints::zoho(DataCenter::Eu, Environment::Sandbox);
//! assert_eq!(zoho.token_url().as_str(), "https://accounts.zoho.eu/oauth/v2/token");
//! assert_eq!("au".parse::<DataCenter>()?, DataCenter::Au);
//! assert_eq!(DataCenter::Au.accounts_server(), "https://accounts.zoho.com.au");
//!
//! let standard = Endpoints::standard("https://as.example/authorize", "https://as.example/token", None)?
//!     .with_client_auth(ClientAuth::RequestBody)
//!     .with_issuer("https://as.example");
//! assert_eq!(standard.issuer(), Some("https://as.example"));
//! # Ok::<(), zoho_oauth::core::Error>(())
//! ```
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let http = zoho_oauth::ReqwestClient::new()?;
//! let discovered = zoho_oauth::discover(&http, "https://login.example.com").await?;
//! # drop(discovered);
//! # Ok(())
//! # }
//! ```
//!
//! Secrets, scopes, the HTTP client and the clock:
//!
//! ```
//! use std::time::Duration;
//! use zoho_oauth::{ClientSecret, ManualClock, ReqwestClient, Scopes};
//!
//! let secret = ClientSecret::new(std::env::var("ZOHO_CLIENT_SECRET").unwrap_or_default());
//! assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
//!
//! let scopes = Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?;
//! assert_eq!(scopes.len(), 2);
//!
//! let http = ReqwestClient::builder().connect_timeout(Duration::from_secs(5)).build()?;
//! # drop(http);
//!
//! // Tests move time by hand: share one clock between the client and the emulator.
//! let clock = ManualClock::starting_now();
//! clock.advance(chrono::Duration::minutes(56));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Token stores and the key tokens are saved under:
//!
//! ```
//! use std::sync::Arc;
//! use zoho_oauth::{Environment, FileStore, MemoryStore, StoreKey, TokenStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let dir = tempfile::tempdir()?;
//! let file: Arc<dyn TokenStore> = Arc::new(FileStore::open(dir.path().join("tokens.json")).await?);
//! let memory: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
//! let key = StoreKey::new("1000.CLIENT_ID", "me@example.com", "https://accounts.zoho.eu", Environment::Production);
//! assert!(file.load(&key).await?.is_none());
//! assert!(memory.keys().await?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`ClientConfig`], [`RefreshPolicy`], [`Scopes`] and [`ServerMetadata`] have examples on their
//! own pages, and the [`blocking`](crate#cargo-features) API (feature `blocking`) in its module.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::sync::Arc;

pub use zoho_oauth_core::{
    AccessToken, AuthorizationCode, BodyStream, Bytes, Callback, ClientAuth, ClientSecret, Clock, CsrfState,
    DataCenter, DeviceCode, Dialect, Endpoints, Environment, ErrorCode, HttpClient, HttpRequest, HttpResponse,
    MalformedKind, ManualClock, PkceVerifier, Redirected, RefreshToken, Renewal, RequestKind, ResponseBody, Scope,
    Scopes, ServerError, SharedClock, StreamingResponse, SystemClock, TokenSet, TransportError, TransportErrorKind,
};
pub use zoho_oauth_flow::{
    AccessType, Authorized, ClientConfig, ClockSleeper, CodeIssued, CurrentToken, DEFAULT_API_BODY_LIMIT,
    DEFAULT_REFRESH_MARGIN, DEFAULT_TIMEOUT, DeviceCodeIssued, DeviceError, DiscoveryError, Error, ExchangeError,
    FailureKind, Flow, FlowState, HttpPolicy, Poll, Prompt, RESERVED_AUTHORIZATION_PARAMS, Redirect, RefreshError,
    RefreshPolicy, Result, RetryPolicy, RevokeError, SelfClient, ServerMetadata, Sleeper, TOKEN_BODY_LIMIT,
    Unauthorized, Waiting, discover,
};
pub use zoho_oauth_reqwest::{ReqwestClient, ReqwestClientBuilder};
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
