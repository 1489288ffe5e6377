//! The tool's errors: one line that says what to do next, and a documented exit code.

use std::fmt;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use zoho_oauth::{Error as FlowError, ErrorCode, FailureKind};

use crate::format;
use crate::profile::profile_flag;

/// The exit codes, as documented in `--help` and `docs/cli.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything not listed below (declined consent, state mismatch, a refusal by Zoho, a login
    /// that timed out or whose device code expired).
    Failure = 1,
    /// 2: the command line is wrong: an unknown flag or command, or a bad value.
    Usage = 2,
    /// 3: a login is needed: no saved tokens, a used or expired code, a revoked refresh token.
    NeedsLogin = 3,
    /// 4: Zoho is rate limiting this client; wait before trying again.
    RateLimited = 4,
    /// 5: the accounts server could not be reached or sent something unreadable; try again later.
    Network = 5,
    /// 6: the configuration or the token store cannot be used: missing client id or secret,
    /// unsafe permissions, a malformed file, a client Zoho does not know.
    Config = 6,
    /// 130: interrupted with Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failed command: its exit code and a one-line message for stderr.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    message: String,
}

/// The tool's result type.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self { exit, message: message.into() }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A configuration or token-file error (exit 6).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::Config, message)
    }

    /// No saved tokens for `profile` (exit 3).
    pub fn not_logged_in(profile: &str) -> Self {
        Self::new(
            Exit::NeedsLogin,
            format!("no saved tokens for profile {profile:?}; run `zoho-oauth login{}` first", profile_flag(profile)),
        )
    }

    /// No saved tokens for `profile` with this client and environment (exit 3).
    pub fn not_logged_in_with(profile: &str, client_id: &str, environment: &str) -> Self {
        Self::new(
            Exit::NeedsLogin,
            format!(
                "no saved tokens for profile {profile:?} with client {client_id} in {environment}; \
                 run `zoho-oauth login{}` first",
                profile_flag(profile)
            ),
        )
    }

    /// Zoho is rate limiting the client until `until` (exit 4).
    pub fn rate_limited(until: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self::new(
            Exit::RateLimited,
            format!(
                "Zoho is rate limiting this client (too many access tokens in a short time); \
                 wait until {} ({}) before asking for a new token",
                format::time(until),
                format::relative(until, now)
            ),
        )
    }

    /// Zoho is rate limiting the client, for how long is not known (exit 4).
    pub fn rate_limited_for_a_while() -> Self {
        let lockout = zoho_oauth::RefreshPolicy::default().rate_limit_lockout;
        Self::new(
            Exit::RateLimited,
            format!(
                "Zoho is rate limiting this client (too many requests in a short time); wait {} or more \
                 before trying again",
                format::duration(lockout)
            ),
        )
    }

    /// Maps a flow error to a message and an exit code; `during` says what was being done.
    pub fn from_flow(error: &FlowError, during: During<'_>) -> Self {
        let login = |profile: &str| format!("run `zoho-oauth login{}` again", profile_flag(profile));
        if error.needs_reauthorization() {
            let message = match error.cause() {
                FlowError::Server(server) => {
                    format!(
                        "the refresh token was revoked or has expired ({}); {}",
                        server.error,
                        login(during.profile())
                    )
                }
                FlowError::NoRefreshToken => {
                    format!("the access token has expired and no refresh token is saved; {}", login(during.profile()))
                }
                _ => format!("the saved grant can no longer be renewed; {}", login(during.profile())),
            };
            return Self::new(Exit::NeedsLogin, message);
        }
        match error {
            FlowError::StateMismatch => Self::new(
                Exit::Failure,
                "the browser came back with another `state` than this login sent (an old tab or a forged request); \
                 run `zoho-oauth login` again",
            ),
            FlowError::AuthorizationDenied { error, .. } => match during {
                During::Device { profile } => Self::new(
                    Exit::Failure,
                    format!(
                        "the authorization was declined on the verification page ({error}); run `zoho-oauth login{} \
                         --device` again and accept",
                        profile_flag(profile)
                    ),
                ),
                _ => Self::new(
                    Exit::Failure,
                    format!(
                        "the authorization was declined in the browser ({error}); run `zoho-oauth login` again and \
                         accept"
                    ),
                ),
            },
            FlowError::DeviceCodeExpired => Self::new(
                Exit::Failure,
                format!(
                    "the code expired before it was approved; run `zoho-oauth login{} --device` again and enter the \
                     new code before it expires",
                    profile_flag(during.profile())
                ),
            ),
            FlowError::Server(server) if server.error.as_str() == MISSING_ORG_INFO => Self::config(format!(
                "Zoho needs the org a client-credentials token is for ({MISSING_ORG_INFO}); give it with --soid \
                 ZohoCRM.<org id> (or ZOHO_SOID, or soid in the config file), the org id shown in Zoho CRM, and run \
                 `zoho-oauth login{} --client-credentials` again",
                profile_flag(during.profile())
            )),
            FlowError::MalformedCallback { reason } => Self::new(
                Exit::Failure,
                format!("the browser came back without a usable code ({reason}); run `zoho-oauth login` again"),
            ),
            FlowError::UntrustedAccountsServer { server } if matches!(during, During::Device { .. }) => Self::new(
                Exit::Failure,
                format!(
                    "the approval came from a data center this client does not trust ({server}), so nothing was sent \
                     there; for a custom accounts server, name it with --trust-accounts-url LOCATION=URL"
                ),
            ),
            FlowError::UntrustedAccountsServer { .. } => Self::new(
                Exit::Failure,
                "the answer names an accounts server this client does not trust, so the code was not sent there; \
                 for a custom accounts server, trust it with --trust-accounts-url",
            ),
            FlowError::Server(server) if zoho_oauth::core::dialect::grant_is_invalid(&server.error) => match during {
                During::SelfClient { profile } => Self::new(
                    Exit::NeedsLogin,
                    format!(
                        "the self-client code was already used or has expired ({}); generate a new code in Zoho's API \
                         console and run `zoho-oauth login{} --self-client CODE` again",
                        server.error,
                        profile_flag(profile)
                    ),
                ),
                During::Login { profile } => Self::new(
                    Exit::NeedsLogin,
                    format!(
                        "the authorization code was already used or has expired ({}); {}",
                        server.error,
                        login(profile)
                    ),
                ),
                During::Refresh { profile } | During::Revoke { profile } => Self::new(
                    Exit::NeedsLogin,
                    format!("the refresh token was revoked or has expired ({}); {}", server.error, login(profile)),
                ),
                During::Device { profile } => Self::new(
                    Exit::NeedsLogin,
                    format!(
                        "the device code is no longer valid ({}); run `zoho-oauth login{} --device` again",
                        server.error,
                        profile_flag(profile)
                    ),
                ),
                During::ClientCredentials { .. } => Self::config(format!(
                    "Zoho refused the client credentials ({}); check that the client is a self client of the org \
                     in Zoho's API console",
                    server.error
                )),
            },
            FlowError::Server(server)
                if matches!(server.error, ErrorCode::InvalidClient | ErrorCode::InvalidClientSecret) =>
            {
                Self::config(format!(
                    "Zoho does not accept this client id and secret ({}); check ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET \
                     (or the config file) against Zoho's API console",
                    server.error
                ))
            }
            FlowError::Server(server) if server.error == ErrorCode::InvalidRedirectUri => Self::config(format!(
                "Zoho does not accept the redirect URI ({}); register it in Zoho's API console, or change \
                 --redirect-host, --redirect-port or --redirect-path to the registered one",
                server.error
            )),
            FlowError::Server(server) => {
                Self::new(Exit::Failure, format!("the accounts server refused the request: {server}"))
            }
            // A renewal's lock-out is a `Refresh` failure with its end; this is a code exchange's.
            FlowError::RateLimited(_) => Self::rate_limited_for_a_while(),
            FlowError::Refresh(failure) if failure.kind() == FailureKind::RateLimited => match failure.retry_at() {
                Some(until) => Self::rate_limited(until, Utc::now()),
                None => Self::rate_limited_for_a_while(),
            },
            FlowError::Refresh(failure) => match failure.cause() {
                Some(cause) => Self::from_flow(cause, during),
                // Recorded in the store by another process: its kind says what to do.
                None => Self::recorded_failure(failure, during.profile()),
            },
            FlowError::ClientSecret(source) => match source.downcast_ref::<CliError>() {
                Some(error) => Self::new(error.exit, error.message()),
                None => Self::config(format!("the client secret could not be loaded: {source}")),
            },
            FlowError::NoRefreshToken => Self::new(
                Exit::NeedsLogin,
                format!("the access token has expired and no refresh token is saved; {}", login(during.profile())),
            ),
            FlowError::MalformedResponse { status, kind, excerpt } => Self::new(
                Exit::Network,
                format!(
                    "the accounts server sent an unreadable answer (HTTP {status}, {kind}: {excerpt}); try again later"
                ),
            ),
            // "Could not reach" only when no connection was made; a timeout, a cut-off answer or a
            // refused redirect did reach a server, and saying otherwise sends people to the wrong fix.
            FlowError::Transport(error) if error.is_connect() => Self::new(
                Exit::Network,
                match error.detail() {
                    Some(detail) => {
                        format!("could not reach the accounts server ({detail}); check the network and try again")
                    }
                    None => "could not reach the accounts server; check the network and try again".to_owned(),
                },
            ),
            FlowError::Transport(error) => {
                Self::new(Exit::Network, format!("the request to the accounts server failed: {error}; try again later"))
            }
            FlowError::Store(error) => Self::config(format!("{error}; fix the token file and try again")),
            FlowError::NotSaved { source, .. } => Self::config(format!(
                "new tokens could not be saved ({source}); fix the token file (permissions, disk space) and try again"
            )),
            FlowError::Config(error) => Self::usage(format!("invalid setting: {error}")),
            other => Self::new(Exit::Failure, other.to_string()),
        }
    }

    /// A failed renewal that another process sharing the store recorded, still in force.
    fn recorded_failure(failure: &zoho_oauth::RefreshError, profile: &str) -> Self {
        let until = failure.retry_at().map(|at| format!("; the next attempt is after {}", format::time(at)));
        match failure.kind() {
            FailureKind::GrantInvalid => {
                Self::new(Exit::NeedsLogin, format!("{failure}; run `zoho-oauth login{}` again", profile_flag(profile)))
            }
            FailureKind::Transient => Self::new(Exit::Network, format!("{failure}{}", until.unwrap_or_default())),
            FailureKind::Rejected => Self::config(format!(
                "{failure}; check ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET (or the config file) against Zoho's API console"
            )),
            _ => Self::new(Exit::Failure, failure.to_string()),
        }
    }

    /// The message, on one line.
    pub fn message(&self) -> String {
        self.message.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// An error, so that it can travel through the library (a client secret that could not be loaded)
/// and come back with its exit code.
impl std::error::Error for CliError {}

/// Zoho's answer to a client-credentials request without the org (`soid`) its product needs.
const MISSING_ORG_INFO: &str = "missing_org_info";

/// What the tool was doing when a flow error happened, to say what to do next.
#[derive(Debug, Clone, Copy)]
pub enum During<'a> {
    /// Exchanging a code from the browser.
    Login {
        /// The profile.
        profile: &'a str,
    },
    /// Exchanging a self-client code.
    SelfClient {
        /// The profile.
        profile: &'a str,
    },
    /// Asking for a device code, or polling until the user decides.
    Device {
        /// The profile.
        profile: &'a str,
    },
    /// Asking for a token with the client's own credentials.
    ClientCredentials {
        /// The profile.
        profile: &'a str,
    },
    /// Refreshing the access token.
    Refresh {
        /// The profile.
        profile: &'a str,
    },
    /// Revoking the refresh token.
    Revoke {
        /// The profile.
        profile: &'a str,
    },
}

impl During<'_> {
    /// The profile the command works on.
    pub fn profile(&self) -> &str {
        match self {
            During::Login { profile }
            | During::SelfClient { profile }
            | During::Device { profile }
            | During::ClientCredentials { profile }
            | During::Refresh { profile }
            | During::Revoke { profile } => profile,
        }
    }
}

impl From<zoho_oauth::store::Error> for CliError {
    fn from(error: zoho_oauth::store::Error) -> Self {
        Self::config(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use zoho_oauth::{TransportError, TransportErrorKind};

    use super::*;

    #[test]
    fn only_a_connection_never_made_is_could_not_reach() {
        let during = During::Refresh { profile: crate::profile::DEFAULT_PROFILE };
        let refused = FlowError::from(TransportError::new(TransportErrorKind::Connect, "Connection refused"));
        assert_eq!(
            CliError::from_flow(&refused, during).message(),
            "could not reach the accounts server (Connection refused); check the network and try again"
        );
        for kind in [TransportErrorKind::Timeout, TransportErrorKind::Interrupted, TransportErrorKind::Redirect] {
            let error = FlowError::from(TransportError::new(kind, ""));
            let message = CliError::from_flow(&error, During::Refresh { profile: "default" }).message();
            assert!(!message.contains("could not reach"), "{kind:?}: {message}");
            assert!(message.starts_with("the request to the accounts server failed: "), "{message}");
        }
    }
}
