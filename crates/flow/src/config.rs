//! Client configuration: who the client is, where it talks, what it asks for.

use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::Duration;
use url::Url;
use zoho_oauth_core::{ClientSecret, Endpoints, Scopes, SharedClock, SystemClock};

use crate::error::{Error, Result};
use crate::http::HttpPolicy;

/// The default refresh margin: a token is renewed when it has less than five minutes left.
///
/// Five minutes covers clock skew between this machine and the server and a slow request that
/// starts just before expiry, at the cost of about one extra refresh every eleven hours of a
/// one-hour token, far below Zoho's limit of ten per ten minutes.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::minutes(5);

/// The authorization-request parameters the flow sets itself, which
/// [`ClientConfig::authorization_param`] refuses: letting a caller set them would break PKCE,
/// the `state` check or the redirect match, or send them twice.
pub const RESERVED_AUTHORIZATION_PARAMS: [&str; 7] =
    ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"];

/// How the authorized state renews access tokens and backs off when renewal fails.
///
/// Start from the default and change what you need:
///
/// ```
/// use chrono::Duration;
/// use zoho_oauth_flow::RefreshPolicy;
///
/// let mut policy = RefreshPolicy::default();
/// policy.margin = Duration::minutes(10);
/// policy.rate_limit_lockout = Duration::minutes(30);
/// assert_eq!(policy.max_rejections, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// Renew an access token when it has less than this left (default [`DEFAULT_REFRESH_MARGIN`]).
    pub margin: Duration,
    /// After a failed refresh, wait at least this long before the next attempt; the wait doubles
    /// with each further failure (default 2 seconds).
    pub initial_backoff: Duration,
    /// The longest wait between failed attempts (default 5 minutes).
    pub max_backoff: Duration,
    /// After a rate-limit answer, send no refresh for this long (default 15 minutes: Zoho's lock-out
    /// is reported to last 15 to 30 minutes, and refreshing during it only prolongs it).
    pub rate_limit_lockout: Duration,
    /// The shortest time between two renewals of one grant while its access token still works
    /// (default 30 seconds), so a short-lived token can never turn every call into a refresh.
    pub min_interval: Duration,
    /// While a failure is remembered, the store is read again at most this often (default
    /// 2 seconds) to adopt tokens another process saved meanwhile.
    pub store_recheck: Duration,
    /// After this many consecutive refusals (a 4xx other than 408 and 429 that does not say the
    /// grant is dead, such as `invalid_client`), stop retrying until a person acts (default 3).
    pub max_rejections: u32,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: DEFAULT_REFRESH_MARGIN,
            initial_backoff: Duration::seconds(2),
            max_backoff: Duration::minutes(5),
            rate_limit_lockout: Duration::minutes(15),
            min_interval: Duration::seconds(30),
            store_recheck: Duration::seconds(2),
            max_rejections: 3,
        }
    }
}

impl RefreshPolicy {
    /// The margin used for a token that lived `lifetime` when it was obtained: the configured
    /// margin, but never more than half the lifetime, so that a token living no longer than the
    /// margin (60-second tokens against the five-minute default) is still used for half its life
    /// instead of being renewed on every call.
    pub(crate) fn effective_margin(&self, lifetime: Duration) -> Duration {
        let half = lifetime / 2;
        if half < self.margin { half.max(Duration::zero()) } else { self.margin }
    }

    /// The wait after `failures` consecutive failures (at least 1).
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 1i32.checked_shl(failures.saturating_sub(1).min(30)).unwrap_or(i32::MAX);
        self.initial_backoff.checked_mul(factor).map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

/// Where the client secret comes from.
#[derive(Clone)]
pub(crate) enum SecretSource {
    /// A public client: PKCE only.
    None,
    /// Given up front.
    Value(ClientSecret),
    /// Loaded when a request first needs it.
    Lazy(Arc<LazySecret>),
}

/// A client secret loaded on first use, then kept.
pub(crate) struct LazySecret {
    load: Box<dyn Fn() -> std::result::Result<ClientSecret, Box<dyn std::error::Error + Send + Sync>> + Send + Sync>,
    value: OnceLock<ClientSecret>,
}

/// Says only whether a secret is set, and how.
impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretSource::None => "None",
            SecretSource::Value(_) => "Some(ClientSecret([redacted]))",
            SecretSource::Lazy(_) => "Lazy(ClientSecret([redacted]))",
        })
    }
}

/// Zoho's `access_type`: whether the grant includes a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessType {
    /// A refresh token is issued (on the first grant, or on every grant with [`Prompt::Consent`]).
    #[default]
    Offline,
    /// Only an access token: the user must authorize again after an hour.
    Online,
}

/// Zoho's `prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Force the consent screen, which also makes Zoho issue a new refresh token.
    Consent,
}

/// The configuration of one OAuth client.
///
/// Cheap to share: the flow keeps it behind an `Arc`.
///
/// For Zoho:
///
/// ```
/// use zoho_oauth_core::{ClientSecret, DataCenter, Endpoints, Environment, Scopes};
/// use zoho_oauth_flow::ClientConfig;
///
/// let config = ClientConfig::new("1000.CLIENT_ID", Endpoints::zoho(DataCenter::Eu, Environment::Production))
///     .client_secret(ClientSecret::new("from your secret store"))
///     .redirect_uri("https://app.example.com/oauth/callback")?
///     .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"])?);
/// assert_eq!(config.client_id(), "1000.CLIENT_ID");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// For any RFC 6749 server, with extra authorization parameters:
///
/// ```
/// use zoho_oauth_core::{Endpoints, Scopes};
/// use zoho_oauth_flow::ClientConfig;
///
/// let endpoints = Endpoints::standard("https://as.example/authorize", "https://as.example/token", None)?;
/// let config = ClientConfig::new("my-client", endpoints)
///     .redirect_uri("http://127.0.0.1:8400/callback")?
///     .scopes(Scopes::parse("openid profile")?)
///     .authorization_param("login_hint", "user@example.com")?
///     .authorization_param("resource", "https://api.example")?;
/// assert!(ClientConfig::new("my-client", config.endpoints().clone()).authorization_param("state", "x").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretSource,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) endpoints: Endpoints,
    pub(crate) scopes: Scopes,
    pub(crate) access_type: Option<AccessType>,
    pub(crate) prompt: Option<Prompt>,
    /// Further authorization-request parameters, in the order given; a name may repeat
    /// (RFC 8707 `resource`).
    pub(crate) authorization_params: Vec<(String, String)>,
    pub(crate) refresh: RefreshPolicy,
    pub(crate) clock: SharedClock,
    /// Whether `clock` is the default [`SystemClock`], so the cached read can call it directly
    /// (inlined) instead of through the trait object. It is the same clock either way.
    pub(crate) system_clock: bool,
    pub(crate) http: HttpPolicy,
}

impl ClientConfig {
    /// A client with `client_id` at `endpoints`.
    ///
    /// Zoho endpoints default to `access_type=offline` and `prompt=consent`, so that every
    /// authorization yields a refresh token; standard endpoints send neither parameter.
    pub fn new(client_id: impl Into<String>, endpoints: Endpoints) -> Self {
        let zoho = endpoints.dialect() == zoho_oauth_core::Dialect::Zoho;
        Self {
            client_id: client_id.into(),
            client_secret: SecretSource::None,
            redirect_uri: None,
            endpoints,
            scopes: Scopes::empty(),
            access_type: zoho.then_some(AccessType::Offline),
            prompt: zoho.then_some(Prompt::Consent),
            authorization_params: Vec::new(),
            refresh: RefreshPolicy::default(),
            clock: Arc::new(SystemClock),
            system_clock: true,
            http: HttpPolicy::default(),
        }
    }

    /// Sets the client secret. Public clients (PKCE only) have none.
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.client_secret = SecretSource::Value(secret);
        self
    }

    /// Sets where the client secret comes from when a request first needs it: a prompt, a vault,
    /// a file. It is never asked for while cached tokens are served, so a program that finds a
    /// fresh token needs no secret at all; the first successful answer is kept.
    ///
    /// An error from `load` fails the request that needed the secret with [`Error::ClientSecret`].
    pub fn client_secret_with<F>(mut self, load: F) -> Self
    where
        F: Fn() -> std::result::Result<ClientSecret, Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static,
    {
        self.client_secret = SecretSource::Lazy(Arc::new(LazySecret { load: Box::new(load), value: OnceLock::new() }));
        self
    }

    /// The client secret if it is already known, without loading it: for masking it from messages.
    pub(crate) fn loaded_secret(&self) -> Option<&ClientSecret> {
        match &self.client_secret {
            SecretSource::None => None,
            SecretSource::Value(secret) => Some(secret),
            SecretSource::Lazy(lazy) => lazy.value.get(),
        }
    }

    /// The client secret, loading it now if it comes from [`client_secret_with`](Self::client_secret_with).
    pub(crate) fn secret(&self) -> Result<Option<&ClientSecret>> {
        match &self.client_secret {
            SecretSource::None => Ok(None),
            SecretSource::Value(secret) => Ok(Some(secret)),
            SecretSource::Lazy(lazy) => {
                if let Some(secret) = lazy.value.get() {
                    return Ok(Some(secret));
                }
                let secret = (lazy.load)().map_err(Error::ClientSecret)?;
                Ok(Some(lazy.value.get_or_init(|| secret)))
            }
        }
    }

    /// Sets the redirect URI registered for the client; it must match the registration exactly.
    pub fn redirect_uri(mut self, redirect_uri: &str) -> Result<Self> {
        let url = Url::parse(redirect_uri).map_err(|_| Error::invalid_url("redirect uri"))?;
        self.redirect_uri = Some(url);
        Ok(self)
    }

    /// Sets the scopes to request.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets Zoho's `access_type`; `None` leaves the parameter out.
    pub fn access_type(mut self, access_type: Option<AccessType>) -> Self {
        self.access_type = access_type;
        self
    }

    /// Sets Zoho's `prompt`; `None` leaves the parameter out.
    pub fn prompt(mut self, prompt: Option<Prompt>) -> Self {
        self.prompt = prompt;
        self
    }

    /// Adds a parameter to the authorization request, such as `login_hint`, `resource`
    /// ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707)), `audience`, `acr_values` or `ui_locales`.
    ///
    /// Parameters are sent in the order added, and a name may be added more than once (RFC 8707
    /// allows several `resource` values). An `access_type` or `prompt` given here replaces the one
    /// set by [`access_type`](Self::access_type) or [`prompt`](Self::prompt) (Zoho's defaults
    /// included), so `authorization_param("prompt", "login")` sends only `prompt=login`.
    ///
    /// Fails with [`Error::ReservedParameter`] for an empty name or one the flow sets itself
    /// ([`RESERVED_AUTHORIZATION_PARAMS`]): `response_type`, `client_id`, `redirect_uri`, `scope`,
    /// `state`, `code_challenge` and `code_challenge_method`.
    pub fn authorization_param(mut self, name: &str, value: impl Into<String>) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::ReservedParameter { name: "" });
        }
        if let Some(reserved) = RESERVED_AUTHORIZATION_PARAMS.into_iter().find(|r| *r == name) {
            return Err(Error::ReservedParameter { name: reserved });
        }
        self.authorization_params.push((name.to_owned(), value.into()));
        Ok(self)
    }

    /// Sets how long before expiry an access token is renewed (default [`DEFAULT_REFRESH_MARGIN`]).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh.margin = margin;
        self
    }

    /// Sets the whole refresh policy: margin, backoff after failures, and rate-limit lock-out.
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = policy;
        self
    }

    /// Sets the clock used for every expiry decision.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self.system_clock = false;
        self
    }

    /// The clock's Unix seconds for the cached read: the default clock called directly, any other
    /// through the trait object.
    #[inline]
    pub(crate) fn unix_seconds(&self) -> i64 {
        if self.system_clock { zoho_oauth_core::Clock::unix_seconds(&SystemClock) } else { self.clock.unix_seconds() }
    }

    /// Sets what is enforced above the HTTP client on every request: retries, the total timeout,
    /// redirect refusal and body caps (default [`HttpPolicy::default`]).
    pub fn http_policy(mut self, policy: HttpPolicy) -> Self {
        self.http = policy;
        self
    }

    /// The HTTP policy applied to every request.
    pub fn http(&self) -> &HttpPolicy {
        &self.http
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configured endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("endpoints", &self.endpoints)
            .field("scopes", &self.scopes)
            .field("access_type", &self.access_type)
            .field("prompt", &self.prompt)
            // Names only: a value such as `login_hint` or `id_token_hint` identifies a person.
            .field("authorization_params", &self.authorization_params.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("refresh", &self.refresh)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> ClientConfig {
        let endpoints = Endpoints::standard("https://as.example/authorize", "https://as.example/token", None)
            .expect("valid endpoints");
        ClientConfig::new("client", endpoints)
    }

    #[test]
    fn reserved_authorization_params_are_refused() {
        for name in RESERVED_AUTHORIZATION_PARAMS.into_iter().chain([""]) {
            let refused = standard().authorization_param(name, "x");
            assert!(matches!(refused, Err(Error::ReservedParameter { name: n }) if n == name), "{name}");
        }
        let config = standard()
            .authorization_param("resource", "https://a.example")
            .and_then(|c| c.authorization_param("resource", "https://b.example"))
            .expect("resource may repeat");
        assert_eq!(config.authorization_params.len(), 2);
    }

    #[test]
    fn debug_shows_authorization_param_names_only() {
        let config = standard().authorization_param("login_hint", "person@example.com").expect("not reserved");
        let debug = format!("{config:?}");
        assert!(debug.contains("login_hint"), "{debug}");
        assert!(!debug.contains("person@example.com"), "{debug}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.backoff(1), Duration::seconds(2));
        assert_eq!(policy.backoff(2), Duration::seconds(4));
        assert_eq!(policy.backoff(5), Duration::seconds(32));
        assert_eq!(policy.backoff(9), Duration::minutes(5));
        assert_eq!(policy.backoff(u32::MAX), Duration::minutes(5));
    }

    #[test]
    fn margin_is_bounded_by_half_the_lifetime() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.effective_margin(Duration::hours(1)), Duration::minutes(5));
        assert_eq!(policy.effective_margin(Duration::seconds(60)), Duration::seconds(30));
        assert_eq!(policy.effective_margin(Duration::seconds(120)), Duration::seconds(60));
        assert_eq!(policy.effective_margin(Duration::seconds(-5)), Duration::zero());
        let wide = RefreshPolicy { margin: Duration::seconds(3700), ..policy };
        assert_eq!(wide.effective_margin(Duration::hours(1)), Duration::minutes(30));
    }
}
