//! The authorized state: fresh access tokens on demand, refresh and revocation.

use std::sync::{PoisonError, RwLock};

use http::HeaderValue;
use url::Url;
use zoho_oauth_core::{AccessToken, Dialect, Endpoints, RequestKind, TokenSet};

use crate::error::{Error, Result};
use crate::glue::{Carrier, map_error, oauth_client};
use crate::state::{Flow, Unauthorized};

/// Authorized: the flow holds tokens and keeps the access token fresh.
///
/// `Flow<Authorized>` is `Send + Sync`; share it between tasks behind an `Arc`.
#[derive(Debug)]
pub struct Authorized {
    /// The endpoints of the accounts server that issued the tokens (after any multi-DC redirect).
    endpoints: Endpoints,
    tokens: RwLock<TokenSet>,
    /// Held by the one task that refreshes, so concurrent callers wait for its result
    /// instead of sending refreshes of their own.
    refresh: tokio::sync::Mutex<()>,
}

impl Authorized {
    pub(crate) fn new(endpoints: Endpoints, tokens: TokenSet) -> Self {
        Self { endpoints, tokens: RwLock::new(tokens), refresh: tokio::sync::Mutex::new(()) }
    }

    fn snapshot(&self) -> TokenSet {
        // A poisoned lock still holds a complete token set: writes replace it whole.
        self.tokens.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A failed revocation: the error, and the flow back, still authorized.
#[derive(Debug, thiserror::Error)]
#[error("revocation failed: {error}")]
pub struct RevokeError {
    /// Why the revocation failed.
    #[source]
    pub error: Error,
    /// The flow, unchanged: its tokens may still be valid.
    pub flow: Flow<Authorized>,
}

impl Flow<Authorized> {
    /// A valid access token, refreshed first if it expires within the refresh margin.
    ///
    /// When many tasks ask at once near expiry, one refresh request is made and the others
    /// wait for its result.
    pub async fn access_token(&self) -> Result<AccessToken> {
        let margin = self.client.config.refresh_margin;
        let current = self.state.snapshot();
        if current.is_fresh(self.client.config.clock.now(), margin) {
            return Ok(current.access_token().clone());
        }
        let _refreshing = self.state.refresh.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        let current = self.state.snapshot();
        if current.is_fresh(self.client.config.clock.now(), margin) {
            return Ok(current.access_token().clone());
        }
        let fresh = self.refresh_locked(current).await?;
        Ok(fresh.access_token().clone())
    }

    /// Refreshes the access token now, whatever its expiry.
    pub async fn refresh(&self) -> Result<()> {
        let _refreshing = self.state.refresh.lock().await;
        self.refresh_locked(self.state.snapshot()).await.map(drop)
    }

    async fn refresh_locked(&self, current: TokenSet) -> Result<TokenSet> {
        let refresh_token = current.refresh_token().cloned().ok_or(Error::NoRefreshToken)?;
        let config = &self.client.config;
        let endpoints = &self.state.endpoints;
        let oauth = oauth_client(config, endpoints);
        let token = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
        let carrier =
            Carrier { http: self.client.http.clone(), kind: RequestKind::Refresh, dialect: endpoints.dialect() };
        let response =
            oauth.exchange_refresh_token(&token).request_async(&carrier).await.map_err(|e| match map_error(e) {
                Error::Server(server) if server.error.is_invalid_grant() => Error::ReauthorizationRequired(server),
                other => other,
            })?;
        let fresh = TokenSet::from_response(
            response,
            config.clock.now(),
            endpoints.accounts_server(),
            current.api_domain(),
            current.scopes(),
            Some(refresh_token),
        );
        *self.state.tokens.write().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }

    /// A copy of the tokens currently held, e.g. to save them.
    pub fn tokens(&self) -> TokenSet {
        self.state.snapshot()
    }

    /// The API domain to call, e.g. `https://www.zohoapis.eu`, as the token response named it.
    pub fn api_domain(&self) -> Option<Url> {
        self.state.snapshot().api_domain().cloned()
    }

    /// The accounts server the tokens belong to.
    pub fn accounts_server(&self) -> String {
        self.state.endpoints.accounts_server()
    }

    /// The `Authorization` header value for an API call: `Zoho-oauthtoken <token>` for Zoho,
    /// `Bearer <token>` (RFC 6750 section 2.1) otherwise. The value is marked sensitive.
    pub async fn authorization_header(&self) -> Result<HeaderValue> {
        let token = self.access_token().await?;
        let scheme = match self.state.endpoints.dialect() {
            Dialect::Zoho => "Zoho-oauthtoken",
            Dialect::Standard => "Bearer",
        };
        let mut value = HeaderValue::try_from(format!("{scheme} {}", token.expose_secret())).map_err(|_| {
            Error::MalformedResponse {
                status: 200,
                kind: zoho_oauth_core::MalformedKind::UnexpectedShape,
                excerpt: "the access token holds characters not allowed in a header".to_owned(),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Revokes the refresh token (or, without one, the access token) at the accounts server
    /// (RFC 7009), and returns to [`Unauthorized`].
    ///
    /// On failure the flow comes back unchanged inside [`RevokeError`], because its tokens may
    /// still be valid and must not be lost.
    pub async fn revoke(self) -> std::result::Result<Flow<Unauthorized>, RevokeError> {
        match self.revoke_inner().await {
            Ok(()) => Ok(Flow::new_from(self.client)),
            Err(error) => Err(RevokeError { error, flow: self }),
        }
    }

    async fn revoke_inner(&self) -> Result<()> {
        let endpoints = &self.state.endpoints;
        let url = endpoints.revocation_url().ok_or(Error::NoRevocationEndpoint)?;
        let tokens = self.state.snapshot();
        let token = match tokens.refresh_token() {
            Some(refresh) => oauth2::StandardRevocableToken::RefreshToken(oauth2::RefreshToken::new(
                refresh.expose_secret().to_owned(),
            )),
            None => oauth2::StandardRevocableToken::AccessToken(oauth2::AccessToken::new(
                tokens.access_token().expose_secret().to_owned(),
            )),
        };
        let oauth = oauth_client(&self.client.config, endpoints)
            .set_revocation_url(oauth2::RevocationUrl::from_url(url.clone()));
        let request = oauth.revoke_token(token).map_err(|_| Error::NoRevocationEndpoint)?;
        let carrier =
            Carrier { http: self.client.http.clone(), kind: RequestKind::Revoke, dialect: endpoints.dialect() };
        request.request_async(&carrier).await.map_err(map_error)
    }
}

impl Flow<Unauthorized> {
    pub(crate) fn new_from(client: std::sync::Arc<crate::state::Client>) -> Self {
        Flow { client, state: Unauthorized::new() }
    }
}
