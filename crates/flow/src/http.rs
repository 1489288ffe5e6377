//! The policy above the HTTP seam, applied once to every request whatever the [`HttpClient`]:
//! retries where they are safe, refusal of redirects on token and revocation requests, a total
//! timeout per request, and body caps by kind of request, enforced while the body streams in.
//!
//! An [`HttpClient`] only sends; this layer decides. So a user's own client, or a test stub that
//! answers a token request with a redirect, a 10 MiB body or a body that never ends, gets the same
//! safety as the bundled reqwest transport (after tower's `retry` and `timeout` layers).

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use zoho_oauth_core::{
    BodyStream, BoxFuture, Bytes, HttpClient, HttpRequest, HttpResponse, Redirected, RequestKind, ResponseBody,
    StreamingResponse, TransportError, TransportErrorKind,
};

/// The cap on a token or revocation answer: 64 KiB, far above any real one (a few hundred bytes).
pub const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// The default cap on an API answer read whole by `Flow::send`: 16 MiB, room for the largest CRM
/// page (200 records with every field) many times over. Larger answers are read with `send_streaming`.
pub const DEFAULT_API_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The default total timeout of one attempt: 30 seconds from sending to the last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// When and how often a failed request is tried again.
///
/// A retry happens only where it cannot do harm:
/// - a connection that could not be made (the request never reached the server), for every request;
/// - HTTP 5xx and 429 answers, for refresh and revocation requests only.
///
/// A code exchange whose request may have reached the server is never retried: the code is
/// single use, so a second attempt can only fail with `invalid_code` and hide the real error.
/// API calls are retried only when no connection was made: the library cannot know whether a
/// resource request is idempotent.
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

    /// Whether an attempt that ended in `outcome` may be made again for a request of `kind`.
    fn allows<B>(&self, kind: RequestKind, outcome: &Result<http::Response<B>, TransportError>) -> bool {
        match outcome {
            Err(error) => error.is_connect(),
            Ok(response) => {
                matches!(kind, RequestKind::Refresh | RequestKind::Revoke)
                    && (response.status().is_server_error() || response.status() == http::StatusCode::TOO_MANY_REQUESTS)
            }
        }
    }
}

/// What the library enforces above any [`HttpClient`]: retries, the total timeout, redirect
/// refusal and body caps.
///
/// Set it with `ClientConfig::http_policy`; or use it directly to send a request of your own with
/// the same guarantees ([`HttpPolicy::execute`]).
///
/// ```
/// use std::time::Duration;
/// use zoho_oauth_flow::{HttpPolicy, RetryPolicy};
///
/// let policy = HttpPolicy::default()
///     .timeout(Duration::from_secs(20))
///     .retry(RetryPolicy::none())
///     .api_body_limit(64 * 1024 * 1024);
/// assert_eq!(policy.body_limit(zoho_oauth_core::RequestKind::Refresh), zoho_oauth_flow::TOKEN_BODY_LIMIT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpPolicy {
    /// When to try a failed request again (default [`RetryPolicy::default`]).
    pub retry: RetryPolicy,
    /// The most one attempt may take, from sending the request to the last byte of a body read
    /// whole (default [`DEFAULT_TIMEOUT`]). For a streamed body, the most to wait for its head and
    /// then for each chunk. Connecting is bounded by the transport's own connect timeout too.
    pub timeout: Duration,
    /// The cap on an API answer read whole (default [`DEFAULT_API_BODY_LIMIT`]). Token and
    /// revocation answers are always capped at [`TOKEN_BODY_LIMIT`].
    pub api_body_limit: usize,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self { retry: RetryPolicy::default(), timeout: DEFAULT_TIMEOUT, api_body_limit: DEFAULT_API_BODY_LIMIT }
    }
}

impl HttpPolicy {
    /// Sets when to retry.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the total timeout of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the cap on an API answer read whole.
    pub fn api_body_limit(mut self, limit: usize) -> Self {
        self.api_body_limit = limit;
        self
    }

    /// The largest body accepted, whole, for a request of `kind`.
    pub fn body_limit(&self, kind: RequestKind) -> usize {
        if kind.is_token_endpoint() { TOKEN_BODY_LIMIT } else { self.api_body_limit }
    }

    /// Sends `request` through `http` with this policy and reads the whole answer, under the cap
    /// for `kind`, within the timeout, retrying where it is safe.
    ///
    /// A token or revocation request answered with a redirect (a 3xx, or one the client followed)
    /// fails with [`TransportErrorKind::Redirect`]; an API call gets the 3xx back.
    pub async fn execute(
        &self,
        http: &dyn HttpClient,
        request: HttpRequest,
        kind: RequestKind,
    ) -> Result<HttpResponse, TransportError> {
        self.execute_built(http, || request.clone(), kind).await
    }

    /// [`execute`](Self::execute), with each attempt's request built by `request`: the library's
    /// own requests are built per attempt rather than built once and copied.
    pub(crate) async fn execute_built(
        &self,
        http: &dyn HttpClient,
        request: impl Fn() -> HttpRequest,
        kind: RequestKind,
    ) -> Result<HttpResponse, TransportError> {
        let limit = self.body_limit(kind);
        self.with_retries(kind, || {
            // The request goes straight into the client's future, so no state of ours holds it.
            let sent = http.execute(request(), kind);
            async move {
                let response = Self::checked(sent.await?, kind)?;
                let (parts, body) = response.into_parts();
                Ok(http::Response::from_parts(parts, body.collect(limit).await?))
            }
        })
        .await
    }

    /// Sends `request` through `http` with this policy and returns as soon as the answer's head
    /// has arrived, with a body to read at the caller's pace: each chunk must arrive within the
    /// timeout, and no cap applies to API answers (a token or revocation answer keeps its cap).
    ///
    /// Retries happen before the head is returned, as for [`execute`](Self::execute).
    pub async fn execute_streaming(
        &self,
        http: &dyn HttpClient,
        request: HttpRequest,
        kind: RequestKind,
    ) -> Result<StreamingResponse, TransportError> {
        let response = self
            .with_retries(kind, || {
                let sent = http.execute(request.clone(), kind);
                async move { Self::checked(sent.await?, kind) }
            })
            .await?;
        let limit = kind.is_token_endpoint().then_some(TOKEN_BODY_LIMIT);
        let idle = self.timeout;
        Ok(response.map(|inner| ResponseBody::from_stream(Guarded { inner, idle, limit, read: 0 })))
    }

    /// An answer's head as the policy accepts it: a redirect on a token or revocation request is
    /// an error.
    fn checked(response: StreamingResponse, kind: RequestKind) -> Result<StreamingResponse, TransportError> {
        if kind.is_token_endpoint() {
            if response.extensions().get::<Redirected>().is_some() {
                return Err(TransportError::new(
                    TransportErrorKind::Redirect,
                    "the HTTP client followed a redirect, so the request was sent again elsewhere",
                ));
            }
            if response.status().is_redirection() {
                return Err(TransportError::new(
                    TransportErrorKind::Redirect,
                    format!("HTTP {}", response.status().as_u16()),
                ));
            }
        }
        Ok(response)
    }

    /// Runs `attempt`, each time within the timeout, until it succeeds, fails in a way that must
    /// not be retried for a request of `kind`, or the retry budget is spent; the last outcome is
    /// returned.
    async fn with_retries<B, F, Fut>(&self, kind: RequestKind, attempt: F) -> Result<http::Response<B>, TransportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<http::Response<B>, TransportError>>,
    {
        let started = Instant::now();
        let mut attempt_started = started;
        let mut attempts = 1;
        loop {
            let outcome = match crate::deadline::within_from(attempt_started, self.timeout, attempt()).await {
                Some(outcome) => outcome,
                None => Err(timed_out(self.timeout)),
            };
            if attempts >= self.retry.max_attempts || !self.retry.allows(kind, &outcome) {
                return outcome;
            }
            let delay = self.retry.delay(attempts);
            if started.elapsed() + delay > self.retry.max_elapsed {
                return outcome;
            }
            // The failed answer's body, if any, is dropped here, closing its connection.
            drop(outcome);
            tokio::time::sleep(delay).await;
            attempt_started = Instant::now();
            attempts += 1;
        }
    }
}

fn timed_out(limit: Duration) -> TransportError {
    let detail = if limit.subsec_millis() == 0 {
        format!("limit {} s", limit.as_secs())
    } else {
        format!("limit {} ms", limit.as_millis())
    };
    TransportError::new(TransportErrorKind::Timeout, detail)
}

/// A streamed body under the policy: each chunk within `idle`, and at most `limit` bytes in all.
struct Guarded {
    inner: ResponseBody,
    idle: Duration,
    limit: Option<usize>,
    read: usize,
}

impl BodyStream for Guarded {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>> {
        Box::pin(async move {
            if let Some(limit) = self.limit {
                if self.read == 0 && self.inner.declared_length().is_some_and(|length| length > limit as u64) {
                    return Err(TransportError::body_too_large(limit));
                }
            }
            let chunk = match crate::deadline::within(self.idle, self.inner.next_chunk()).await {
                Some(chunk) => chunk?,
                None => return Err(timed_out(self.idle)),
            };
            if let Some(chunk) = &chunk {
                self.read = self.read.saturating_add(chunk.len());
                if let Some(limit) = self.limit.filter(|&limit| self.read > limit) {
                    return Err(TransportError::body_too_large(limit));
                }
            }
            Ok(chunk)
        })
    }

    fn declared_length(&self) -> Option<u64> {
        self.inner.declared_length()
    }
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

    #[test]
    fn timeouts_read_naturally() {
        assert_eq!(timed_out(Duration::from_secs(30)).to_string(), "the server did not answer in time (limit 30 s)");
        assert_eq!(
            timed_out(Duration::from_millis(300)).to_string(),
            "the server did not answer in time (limit 300 ms)"
        );
    }
}
