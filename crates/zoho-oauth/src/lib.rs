#![doc = include_str!("../README.md")]
//!
//! # Crate map
//!
//! This facade re-exports the workspace's crates:
//! [`zoho_oauth_core`] (types, no I/O), [`zoho_oauth_flow`] (the typestate flow),
//! [`zoho_oauth_reqwest`] (the HTTP transport) and [`zoho_oauth_store`] (token storage).

use std::sync::Arc;

pub use zoho_oauth_core::{
    AccessToken, AuthorizationCode, Callback, ClientAuth, ClientSecret, Clock, CsrfState, DataCenter, DeviceCode,
    Dialect, Endpoints, Environment, ErrorCode, HttpClient, HttpRequest, HttpResponse, MalformedKind, ManualClock,
    PkceVerifier, RefreshToken, Renewal, RequestKind, Scope, Scopes, ServerError, SharedClock, SystemClock, TokenSet,
    TransportError, TransportErrorKind,
};
pub use zoho_oauth_flow::{
    AccessType, Authorized, ClientConfig, ClockSleeper, CodeIssued, CurrentToken, DEFAULT_REFRESH_MARGIN,
    DeviceCodeIssued, DeviceError, Error, ExchangeError, FailureKind, Flow, FlowState, Poll, Prompt, Redirect,
    RefreshError, RefreshPolicy, Result, RevokeError, SelfClient, Sleeper, Unauthorized, Waiting,
};
pub use zoho_oauth_reqwest::{ReqwestClient, ReqwestClientBuilder, RetryPolicy};
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
