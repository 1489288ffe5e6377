#![doc = include_str!("../README.md")]
//!
//! # Crate map
//!
//! This facade re-exports the workspace's crates:
//! [`zoho_oauth_core`] (types, no I/O), [`zoho_oauth_flow`] (the typestate flow),
//! [`zoho_oauth_reqwest`] (the HTTP transport) and [`zoho_oauth_store`] (token storage).

use std::sync::Arc;

pub use zoho_oauth_core::{
    AccessToken, AuthorizationCode, BodyStream, Bytes, Callback, ClientAuth, ClientSecret, Clock, CsrfState,
    DataCenter, Dialect, Endpoints, Environment, ErrorCode, HttpClient, HttpRequest, HttpResponse, MalformedKind,
    ManualClock, PkceVerifier, Redirected, RefreshToken, RequestKind, ResponseBody, Scope, Scopes, ServerError,
    SharedClock, StreamingResponse, SystemClock, TokenSet, TransportError, TransportErrorKind,
};
pub use zoho_oauth_flow::{
    AccessType, Authorized, ClientConfig, CodeIssued, CurrentToken, DEFAULT_API_BODY_LIMIT, DEFAULT_REFRESH_MARGIN,
    DEFAULT_TIMEOUT, Error, ExchangeError, FailureKind, Flow, FlowState, HttpPolicy, Prompt, Redirect, RefreshError,
    RefreshPolicy, Result, RetryPolicy, RevokeError, SelfClient, TOKEN_BODY_LIMIT, Unauthorized,
};
pub use zoho_oauth_reqwest::{ReqwestClient, ReqwestClientBuilder};
pub use zoho_oauth_store::{
    FailureRecord, FileStore, MemoryStore, Record, RefreshState, StoreKey, StoreLock, TokenStore,
};

/// Token storage: the trait, its backends and its error type.
pub use zoho_oauth_store as store;

/// The core types, for what the facade does not re-export by name.
pub use zoho_oauth_core as core;

/// Starts a flow for `config` over a [`ReqwestClient`] with default settings.
pub fn flow(config: ClientConfig) -> Result<Flow<Unauthorized>> {
    let http = ReqwestClient::new()?;
    Ok(Flow::new(config, Arc::new(http)))
}
