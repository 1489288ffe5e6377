//! The flow crate's error type.

use zoho_oauth_core::{MalformedKind, ServerError, TransportError};

/// Everything that can go wrong in the flow.
///
/// Variants say where the failure came from so callers can branch: the callback
/// (`StateMismatch`, `AuthorizationDenied`, ...), the server (`Server`, `RateLimited`,
/// `ReauthorizationRequired`), the response (`MalformedResponse`), or the network (`Transport`).
/// No variant holds a token, code, client secret, state or verifier.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The callback's `state` is missing or differs from the one this flow sent:
    /// the callback may be forged (RFC 6749 section 10.12). Nothing was sent to the server.
    #[error("the callback's state does not match the authorization request; start the flow again")]
    StateMismatch,
    /// The user or the authorization server declined the authorization request
    /// (RFC 6749 section 4.1.2.1), e.g. `access_denied` when the user refused consent.
    #[error("the authorization request was declined: {error}")]
    AuthorizationDenied {
        /// The `error` code from the callback, masked like any server text.
        error: String,
        /// The `error_description`, if any, masked like any server text.
        description: Option<String>,
    },
    /// The callback's `iss` is missing or names another issuer than the configured one (RFC 9207):
    /// the response may come from another authorization server (a mix-up attack). Nothing was sent.
    #[error("the callback's issuer does not match the authorization server; start the flow again")]
    IssuerMismatch,
    /// The callback could not be read, or carried no code.
    #[error("malformed callback: {reason}")]
    MalformedCallback {
        /// What was wrong.
        reason: &'static str,
    },
    /// The callback's `accounts-server` names a host that is not trusted for this client;
    /// the code was not sent anywhere.
    #[error("the callback names an accounts server that is not trusted for this client")]
    UntrustedAccountsServer,
    /// The token or revocation endpoint refused the request.
    #[error("the authorization server refused the request: {0}")]
    Server(ServerError),
    /// The authorization server is rate limiting this client; wait before trying again.
    #[error("the authorization server is rate limiting this client; wait before trying again")]
    RateLimited(ServerError),
    /// The refresh token is revoked, expired or unknown: only a new authorization can help.
    #[error("the refresh token is no longer valid ({0}); the user must authorize again")]
    ReauthorizationRequired(ServerError),
    /// The grant carried no refresh token (`access_type=online`), so the access token cannot be renewed.
    #[error("no refresh token is held (request access_type=offline); the user must authorize again")]
    NoRefreshToken,
    /// The server's response could not be understood.
    #[error("malformed response from the authorization server (HTTP {status}, {kind}): {excerpt}")]
    MalformedResponse {
        /// The HTTP status code.
        status: u16,
        /// What kind of response it was.
        kind: MalformedKind,
        /// A short excerpt of the body with anything token-like masked.
        excerpt: String,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The endpoints have no revocation URL.
    #[error("the server has no revocation endpoint configured")]
    NoRevocationEndpoint,
    /// A pending authorization was resumed with a client it was not started with.
    #[error("the pending authorization was started by another client")]
    ForeignPendingAuthorization,
    /// The token store failed; nothing was lost (the message names the path, never a token).
    #[error("the token store failed: {message}")]
    Store {
        /// What the store reported.
        message: String,
    },
    /// New tokens were issued but could not be saved to the token store.
    ///
    /// They are not lost: they are held here (and, after a refresh, by the flow itself), so the
    /// caller can retry the save or restore a flow from them with `Flow::restore`.
    #[error("new tokens could not be saved to the token store: {message}")]
    NotSaved {
        /// What the store reported.
        message: String,
        /// The tokens that were not saved.
        tokens: Box<zoho_oauth_core::TokenSet>,
    },
    /// The client configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(zoho_oauth_core::Error),
}

/// Result type of the flow crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<zoho_oauth_core::Error> for Error {
    fn from(error: zoho_oauth_core::Error) -> Self {
        use zoho_oauth_core::Error as Core;
        match error {
            Core::UntrustedAccountsServer => Error::UntrustedAccountsServer,
            Core::MalformedCallback { reason } => Error::MalformedCallback { reason },
            Core::Server(e) => Error::Server(e),
            Core::RateLimited(e) => Error::RateLimited(e),
            Core::MalformedResponse { status, kind, excerpt } => Error::MalformedResponse { status, kind, excerpt },
            Core::Transport(e) => Error::Transport(e),
            other => Error::Config(other),
        }
    }
}

impl Error {
    /// Whether the user must go through the authorization flow again for this client to work.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self, Error::ReauthorizationRequired(_) | Error::NoRefreshToken)
    }
}

impl From<zoho_oauth_store::Error> for Error {
    fn from(error: zoho_oauth_store::Error) -> Self {
        Error::Store { message: error.to_string() }
    }
}
