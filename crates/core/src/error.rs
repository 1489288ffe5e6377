//! The core crate's error type.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::transport::TransportError;

/// Everything that can go wrong in the core crate.
///
/// No variant ever holds a token, code, client secret or verifier: bodies are kept only as
/// short excerpts with anything token-like masked.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scope did not follow the expected grammar.
    #[error("invalid scope: {reason}")]
    InvalidScope {
        /// What was wrong.
        reason: &'static str,
    },
    /// A URL was not an absolute `http` or `https` URL of the expected form.
    #[error("invalid {what}")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
    },
    /// A data-center name was not one of Zoho's.
    #[error("unknown data center (expected one of us, eu, in, au, jp, cn, ca, sa, uk)")]
    UnknownDataCenter,
    /// A callback's `accounts-server` named a host that the configured endpoints do not trust.
    ///
    /// Exchanging the code there would hand the code and the client secret to that host.
    #[error("the accounts server {server} is not trusted for this client, so nothing was sent there")]
    UntrustedAccountsServer {
        /// The server as named, masked like any text from the network.
        server: String,
    },
    /// The redirect back from the authorization server could not be read.
    #[error("malformed callback: {reason}")]
    MalformedCallback {
        /// What was wrong.
        reason: &'static str,
    },
    /// The authorization server refused the request with an error code.
    #[error("the authorization server refused the request: {0}")]
    Server(ServerError),
    /// The authorization server is rate limiting this client (Zoho's "Access Denied" answer).
    #[error("the authorization server is rate limiting this client; wait before trying again")]
    RateLimited(ServerError),
    /// The response could not be understood.
    #[error("malformed response from the authorization server (HTTP {status}, {kind}){}", excerpt_suffix(excerpt))]
    MalformedResponse {
        /// The HTTP status code.
        status: u16,
        /// What kind of response it was.
        kind: MalformedKind,
        /// A short excerpt of the body, with anything token-like masked.
        excerpt: String,
    },
    /// The HTTP exchange itself failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// `": excerpt"`, or nothing for an empty excerpt, so a message never ends in a dangling colon.
pub fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() { String::new() } else { format!(": {excerpt}") }
}

/// Result type of the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was wrong with a response that could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The body was empty.
    EmptyBody,
    /// The body was an HTML page, typically from a proxy or load balancer.
    Html,
    /// The `Content-Type` was neither JSON nor absent.
    UnexpectedContentType,
    /// The body was not valid JSON, e.g. truncated.
    InvalidJson,
    /// The body was JSON but not of the expected shape.
    UnexpectedShape,
    /// The status code did not fit the body.
    UnexpectedStatus,
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MalformedKind::EmptyBody => "empty body",
            MalformedKind::Html => "an HTML page",
            MalformedKind::UnexpectedContentType => "unexpected content type",
            MalformedKind::InvalidJson => "invalid JSON",
            MalformedKind::UnexpectedShape => "unexpected JSON shape",
            MalformedKind::UnexpectedStatus => "unexpected status",
        })
    }
}

/// An error response from the token or revocation endpoint
/// ([RFC 6749 section 5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)),
/// including Zoho's own codes.
///
/// Its `Debug` and `Display` mask token-like runs in the server's text, like every other
/// place a server's words reach an error message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerError {
    /// The error code.
    pub error: ErrorCode,
    /// The server's human-readable description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A link to more information, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(description) = &self.error_description {
            // Descriptions come from the server: keep them short and mask anything token-like.
            write!(f, " ({})", crate::redact::excerpt(description.as_bytes()))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |text: &Option<String>| text.as_ref().map(|t| crate::redact::excerpt(t.as_bytes()));
        f.debug_struct("ServerError")
            .field("error", &self.error)
            .field("error_description", &masked(&self.error_description))
            .field("error_uri", &masked(&self.error_uri))
            .finish()
    }
}

/// An error code from the token endpoint.
///
/// The RFC 6749 codes and Zoho's own; any other code is kept in [`ErrorCode::Other`].
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`: unknown client id, or failed client authentication.
    InvalidClient,
    /// `invalid_grant`: the standard code for a bad, used or expired code or refresh token.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`: the resource owner or server denied the request.
    AccessDenied,
    /// `unsupported_token_type` (RFC 7009).
    UnsupportedTokenType,
    /// Zoho's `invalid_code`: a used, expired or unknown code, or a revoked refresh token.
    InvalidCode,
    /// Zoho's `invalid_client_secret`.
    InvalidClientSecret,
    /// Zoho's `invalid_redirect_uri`.
    InvalidRedirectUri,
    /// Zoho's rate-limit answer, `"error":"Access Denied"`.
    TooManyRequests,
    /// Any other code, kept verbatim.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::InvalidClientSecret => "invalid_client_secret",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::TooManyRequests => "Access Denied",
            ErrorCode::Other(other) => other,
        }
    }

    /// Parses a wire code.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_grant" => ErrorCode::InvalidGrant,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "access_denied" => ErrorCode::AccessDenied,
            "unsupported_token_type" => ErrorCode::UnsupportedTokenType,
            "invalid_code" => ErrorCode::InvalidCode,
            "invalid_client_secret" => ErrorCode::InvalidClientSecret,
            "invalid_redirect_uri" => ErrorCode::InvalidRedirectUri,
            "Access Denied" => ErrorCode::TooManyRequests,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A server-chosen code could be anything: mask it like any other server text.
            ErrorCode::Other(other) => f.write_str(&crate::redact::excerpt(other.as_bytes())),
            known => f.write_str(known.as_str()),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Other(other) => f.debug_tuple("Other").field(&crate::redact::excerpt(other.as_bytes())).finish(),
            known => f.write_str(known.as_str()),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

impl From<ServerError> for Error {
    fn from(error: ServerError) -> Self {
        if error.error == ErrorCode::TooManyRequests { Error::RateLimited(error) } else { Error::Server(error) }
    }
}
