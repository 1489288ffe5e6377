//! The HTTP transport for `zoho-oauth`, over [reqwest](https://docs.rs/reqwest) with rustls.
//!
//! **This is the only crate that names reqwest.** It implements the core crate's
//! [`HttpClient`] seam with the settings a token client needs:
//! redirects are never followed, and are errors on token and revocation requests (a redirected token request is an SSRF and credential-leak risk,
//! as oauth2-rs warns), connect and total timeouts are set, response bodies are capped
//! (a token response is a few hundred bytes), and the `User-Agent` names this library.
//!
//! Failed requests are retried with exponential backoff and jitter, bounded in count and in total
//! time, and only where a retry is safe (see [`RetryPolicy`]).
//!
//! ```
//! use std::time::Duration;
//! use zoho_oauth_reqwest::ReqwestClient;
//!
//! let client = ReqwestClient::builder()
//!     .connect_timeout(Duration::from_secs(5))
//!     .timeout(Duration::from_secs(20))
//!     .build()
//!     .expect("a client with these settings builds");
//! # drop(client);
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use zoho_oauth_core::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, RequestKind, TransportError, TransportErrorKind,
};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("zoho-oauth/", env!("CARGO_PKG_VERSION"));

/// The default cap on a response body: 64 KiB, far above any token response.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// An [`HttpClient`] over reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    inner: reqwest::Client,
    max_body_bytes: usize,
    retry: RetryPolicy,
}

/// When and how often a failed request is tried again.
///
/// A retry happens only where it cannot do harm:
/// - a connection that could not be made (the request never reached the server), for every request;
/// - HTTP 5xx and 429 answers, for refresh and revocation requests only.
///
/// A code exchange whose request may have reached the server is never retried: the code is
/// single use, so a second attempt can only fail with `invalid_code` and hide the real error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 3; 1 disables retries).
    pub max_attempts: u32,
    /// The wait before the first retry (default 200 ms); it doubles with each retry.
    pub initial_backoff: Duration,
    /// The longest wait between attempts (default 2 s).
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt (default 10 s).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The wait before retry number `retry` (1-based): exponential, capped, with "equal jitter"
    /// (half fixed, half random) so that many clients failing together do not retry together.
    fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        let base = self.initial_backoff.saturating_mul(factor).min(self.max_backoff);
        let half = base / 2;
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(retry);
        let random = hasher.finish();
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if jitter_nanos == 0 { 0 } else { random % jitter_nanos })
    }
}

impl ReqwestClient {
    /// A client with the default settings: 10 s to connect, 30 s in all, 64 KiB bodies.
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }

    /// A builder to change the defaults.
    pub fn builder() -> ReqwestClientBuilder {
        ReqwestClientBuilder {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
        }
    }

    async fn execute_with_retries(
        &self,
        request: HttpRequest,
        kind: RequestKind,
    ) -> Result<HttpResponse, TransportError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let result = self.send(clone_request(&request), kind).await;
            let retryable = match &result {
                Err(error) => error.kind() == TransportErrorKind::Connect,
                Ok(response) => {
                    matches!(kind, RequestKind::Refresh | RequestKind::Revoke)
                        && (response.status().is_server_error() || response.status().as_u16() == 429)
                }
            };
            if !retryable || attempt >= self.retry.max_attempts {
                return result;
            }
            let delay = self.retry.delay(attempt);
            if started.elapsed() + delay > self.retry.max_elapsed {
                return result;
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send(&self, request: HttpRequest, kind: RequestKind) -> Result<HttpResponse, TransportError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidRequest, describe(&e)))?;
        let mut response = self.inner.execute(request).await.map_err(|e| classify(&e))?;
        // A redirected token or revocation request is refused outright; an API caller gets the
        // redirect itself (not followed) and decides.
        if response.status().is_redirection() && kind != RequestKind::Api {
            return Err(TransportError::new(
                TransportErrorKind::Redirect,
                format!("the server answered HTTP {} and redirects are not followed", response.status().as_u16()),
            ));
        }
        if response.content_length().is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(too_large(self.max_body_bytes));
        }
        let mut builder = http::Response::builder().status(response.status()).version(response.version());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|_| TransportError::new(TransportErrorKind::Interrupted, "the response could not be rebuilt"))
    }
}

/// Settings for a [`ReqwestClient`].
#[derive(Debug, Clone)]
pub struct ReqwestClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_body_bytes: usize,
    retry: RetryPolicy,
}

impl ReqwestClientBuilder {
    /// When to retry failed requests (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long to wait for a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take, from connecting to the last byte of the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<ReqwestClient, TransportError> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidRequest, describe(&e)))?;
        Ok(ReqwestClient { inner, max_body_bytes: self.max_body_bytes, retry: self.retry })
    }
}

impl HttpClient for ReqwestClient {
    fn execute(&self, request: HttpRequest, kind: RequestKind) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.execute_with_retries(request, kind))
    }
}

/// `http::Request` is not `Clone` (its extensions may not be); ours carry none, so copy the rest.
fn clone_request(request: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

fn too_large(max: usize) -> TransportError {
    TransportError::new(TransportErrorKind::BodyTooLarge, format!("the response body exceeds {max} bytes"))
}

fn classify(error: &reqwest::Error) -> TransportError {
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_redirect() {
        TransportErrorKind::Redirect
    } else if error.is_builder() {
        TransportErrorKind::InvalidRequest
    } else {
        TransportErrorKind::Interrupted
    };
    TransportError::new(kind, describe(error))
}

/// The error and its causes, without the request URL: a Zoho revocation URL carries the token.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = match error.downcast_ref::<reqwest::Error>() {
        Some(e) if e.url().is_some() => {
            // `without_url` needs ownership; rebuild the message from the kind instead.
            let kind = if e.is_timeout() {
                "operation timed out"
            } else if e.is_connect() {
                "error connecting"
            } else if e.is_body() || e.is_decode() {
                "error reading the body"
            } else {
                "error sending the request"
            };
            kind.to_owned()
        }
        _ => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.contains("://") {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        let policy = RetryPolicy::default();
        for retry in 1..40 {
            let delay = policy.delay(retry);
            let base = policy.initial_backoff.saturating_mul(1 << (retry - 1).min(16)).min(policy.max_backoff);
            assert!(delay >= base / 2 && delay <= base, "retry {retry}: {delay:?} outside [{:?}, {base:?}]", base / 2);
        }
    }
}
