//! The crate's errors: building a [`ZohoAuth`](crate::ZohoAuth), and why a sign-in failed.

/// Why a [`ZohoAuth`](crate::ZohoAuth) could not be built or a sign-in could not be completed.
///
/// No variant holds a token, a code, a `state` or a cookie value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The public base URL is not `https` (or `http` on a loopback host), has a query or a
    /// fragment, or does not end with `/`.
    #[error("the public base url must be https (or http on a loopback host), end with '/', and have no query")]
    PublicBaseUrl,
    /// The flow failed: the exchange, the current-user request, or a renewal.
    #[error(transparent)]
    Flow(#[from] zoho_oauth::Error),
    /// The token store failed.
    #[error("the token store failed: {0}")]
    Store(#[from] zoho_oauth::store::Error),
    /// The current-user request (`GET {api_domain}/crm/v8/users?type=CurrentUser`) was answered
    /// with another status than 200; its body is not kept, since it is the server's text.
    #[error("the current-user request was answered with HTTP {status}")]
    CurrentUser {
        /// The HTTP status received.
        status: u16,
    },
    /// The current-user answer had no user with an id.
    #[error("the current-user answer names no user")]
    NoCurrentUser,
    /// Too many sign-ins are waiting for their callback; a flood of login requests is refused
    /// rather than filling the memory.
    #[error("too many sign-ins are in progress; try again in a few minutes")]
    TooManyPendingLogins,
}

/// Why the callback did not sign the user in; each kind gets its own page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// No sign-in is in progress in this browser: no pending cookie, or one the server does not
    /// know (it was used, or the server restarted).
    #[error("no sign-in is in progress in this browser")]
    NoPendingLogin,
    /// The sign-in was started longer ago than the pending lifetime allows.
    #[error("the sign-in took too long")]
    Expired,
    /// The callback's `state` is not the one this browser's sign-in sent: it may be forged
    /// (RFC 6749 section 10.12). Nothing was sent to the accounts server, and the pending sign-in
    /// is kept for the right callback.
    #[error("the callback's state does not match this browser's sign-in")]
    StateMismatch,
    /// The user (or the accounts server) declined, e.g. `access_denied`.
    #[error("the authorization was declined: {error}")]
    Denied {
        /// The `error` code from the callback, masked like any server text.
        error: String,
    },
    /// The callback was malformed, named an untrusted accounts server, or the exchange, the
    /// current-user request or the store failed.
    #[error(transparent)]
    Failed(Error),
}

impl LoginError {
    /// The HTTP status of the error page for this error.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::NoPendingLogin | Self::Expired | Self::StateMismatch => StatusCode::BAD_REQUEST,
            Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::Failed(Error::TooManyPendingLogins) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl From<zoho_oauth::Error> for LoginError {
    fn from(error: zoho_oauth::Error) -> Self {
        match error {
            zoho_oauth::Error::StateMismatch => Self::StateMismatch,
            zoho_oauth::Error::AuthorizationDenied { error, .. } => Self::Denied { error },
            other => Self::Failed(Error::Flow(other)),
        }
    }
}
