//! Every place where the runner touches the library's HTTP seam (`HttpClient`, `RequestKind`,
//! `execute`) or matches on the flow's error variants. When either API changes, this module is
//! the one to adapt: the rest of the runner sees only [`Recorder`], [`Exchange`] and [`Failure`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zoho_oauth::core::transport::BoxFuture;
use zoho_oauth::{
    ClientConfig, Error, Flow, HttpClient, HttpPolicy, HttpRequest, HttpResponse, RequestKind, ReqwestClient,
    ResponseBody, StreamingResponse, TOKEN_BODY_LIMIT, TransportError, Unauthorized,
};

/// One request the library sent to the token or revocation endpoint, and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Whether the request carried an `Authorization: Basic` header.
    pub basic_auth: bool,
    /// The HTTP status, or `None` when the transport failed.
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub www_authenticate: Option<String>,
    /// The body, at most 4 KiB of it. Never printed: only checked.
    pub body: Vec<u8>,
}

impl Exchange {
    /// The body's `error` member, when the body is a JSON object with a string `error`.
    pub fn error_field(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value.get("error")?.as_str().map(str::to_owned)
    }

    /// Whether the body is a JSON object at all.
    pub fn is_json_object(&self) -> bool {
        serde_json::from_slice::<serde_json::Value>(&self.body).is_ok_and(|v| v.is_object())
    }
}

/// The `HttpClient` every flow of a run uses: it forwards to reqwest and records each token and
/// revocation request, so any scenario on any target can check what was (or was not) sent.
#[derive(Debug)]
pub struct Recorder {
    inner: ReqwestClient,
    log: Mutex<Vec<Exchange>>,
}

impl Recorder {
    pub fn new() -> anyhow::Result<Arc<Recorder>> {
        let inner = ReqwestClient::builder().connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Arc::new(Recorder { inner, log: Mutex::new(Vec::new()) }))
    }

    /// How many token and revocation requests were sent so far.
    pub fn sent(&self) -> usize {
        self.log.lock().expect("the log is never poisoned").len()
    }

    /// The requests sent after the first `since`.
    pub fn since(&self, since: usize) -> Vec<Exchange> {
        self.log.lock().expect("the log is never poisoned")[since..].to_vec()
    }

    /// Sends a request that is not the library's: a consent step, a discovery fetch, a resource
    /// call. It is not recorded.
    pub async fn send(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let policy = HttpPolicy::default().timeout(Duration::from_secs(15));
        Ok(policy.execute(&self.inner, request, RequestKind::Api).await?)
    }

    /// A flow for `config` whose every request goes through this recorder.
    pub fn flow(self: &Arc<Self>, config: ClientConfig) -> Flow<Unauthorized> {
        Flow::new(config, self.clone())
    }
}

impl HttpClient for Recorder {
    fn execute(
        &self,
        request: HttpRequest,
        kind: RequestKind,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        Box::pin(async move {
            let recorded = matches!(kind, RequestKind::CodeExchange | RequestKind::Refresh | RequestKind::Revoke);
            let basic_auth = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("basic "));
            let result = self.inner.execute(request, kind).await;
            if !recorded {
                return result;
            }
            // The answer is read here, under the token endpoint's cap, to be recorded, and handed
            // on in memory; the policy above this client still applies its own checks to it.
            let result: Result<HttpResponse, TransportError> = match result {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    body.collect(TOKEN_BODY_LIMIT).await.map(|body| http::Response::from_parts(parts, body))
                }
                Err(error) => Err(error),
            };
            {
                let header = |name: http::header::HeaderName| {
                    result
                        .as_ref()
                        .ok()
                        .and_then(|r| r.headers().get(name))
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let exchange = Exchange {
                    basic_auth,
                    status: result.as_ref().ok().map(|r| r.status().as_u16()),
                    content_type: header(http::header::CONTENT_TYPE),
                    www_authenticate: header(http::header::WWW_AUTHENTICATE),
                    body: result.as_ref().map(|r| r.body()[..r.body().len().min(4096)].to_vec()).unwrap_or_default(),
                };
                self.log.lock().expect("the log is never poisoned").push(exchange);
            }
            result.map(|response| response.map(ResponseBody::from))
        })
    }
}

/// How the library classified a failure, in the terms the scenarios check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The callback's `state` differs: refused before any request.
    StateMismatch,
    /// The callback's `iss` differs: refused before any request.
    IssuerMismatch,
    /// The callback could not be read or carried no code: refused before any request.
    MalformedCallback,
    /// The callback named an untrusted accounts server: refused before any request.
    UntrustedAccountsServer,
    /// The authorization server declined the authorization request, with this code.
    Denied(String),
    /// The server refused the request with this code.
    Refused(String),
    /// The server refused a refresh token with this code: the user must authorize again.
    Reauthorize(String),
    /// The server is rate limiting.
    RateLimited,
    /// The server's answer could not be read.
    Malformed { status: u16 },
    /// The HTTP exchange failed: a retry might help.
    Transient,
    /// Anything else (configuration, store).
    Other,
}

impl Failure {
    /// Whether the library reported a refusal a retry cannot fix (as opposed to a transient
    /// failure, a rate limit or a success).
    pub fn is_refusal(&self) -> bool {
        match self {
            Failure::Refused(_) | Failure::Reauthorize(_) => true,
            Failure::Malformed { status } => (400..500).contains(status),
            _ => false,
        }
    }

    /// The server's error code, if the library read one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Denied(code) | Failure::Refused(code) | Failure::Reauthorize(code) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Denied(code) => write!(f, "AuthorizationDenied({code})"),
            Failure::Refused(code) => write!(f, "Server({code})"),
            Failure::Reauthorize(code) => write!(f, "ReauthorizationRequired({code})"),
            Failure::Malformed { status } => write!(f, "MalformedResponse(HTTP {status})"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The one match on the flow's error variants.
pub fn classify(error: &Error) -> Failure {
    // A failed renewal is classified by the attempt behind it; a dead grant says so whatever the code.
    let cause = error.cause();
    if error.needs_reauthorization() {
        let code = match cause {
            Error::Server(e) => e.error.as_str().to_owned(),
            other => other.to_string(),
        };
        return Failure::Reauthorize(code);
    }
    if error.is_rate_limited() {
        return Failure::RateLimited;
    }
    match cause {
        Error::StateMismatch | Error::StateMissing => Failure::StateMismatch,
        Error::IssuerMismatch => Failure::IssuerMismatch,
        Error::MalformedCallback { .. } => Failure::MalformedCallback,
        Error::UntrustedAccountsServer { .. } => Failure::UntrustedAccountsServer,
        Error::AuthorizationDenied { error, .. } => Failure::Denied(error.clone()),
        Error::Server(e) => Failure::Refused(e.error.as_str().to_owned()),
        Error::RateLimited(_) => Failure::RateLimited,
        Error::MalformedResponse { status, .. } => Failure::Malformed { status: *status },
        Error::Transport(_) => Failure::Transient,
        _ => Failure::Other,
    }
}

/// What the flow's fallible methods return: the flow's error, or an error that converts into it
/// (a failed exchange carries the pending flow besides).
pub type FlowResult<T, E = Error> = Result<T, E>;

/// A flow result with its failure classified.
pub fn outcome<T, E: Into<Error>>(result: Result<T, E>) -> Result<T, Failure> {
    result.map_err(|e| classify(&e.into()))
}

/// Revokes the session's tokens; the error, if any, as an `anyhow` error.
pub async fn revoke(session: Flow<zoho_oauth::Authorized>) -> anyhow::Result<Flow<Unauthorized>> {
    session.revoke().await.map_err(|e| anyhow::Error::new(e.error))
}

/// Whether `code` is the RFC 6749 `invalid_grant` or Zoho's spelling of it.
pub fn is_invalid_grant(code: &str) -> bool {
    zoho_oauth::core::dialect::grant_is_invalid(&zoho_oauth::ErrorCode::parse(code))
}

/// Whether the library knows `code` (it is not kept verbatim as an unknown one).
pub fn is_known_code(code: &str) -> bool {
    !matches!(zoho_oauth::ErrorCode::parse(code), zoho_oauth::ErrorCode::Other(_))
}
