//! The authorized state: fresh access tokens on demand, refresh, revocation, and API calls.

use std::fmt;

use http::HeaderValue;
use url::Url;
use zoho_oauth_core::{HttpRequest, HttpResponse, RequestKind, ResponseBody, StreamingResponse, TokenSet, dialect};

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
    #[inline(always)]
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
    ///
    /// It is not checked here: [`api_url`](Self::api_url), [`send`](Self::send) and
    /// [`send_streaming`](Self::send_streaming) refuse one the endpoints do not trust. Code that
    /// builds its own requests with [`authorization_header`](Self::authorization_header) should
    /// check it with `Endpoints::trusts_api_domain` first.
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
    ///
    /// Fails with [`Error::UntrustedApiDomain`] when the API domain is not one the endpoints trust
    /// with access tokens (see `Endpoints::trusts_api_domain`), and with [`Error::Config`] when
    /// `path_and_query` would leave the API domain (an absolute URL or a `//host` path to another
    /// origin, or one with a user name).
    pub fn api_url(&self, path_and_query: &str) -> Result<Url> {
        let base = self.api_domain().ok_or(Error::invalid_url("api domain"))?;
        self.check_api_target(&base)?;
        let leaves = || Error::invalid_url("api path");
        let url = base.join(path_and_query).map_err(|_| leaves())?;
        let same_origin = url.origin() == base.origin() && url.username().is_empty() && url.password().is_none();
        if same_origin { Ok(url) } else { Err(leaves()) }
    }

    /// Sends an API request with the `Authorization` header added, and returns the response whatever
    /// its status, with its whole body (at most the policy's `api_body_limit`, 16 MiB by default;
    /// read larger answers with [`send_streaming`](Self::send_streaming)).
    ///
    /// The request must go to an origin the endpoints trust with access tokens (the session's API
    /// domain, in practice): otherwise it fails with [`Error::UntrustedApiDomain`] and nothing is sent.
    /// A 3xx answer is returned as it is, never followed.
    ///
    /// If the resource server rejects the token (Zoho: HTTP 401 with `"code":"INVALID_TOKEN"`;
    /// RFC 6750: HTTP 401 with `error="invalid_token"` or no error at all), the token is refreshed
    /// once, unless another task already did, and the request is sent once more; it never loops.
    /// Other 401s, such as Zoho's `OAUTH_SCOPE_MISMATCH`, are returned as they are: a new token
    /// would not help, and a refresh would spend Zoho's rate budget.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.check_request(&request)?;
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

    /// Like [`send`](Self::send), but returns as soon as the answer's head has arrived, with a body
    /// of any size to read chunk by chunk ([`ResponseBody::next_chunk`]); each chunk must arrive
    /// within the policy's timeout.
    ///
    /// A 401 answer's body is read first (it is small) to tell a rejected token from another
    /// refusal, then handed back in memory; the refresh-once rule is the same as `send`'s.
    pub async fn send_streaming(&self, request: HttpRequest) -> Result<StreamingResponse> {
        self.check_request(&request)?;
        let manager = &self.state.manager;
        let token = self.access_token().await?;
        let retry = request.clone();
        let response = self.send_streaming_with(request, &token).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let limit = self.client.config.http.api_body_limit;
        let response = http::Response::from_parts(parts, body.collect(limit).await?);
        if !dialect::token_rejected(manager.endpoints().dialect(), &response) {
            return Ok(response.map(ResponseBody::from));
        }
        let fresh = manager.refresh_replacing(&token).await?;
        drop(token);
        self.send_streaming_with(retry, &fresh).await
    }

    async fn send_with(&self, mut request: HttpRequest, token: &CurrentToken) -> Result<HttpResponse> {
        request.headers_mut().insert(http::header::AUTHORIZATION, self.state.manager.header_for(token)?);
        Ok(self.client.config.http.execute(&*self.client.http, request, RequestKind::Api).await?)
    }

    async fn send_streaming_with(&self, mut request: HttpRequest, token: &CurrentToken) -> Result<StreamingResponse> {
        request.headers_mut().insert(http::header::AUTHORIZATION, self.state.manager.header_for(token)?);
        Ok(self.client.config.http.execute_streaming(&*self.client.http, request, RequestKind::Api).await?)
    }

    /// Refuses, before any token is read or request sent, a request whose target is not trusted
    /// with access tokens.
    fn check_request(&self, request: &HttpRequest) -> Result<()> {
        let url = Url::parse(&request.uri().to_string()).map_err(|_| Error::invalid_url("api url"))?;
        self.check_api_target(&url)
    }

    fn check_api_target(&self, url: &Url) -> Result<()> {
        if self.state.manager.endpoints().trusts_api_domain(url) {
            Ok(())
        } else {
            Err(Error::UntrustedApiDomain { origin: url.origin().ascii_serialization() })
        }
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
