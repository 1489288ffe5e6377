//! The HTTP transport for `zoho-oauth`, over [reqwest](https://docs.rs/reqwest) with rustls.
//!
//! **This is the only crate that names reqwest.** It implements the core crate's
//! [`HttpClient`] seam with the settings a token client needs:
//! redirects are never followed (a redirected token request is an SSRF and credential-leak risk,
//! as oauth2-rs warns), connect and total timeouts are set, response bodies are capped
//! (a token response is a few hundred bytes), and the `User-Agent` names this library.
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

use std::time::Duration;

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
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidRequest, describe(&e)))?;
        let mut response = self.inner.execute(request).await.map_err(|e| classify(&e))?;
        if response.status().is_redirection() {
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
}

impl ReqwestClientBuilder {
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
        Ok(ReqwestClient { inner, max_body_bytes: self.max_body_bytes })
    }
}

impl HttpClient for ReqwestClient {
    fn execute(&self, request: HttpRequest, _kind: RequestKind) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.send(request))
    }
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
