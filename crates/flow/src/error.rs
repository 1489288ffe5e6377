//! The flow crate's error type.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use zoho_oauth_core::{MalformedKind, ServerError, TokenSet, TransportError};
use zoho_oauth_store::FailureKind;

/// Everything that can go wrong in the flow.
///
/// Variants say where the failure came from so callers can branch: the callback
/// (`StateMismatch`, `AuthorizationDenied`, ...: nothing was sent), the server (`Server`,
/// `RateLimited`), the response (`MalformedResponse`), the network (`Transport`), the token store
/// (`Store`, `NotSaved`), or the renewal of the access token (`Refresh`, shared by every caller
/// that waited on the same attempt).
/// No variant holds a token, code, client secret, state or verifier, except [`Error::NotSaved`],
/// which holds the tokens that could not be saved so that they are not lost (its `Debug` redacts them).
///
/// The larger errors from the crates below (the server's, the network's, the store's and the
/// configuration's) are boxed, so that every `Result` of the flow stays small: the cached
/// [`access_token`](crate::Flow::access_token) read moves one through the caller's `?`. A boxed
/// error is used like the error itself (`Box` dereferences to it; match `**error` to match on its
/// variants). Walking [`source()`](std::error::Error::source) reaches the same chain of errors,
/// down to the operating system's; at the boxed level a downcast names the box, e.g.
/// `Box<zoho_oauth_store::Error>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The callback's `state` differs from the one this flow sent: the callback may be forged
    /// (RFC 6749 section 10.12), or come from an older authorization request. Nothing was sent.
    #[error("the callback's state does not match the authorization request; start the flow again")]
    StateMismatch,
    /// The callback carries no `state` although the authorization request sent one: it cannot be
    /// matched to this request (RFC 6749 section 10.12). Nothing was sent.
    #[error("the callback carries no state, so it cannot be matched to the authorization request")]
    StateMissing,
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
    /// The callback could not be read, or carried no code. Nothing was sent.
    #[error("malformed callback: {reason}")]
    MalformedCallback {
        /// What was wrong.
        reason: &'static str,
    },
    /// The callback's `accounts-server`, or a saved token set's accounts server, is not trusted
    /// for this client; the code was not sent anywhere.
    #[error("the accounts server {server} is not trusted for this client, so nothing was sent there")]
    UntrustedAccountsServer {
        /// The server as named, masked like any text from the network.
        server: String,
    },
    /// The token or revocation endpoint refused the request.
    #[error("the authorization server refused the request: {0}")]
    Server(Box<ServerError>),
    /// The authorization server is rate limiting this client; wait before trying again.
    #[error("the authorization server is rate limiting this client; wait before trying again")]
    RateLimited(Box<ServerError>),
    /// The server's response could not be understood.
    #[error(
        "malformed response from the authorization server (HTTP {status}, {kind}){}",
        zoho_oauth_core::error::excerpt_suffix(excerpt)
    )]
    MalformedResponse {
        /// The HTTP status code received.
        status: u16,
        /// What kind of response it was.
        kind: MalformedKind,
        /// A short excerpt of the body with anything token-like masked.
        excerpt: String,
    },
    /// The API domain a token response named, or the target of an API call, is not one this client
    /// sends access tokens to (see `Endpoints::trusts_api_domain`). Nothing was sent.
    #[error(
        "the API domain {origin} is not trusted with access tokens for this client; nothing was sent \
         (trust it with Endpoints::with_trusted_api_domain)"
    )]
    UntrustedApiDomain {
        /// The origin (scheme, host and port) that was refused.
        origin: String,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Transport(Box<TransportError>),
    /// The access token could not be renewed, or its renewal is held back by a backoff or a
    /// rate-limit lock-out. Every caller that waited on the same attempt gets the same failure.
    #[error(transparent)]
    Refresh(RefreshError),
    /// The grant carried no refresh token (`access_type=online`), so the access token cannot be renewed.
    #[error("no refresh token is held (request access_type=offline); the user must authorize again")]
    NoRefreshToken,
    /// The device code expired before the user approved (RFC 8628 `expired_token`, Zoho's
    /// `expired`), or the clock says it has: start the device flow again.
    #[error("the device code expired before the user approved; start the device flow again")]
    DeviceCodeExpired,
    /// The authorization was revoked (by this session or through the store by another process):
    /// no token is handed out any more.
    #[error("the authorization was revoked; the user must authorize again")]
    Revoked,
    /// The endpoints have no revocation URL.
    #[error("the server has no revocation endpoint configured")]
    NoRevocationEndpoint,
    /// The endpoints have no device authorization endpoint (see `Endpoints::with_device_authorization_url`).
    #[error("the server has no device authorization endpoint configured")]
    NoDeviceAuthorizationEndpoint,
    /// A pending authorization was resumed with a client it was not started with.
    #[error("the pending authorization was started by another client")]
    ForeignPendingAuthorization,
    /// The operation needs a token store and the flow has none (see `Flow::with_store`).
    #[error("the flow has no token store (see Flow::with_store)")]
    NoStore,
    /// The token store failed; nothing was lost.
    #[error("the token store failed: {0}")]
    Store(#[source] Box<zoho_oauth_store::Error>),
    /// New tokens were issued but could not be saved to the token store.
    ///
    /// They are not lost: they are held here (and, after a refresh, by the flow itself), so the
    /// caller can retry the save or restore a flow from them with `Flow::restore`.
    #[error("new tokens could not be saved to the token store: {source}")]
    NotSaved {
        /// What the store reported.
        #[source]
        source: Box<zoho_oauth_store::Error>,
        /// The tokens that were not saved.
        tokens: Box<TokenSet>,
    },
    /// The client secret could not be loaded (see `ClientConfig::client_secret_with`); nothing was sent.
    #[error("the client secret could not be loaded: {0}")]
    ClientSecret(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An authorization parameter was refused by `ClientConfig::authorization_param`: its name is
    /// empty or one the flow sets itself (`state`, `scope`, `redirect_uri`, ...).
    #[error("the authorization parameter `{name}` is set by the flow and cannot be given")]
    ReservedParameter {
        /// The refused name (empty for an empty name).
        name: &'static str,
    },
    /// The client configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[source] Box<zoho_oauth_core::Error>),
}

// Keeps the boxing above honest. At 120 bytes (the store's error inline), moving the `Result` of a
// cached token read through the caller's `?` cost more than the read itself.
const _: () = assert!(std::mem::size_of::<Error>() <= 48, "box the new variant's payload");

/// Result type of the flow crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<zoho_oauth_core::Error> for Error {
    fn from(error: zoho_oauth_core::Error) -> Self {
        use zoho_oauth_core::Error as Core;
        match error {
            Core::UntrustedAccountsServer { server } => Error::UntrustedAccountsServer { server },
            Core::MalformedCallback { reason } => Error::MalformedCallback { reason },
            Core::Server(e) => Error::Server(Box::new(e)),
            Core::RateLimited(e) => Error::RateLimited(Box::new(e)),
            Core::MalformedResponse { status, kind, excerpt } => Error::MalformedResponse { status, kind, excerpt },
            Core::Transport(e) => Error::Transport(Box::new(e)),
            other => Error::Config(Box::new(other)),
        }
    }
}

impl From<zoho_oauth_store::Error> for Error {
    fn from(error: zoho_oauth_store::Error) -> Self {
        Error::Store(Box::new(error))
    }
}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        Error::Transport(Box::new(error))
    }
}

impl Error {
    /// A URL the flow builds or is given could not be parsed.
    pub(crate) fn invalid_url(what: &'static str) -> Self {
        Error::Config(Box::new(zoho_oauth_core::Error::InvalidUrl { what }))
    }

    /// Whether the user must go through the authorization flow again for this client to work.
    ///
    /// True when the grant is dead: the refresh answered `invalid_grant` (RFC 6749 section 5.2:
    /// "invalid, expired, revoked") or Zoho's `invalid_code` (its answer for a revoked refresh
    /// token), no refresh token is held, or the authorization was revoked. Other refusals, such
    /// as `invalid_client` (a wrong client secret), need the operator's attention rather than the
    /// user's: see [`needs_attention`](Self::needs_attention).
    pub fn needs_reauthorization(&self) -> bool {
        match self {
            Error::Refresh(e) => e.needs_reauthorization(),
            Error::NoRefreshToken | Error::Revoked => true,
            _ => false,
        }
    }

    /// Whether no automatic retry will fix this: a person must act (authorize again, or fix the
    /// client's configuration) before the token can be renewed.
    pub fn needs_attention(&self) -> bool {
        match self {
            Error::Refresh(e) => e.is_final(),
            other => other.needs_reauthorization(),
        }
    }

    /// When the token manager will next try to renew, if it is waiting (backoff or lock-out).
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Error::Refresh(e) => e.retry_at(),
            _ => None,
        }
    }

    /// The error to branch on: for a failed renewal, the error of the attempt behind it (when
    /// this process made the attempt); otherwise the error itself.
    pub fn cause(&self) -> &Error {
        match self {
            Error::Refresh(failure) => failure.cause().map_or(self, Error::cause),
            other => other,
        }
    }

    /// Whether the server is rate limiting this client, directly or through a shared lock-out.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            Error::RateLimited(_) => true,
            Error::Refresh(e) => e.kind() == FailureKind::RateLimited,
            _ => false,
        }
    }
}

/// A failed or held-back renewal of the access token, shared by every caller that waited on it.
///
/// Cloning is cheap: the failure itself is behind an `Arc`, so one attempt's error reaches every
/// waiter without the error types below it having to be `Clone`.
#[derive(Clone)]
pub struct RefreshError(Arc<Failure>);

struct Failure {
    kind: FailureKind,
    retry_at: Option<DateTime<Utc>>,
    /// The error of this process's attempt; `None` when the failure was recorded in the store by
    /// another process sharing it.
    cause: Option<Error>,
    /// The server's error code, when the failure came from the store.
    code: Option<String>,
}

impl RefreshError {
    pub(crate) fn new(kind: FailureKind, retry_at: Option<DateTime<Utc>>, cause: Error) -> Self {
        Self(Arc::new(Failure { kind, retry_at, cause: Some(cause), code: None }))
    }

    pub(crate) fn recorded(kind: FailureKind, retry_at: Option<DateTime<Utc>>, code: Option<String>) -> Self {
        Self(Arc::new(Failure { kind, retry_at, cause: None, code }))
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> FailureKind {
        self.0.kind
    }

    /// No renewal is attempted before this instant; `None` when none will be without a person acting.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        self.0.retry_at
    }

    /// Whether the grant is dead and only a new authorization helps (see [`Error::needs_reauthorization`]).
    pub fn needs_reauthorization(&self) -> bool {
        self.0.kind == FailureKind::GrantInvalid
    }

    /// Whether no renewal will be attempted until a person acts: the grant is dead, or the server
    /// kept refusing the request for a reason a retry does not change.
    pub fn is_final(&self) -> bool {
        self.0.retry_at.is_none()
    }

    /// The error of the attempt, when this process made it.
    pub fn cause(&self) -> Option<&Error> {
        self.0.cause.as_ref()
    }
}

impl fmt::Debug for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshError")
            .field("kind", &self.0.kind)
            .field("retry_at", &self.0.retry_at)
            .field("cause", &self.0.cause)
            .field("code", &self.0.code.as_deref().map(|c| zoho_oauth_core::redact::excerpt(c.as_bytes())))
            .finish()
    }
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failure = &*self.0;
        let reason: &dyn fmt::Display = match (&failure.cause, &failure.code) {
            (Some(cause), _) => cause,
            (None, Some(code)) => {
                &format_args!("{} (recorded by another process)", zoho_oauth_core::redact::excerpt(code.as_bytes()))
            }
            (None, None) => &"recorded by another process",
        };
        match failure.kind {
            FailureKind::GrantInvalid => {
                return write!(f, "the grant can no longer be renewed ({reason}); the user must authorize again");
            }
            FailureKind::RateLimited => write!(f, "the access token cannot be renewed: rate limited ({reason})")?,
            FailureKind::Rejected if failure.retry_at.is_none() => {
                return write!(
                    f,
                    "the authorization server keeps refusing to renew the access token ({reason}); \
                     check the client's configuration"
                );
            }
            _ => write!(f, "the access token could not be renewed ({reason})")?,
        }
        match failure.retry_at {
            Some(at) => write!(f, "; no new attempt before {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
            None => Ok(()),
        }
    }
}

impl std::error::Error for RefreshError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.cause.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
