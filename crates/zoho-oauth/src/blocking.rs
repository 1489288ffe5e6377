//! The flow for synchronous programs: scripts, command-line tools, threads without an async runtime
//! (cargo feature `blocking`).
//!
//! [`Flow<S>`] wraps the async [`crate::Flow<S>`] and runs each call to completion on a small
//! runtime of its own: one worker thread for the whole process, started on first use, which drives
//! the HTTP connections while the calling threads wait. The guarantees are the async flow's,
//! because it is the same flow: the compile-checked states, the lock-free cached
//! [`access_token`](Flow::access_token), one refresh however many threads ask at expiry, and the
//! store protocol shared with other processes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use zoho_oauth::blocking;
//! use zoho_oauth::{ClientConfig, ClientSecret, DataCenter, Endpoints, Environment, FileStore, Scopes};
//!
//! fn main() -> anyhow::Result<()> {
//!     let config = ClientConfig::new("1000.YOUR_CLIENT_ID", Endpoints::zoho(DataCenter::Eu, Environment::Production))
//!         .client_secret(ClientSecret::new(std::env::var("ZOHO_CLIENT_SECRET")?))
//!         .redirect_uri("https://app.example.com/oauth/callback")?
//!         .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"])?);
//!     let store = Arc::new(FileStore::new("tokens.json"));
//!     let flow = blocking::flow(config)?.with_store(store, "me@example.com");
//!
//!     let session = match flow.clone().restore_from_store()? {
//!         Some(session) => session,
//!         None => {
//!             let (url, pending) = flow.authorization_url();
//!             println!("open {url}, then paste the URL you were sent back to:");
//!             let mut callback = String::new();
//!             std::io::stdin().read_line(&mut callback)?;
//!             pending.exchange(callback.trim())?
//!         }
//!     };
//!     // Any number of threads may share `session`: one refresh at expiry, whoever asks.
//!     let header = session.authorization_header()?;
//!     # drop(header);
//!     Ok(())
//! }
//! ```
//!
//! # Panics
//!
//! Every method that waits panics when called from inside an async runtime (as
//! `reqwest::blocking` does), since blocking there would stall that runtime's other tasks: use
//! the async [`crate::Flow`] there.

use std::sync::{Arc, OnceLock};

use http::HeaderValue;
use url::Url;
use zoho_oauth_core::{AuthorizationCode, HttpClient, HttpRequest, HttpResponse, TokenSet, TransportError};
use zoho_oauth_flow::{
    Authorized, ClientConfig, CodeIssued, CurrentToken, Error, ExchangeError, FlowState, Result, RevokeError,
    SelfClient, Unauthorized,
};
use zoho_oauth_store::TokenStore;

use crate::ReqwestClient;

/// The process's blocking runtime: one worker thread drives the connections of every blocking
/// flow, so a program pays for one thread however many flows it holds. Built on first use; a
/// failure to build it is kept and reported by every later call.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zoho-oauth-blocking")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|message| {
        // Nothing was sent: the request could not even start.
        Error::from(TransportError::new(
            zoho_oauth_core::TransportErrorKind::Connect,
            format!("the blocking runtime could not start: {message}"),
        ))
    })
}

/// A flow in state `S` whose methods block the calling thread until they finish.
///
/// The blocking twin of [`crate::Flow`]; [`from_async`](Flow::from_async) and
/// [`into_async`](Flow::into_async) move between the two.
pub struct Flow<S: FlowState> {
    inner: zoho_oauth_flow::Flow<S>,
    runtime: &'static tokio::runtime::Runtime,
}

impl<S: FlowState + std::fmt::Debug> std::fmt::Debug for Flow<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::Flow").field(&self.inner).finish()
    }
}

impl Clone for Flow<Unauthorized> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), runtime: self.runtime }
    }
}

/// Starts a blocking flow for `config` over a [`ReqwestClient`] with default settings.
///
/// ```
/// use zoho_oauth::{ClientConfig, DataCenter, Endpoints, Environment, blocking};
///
/// let config = ClientConfig::new("1000.CLIENT_ID", Endpoints::zoho(DataCenter::Us, Environment::Production));
/// let (url, _pending) = blocking::flow(config)?.authorization_url();
/// assert!(url.as_str().starts_with("https://accounts.zoho.com/oauth/v2/auth?"));
/// # Ok::<(), zoho_oauth::Error>(())
/// ```
pub fn flow(config: ClientConfig) -> Result<Flow<Unauthorized>> {
    let http = ReqwestClient::new()?;
    Flow::new(config, Arc::new(http))
}

impl<S: FlowState> Flow<S> {
    /// Wraps an async flow, to drive it from synchronous code.
    pub fn from_async(flow: zoho_oauth_flow::Flow<S>) -> Result<Self> {
        Ok(Self { inner: flow, runtime: runtime()? })
    }

    /// The async flow inside, for code that has a runtime of its own.
    pub fn into_async(self) -> zoho_oauth_flow::Flow<S> {
        self.inner
    }

    /// The async flow inside, borrowed.
    pub fn as_async(&self) -> &zoho_oauth_flow::Flow<S> {
        &self.inner
    }
}

impl Flow<Unauthorized> {
    /// A new flow for `config`, sending its requests through `http`.
    pub fn new(config: ClientConfig, http: Arc<dyn HttpClient>) -> Result<Self> {
        Self::from_async(zoho_oauth_flow::Flow::new(config, http))
    }

    /// Saves every token change to `store` under `user`; see [`crate::Flow::with_store`].
    pub fn with_store(self, store: Arc<dyn TokenStore>, user: impl Into<String>) -> Self {
        let runtime = self.runtime;
        Self { inner: self.inner.with_store(store, user), runtime }
    }

    /// Restores the authorization saved in the store, without a browser; see
    /// [`crate::Flow::restore_from_store`].
    pub fn restore_from_store(self) -> Result<Option<Flow<Authorized>>> {
        let runtime = self.runtime;
        let restored = runtime.block_on(self.inner.restore_from_store())?;
        Ok(restored.map(|inner| Flow { inner, runtime }))
    }

    /// The authorization URL to send the user to, and the pending flow; see
    /// [`crate::Flow::authorization_url`].
    #[must_use]
    pub fn authorization_url(self) -> (Url, Flow<CodeIssued>) {
        let runtime = self.runtime;
        let (url, inner) = self.inner.authorization_url();
        (url, Flow { inner, runtime })
    }

    /// Enters the flow with a code from Zoho's API console; see [`crate::Flow::self_client`].
    #[must_use]
    pub fn self_client(self, code: AuthorizationCode) -> Flow<CodeIssued<SelfClient>> {
        let runtime = self.runtime;
        Flow { inner: self.inner.self_client(code), runtime }
    }

    /// Resumes a pending authorization saved with [`Flow::into_pending`]; see [`crate::Flow::resume`].
    pub fn resume(self, pending: CodeIssued) -> Result<Flow<CodeIssued>> {
        let runtime = self.runtime;
        Ok(Flow { inner: self.inner.resume(pending)?, runtime })
    }

    /// Restores an authorization from saved tokens; see [`crate::Flow::restore`].
    pub fn restore(self, tokens: TokenSet) -> Result<Flow<Authorized>> {
        let runtime = self.runtime;
        Ok(Flow { inner: self.inner.restore(tokens)?, runtime })
    }
}

impl Flow<CodeIssued> {
    /// The pending state, to save server-side and [`resume`](Flow::resume) later.
    pub fn into_pending(self) -> CodeIssued {
        self.inner.into_pending()
    }

    /// Exchanges the callback URL for tokens; see [`crate::Flow::exchange`].
    ///
    /// On failure, [`ExchangeError::into_flow`] gives back the async pending flow when nothing was
    /// sent; [`Flow::from_async`] makes it blocking again.
    #[allow(
        clippy::result_large_err,
        reason = "the same error as the async flow's, which gives the flow back by value"
    )]
    pub fn exchange(self, callback: &str) -> Result<Flow<Authorized>, ExchangeError> {
        let runtime = self.runtime;
        let inner = runtime.block_on(self.inner.exchange(callback))?;
        Ok(Flow { inner, runtime })
    }
}

impl Flow<CodeIssued<SelfClient>> {
    /// Exchanges the self-client code for tokens.
    #[allow(
        clippy::result_large_err,
        reason = "the same error as the async flow's, which gives the flow back by value"
    )]
    pub fn exchange(self) -> Result<Flow<Authorized>, ExchangeError<SelfClient>> {
        let runtime = self.runtime;
        let inner = runtime.block_on(self.inner.exchange())?;
        Ok(Flow { inner, runtime })
    }
}

impl Flow<Authorized> {
    /// A valid access token, renewed first if it is due; see [`crate::Flow::access_token`].
    ///
    /// A fresh token is served without I/O or lock; when many threads ask at expiry, one refresh
    /// request is made and every thread gets its result.
    pub fn access_token(&self) -> Result<CurrentToken> {
        self.runtime.block_on(self.inner.access_token())
    }

    /// Renews the access token if it is due and reports a failure; see [`crate::Flow::renew_if_due`].
    pub fn renew_if_due(&self) -> Result<bool> {
        self.runtime.block_on(self.inner.renew_if_due())
    }

    /// Refreshes the access token now; see [`crate::Flow::refresh`].
    pub fn refresh(&self) -> Result<()> {
        self.runtime.block_on(self.inner.refresh())
    }

    /// A copy of the tokens currently held.
    pub fn tokens(&self) -> TokenSet {
        self.inner.tokens()
    }

    /// The API domain the token response named.
    pub fn api_domain(&self) -> Option<Url> {
        self.inner.api_domain()
    }

    /// The accounts server the tokens belong to.
    pub fn accounts_server(&self) -> String {
        self.inner.accounts_server()
    }

    /// Whether the authorization was revoked.
    pub fn is_revoked(&self) -> bool {
        self.inner.is_revoked()
    }

    /// The `Authorization` header value for an API call; see [`crate::Flow::authorization_header`].
    pub fn authorization_header(&self) -> Result<HeaderValue> {
        self.runtime.block_on(self.inner.authorization_header())
    }

    /// The URL of `path_and_query` on the session's API domain.
    pub fn api_url(&self, path_and_query: &str) -> Result<Url> {
        self.inner.api_url(path_and_query)
    }

    /// Sends an API request with the `Authorization` header, refreshing and retrying once on a
    /// rejected token; see [`crate::Flow::send`].
    pub fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.runtime.block_on(self.inner.send(request))
    }

    /// Revokes the grant and returns to [`Unauthorized`]; see [`crate::Flow::revoke`].
    ///
    /// On failure, [`RevokeError::flow`] holds the async flow, unchanged.
    #[allow(
        clippy::result_large_err,
        reason = "the same error as the async flow's, which gives the flow back by value"
    )]
    pub fn revoke(self) -> Result<Flow<Unauthorized>, RevokeError> {
        let runtime = self.runtime;
        let inner = runtime.block_on(self.inner.revoke())?;
        Ok(Flow { inner, runtime })
    }

    /// Revokes a session other threads share; see [`crate::Flow::revoke_shared`].
    pub fn revoke_shared(&self) -> Result<()> {
        self.runtime.block_on(self.inner.revoke_shared())
    }
}
