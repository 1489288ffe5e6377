//! The one HTTP seam: a small trait the flow sends requests through.
//!
//! The core and flow crates name no HTTP library; `zoho-oauth-reqwest` implements this trait over
//! reqwest, and tests can implement it with a closure-like stand-in.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// An HTTP request with its whole body in memory (token requests are small).
pub type HttpRequest = http::Request<Vec<u8>>;

/// An HTTP response with its whole body in memory.
pub type HttpResponse = http::Response<Vec<u8>>;

/// A boxed, sendable future, so that [`HttpClient`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a request is for, so a transport can decide whether retrying it is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// Exchanging an authorization code. Never retried once it may have reached the server:
    /// the code is single use, so a retry can only fail and hide the real error.
    CodeExchange,
    /// Refreshing an access token.
    Refresh,
    /// Revoking a token (RFC 7009).
    Revoke,
    /// A call to the resource server.
    Api,
}

/// Sends HTTP requests.
pub trait HttpClient: fmt::Debug + Send + Sync + 'static {
    /// Sends `request` and returns the whole response.
    ///
    /// Implementations must not follow redirects on token and revocation requests,
    /// and must not put request URLs or bodies in their errors: both can hold secrets.
    fn execute(&self, request: HttpRequest, kind: RequestKind) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// An HTTP exchange that failed before a complete response arrived.
#[derive(Debug, Clone, thiserror::Error)]
#[error("http transport failed ({kind}): {message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
}

impl TransportError {
    /// A transport error. `message` must not contain a URL, header or body.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// What failed.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

/// What kind of transport failure occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made: the request never reached the server.
    Connect,
    /// The server did not answer in time.
    Timeout,
    /// The response body was larger than the configured cap.
    BodyTooLarge,
    /// The connection broke while the request or response was in flight.
    Interrupted,
    /// A redirect was refused.
    Redirect,
    /// The request could not be built.
    InvalidRequest,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::BodyTooLarge => "body too large",
            TransportErrorKind::Interrupted => "interrupted",
            TransportErrorKind::Redirect => "redirect refused",
            TransportErrorKind::InvalidRequest => "invalid request",
        })
    }
}
