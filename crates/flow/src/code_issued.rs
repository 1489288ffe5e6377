//! Waiting for the callback: checking it, and exchanging the code.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use zoho_oauth_core::{AuthorizationCode, Callback, Dialect, Endpoints, PkceVerifier, redact};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::flow::{Authorized, CodeIssued, Flow, Redirect, SelfClient};
use crate::grant;
use crate::requests::{self, Grant, Target};

/// A failed code exchange: the error, and the pending flow back when nothing was sent.
///
/// When the callback was refused before any request (a `state` mismatch, a malformed callback,
/// an untrusted `accounts-server`, a missing or wrong `iss`), the code was not used and the flow
/// can still take the right callback: a web app keeps waiting instead of starting over.
/// Once a request was sent, the code is spent (it is single use) and no flow comes back.
pub struct ExchangeError<V = Redirect> {
    error: Error,
    flow: Option<Flow<CodeIssued<V>>>,
}

impl<V> ExchangeError<V> {
    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Whether the pending flow came back, i.e. nothing was sent to the server.
    pub fn sent_nothing(&self) -> bool {
        self.flow.is_some()
    }

    /// The pending flow, when nothing was sent.
    pub fn into_flow(self) -> Option<Flow<CodeIssued<V>>> {
        self.flow
    }

    /// The error, dropping the flow.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl<V> From<ExchangeError<V>> for Error {
    fn from(error: ExchangeError<V>) -> Self {
        error.error
    }
}

impl<V> fmt::Debug for ExchangeError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeError")
            .field("error", &self.error)
            .field("flow_returned", &self.flow.is_some())
            .finish()
    }
}

/// Displays as the error itself: the returned flow is not part of the message.
impl<V> fmt::Display for ExchangeError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<V> std::error::Error for ExchangeError<V> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
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
    /// checked when the endpoints require it (RFC 9207), a callback error such as `access_denied`
    /// becomes [`Error::AuthorizationDenied`], and Zoho's `accounts-server` is checked against the
    /// trusted accounts servers: the code is exchanged there, never at an untrusted host.
    /// When any of these checks fails, the pending flow comes back inside the [`ExchangeError`].
    ///
    /// The exchange is never retried: the code is single use.
    pub async fn exchange(self, callback: &str) -> Result<Flow<Authorized>, ExchangeError> {
        let (code, endpoints) = match self.check(callback) {
            Ok(checked) => checked,
            Err(error) => {
                tracing::warn!(error = %error, "a callback was refused before any request");
                return Err(ExchangeError { error, flow: Some(self) });
            }
        };
        let verifier = self.state.verifier;
        exchange_code(self.client, endpoints, code, verifier.as_ref())
            .await
            .map_err(|error| ExchangeError { error, flow: None })
    }

    /// Everything checked before a request: the code to exchange and where.
    fn check(&self, callback: &str) -> Result<(AuthorizationCode, Endpoints)> {
        let config = &self.client.config;
        let mut callback = Callback::parse_for(callback, config.redirect_uri.as_ref())?;
        let expected = self.state.state.as_ref().ok_or(Error::StateMismatch)?;
        let state_matches = callback.state().is_some_and(|got| got.ct_eq(expected));
        if let Some(error) = callback.error() {
            // A forged denial does no harm (no request is made), but a mismatched one is reported as such.
            if callback.state().is_some() && !state_matches {
                return Err(Error::StateMismatch);
            }
            // A denial's text comes from the network: mask what this flow knows by value too.
            let secret = config.loaded_secret().map_or("", |s| s.expose_secret());
            let known = redact::Known::new().with(expected.expose_secret()).with(secret);
            return Err(Error::AuthorizationDenied {
                error: redact::excerpt_masking(error.as_bytes(), &known),
                description: callback.error_description().map(|d| redact::excerpt_masking(d.as_bytes(), &known)),
            });
        }
        if callback.state().is_none() {
            return Err(Error::StateMissing);
        }
        if !state_matches {
            return Err(Error::StateMismatch);
        }
        if let Some(expected) = config.endpoints.issuer() {
            if callback.issuer() != Some(expected) {
                return Err(Error::IssuerMismatch);
            }
        }
        let code = callback
            .take_code()
            .ok_or(Error::MalformedCallback { reason: "the callback carries neither a code nor an error" })?;
        let endpoints = match (config.endpoints.dialect(), callback.accounts_server()) {
            (Dialect::Zoho, Some(server)) => config.endpoints.redirected_to(server)?,
            _ => config.endpoints.clone(),
        };
        Ok((code, endpoints))
    }
}

impl Flow<CodeIssued<SelfClient>> {
    /// Exchanges the self-client code for tokens at the configured accounts server.
    pub async fn exchange(self) -> Result<Flow<Authorized>, ExchangeError<SelfClient>> {
        let Some(code) = self.state.code.as_ref() else {
            let error = Error::MalformedCallback { reason: "the self-client code was already used" };
            return Err(ExchangeError { error, flow: None });
        };
        let endpoints = self.client.config.endpoints.clone();
        exchange_code(self.client.clone(), endpoints, code.clone(), None)
            .await
            .map_err(|error| ExchangeError { error, flow: None })
    }
}

/// Exchanges `code`, traced as the span `exchange` with the accounts server and the outcome.
async fn exchange_code(
    client: Arc<Client>,
    endpoints: Endpoints,
    code: AuthorizationCode,
    verifier: Option<&PkceVerifier>,
) -> Result<Flow<Authorized>> {
    let span = tracing::debug_span!(
        "exchange",
        accounts_server = %endpoints.accounts_server(),
        outcome = tracing::field::Empty,
    );
    let grant = Grant::Code { code: &code, verifier };
    let exchange = async {
        let target = Target::new(endpoints.token_url())?;
        requests::token(&client, &endpoints, &target, grant).await
    };
    let answer = tracing::Instrument::instrument(exchange, span.clone()).await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            span.record("outcome", "failure");
            span.in_scope(|| tracing::warn!(error = %error, "the code exchange failed"));
            return Err(error);
        }
    };
    span.record("outcome", "ok");
    let tokens = grant::tokens(&client, &endpoints, response);
    grant::authorize(client, endpoints, tokens).await
}
