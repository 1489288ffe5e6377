//! The one HTTP seam: a small trait the flow sends requests through.
//!
//! The core and flow crates name no HTTP library; `zoho-oauth-reqwest` implements this trait over
//! reqwest, and tests implement it with a few lines that return canned answers.
//!
//! An [`HttpClient`] only sends a request and hands back the status, the headers and a streaming
//! [`ResponseBody`]. Everything a token client must enforce (retries where they are safe, refusal of
//! redirects on token and revocation requests, a total timeout, a cap on the body read) is applied
//! once, above the seam, by the flow crate's `HttpPolicy`, so a user's own client or a test stub gets
//! the same guarantees as the bundled one.
//!
//! ```
//! use zoho_oauth_core::{BoxFuture, HttpClient, HttpRequest, RequestKind, StreamingResponse, TransportError};
//!
//! /// Answers every request with the same token response.
//! #[derive(Debug)]
//! struct Canned;
//!
//! impl HttpClient for Canned {
//!     fn execute(&self, _: HttpRequest, _: RequestKind) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
//!         let body = br#"{"access_token":"1000.a.b","expires_in":3600}"#.to_vec();
//!         Box::pin(async move { Ok(http::Response::new(body.into())) })
//!     }
//! }
//! # drop(Canned);
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use bytes::Bytes;

/// An HTTP request with its whole body in memory (token requests and API calls are small).
pub type HttpRequest = http::Request<Vec<u8>>;

/// An HTTP response with its whole body in memory, read under a cap.
pub type HttpResponse = http::Response<Vec<u8>>;

/// An HTTP response whose body is read as it arrives.
pub type StreamingResponse = http::Response<ResponseBody>;

/// A boxed, sendable future, so that [`HttpClient`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a request is for, so the policy above the seam can decide whether retrying it is safe,
/// whether a redirect is refused, and how large a body it accepts.
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

impl RequestKind {
    /// Whether the request goes to the accounts server (token or revocation endpoint), where a
    /// redirect is refused and bodies are small.
    pub fn is_token_endpoint(self) -> bool {
        !matches!(self, RequestKind::Api)
    }
}

/// Sends HTTP requests: the one seam between the library and an HTTP implementation.
///
/// An implementation sends `request` once and returns the response as soon as its head has
/// arrived, with a [`ResponseBody`] that reads the rest on demand. It does not retry, does not cap
/// the body and needs no total timeout: the flow applies those above it, by `kind`.
///
/// It should not follow redirects. One that does (a user's own client configured to) must put
/// [`Redirected`] in the response's extensions, so that a redirected token or revocation request is
/// refused. It must never put a request URL, header or body in its errors: each can hold a secret
/// (a Zoho revocation URL carries the token).
pub trait HttpClient: fmt::Debug + Send + Sync + 'static {
    /// Sends `request`, made for `kind`, and returns the response head with a streaming body.
    fn execute(
        &self,
        request: HttpRequest,
        kind: RequestKind,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>>;
}

/// A marker an [`HttpClient`] puts in a response's extensions when it followed a redirect to get it.
///
/// The request was then already sent again, to wherever the redirect pointed, before the library
/// could refuse it; the marker lets the policy at least refuse the answer of a token or revocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Redirected;

/// The request's URL already parsed, which the library puts in the extensions of every request it
/// builds, so that an [`HttpClient`] whose own request type needs a [`Url`](url::Url) (reqwest's)
/// need not parse the URI a second time.
///
/// It is a hint: [`matching`](Self::matching) gives the URL only while it still names exactly the
/// request's URI, so a request whose URI was changed afterwards is never sent to the old URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestUrl(url::Url);

impl RequestUrl {
    /// The hint for a request built for `url`.
    pub fn new(url: url::Url) -> Self {
        Self(url)
    }

    /// The URL, for a client that has checked it with [`matching`](Self::matching) first.
    pub fn into_url(self) -> url::Url {
        self.0
    }

    /// The parsed URL of `request`, if its extensions hold one that names its URI exactly.
    pub fn matching<B>(request: &http::Request<B>) -> Option<&url::Url> {
        let url = &request.extensions().get::<Self>()?.0;
        same_target(url, request.uri()).then_some(url)
    }
}

/// Whether `url` serializes to exactly `uri`'s text, compared part by part without formatting.
fn same_target(url: &url::Url, uri: &http::Uri) -> bool {
    let (Some(scheme), Some(authority), Some(path)) = (uri.scheme_str(), uri.authority(), uri.path_and_query()) else {
        return false;
    };
    let text = url.as_str();
    text.strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .and_then(|rest| rest.strip_prefix(authority.as_str()))
        .is_some_and(|rest| rest == path.as_str())
}

/// Prints no URL: a Zoho revocation URL carries the token.
impl fmt::Debug for RequestUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestUrl(..)")
    }
}

/// The source of a streaming body: what an [`HttpClient`] implements to hand back a body as it arrives.
pub trait BodyStream: Send + Sync {
    /// The next chunk of the body, or `None` at its end.
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>>;

    /// The body's length, when the response declared it (`Content-Length`).
    fn declared_length(&self) -> Option<u64> {
        None
    }
}

/// A response body read chunk by chunk, so that a cap is enforced before a large body is read and
/// a body of any size can be streamed.
///
/// Build one from bytes in memory (`Vec<u8>`, `String`, `&'static [u8]`, [`Bytes`]) with `into()`,
/// or from any [`BodyStream`] with [`ResponseBody::from_stream`].
pub struct ResponseBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Stream(Box<dyn BodyStream>),
}

impl ResponseBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self { inner: Inner::Full(None) }
    }

    /// A body read from `stream`.
    pub fn from_stream(stream: impl BodyStream + 'static) -> Self {
        Self { inner: Inner::Stream(Box::new(stream)) }
    }

    /// The next chunk of the body, or `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        match &mut self.inner {
            Inner::Full(bytes) => Ok(bytes.take().filter(|b| !b.is_empty())),
            Inner::Stream(stream) => stream.next_chunk().await,
        }
    }

    /// The body's length, when it is known before reading it.
    pub fn declared_length(&self) -> Option<u64> {
        match &self.inner {
            Inner::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream(stream) => stream.declared_length(),
        }
    }

    /// Reads the whole body, failing with [`TransportErrorKind::BodyTooLarge`] as soon as it is
    /// known to be longer than `limit` bytes: a declared length over the limit is refused before
    /// anything is read, and an undeclared one after at most `limit` bytes plus one chunk.
    pub async fn collect(mut self, limit: usize) -> Result<Vec<u8>, TransportError> {
        if self.declared_length().is_some_and(|length| length > limit as u64) {
            return Err(TransportError::body_too_large(limit));
        }
        // The usual answer comes in one chunk, whose bytes a `Vec` can often take over uncopied.
        let Some(first) = self.next_chunk().await? else { return Ok(Vec::new()) };
        if first.len() > limit {
            return Err(TransportError::body_too_large(limit));
        }
        let Some(second) = self.next_chunk().await? else { return Ok(Vec::from(first)) };
        let mut body = Vec::with_capacity(first.len().saturating_add(second.len()));
        body.extend_from_slice(&first);
        let mut next = Some(second);
        while let Some(chunk) = next {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(TransportError::body_too_large(limit));
            }
            body.extend_from_slice(&chunk);
            next = self.next_chunk().await?;
        }
        Ok(body)
    }
}

impl Default for ResponseBody {
    fn default() -> Self {
        Self::empty()
    }
}

/// Shows whether the body is in memory or streamed, never its content.
impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(bytes) => {
                f.debug_struct("ResponseBody").field("in_memory", &bytes.as_ref().map_or(0, Bytes::len)).finish()
            }
            Inner::Stream(stream) => {
                f.debug_struct("ResponseBody").field("declared_length", &stream.declared_length()).finish()
            }
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self { inner: Inner::Full(Some(bytes)) }
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static [u8]> for ResponseBody {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

/// An HTTP exchange that failed before a complete response arrived.
///
/// Its message says what happened in words fit for a person ("could not connect" only when no
/// connection was made); the lower layer's error, when there is one, is kept as a typed
/// [`source`](std::error::Error::source), stripped of any URL by the transport.
#[derive(Debug, Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    detail: Option<String>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl TransportError {
    /// A transport error of `kind`, with a short `detail` (e.g. "connection refused", "after 30 s").
    ///
    /// `detail` must not contain a URL, header or body, and should not repeat what the kind already
    /// says: the message is the kind's phrase followed by the detail in parentheses.
    pub fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self { kind, detail: (!detail.is_empty()).then_some(detail), source: None }
    }

    /// Keeps `source` as the typed cause. It must not contain a URL (for reqwest, use `without_url`).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The body was larger than `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(TransportErrorKind::BodyTooLarge, format!("limit {limit} bytes"))
    }

    /// The detail after the kind's phrase, if any (e.g. "Connection refused (os error 111)").
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// What failed.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the request certainly never reached the server (no connection was made), so that
    /// sending it again cannot do anything twice.
    pub fn is_connect(&self) -> bool {
        self.kind == TransportErrorKind::Connect
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phrase = match self.kind {
            TransportErrorKind::Connect => "could not connect to the server",
            TransportErrorKind::Timeout => "the server did not answer in time",
            TransportErrorKind::BodyTooLarge => "the response body is larger than allowed",
            TransportErrorKind::Interrupted => "the exchange was cut off before the response was complete",
            TransportErrorKind::Redirect => "the server answered with a redirect, which is refused",
            TransportErrorKind::InvalidRequest => "the request could not be sent as built",
        };
        match &self.detail {
            Some(detail) => write!(f, "{phrase} ({detail})"),
            None => f.write_str(phrase),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// What kind of transport failure occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made (refused, no route, DNS, TLS handshake, connect timeout):
    /// the request never reached the server.
    Connect,
    /// The server did not answer completely within the total timeout.
    Timeout,
    /// The response body was larger than the cap for its kind of request.
    BodyTooLarge,
    /// The connection broke while the request or response was in flight.
    Interrupted,
    /// A redirect was refused: a 3xx answer, or a redirect the client followed, on a token or
    /// revocation request.
    Redirect,
    /// The request could not be built or sent as given.
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunks(Vec<Bytes>, Option<u64>);

    impl BodyStream for Chunks {
        fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>> {
            let next = (!self.0.is_empty()).then(|| self.0.remove(0));
            Box::pin(async move { Ok(next) })
        }

        fn declared_length(&self) -> Option<u64> {
            self.1
        }
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        // The bodies here never wait, so one poll with a no-op waker finishes them.
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("an in-memory body never waits"),
        }
    }

    #[test]
    fn collect_enforces_the_limit_while_reading() {
        let body = ResponseBody::from_stream(Chunks(vec![Bytes::from(vec![1; 10]); 3], None));
        assert_eq!(block_on(body.collect(30)).unwrap().len(), 30);
        let body = ResponseBody::from_stream(Chunks(vec![Bytes::from(vec![1; 10]); 3], None));
        assert_eq!(block_on(body.collect(29)).unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
        // A declared length over the cap is refused before any chunk is read.
        let body = ResponseBody::from_stream(Chunks(Vec::new(), Some(31)));
        assert_eq!(block_on(body.collect(30)).unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
        assert_eq!(block_on(ResponseBody::from("abc").collect(3)).unwrap(), b"abc");
        assert!(block_on(ResponseBody::empty().collect(0)).unwrap().is_empty());
        // One chunk over the cap, undeclared, is refused as it arrives.
        let body = ResponseBody::from_stream(Chunks(vec![Bytes::from(vec![1; 31])], None));
        assert_eq!(block_on(body.collect(30)).unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
    }

    #[test]
    fn collect_keeps_every_byte_in_order_whatever_the_chunks() {
        let text: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for sizes in [vec![1000], vec![1, 999], vec![500, 500], vec![0, 10, 0, 990], vec![100; 10]] {
            let mut chunks = Vec::new();
            let mut at = 0;
            for size in &sizes {
                chunks.push(Bytes::copy_from_slice(&text[at..at + size]));
                at += size;
            }
            let body = ResponseBody::from_stream(Chunks(chunks, None));
            assert_eq!(block_on(body.collect(1000)).unwrap(), text, "chunks of {sizes:?}");
        }
    }

    #[test]
    fn messages_say_each_thing_once() {
        let error = TransportError::new(TransportErrorKind::Timeout, "after 30 s");
        assert_eq!(error.to_string(), "the server did not answer in time (after 30 s)");
        let error = TransportError::new(TransportErrorKind::Connect, "");
        assert_eq!(error.to_string(), "could not connect to the server");
        for kind in [
            TransportErrorKind::Timeout,
            TransportErrorKind::BodyTooLarge,
            TransportErrorKind::Interrupted,
            TransportErrorKind::Redirect,
            TransportErrorKind::InvalidRequest,
        ] {
            let text = TransportError::new(kind, "").to_string();
            assert!(!text.contains("could not connect"), "only a connection never made says so: {text}");
        }
    }

    fn request_with_hint(uri: &str, hint: &str) -> HttpRequest {
        let mut request = http::Request::post(uri).body(Vec::new()).unwrap();
        request.extensions_mut().insert(RequestUrl::new(url::Url::parse(hint).unwrap()));
        request
    }

    #[test]
    fn a_request_url_is_given_only_while_it_names_the_uri() {
        for url in [
            "https://accounts.zoho.eu/oauth/v2/token",
            "http://127.0.0.1:8080/revoke?token=x%20y",
            "https://a.example/",
        ] {
            let request = request_with_hint(url, url);
            assert_eq!(RequestUrl::matching(&request).map(url::Url::as_str), Some(url));
        }
        for (uri, hint) in [
            ("https://accounts.zoho.eu/oauth/v2/token", "https://accounts.zoho.com/oauth/v2/token"),
            ("https://accounts.zoho.eu/oauth/v2/token", "http://accounts.zoho.eu/oauth/v2/token"),
            ("https://accounts.zoho.eu:8443/oauth/v2/token", "https://accounts.zoho.eu/oauth/v2/token"),
            ("https://accounts.zoho.eu/oauth/v2/token?x=1", "https://accounts.zoho.eu/oauth/v2/token"),
            ("https://accounts.zoho.eu/oauth/v2/token", "https://accounts.zoho.eu/oauth/v2/token#f"),
        ] {
            assert_eq!(RequestUrl::matching(&request_with_hint(uri, hint)), None, "{uri} against {hint}");
        }
        let plain = http::Request::post("https://accounts.zoho.eu/").body(()).unwrap();
        assert_eq!(RequestUrl::matching(&plain), None);
    }

    #[test]
    fn a_request_url_prints_no_url() {
        let hint = RequestUrl::new(
            url::Url::parse("https://accounts.zoho.com/oauth/v2/token/revoke?token=1000.secret").unwrap(),
        );
        assert_eq!(format!("{hint:?}"), "RequestUrl(..)");
    }
}
