//! The device authorization grant: Zoho's flow for devices without a browser, and
//! [RFC 8628](https://www.rfc-editor.org/rfc/rfc8628) for other servers.
//!
//! `Flow<Unauthorized>::device_authorization()` asks for a user code and moves to
//! `Flow<DeviceCodeIssued>`; the user enters the code at the verification URL on another device
//! while this one polls. [`Flow::poll_once`] sends at most one poll and gives the flow back while
//! the user has not decided; [`Flow::wait`] polls until the user decides, sleeping between polls
//! for as long as the injected clock says, and stops when the code expires or the future is dropped.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use url::Url;
use zoho_oauth_core::{BoxFuture, DevicePoll, Dialect, ErrorCode, SharedClock, redact};

use crate::error::{Error, Result};
use crate::flow::{Authorized, DeviceCodeIssued, Flow, Unauthorized};
use crate::{grant, requests};

/// The answer to one [`Flow::poll_once`].
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per poll, seconds apart, moved once: boxing would only make matching on it clumsier"
)]
pub enum Poll {
    /// The user has not decided yet: poll again at [`Flow::next_poll_at`].
    Pending {
        /// The pending flow, back.
        flow: Flow<DeviceCodeIssued>,
        /// Why it is still pending.
        waiting: Waiting,
    },
    /// The user approved: the flow holds tokens.
    Approved(Flow<Authorized>),
}

/// Why a device authorization is still pending after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waiting {
    /// It was too early to poll: nothing was sent.
    TooEarly,
    /// `authorization_pending`: the user has not decided yet.
    AuthorizationPending,
    /// `slow_down`: the server wants fewer polls; the interval grew.
    SlowDown,
    /// Zoho's `other_dc`: the user approved at another data center, where the next poll goes
    /// (at once).
    OtherDataCenter,
}

/// A failed poll: the error, and the pending flow back when polling can go on.
///
/// The flow comes back after a failure that a later poll may not repeat: the network, a rate
/// limit, a server error, an answer that could not be read. It does not after a final answer:
/// denial ([`Error::AuthorizationDenied`]), expiry ([`Error::DeviceCodeExpired`]), an untrusted
/// data center, or any other refusal.
pub struct DeviceError {
    error: Error,
    flow: Option<Flow<DeviceCodeIssued>>,
}

impl DeviceError {
    fn fatal(error: impl Into<Error>) -> Self {
        Self { error: error.into(), flow: None }
    }

    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Whether the pending flow came back, i.e. polling can go on.
    pub fn can_continue(&self) -> bool {
        self.flow.is_some()
    }

    /// The pending flow, when polling can go on.
    pub fn into_flow(self) -> Option<Flow<DeviceCodeIssued>> {
        self.flow
    }

    /// The error, dropping the flow.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl From<DeviceError> for Error {
    fn from(error: DeviceError) -> Self {
        error.error
    }
}

impl fmt::Debug for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceError").field("error", &self.error).field("can_continue", &self.flow.is_some()).finish()
    }
}

/// Displays as the error itself: the returned flow is not part of the message.
impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// Waits until an instant, for [`Flow::wait_with`].
///
/// The instant is on the flow's clock ([`ClientConfig::clock`](crate::ClientConfig::clock)). A
/// test that drives a [`ManualClock`](zoho_oauth_core::ManualClock) sleeps by moving it; the
/// default, [`ClockSleeper`], sleeps on tokio's timer for as long as the clock says is left.
pub trait Sleeper: Send + Sync {
    /// Returns once `at` has come, or sooner: the caller checks the clock again.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

/// Sleeps on tokio's timer until the clock reaches an instant: what [`Flow::wait`] uses.
#[derive(Debug, Clone)]
pub struct ClockSleeper {
    clock: SharedClock,
}

impl ClockSleeper {
    /// A sleeper that measures against `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self { clock }
    }
}

impl Sleeper for ClockSleeper {
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let left = (at - self.clock.now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(left))
    }
}

impl Flow<Unauthorized> {
    /// Starts a device authorization and moves to [`DeviceCodeIssued`]: show the user
    /// [`user_code`](Flow::user_code) and [`verification_uri`](Flow::verification_uri), then
    /// [`wait`](Flow::wait) (or [`poll_once`](Flow::poll_once)).
    ///
    /// For Zoho: `POST /oauth/v3/device/code` with `grant_type=device_request`, the client id, the
    /// scopes (comma-joined), `access_type` and `prompt`, and no client secret. For other servers:
    /// RFC 8628 section 3.1 at the endpoint set with
    /// [`Endpoints::with_device_authorization_url`](zoho_oauth_core::Endpoints::with_device_authorization_url), the client authenticating as at the token
    /// endpoint; without one, [`Error::NoDeviceAuthorizationEndpoint`].
    pub async fn device_authorization(self) -> Result<Flow<DeviceCodeIssued>> {
        let config = &self.client.config;
        let endpoints = &config.endpoints;
        let answer = requests::device_authorization(&self.client, endpoints).await?;
        let now = config.clock.now();
        let lifetime = seconds(answer.expires_in_seconds);
        let issued = DeviceCodeIssued {
            client_id: config.client_id.clone(),
            device_code: answer.device_code,
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            verification_uri_complete: answer.verification_uri_complete,
            accounts_server: endpoints.accounts_server(),
            expires_at: now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC),
            interval_seconds: answer.interval_seconds,
            next_poll_at: now.checked_add_signed(seconds(answer.interval_seconds)).unwrap_or(now),
            started_at: now,
        };
        Ok(Flow { client: self.client, state: issued })
    }

    /// Resumes a device authorization saved from [`Flow::pending`] or [`Flow::into_pending`].
    ///
    /// Fails if it was started by a client with another client id, or polls an accounts server the
    /// configured endpoints do not trust.
    pub fn resume_device(self, pending: DeviceCodeIssued) -> Result<Flow<DeviceCodeIssued>> {
        if pending.client_id != self.client.config.client_id {
            return Err(Error::ForeignPendingAuthorization);
        }
        self.client.config.endpoints.redirected_to(&pending.accounts_server)?;
        Ok(Flow { client: self.client, state: pending })
    }
}

impl Flow<DeviceCodeIssued> {
    /// The code the user types at the verification URL. Not a secret: it is shown to the user,
    /// and is useless without the device code this flow keeps.
    pub fn user_code(&self) -> &str {
        &self.state.user_code
    }

    /// Where the user enters the code (RFC 8628 `verification_uri`, Zoho's `verification_url`).
    pub fn verification_uri(&self) -> &Url {
        &self.state.verification_uri
    }

    /// The verification URL with the user code in it, for a QR code, when the server sends one.
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.state.verification_uri_complete.as_ref()
    }

    /// When the device code expires; polling stops then.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.state.expires_at
    }

    /// The wait between two polls, after any `slow_down`.
    pub fn interval(&self) -> Duration {
        seconds(self.state.interval_seconds)
    }

    /// No poll is sent before this instant.
    pub fn next_poll_at(&self) -> DateTime<Utc> {
        self.state.next_poll_at
    }

    /// The accounts server polls go to: the configured one, or the user's after Zoho's `other_dc`.
    pub fn accounts_server(&self) -> &str {
        &self.state.accounts_server
    }

    /// The pending state, to save (serialize) while polling goes on, e.g. before a cancellable
    /// [`wait`](Self::wait); resume it with [`Flow::resume_device`].
    ///
    /// See the security note on [`DeviceCodeIssued`]: it holds the device code.
    pub fn pending(&self) -> &DeviceCodeIssued {
        &self.state
    }

    /// Takes the pending state out of the flow, to be saved; see [`pending`](Self::pending).
    pub fn into_pending(self) -> DeviceCodeIssued {
        self.state
    }

    /// Sends one poll, unless it is too early ([`next_poll_at`](Self::next_poll_at)) or the code
    /// has expired by the flow's clock; neither sends anything.
    ///
    /// `authorization_pending`, `slow_down` (the interval grows: by five seconds, as RFC 8628
    /// section 3.5 says, and for Zoho to at least thirty, its one poll per thirty seconds) and
    /// Zoho's `other_dc` (the next poll goes to the user's data center, if the endpoints trust it)
    /// give the flow back in [`Poll::Pending`]. Approval gives [`Poll::Approved`], with the
    /// tokens saved to the flow's store, if it has one, before it is returned.
    pub async fn poll_once(mut self) -> Result<Poll, DeviceError> {
        let now = self.client.config.clock.now();
        if now >= self.state.expires_at {
            return Err(DeviceError::fatal(Error::DeviceCodeExpired));
        }
        if now < self.state.next_poll_at {
            return Ok(Poll::Pending { flow: self, waiting: Waiting::TooEarly });
        }
        let config = &self.client.config;
        let endpoints = match config.endpoints.redirected_to(&self.state.accounts_server) {
            Ok(endpoints) => endpoints,
            Err(error) => return Err(DeviceError::fatal(error)),
        };
        let answer = requests::device_poll(&self.client, &endpoints, &self.state.device_code).await;
        // Waits are measured from when the answer came, so a slow answer does not shorten them.
        let now = config.clock.now();
        let interval = seconds(self.state.interval_seconds);
        let waiting = match answer {
            Ok(DevicePoll::Approved(response)) => {
                let tokens = grant::tokens(&self.client, &endpoints, response);
                return grant::authorize(self.client, endpoints, tokens)
                    .await
                    .map(Poll::Approved)
                    .map_err(DeviceError::fatal);
            }
            Ok(DevicePoll::Pending) => Waiting::AuthorizationPending,
            Ok(DevicePoll::SlowDown) => {
                self.state.interval_seconds = slower(endpoints.dialect(), self.state.interval_seconds);
                self.state.next_poll_at = now.checked_add_signed(self.interval()).unwrap_or(now);
                return Ok(Poll::Pending { flow: self, waiting: Waiting::SlowDown });
            }
            Ok(DevicePoll::Denied(error)) => {
                return Err(DeviceError::fatal(Error::AuthorizationDenied {
                    error: redact::excerpt(error.error.as_str().as_bytes()),
                    description: error.error_description.as_deref().map(|d| redact::excerpt(d.as_bytes())),
                }));
            }
            Ok(DevicePoll::Expired(_)) => return Err(DeviceError::fatal(Error::DeviceCodeExpired)),
            Ok(DevicePoll::OtherDataCenter { location }) => match config.endpoints.located(&location) {
                Ok(theirs) => {
                    self.state.accounts_server = theirs.accounts_server();
                    // The user has approved already: ask the right data center at once.
                    self.state.next_poll_at = now;
                    return Ok(Poll::Pending { flow: self, waiting: Waiting::OtherDataCenter });
                }
                Err(error) => return Err(DeviceError::fatal(error)),
            },
            Ok(_) => {
                return Err(DeviceError::fatal(Error::MalformedResponse {
                    status: 200,
                    kind: zoho_oauth_core::MalformedKind::UnexpectedShape,
                    excerpt: "an answer to a device poll this version does not know".to_owned(),
                }));
            }
            Err(error) if transient(&error) => {
                self.state.next_poll_at = now.checked_add_signed(interval).unwrap_or(now);
                return Err(DeviceError { error, flow: Some(self) });
            }
            Err(error) => return Err(DeviceError::fatal(error)),
        };
        self.state.next_poll_at = now.checked_add_signed(interval).unwrap_or(now);
        Ok(Poll::Pending { flow: self, waiting })
    }

    /// Polls until the user decides, sleeping between polls on tokio's timer for as long as the
    /// flow's clock says is left ([`ClockSleeper`]).
    ///
    /// It returns the authorized flow, or the first failure: a final one (denial, expiry, ...) or
    /// one after which polling can go on ([`DeviceError::into_flow`], e.g. the network failed).
    /// Every wait ends by the code's expiry. Dropping the future cancels it: nothing more is sent,
    /// and a state saved with [`pending`](Self::pending) beforehand resumes where it was.
    pub async fn wait(self) -> Result<Flow<Authorized>, DeviceError> {
        let sleeper = ClockSleeper::new(self.client.config.clock.clone());
        self.wait_with(&sleeper).await
    }

    /// [`wait`](Self::wait), sleeping with `sleeper`.
    pub async fn wait_with(self, sleeper: &dyn Sleeper) -> Result<Flow<Authorized>, DeviceError> {
        let mut flow = self;
        loop {
            let now = flow.client.config.clock.now();
            if now >= flow.state.expires_at {
                return Err(DeviceError::fatal(Error::DeviceCodeExpired));
            }
            if now < flow.state.next_poll_at {
                sleeper.sleep_until(flow.state.next_poll_at.min(flow.state.expires_at)).await;
                continue;
            }
            match flow.poll_once().await? {
                Poll::Approved(authorized) => return Ok(authorized),
                Poll::Pending { flow: pending, .. } => flow = pending,
            }
        }
    }
}

/// The interval after a `slow_down`: five seconds more (RFC 8628 section 3.5); for Zoho, which
/// allows one poll per thirty seconds, at least thirty.
fn slower(dialect: Dialect, interval_seconds: u64) -> u64 {
    let slower = interval_seconds.saturating_add(5);
    match dialect {
        Dialect::Zoho => slower.max(30),
        Dialect::Standard => slower,
    }
}

/// Whether a later poll may be answered differently: the network, a rate limit, a server error.
fn transient(error: &Error) -> bool {
    match error {
        Error::Transport(_) | Error::RateLimited(_) => true,
        Error::MalformedResponse { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        Error::Server(e) => {
            matches!(&e.error, ErrorCode::Other(code) if code == "server_error" || code == "temporarily_unavailable")
        }
        _ => false,
    }
}

fn seconds(value: u64) -> Duration {
    i64::try_from(value).ok().and_then(Duration::try_seconds).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_adds_five_seconds_and_at_least_thirty_for_zoho() {
        assert_eq!(slower(Dialect::Standard, 5), 10);
        assert_eq!(slower(Dialect::Zoho, 5), 30);
        assert_eq!(slower(Dialect::Zoho, 30), 35);
        assert_eq!(slower(Dialect::Standard, u64::MAX), u64::MAX);
    }

    #[test]
    fn huge_lifetimes_do_not_overflow() {
        assert_eq!(seconds(u64::MAX), Duration::MAX);
        assert_eq!(seconds(30), Duration::seconds(30));
    }
}
