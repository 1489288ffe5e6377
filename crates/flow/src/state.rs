//! The flow's states and the transitions between them.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use oauth2::{CsrfToken, PkceCodeChallenge};
use serde::{Deserialize, Serialize};
use url::Url;
use zoho_oauth_core::{
    AuthorizationCode, Callback, CsrfState, Dialect, Endpoints, HttpClient, PkceVerifier, RequestKind, TokenSet, redact,
};

use zoho_oauth_store::{StoreKey, TokenStore};

use crate::authorized::Authorized;
use crate::config::{AccessType, ClientConfig, Prompt};
use crate::error::{Error, Result};
use crate::glue::{Carrier, map_error, oauth_client};

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
///        ^------------------------------------------revoke()----------------------------------+
/// ```
#[must_use]
pub struct Flow<S: FlowState> {
    pub(crate) client: Arc<Client>,
    pub(crate) state: S,
}

/// What every state shares: the configuration and the HTTP client.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) config: ClientConfig,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) persistence: Option<Persistence>,
}

/// Where an authorization's tokens are saved, and under whose name.
#[derive(Debug, Clone)]
pub(crate) struct Persistence {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) user: String,
}

impl Client {
    /// The key the tokens from `accounts_server` are saved under, if the flow has a store.
    pub(crate) fn store_key(&self, accounts_server: &str) -> Option<(Arc<dyn TokenStore>, StoreKey)> {
        self.persistence.as_ref().map(|p| {
            let key = StoreKey::new(
                self.config.client_id.clone(),
                p.user.clone(),
                accounts_server,
                self.config.endpoints.environment(),
            );
            (p.store.clone(), key)
        })
    }
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
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<CsrfState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verifier: Option<PkceVerifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<AuthorizationCode>,
    started_at: DateTime<Utc>,
    #[serde(skip)]
    via: PhantomData<V>,
}

/// The code arrives on the redirect URI, with `state`.
#[derive(Debug)]
pub enum Redirect {}

/// The code was generated in Zoho's API console for a self client: there is no browser,
/// no `state` and no PKCE.
#[derive(Debug)]
pub enum SelfClient {}

impl sealed::Sealed for Unauthorized {}
impl FlowState for Unauthorized {}
impl<V> sealed::Sealed for CodeIssued<V> {}
impl<V> FlowState for CodeIssued<V> {}
impl sealed::Sealed for Authorized {}
impl FlowState for Authorized {}

impl Clone for Flow<Unauthorized> {
    fn clone(&self) -> Self {
        Flow { client: self.client.clone(), state: self.state.clone() }
    }
}

impl Flow<Unauthorized> {
    /// A new flow for `config`, sending its requests through `http`.
    pub fn new(config: ClientConfig, http: Arc<dyn HttpClient>) -> Self {
        Flow { client: Arc::new(Client { config, http, persistence: None }), state: Unauthorized::new() }
    }

    /// Saves every token change of the authorizations this flow makes to `store`, under `user`.
    ///
    /// With a store, tokens are saved after the exchange and after every refresh before they are
    /// handed out, deleted after revocation, and coordinated with other processes sharing the store
    /// (one refreshes, the others load its result). `user` tells authorizations apart in one store:
    /// an email, an organisation id, or a fixed name such as `"default"`.
    pub fn with_store(self, store: Arc<dyn TokenStore>, user: impl Into<String>) -> Self {
        let client = Client {
            config: self.client.config.clone(),
            http: self.client.http.clone(),
            persistence: Some(Persistence { store, user: user.into() }),
        };
        Flow { client: Arc::new(client), state: self.state }
    }

    /// Restores the authorization saved in the flow's store for its client, user and environment,
    /// without a browser: a restarted program needs no new consent.
    ///
    /// Returns `Ok(None)` when nothing is saved (the user must authorize), and
    /// [`Error::Store`] when the flow has no store or the store fails.
    pub async fn restore_from_store(self) -> Result<Option<Flow<Authorized>>> {
        let Some(persistence) = self.client.persistence.clone() else {
            return Err(Error::Store { message: "the flow has no token store (see Flow::with_store)".to_owned() });
        };
        let config = &self.client.config;
        let mut newest: Option<TokenSet> = None;
        for key in persistence.store.keys().await? {
            let ours = key.client_id() == config.client_id
                && key.user() == persistence.user
                && key.environment() == config.endpoints.environment();
            if !ours {
                continue;
            }
            // The user may have authorized at several data centers; the latest authorization wins.
            if let Some(tokens) = persistence.store.load(&key).await?.map(zoho_oauth_store::Record::into_tokens) {
                if newest.as_ref().is_none_or(|n| tokens.expires_at() > n.expires_at()) {
                    newest = Some(tokens);
                }
            }
        }
        newest.map(|tokens| self.restore(tokens)).transpose()
    }

    /// Builds the authorization URL to send the user to, and moves to [`CodeIssued`].
    ///
    /// The URL carries a fresh random `state` and a PKCE S256 challenge (RFC 7636), the scopes
    /// (comma-joined for Zoho, space-joined otherwise), and for Zoho `access_type` and `prompt`.
    pub fn authorization_url(self) -> (Url, Flow<CodeIssued>) {
        let config = &self.client.config;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = oauth_client(config, &config.endpoints)
            .set_auth_uri(oauth2::AuthUrl::from_url(config.endpoints.authorization_url().clone()));
        let separator = match config.endpoints.dialect() {
            Dialect::Zoho => ",",
            Dialect::Standard => " ",
        };
        let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
        if !config.scopes.is_empty() {
            request = request.add_extra_param("scope", config.scopes.join(separator));
        }
        if let Some(access_type) = config.access_type {
            let value = match access_type {
                AccessType::Offline => "offline",
                AccessType::Online => "online",
            };
            request = request.add_extra_param("access_type", value);
        }
        if let Some(Prompt::Consent) = config.prompt {
            request = request.add_extra_param("prompt", "consent");
        }
        let (url, state) = request.url();
        let issued = CodeIssued {
            client_id: config.client_id.clone(),
            state: Some(CsrfState::new(state.into_secret())),
            verifier: Some(PkceVerifier::new(verifier.into_secret())),
            code: None,
            started_at: config.clock.now(),
            via: PhantomData,
        };
        (url, Flow { client: self.client, state: issued })
    }

    /// Enters the flow with a code generated in Zoho's API console (a self client), without a browser.
    pub fn self_client(self, code: AuthorizationCode) -> Flow<CodeIssued<SelfClient>> {
        let issued = CodeIssued {
            client_id: self.client.config.client_id.clone(),
            state: None,
            verifier: None,
            code: Some(code),
            started_at: self.client.config.clock.now(),
            via: PhantomData,
        };
        Flow { client: self.client, state: issued }
    }

    /// Resumes a flow whose [`CodeIssued`] state was saved with [`Flow::into_pending`].
    ///
    /// Fails if the pending state was started by a client with another client id.
    pub fn resume(self, pending: CodeIssued) -> Result<Flow<CodeIssued>> {
        if pending.client_id != self.client.config.client_id {
            return Err(Error::ForeignPendingAuthorization);
        }
        Ok(Flow { client: self.client, state: pending })
    }

    /// Restores an authorization from tokens saved earlier, without a browser.
    ///
    /// Refreshes and revocation go to the accounts server recorded in `tokens`, provided the
    /// configured endpoints trust it.
    pub fn restore(self, tokens: TokenSet) -> Result<Flow<Authorized>> {
        let endpoints = self.client.config.endpoints.redirected_to(tokens.accounts_server())?;
        let state = Authorized::new(endpoints, tokens);
        Ok(Flow { client: self.client, state })
    }
}

impl Flow<CodeIssued> {
    /// Takes the pending state out of the flow, to be saved until the callback arrives.
    ///
    /// See the security note on [`CodeIssued`]: the value is secret.
    pub fn into_pending(self) -> CodeIssued {
        self.state
    }

    /// When the authorization request was made.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.state.started_at
    }

    /// Exchanges the callback for tokens and moves to [`Authorized`].
    ///
    /// `callback` is the URL the browser was redirected to, or its query string. Before any
    /// request is made, `state` is compared in constant time with the one this flow sent, `iss` is
    /// checked when the endpoints require it (RFC 9207), a callback
    /// error such as `access_denied` becomes [`Error::AuthorizationDenied`], and Zoho's
    /// `accounts-server` is checked against the trusted accounts servers: the code is exchanged
    /// there, never at an untrusted host.
    ///
    /// The exchange is never retried: the code is single use.
    pub async fn exchange(self, callback: &str) -> Result<Flow<Authorized>> {
        let mut callback = Callback::parse(callback)?;
        let expected = self.state.state.as_ref().ok_or(Error::StateMismatch)?;
        let state_matches = callback.state().is_some_and(|got| got.ct_eq(expected));
        if let Some(error) = callback.error() {
            // A forged denial does no harm (no request is made), but a mismatched one is reported as such.
            if callback.state().is_some() && !state_matches {
                return Err(Error::StateMismatch);
            }
            return Err(Error::AuthorizationDenied {
                error: redact::excerpt(error.as_bytes()),
                description: callback.error_description().map(|d| redact::excerpt(d.as_bytes())),
            });
        }
        if !state_matches {
            return Err(Error::StateMismatch);
        }
        if let Some(expected) = self.client.config.endpoints.issuer() {
            if callback.issuer() != Some(expected) {
                return Err(Error::IssuerMismatch);
            }
        }
        let code = callback
            .take_code()
            .ok_or(Error::MalformedCallback { reason: "the callback carries neither a code nor an error" })?;
        let config = &self.client.config;
        let endpoints = match (config.endpoints.dialect(), callback.accounts_server()) {
            (Dialect::Zoho, Some(server)) => config.endpoints.redirected_to(server)?,
            _ => config.endpoints.clone(),
        };
        let verifier =
            self.state.verifier.as_ref().map(|v| oauth2::PkceCodeVerifier::new(v.expose_secret().to_owned()));
        exchange_code(self.client, endpoints, code, verifier).await
    }
}

impl Flow<CodeIssued<SelfClient>> {
    /// Exchanges the self-client code for tokens at the configured accounts server.
    pub async fn exchange(mut self) -> Result<Flow<Authorized>> {
        let code = self
            .state
            .code
            .take()
            .ok_or(Error::MalformedCallback { reason: "the self-client code was already used" })?;
        let endpoints = self.client.config.endpoints.clone();
        exchange_code(self.client, endpoints, code, None).await
    }
}

async fn exchange_code(
    client: Arc<Client>,
    endpoints: Endpoints,
    code: AuthorizationCode,
    verifier: Option<oauth2::PkceCodeVerifier>,
) -> Result<Flow<Authorized>> {
    let config = &client.config;
    let oauth = oauth_client(config, &endpoints);
    let mut request = oauth.exchange_code(oauth2::AuthorizationCode::new(code.expose_secret().to_owned()));
    if let Some(verifier) = verifier {
        request = request.set_pkce_verifier(verifier);
    }
    let carrier = Carrier {
        http: client.http.clone(),
        kind: RequestKind::CodeExchange,
        dialect: endpoints.dialect(),
        target: None,
    };
    let response = request.request_async(&carrier).await.map_err(map_error)?;
    let tokens = TokenSet::from_response(
        response,
        config.clock.now(),
        endpoints.accounts_server(),
        endpoints.api_domain(),
        &config.scopes,
        None,
    );
    if let Some((store, key)) = client.store_key(tokens.accounts_server()) {
        if let Err(error) = store.save(&key, &tokens).await {
            return Err(Error::NotSaved { message: error.to_string(), tokens: Box::new(tokens) });
        }
    }
    let state = Authorized::new(endpoints, tokens);
    Ok(Flow { client, state })
}
