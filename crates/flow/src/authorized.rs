//! The authorized state: fresh access tokens on demand, refresh, revocation, and API calls.
//!
//! The token manager keeps the current [`TokenSet`] in an [`ArcSwap`], so the common case, a
//! valid token already held, is a lock-free read with no I/O. Renewal goes through one async mutex,
//! the refresh gate: whoever holds it refreshes, and everyone who queued behind it finds the new
//! token (or the remembered error) when their turn comes, so N callers at expiry make one request.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode};
use url::Url;
use zoho_oauth_core::{AccessToken, Dialect, Endpoints, HttpRequest, HttpResponse, RequestKind, TokenSet};

use crate::error::{Error, Result};
use crate::glue::{Carrier, map_error, oauth_client, revocation_url};
use crate::state::{Client, Flow, Unauthorized};

/// Authorized: the flow holds tokens and keeps the access token fresh.
///
/// `Flow<Authorized>` is `Send + Sync`; share it between tasks behind an `Arc`.
#[derive(Debug)]
pub struct Authorized {
    /// The endpoints of the accounts server that issued the tokens (after any multi-DC redirect).
    endpoints: Endpoints,
    tokens: ArcSwap<TokenSet>,
    gate: tokio::sync::Mutex<Gate>,
}

/// What the refresh gate remembers between attempts.
#[derive(Debug, Default)]
struct Gate {
    /// Consecutive failed refreshes.
    failures: u32,
    /// No refresh request is sent before this instant; callers get `last_error` instead.
    retry_at: Option<DateTime<Utc>>,
    last_error: Option<Error>,
    /// A refresh error no retry can fix (the refresh token is dead): reported until re-authorization.
    fatal: Option<Error>,
}

impl Authorized {
    pub(crate) fn new(endpoints: Endpoints, tokens: TokenSet) -> Self {
        Self { endpoints, tokens: ArcSwap::from_pointee(tokens), gate: tokio::sync::Mutex::new(Gate::default()) }
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
    /// A valid access token, renewed first if it expires within the refresh margin.
    ///
    /// When a token is held and fresh this does no I/O and takes no lock. When many tasks ask at
    /// once near expiry, exactly one refresh request is made and every caller gets its result.
    ///
    /// If renewal fails while the current token has not yet expired (it is only within the
    /// margin), the current token is returned: it still works. Otherwise the error is returned;
    /// after a failure no new request is sent until a backoff has passed (see
    /// [`RefreshPolicy`](crate::RefreshPolicy)), and after [`Error::ReauthorizationRequired`]
    /// none is sent at all.
    ///
    /// With a token store (see [`Flow::with_store`]), new tokens are saved before they are handed
    /// out; if the save fails the caller gets [`Error::NotSaved`] once, and the flow keeps serving
    /// the new tokens from memory.
    pub async fn access_token(&self) -> Result<AccessToken> {
        let margin = self.client.config.refresh.margin;
        let now = self.client.config.clock.now();
        {
            let current = self.state.tokens.load();
            if current.is_fresh(now, margin) {
                return Ok(current.access_token().clone());
            }
        }
        let clock = self.client.config.clock.clone();
        match self.refresh_if(|current| !current.is_fresh(clock.now(), margin)).await {
            Ok(tokens) => Ok(tokens.access_token().clone()),
            // The caller must learn that new tokens were not saved, even though they are held.
            Err(error @ Error::NotSaved { .. }) => Err(error),
            Err(error) => {
                let current = self.state.tokens.load();
                if current.is_fresh(self.client.config.clock.now(), chrono::Duration::zero()) {
                    Ok(current.access_token().clone())
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Refreshes the access token now, whatever its expiry.
    ///
    /// The backoff after failures and the rate-limit lock-out still apply: a refresh that would
    /// hammer the server returns the last error instead.
    pub async fn refresh(&self) -> Result<()> {
        self.refresh_if(|_| true).await.map(drop)
    }

    /// Refreshes unless another task did so after `stale` was handed out.
    async fn refresh_replacing(&self, stale: &AccessToken) -> Result<Arc<TokenSet>> {
        self.refresh_if(|current| current.access_token().ct_eq(stale)).await
    }

    /// The single-flight core: under the gate, refreshes if `needed` still says so.
    async fn refresh_if(&self, needed: impl Fn(&TokenSet) -> bool) -> Result<Arc<TokenSet>> {
        let mut gate = self.state.gate.lock().await;
        // Another task may have refreshed while this one waited for the gate.
        let current = self.state.tokens.load_full();
        if !needed(&current) {
            return Ok(current);
        }
        if let Some(fatal) = &gate.fatal {
            return Err(fatal.clone());
        }
        let now = self.client.config.clock.now();
        if let (Some(retry_at), Some(error)) = (gate.retry_at, &gate.last_error) {
            if now < retry_at {
                return Err(error.clone());
            }
        }
        match self.refresh_coordinated(&current, &needed).await {
            Ok(fresh) => {
                *gate = Gate::default();
                Ok(fresh)
            }
            Err(error) => {
                let policy = &self.client.config.refresh;
                let now = self.client.config.clock.now();
                match &error {
                    Error::ReauthorizationRequired(_) | Error::NoRefreshToken => gate.fatal = Some(error.clone()),
                    Error::RateLimited(_) => {
                        gate.failures = gate.failures.saturating_add(1);
                        gate.retry_at = now.checked_add_signed(policy.rate_limit_lockout);
                    }
                    _ => {
                        gate.failures = gate.failures.saturating_add(1);
                        gate.retry_at = now.checked_add_signed(policy.backoff(gate.failures));
                    }
                }
                gate.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Refreshes, coordinating through the token store when the flow has one. The caller holds the gate.
    ///
    /// With a store, the store's lock for this key is taken first (it excludes other processes),
    /// and the stored tokens are read again under it: if another process refreshed meanwhile, its
    /// tokens are adopted and no request is sent. New tokens are saved before they are handed out.
    async fn refresh_coordinated(
        &self,
        current: &TokenSet,
        needed: &impl Fn(&TokenSet) -> bool,
    ) -> Result<Arc<TokenSet>> {
        let Some((store, key)) = self.client.store_key(current.accounts_server()) else {
            let fresh = Arc::new(self.refresh_request(current).await?);
            self.state.tokens.store(fresh.clone());
            return Ok(fresh);
        };
        let _lock = store.lock(&key).await?;
        if let Some(stored) = store.load(&key).await?.map(zoho_oauth_store::Record::into_tokens) {
            let newer = stored.expires_at() > current.expires_at();
            if newer && !needed(&stored) {
                let stored = Arc::new(stored);
                self.state.tokens.store(stored.clone());
                return Ok(stored);
            }
        }
        let fresh = Arc::new(self.refresh_request(current).await?);
        // Hold the new tokens first, so a failed save loses nothing.
        self.state.tokens.store(fresh.clone());
        if let Err(error) = store.save(&key, &fresh).await.map(drop) {
            return Err(Error::NotSaved { message: error.to_string(), tokens: Box::new(TokenSet::clone(&fresh)) });
        }
        Ok(fresh)
    }

    /// Sends one refresh request.
    async fn refresh_request(&self, current: &TokenSet) -> Result<TokenSet> {
        let refresh_token = current.refresh_token().cloned().ok_or(Error::NoRefreshToken)?;
        let config = &self.client.config;
        let endpoints = &self.state.endpoints;
        let oauth = oauth_client(config, endpoints);
        let token = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
        let carrier = Carrier {
            http: self.client.http.clone(),
            kind: RequestKind::Refresh,
            dialect: endpoints.dialect(),
            target: None,
        };
        let response =
            oauth.exchange_refresh_token(&token).request_async(&carrier).await.map_err(|e| match map_error(e) {
                Error::Server(server) if server.error.is_invalid_grant() => Error::ReauthorizationRequired(server),
                other => other,
            })?;
        Ok(TokenSet::from_response(
            response,
            config.clock.now(),
            endpoints.accounts_server(),
            current.api_domain(),
            current.scopes(),
            Some(refresh_token),
        ))
    }

    /// A copy of the tokens currently held, e.g. to save them.
    pub fn tokens(&self) -> TokenSet {
        TokenSet::clone(&self.state.tokens.load())
    }

    /// The API domain to call, e.g. `https://www.zohoapis.eu`, as the token response named it.
    pub fn api_domain(&self) -> Option<Url> {
        self.state.tokens.load().api_domain().cloned()
    }

    /// The accounts server the tokens belong to.
    pub fn accounts_server(&self) -> String {
        self.state.endpoints.accounts_server()
    }

    /// The `Authorization` header value for an API call: `Zoho-oauthtoken <token>` for Zoho,
    /// `Bearer <token>` (RFC 6750 section 2.1) otherwise. The value is marked sensitive.
    pub async fn authorization_header(&self) -> Result<HeaderValue> {
        let token = self.access_token().await?;
        self.header_for(&token)
    }

    fn header_for(&self, token: &AccessToken) -> Result<HeaderValue> {
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
        let token = self.access_token().await?;
        let retry = request.clone();
        let response = self.send_with(request, &token).await?;
        if !token_rejected(self.state.endpoints.dialect(), &response) {
            return Ok(response);
        }
        let fresh = self.refresh_replacing(&token).await?;
        self.send_with(retry, fresh.access_token()).await
    }

    async fn send_with(&self, mut request: HttpRequest, token: &AccessToken) -> Result<HttpResponse> {
        request.headers_mut().insert(http::header::AUTHORIZATION, self.header_for(token)?);
        Ok(self.client.http.execute(request, RequestKind::Api).await?)
    }

    /// Revokes the refresh token (or, without one, the access token) at the accounts server
    /// (RFC 7009), and returns to [`Unauthorized`].
    ///
    /// On failure the flow comes back unchanged inside [`RevokeError`], because its tokens may
    /// still be valid and must not be lost.
    pub async fn revoke(self) -> std::result::Result<Flow<Unauthorized>, RevokeError> {
        if let Err(error) = self.revoke_request().await {
            return Err(RevokeError { error, flow: self });
        }
        if let Some((store, key)) = self.client.store_key(&self.accounts_server()) {
            if let Err(error) = store.delete(&key).await {
                return Err(RevokeError { error: error.into(), flow: self });
            }
        }
        Ok(Flow::unauthorized(self.client))
    }

    async fn revoke_request(&self) -> Result<()> {
        let endpoints = &self.state.endpoints;
        let url = endpoints.revocation_url().ok_or(Error::NoRevocationEndpoint)?;
        let tokens = self.state.tokens.load();
        let token = match tokens.refresh_token() {
            Some(refresh) => oauth2::StandardRevocableToken::RefreshToken(oauth2::RefreshToken::new(
                refresh.expose_secret().to_owned(),
            )),
            None => oauth2::StandardRevocableToken::AccessToken(oauth2::AccessToken::new(
                tokens.access_token().expose_secret().to_owned(),
            )),
        };
        let (stand_in, target) = revocation_url(url);
        let oauth = oauth_client(&self.client.config, endpoints).set_revocation_url(stand_in);
        let request = oauth.revoke_token(token).map_err(|_| Error::NoRevocationEndpoint)?;
        let carrier =
            Carrier { http: self.client.http.clone(), kind: RequestKind::Revoke, dialect: endpoints.dialect(), target };
        request.request_async(&carrier).await.map_err(map_error)
    }
}

/// Whether a resource server's response says the access token itself was rejected.
fn token_rejected(dialect: Dialect, response: &HttpResponse) -> bool {
    if response.status() != StatusCode::UNAUTHORIZED {
        return false;
    }
    match dialect {
        Dialect::Zoho => serde_json::from_slice::<serde_json::Value>(response.body())
            .is_ok_and(|body| body.get("code").and_then(serde_json::Value::as_str) == Some("INVALID_TOKEN")),
        Dialect::Standard => match response.headers().get(http::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok())
        {
            // RFC 6750 section 3: no error attribute means the request lacked valid credentials.
            Some(challenge) => challenge.contains("invalid_token") || !challenge.contains("error="),
            None => true,
        },
    }
}

impl Flow<Unauthorized> {
    pub(crate) fn unauthorized(client: Arc<Client>) -> Self {
        Flow { client, state: Unauthorized::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, header: Option<&str>, body: &str) -> HttpResponse {
        let mut builder = http::Response::builder().status(status);
        if let Some(challenge) = header {
            builder = builder.header(http::header::WWW_AUTHENTICATE, challenge);
        }
        builder.body(body.as_bytes().to_vec()).expect("a valid response")
    }

    #[test]
    fn which_401s_mean_a_rejected_token() {
        let invalid = r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}"#;
        let scope = r#"{"code":"OAUTH_SCOPE_MISMATCH","details":{},"message":"invalid oauth scope","status":"error"}"#;
        assert!(token_rejected(Dialect::Zoho, &response(401, None, invalid)));
        assert!(!token_rejected(Dialect::Zoho, &response(401, None, scope)));
        assert!(!token_rejected(Dialect::Zoho, &response(200, None, invalid)));
        assert!(token_rejected(Dialect::Standard, &response(401, Some(r#"Bearer error="invalid_token""#), "")));
        assert!(token_rejected(Dialect::Standard, &response(401, Some(r#"Bearer realm="api""#), "")));
        assert!(token_rejected(Dialect::Standard, &response(401, None, "")));
        assert!(!token_rejected(Dialect::Standard, &response(401, Some(r#"Bearer error="insufficient_scope""#), "")));
    }
}
