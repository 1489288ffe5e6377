//! `Flow<S>` and its states: the typestate itself, with no transitions.
//!
//! The transitions live in one module per state (`unauthorized.rs`, `code_issued.rs`,
//! `authorized.rs`); each depends on this module, and this module depends on none of them.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use zoho_oauth_core::{AuthorizationCode, CsrfState, DeviceCode, PkceVerifier};

use crate::client::Client;
use crate::manager::TokenManager;

mod sealed {
    pub trait Sealed {}
}

/// A state of the authorization flow. Sealed: only this crate's states implement it.
pub trait FlowState: sealed::Sealed {}

/// A client for one OAuth 2.0 authorization, in state `S`.
///
/// Each transition consumes the flow and returns it in the next state, so the compiler refuses
/// what the protocol forbids: exchanging a code that was never requested, asking for an access
/// token before authorization, or reusing a consumed state.
///
/// ```text
/// Flow<Unauthorized> --authorization_url()--> Flow<CodeIssued> --exchange(callback)--> Flow<Authorized>
///        |                                                                                  |
///        +--self_client(code)--> Flow<CodeIssued<SelfClient>> --exchange()--> ...           |
///        +--device_authorization()--> Flow<DeviceCodeIssued> --poll_once()/wait()--> ...     |
///        +--client_credentials(soid)--> Flow<Authorized>                                    |
///        ^------------------------------------------revoke()----------------------------------+
/// ```
#[must_use]
pub struct Flow<S: FlowState> {
    pub(crate) client: Arc<Client>,
    pub(crate) state: S,
}

impl<S: FlowState + std::fmt::Debug> std::fmt::Debug for Flow<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").field("config", &self.client.config).field("state", &self.state).finish()
    }
}

/// No authorization yet.
#[derive(Debug, Clone)]
pub struct Unauthorized {
    _private: (),
}

impl Unauthorized {
    pub(crate) fn new() -> Self {
        Unauthorized { _private: () }
    }
}

/// The user was sent to the consent page; the flow waits for the callback.
///
/// `V` says how the code arrives: [`Redirect`] (the browser brings it back with `state`) or
/// [`SelfClient`] (the code was generated in Zoho's API console).
///
/// # Security
///
/// A `CodeIssued<Redirect>` can be serialized so that the request that receives the callback can
/// resume the flow (see [`Flow::into_pending`]). What it holds is secret: the PKCE verifier and
/// the `state` value. Keep it server-side (e.g. in a server-side session), never in a cookie or URL
/// the browser can read, and delete it once the callback is handled.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeIssued<V = Redirect> {
    pub(crate) client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<CsrfState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verifier: Option<PkceVerifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<AuthorizationCode>,
    pub(crate) started_at: DateTime<Utc>,
    #[serde(skip)]
    pub(crate) via: PhantomData<V>,
}

/// The code arrives on the redirect URI, with `state`.
#[derive(Debug)]
pub enum Redirect {}

/// The code was generated in Zoho's API console for a self client: there is no browser,
/// no `state` and no PKCE.
#[derive(Debug)]
pub enum SelfClient {}

/// A device authorization was started (RFC 8628, or Zoho's flow for devices without a browser):
/// the user enters [`user_code`](Flow::user_code) at [`verification_uri`](Flow::verification_uri)
/// while the device polls.
///
/// # Security
///
/// It can be serialized, to resume polling after a restart (see [`Flow::pending`]). It holds the
/// device code, which is what gets exchanged for tokens: keep it where only the device can read
/// it, and delete it once the flow ends.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceCodeIssued {
    pub(crate) client_id: String,
    pub(crate) device_code: DeviceCode,
    pub(crate) user_code: String,
    pub(crate) verification_uri: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verification_uri_complete: Option<Url>,
    /// The accounts server polls go to: the configured one, or the user's after Zoho's `other_dc`.
    pub(crate) accounts_server: String,
    pub(crate) expires_at: DateTime<Utc>,
    /// The wait between polls, in seconds, after any `slow_down`.
    pub(crate) interval_seconds: u64,
    /// No poll is sent before this instant.
    pub(crate) next_poll_at: DateTime<Utc>,
    pub(crate) started_at: DateTime<Utc>,
}

/// Authorized: the flow holds tokens and keeps the access token fresh.
///
/// `Flow<Authorized>` is `Send + Sync`; share it between tasks behind an `Arc`.
/// It has its token manager by construction: there is no authorized flow without tokens.
#[derive(Debug)]
pub struct Authorized {
    pub(crate) manager: TokenManager,
}

impl sealed::Sealed for Unauthorized {}
impl FlowState for Unauthorized {}
impl<V> sealed::Sealed for CodeIssued<V> {}
impl<V> FlowState for CodeIssued<V> {}
impl sealed::Sealed for DeviceCodeIssued {}
impl FlowState for DeviceCodeIssued {}
impl sealed::Sealed for Authorized {}
impl FlowState for Authorized {}
