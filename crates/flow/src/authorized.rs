//! The authorized state: fresh access tokens on demand, refresh, revocation, and API calls.

use std::fmt;

use http::HeaderValue;
use url::Url;
use zoho_oauth_core::{HttpRequest, HttpResponse, RequestKind, TokenSet, dialect};

use crate::error::{Error, Result};
use crate::flow::{Authorized, Flow, Unauthorized};
use crate::manager::CurrentToken;

/// A failed revocation: the error, and the flow back, still authorized.
#[derive(Debug)]
pub struct RevokeError {
    /// Why the revocation failed.
    pub error: Error,
    /// The flow, unchanged: its tokens may still be valid.
    pub flow: Flow<Authorized>,
}

impl fmt::Display for RevokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revocation failed: {}", self.error)
    }
}

impl std::error::Error for RevokeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl Flow<Authorized> {
    /// A valid access token, renewed first if it expires within the refresh margin.
    ///
    /// When a token is held and fresh this does no I/O, takes no lock and copies nothing: the
    /// [`CurrentToken`] borrows it (call [`CurrentToken::into_owned`] to keep it). When many tasks
    /// ask at once near expiry, exactly one refresh request is made and every caller gets its
    /// result or its failure.
    ///
    /// The margin is the configured one ([`RefreshPolicy::margin`](crate::RefreshPolicy)) but never
    /// more than half the token's lifetime, and two renewals of one grant are at least
    /// [`RefreshPolicy::min_interval`](crate::RefreshPolicy) apart, so short-lived tokens never
    /// turn calls into refreshes.
    ///
    /// If renewal fails while the current token has not yet expired, the current token is
    /// returned: it still works. Otherwise the error is returned; after a failure no new request is
    /// sent until a backoff has passed, after a rate limit not before the lock-out has passed, and
    /// after a dead grant ([`Error::needs_reauthorization`]) none at all. With a store, these waits
    /// are shared by every process using it, and a process that saved new tokens meanwhile ends
    /// them at once.
    ///
    /// With a token store (see [`Flow::with_store`]), new tokens are saved before anyone is handed
    /// them; if the save fails the caller gets [`Error::NotSaved`] once, and the flow keeps serving
    /// the new tokens from memory.
    #[inline]
    pub fn access_token(&self) -> impl std::future::Future<Output = Result<CurrentToken>> + Send + '_ {
        self.state.manager.access_token()
    }

    /// Renews the access token if it is due (inside the refresh margin), and returns the failure
    /// instead of falling back to a token that still works, as [`access_token`](Self::access_token)
    /// does: for tools that must say what happened (a command-line tool, a health check).
    ///
    /// Returns whether new tokens were obtained (or adopted from the store). The backoff, the
    /// lock-out and the floor between renewals apply as for any renewal.
    pub async fn renew_if_due(&self) -> Result<bool> {
        self.state.manager.renew_if_due().await
    }

    /// Refreshes the access token now, whatever its expiry.
    ///
    /// The backoff after failures, the rate-limit lock-out and the floor between two renewals
    /// still apply: a refresh that would hammer the server returns the remembered failure, and one
    /// right after another renewal keeps the new token.
    pub async fn refresh(&self) -> Result<()> {
        self.state.manager.refresh().await
    }

    /// A copy of the tokens currently held, e.g. to save them.
    pub fn tokens(&self) -> TokenSet {
        self.state.manager.tokens()
    }

    /// The API domain to call, e.g. `https://www.zohoapis.eu`, as the token response named it.
    pub fn api_domain(&self) -> Option<Url> {
        self.state.manager.tokens().api_domain().cloned()
    }

    /// The accounts server the tokens belong to.
    pub fn accounts_server(&self) -> String {
        self.state.manager.endpoints().accounts_server()
    }

    /// Whether the authorization was revoked (see [`revoke_shared`](Self::revoke_shared)).
    pub fn is_revoked(&self) -> bool {
        self.state.manager.is_revoked()
    }

    /// The `Authorization` header value for an API call: `Zoho-oauthtoken <token>` for Zoho,
    /// `Bearer <token>` (RFC 6750 section 2.1) otherwise. The value is marked sensitive.
    pub async fn authorization_header(&self) -> Result<HeaderValue> {
        let token = self.access_token().await?;
        self.state.manager.header_for(&token)
    }

    /// The URL of `path_and_query` on the session's API domain, e.g.
    /// `api_url("/crm/v8/users?type=CurrentUser")`.
    pub fn api_url(&self, path_and_query: &str) -> Result<Url> {
        let base = self.api_domain().ok_or(Error::Config(zoho_oauth_core::Error::InvalidUrl { what: "api domain" }))?;
        base.join(path_and_query).map_err(|_| Error::Config(zoho_oauth_core::Error::InvalidUrl { what: "api path" }))
    }

    /// Sends an API request with the `Authorization` header added, and returns the response whatever its status.
    ///
    /// If the resource server rejects the token (Zoho: HTTP 401 with `"code":"INVALID_TOKEN"`;
    /// RFC 6750: HTTP 401 with `error="invalid_token"` or no error at all), the token is refreshed
    /// once, unless another task already did, and the request is sent once more; it never loops.
    /// Other 401s, such as Zoho's `OAUTH_SCOPE_MISMATCH`, are returned as they are: a new token
    /// would not help, and a refresh would spend Zoho's rate budget.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let manager = &self.state.manager;
        let token = self.access_token().await?;
        let retry = request.clone();
        let response = self.send_with(request, &token).await?;
        if !dialect::token_rejected(manager.endpoints().dialect(), &response) {
            return Ok(response);
        }
        let fresh = manager.refresh_replacing(&token).await?;
        drop(token);
        self.send_with(retry, &fresh).await
    }

    async fn send_with(&self, mut request: HttpRequest, token: &CurrentToken) -> Result<HttpResponse> {
        request.headers_mut().insert(http::header::AUTHORIZATION, self.state.manager.header_for(token)?);
        Ok(self.client.http.execute(request, RequestKind::Api).await?)
    }

    /// Revokes the refresh token (or, without one, the access token) at the accounts server
    /// (RFC 7009), deletes the stored tokens, and returns to [`Unauthorized`].
    ///
    /// On failure the flow comes back unchanged inside [`RevokeError`], because its tokens may
    /// still be valid and must not be lost. For a session shared behind an `Arc`, use
    /// [`revoke_shared`](Self::revoke_shared).
    pub async fn revoke(self) -> Result<Flow<Unauthorized>, RevokeError> {
        match self.state.manager.revoke().await {
            Ok(()) => Ok(Flow::unauthorized(self.client)),
            Err(error) => Err(RevokeError { error, flow: self }),
        }
    }

    /// Revokes a session that other tasks share: the grant is revoked at the accounts server and
    /// deleted from the store, and from then on every holder gets [`Error::Revoked`], never a token.
    ///
    /// Revoking twice is not an error. On failure nothing changes: the tokens may still be valid.
    pub async fn revoke_shared(&self) -> Result<()> {
        self.state.manager.revoke().await
    }
}
