//! The HTTP transport for `zoho-oauth`, over [reqwest](https://docs.rs/reqwest).
//!
//! **This is the only crate that names reqwest.** [`ReqwestClient`] implements the core crate's
//! [`HttpClient`] seam and nothing more: it sends a request once and hands back the status, the
//! headers and a streaming body. It is deliberately thin; the policy a token client needs is
//! applied once, above the seam, by the flow crate's `HttpPolicy`, so that every `HttpClient` (this
//! one, a user's own, a test stub) gets the same guarantees.
//!
//! # Which guarantee holds where
//!
//! | guarantee | where it is enforced |
//! |---|---|
//! | retries only where safe (a connection never made: every request; 5xx/429: refresh and revocation; a code exchange that may have reached the server: never) | policy layer (`zoho_oauth_flow::HttpPolicy`) |
//! | body caps (64 KiB on token and revocation answers, a configurable limit on API answers), enforced while reading | policy layer |
//! | a total timeout per request, from sending to the last byte | policy layer |
//! | a 3xx answer to a token or revocation request is refused ([`TransportErrorKind::Redirect`]) | policy layer |
//! | a redirect the client *followed* is detected (the response URL differs from the request URL) and the answer refused on token and revocation requests | this crate marks the response with [`Redirected`]; the policy layer refuses it |
//! | no redirect is followed at all | this crate's own client ([`ReqwestClient::new`], [`ReqwestClient::builder`]); a client given to [`ReqwestClient::from_client`] follows whatever its builder says |
//! | connect timeout, TLS roots, proxy, connection pool | the `reqwest::Client`: this crate's builder sets a 10 s connect timeout and the `User-Agent`; with [`ReqwestClient::from_client`], the user's client decides |
//! | no URL in any error (a Zoho revocation URL carries the token) | this crate: reqwest's error is kept as the typed source, with its URL removed (`reqwest::Error::without_url`) |
//!
//! A user's client that follows redirects has **already re-sent the request** (for a token
//! request: the client secret and the code or refresh token) to wherever the redirect pointed before
//! the library sees the answer; refusing the answer then only stops the library from using it.
//! Build a client with `redirect(reqwest::redirect::Policy::none())` to rule that out.
//!
//! # TLS
//!
//! The feature `rustls` (the default) uses rustls with the webpki roots; `native-tls` uses the
//! platform's TLS library and roots, and wins when both are enabled.
//!
//! ```
//! use std::time::Duration;
//! use zoho_oauth_reqwest::ReqwestClient;
//!
//! let client = ReqwestClient::builder()
//!     .connect_timeout(Duration::from_secs(5))
//!     .build()
//!     .expect("a client with these settings builds");
//! # drop(client);
//! ```

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

use std::error::Error as StdError;
use std::time::Duration;

use zoho_oauth_core::{
    BodyStream, BoxFuture, Bytes, HttpClient, HttpRequest, Redirected, RequestKind, RequestUrl, ResponseBody,
    StreamingResponse, TransportError, TransportErrorKind,
};

/// The `User-Agent` sent with every request of a client this crate builds.
pub const USER_AGENT: &str = concat!("zoho-oauth/", env!("CARGO_PKG_VERSION"));

/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An [`HttpClient`] over reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    inner: reqwest::Client,
    /// Whether the client may follow redirects (a user's client): only then is an answer's URL
    /// compared with the request's, at the price of keeping a copy of the URL.
    may_redirect: bool,
}

impl ReqwestClient {
    /// A client with the default settings: no redirects followed, 10 s to connect, this library's
    /// `User-Agent`, TLS as the crate's features choose.
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }

    /// A builder to change the defaults.
    pub fn builder() -> ReqwestClientBuilder {
        ReqwestClientBuilder { connect_timeout: DEFAULT_CONNECT_TIMEOUT }
    }

    /// Wraps a `reqwest::Client` the caller built: its connection pool, proxy, TLS roots and
    /// timeouts are used as they are.
    ///
    /// The library still enforces, above this client, retries, body caps, the total timeout and
    /// the refusal of redirects on token and revocation requests. If this client follows redirects,
    /// a redirected answer is detected and refused on those requests, but the request has already
    /// been sent again to the redirect's target: build it with
    /// `redirect(reqwest::redirect::Policy::none())` (see the crate docs).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { inner: client, may_redirect: true }
    }

    async fn send(&self, request: HttpRequest) -> Result<StreamingResponse, TransportError> {
        let request = to_reqwest(request)?;
        let sent_to = self.may_redirect.then(|| request.url().clone());
        let mut response = self.inner.execute(request).await.map_err(classify)?;
        let (status, version) = (response.status(), response.version());
        let headers = std::mem::take(response.headers_mut());
        // A client that follows redirects answers from another URL than the one asked; say so,
        // so that the policy refuses the answer of a token or revocation request.
        let redirected = sent_to.is_some_and(|sent_to| response.url() != &sent_to);
        // Built in place rather than through `http::response::Builder`, which cannot fail here
        // and moves the head at every step.
        let mut converted = http::Response::new(ResponseBody::from_stream(ReqwestBody { response }));
        *converted.status_mut() = status;
        *converted.version_mut() = version;
        *converted.headers_mut() = headers;
        if redirected {
            converted.extensions_mut().insert(Redirected);
        }
        Ok(converted)
    }
}

/// The request as reqwest's, from the URL the library already parsed when the request carries it
/// (see [`RequestUrl`]): reqwest's own conversion formats the URI and parses it again, which costs
/// more than the rest of building the request.
///
/// Only a request whose extensions hold nothing else takes the short way: reqwest gives no other
/// way to carry extensions over than its own conversion.
fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, TransportError> {
    let hinted = request.extensions().len() == 1 && RequestUrl::matching(&request).is_some();
    if !hinted {
        return reqwest::Request::try_from(request.map(reqwest::Body::from)).map_err(classify);
    }
    let (mut parts, body) = request.into_parts();
    let Some(url) = parts.extensions.remove::<RequestUrl>().map(RequestUrl::into_url) else {
        return Err(TransportError::new(TransportErrorKind::InvalidRequest, "the request's URL went missing"));
    };
    let mut converted = reqwest::Request::new(parts.method, url);
    *converted.headers_mut() = parts.headers;
    *converted.version_mut() = parts.version;
    *converted.body_mut() = Some(reqwest::Body::from(body));
    Ok(converted)
}

/// Settings for a [`ReqwestClient`] this crate builds.
#[derive(Debug, Clone)]
pub struct ReqwestClientBuilder {
    connect_timeout: Duration,
}

impl ReqwestClientBuilder {
    /// How long to wait for a connection (default [`DEFAULT_CONNECT_TIMEOUT`]). The total time a
    /// request may take is the flow's `HttpPolicy::timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<ReqwestClient, TransportError> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(USER_AGENT);
        #[cfg(feature = "native-tls")]
        let builder = builder.use_native_tls();
        #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
        let builder = builder.use_rustls_tls();
        let inner = builder.build().map_err(|e| {
            TransportError::new(TransportErrorKind::InvalidRequest, "the HTTP client could not be built")
                .with_source(e.without_url())
        })?;
        Ok(ReqwestClient { inner, may_redirect: false })
    }
}

impl HttpClient for ReqwestClient {
    fn execute(
        &self,
        request: HttpRequest,
        _kind: RequestKind,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(self.send(request))
    }
}

/// A reqwest response's body, read chunk by chunk.
struct ReqwestBody {
    response: reqwest::Response,
}

impl BodyStream for ReqwestBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>> {
        Box::pin(async move { self.response.chunk().await.map_err(classify) })
    }

    fn declared_length(&self) -> Option<u64> {
        self.response.content_length()
    }
}

/// A reqwest error as a transport error: its kind, the innermost cause as the detail (it says
/// what actually happened, e.g. "Connection refused"), and the error itself, without its URL, as
/// the typed source.
fn classify(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    let (kind, detail) = if error.is_connect() {
        // Includes the connect timeout: the connection was never made, so nothing was sent.
        (TransportErrorKind::Connect, if error.is_timeout() { "timed out".to_owned() } else { root_cause(&error) })
    } else if error.is_timeout() {
        (TransportErrorKind::Timeout, String::new())
    } else if error.is_redirect() {
        (TransportErrorKind::Redirect, String::new())
    } else if error.is_builder() {
        (TransportErrorKind::InvalidRequest, root_cause(&error))
    } else {
        (TransportErrorKind::Interrupted, root_cause(&error))
    };
    TransportError::new(kind, detail).with_source(error)
}

/// The innermost cause's message, unless it could hold a URL.
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut innermost = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    if std::ptr::addr_eq(innermost, error) {
        return String::new();
    }
    let text = innermost.to_string();
    if text.contains("://") { String::new() } else { text }
}
