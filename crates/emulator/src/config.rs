//! How an emulator is set up before it starts: data centers, clock, clients and lifetimes.

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use zoho_oauth_core::{SharedClock, SystemClock};

/// The client id of the client every [`EmulatorConfig::new`] registers.
pub const DEMO_CLIENT_ID: &str = "1000.DEMOCLIENT";
/// The client secret of the demo client.
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret";
/// The one redirect URI registered for the demo client.
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A client registered with the emulated accounts server, as in Zoho's API console.
///
/// The redirect URIs are compared exactly, character for character, as Zoho does
/// ([RFC 6749 section 3.1.2.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2.3)).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The public client identifier, for example `1000.DEMOCLIENT`.
    pub client_id: String,
    /// The client secret the token endpoint expects.
    pub client_secret: String,
    /// Every redirect URI the authorization endpoint accepts for this client.
    pub redirect_uris: Vec<String>,
}

impl ClientRegistration {
    /// A client with one registered redirect URI.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri.into()],
        }
    }

    /// The demo client: [`DEMO_CLIENT_ID`], [`DEMO_CLIENT_SECRET`] and [`DEMO_REDIRECT_URI`].
    pub fn demo() -> Self {
        Self::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI)
    }

    /// Registers one more redirect URI.
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }
}

impl fmt::Debug for ClientRegistration {
    // The secret is redacted so that a registration can be logged or asserted on safely.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// A misbehaviour of the token endpoint, for testing how clients cope with hostile networks.
///
/// While a fault is on, every token request is answered with it (and counted in `token_errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Never answers (until the emulator stops).
    Silent,
    /// HTTP 502 with an HTML page, as a proxy in front of the server would send.
    BadGatewayHtml,
    /// HTTP 200 with a 10 MB body.
    HugeBody,
    /// HTTP 200 with an empty body.
    EmptyBody,
}

/// What the headless consent page answers for the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consent {
    /// The user approves: the browser is redirected back with a code.
    #[default]
    Approve,
    /// The user declines: the browser is redirected back with `error=access_denied`.
    Deny,
}

/// The set-up of an [`Emulator`](crate::Emulator), built step by step and passed to
/// [`Emulator::start`](crate::Emulator::start).
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub(crate) data_centers: Vec<String>,
    pub(crate) clock: SharedClock,
    pub(crate) clients: Vec<ClientRegistration>,
    pub(crate) code_lifetime: Duration,
    pub(crate) access_token_lifetime: Duration,
    pub(crate) rate_limit_lockout: Duration,
}

impl EmulatorConfig {
    /// Data centers `us` and `eu`, the system clock, the [demo client](ClientRegistration::demo),
    /// codes that live 120 seconds and access tokens that live one hour, as at Zoho.
    pub fn new() -> Self {
        Self {
            data_centers: vec!["us".to_owned(), "eu".to_owned()],
            clock: Arc::new(SystemClock),
            clients: vec![ClientRegistration::demo()],
            code_lifetime: Duration::seconds(120),
            access_token_lifetime: Duration::seconds(3600),
            rate_limit_lockout: Duration::minutes(15),
        }
    }

    /// The data centers to serve, one loopback listener each; the first is the default user's.
    ///
    /// Names are free-form labels such as `us`, `eu` or `in`; they come back as the `location`
    /// parameter of the redirect.
    #[must_use]
    pub fn data_centers(mut self, names: &[&str]) -> Self {
        self.data_centers = names.iter().map(|&name| name.to_owned()).collect();
        self
    }

    /// The clock every expiry is measured against; share a
    /// [`ManualClock`](zoho_oauth_core::ManualClock) to expire codes and tokens without sleeping.
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers one more client; a client with the same id replaces the earlier one.
    #[must_use]
    pub fn client(mut self, client: ClientRegistration) -> Self {
        self.clients.retain(|c| c.client_id != client.client_id);
        self.clients.push(client);
        self
    }

    /// How long an authorization code from the consent page stays exchangeable (default 120 s).
    #[must_use]
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    /// How long a refresh token that minted too many access tokens is refused (default 15 minutes;
    /// Zoho's lock-out is reported to last 15 to 30).
    #[must_use]
    pub fn rate_limit_lockout(mut self, lockout: Duration) -> Self {
        self.rate_limit_lockout = lockout;
        self
    }

    /// How long an access token is accepted by the API endpoint (default 3600 s).
    #[must_use]
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::new()
    }
}
