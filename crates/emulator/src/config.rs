//! How an emulator is set up before it starts: data centers, clock, clients and lifetimes.

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use sha2::{Digest as _, Sha256};
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

/// A user of the emulated accounts server, who can sign in on the consent page.
///
/// Each user's account lives in one data center, as at Zoho: a code or device approval for the
/// user is minted at that data center, and the redirect names it in `location` and
/// `accounts-server` ("The redirect back" in Zoho's multi-DC sign-in).
/// Tokens minted for a user carry the user's identity, so the emulated CRM endpoint
/// (`GET /crm/v8/users?type=CurrentUser`) answers with this user's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedUser {
    /// The CRM user id, a string of digits like Zoho's.
    pub id: String,
    /// The name the CRM endpoint returns as `full_name`.
    pub full_name: String,
    /// The sign-in e-mail address, which also names the user in
    /// [`Emulator::approve_device`](crate::Emulator::approve_device).
    pub email: String,
    /// The name of the data center the account lives in, one of
    /// [`EmulatorConfig::data_centers`].
    pub data_center: String,
}

impl EmulatedUser {
    /// A user whose id is derived from the e-mail address, so it is the same in every run.
    pub fn new(full_name: impl Into<String>, email: impl Into<String>, data_center: impl Into<String>) -> Self {
        let email = email.into();
        // Nineteen digits like Zoho's user ids; a hash keeps them stable across runs and distinct
        // across users without a counter.
        let digest = Sha256::digest(email.as_bytes());
        let mut prefix = [0_u8; 8];
        prefix.copy_from_slice(&digest[..8]);
        let id = format!("4150868{:012}", u64::from_be_bytes(prefix) % 1_000_000_000_000);
        Self { id, full_name: full_name.into(), email, data_center: data_center.into() }
    }

    /// The users an [`EmulatorConfig::new`] offers on the consent page: Alice (`us`), Bruno
    /// (`eu`), Chloe (`us`) and Devika (`in`).
    ///
    /// A default user whose data center the emulator does not serve is left out, so the default
    /// data centers `us` and `eu` show three users.
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::new("Alice Andersen", "alice@example.com", "us"),
            Self::new("Bruno Bianchi", "bruno@example.eu", "eu"),
            Self::new("Chloe Chen", "chloe@example.com", "us"),
            Self::new("Devika Desai", "devika@example.in", "in"),
        ]
    }
}

/// What the headless consent page answers for the built-in user.
///
/// It has no effect while the HTML consent page is on ([`EmulatorConfig::consent_page`]): there
/// the person decides.
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
    /// The consent-page users; `None` means [`EmulatedUser::defaults`], filtered to the served
    /// data centers.
    pub(crate) users: Option<Vec<EmulatedUser>>,
    pub(crate) consent_page: bool,
    pub(crate) ports: Vec<(String, u16)>,
    pub(crate) device_code_lifetime: Duration,
    pub(crate) device_poll_interval: Duration,
    pub(crate) device_times_in_milliseconds: bool,
}

impl EmulatorConfig {
    /// Data centers `us` and `eu` on ephemeral ports, the system clock, the
    /// [demo client](ClientRegistration::demo), the [default users](EmulatedUser::defaults),
    /// headless consent, codes that live 120 seconds, access tokens that live one hour, and
    /// device requests that live five minutes and may be polled every 30 seconds, as at Zoho.
    pub fn new() -> Self {
        Self {
            data_centers: vec!["us".to_owned(), "eu".to_owned()],
            clock: Arc::new(SystemClock),
            clients: vec![ClientRegistration::demo()],
            code_lifetime: Duration::seconds(120),
            access_token_lifetime: Duration::seconds(3600),
            rate_limit_lockout: Duration::minutes(15),
            users: None,
            consent_page: false,
            ports: Vec::new(),
            device_code_lifetime: Duration::minutes(5),
            device_poll_interval: Duration::seconds(30),
            device_times_in_milliseconds: false,
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

impl EmulatorConfig {
    /// The users the consent page offers, replacing the [defaults](EmulatedUser::defaults).
    ///
    /// [`Emulator::start`](crate::Emulator::start) refuses a user whose data center is not
    /// served, and two users with the same id or e-mail address.
    /// Headless consent always signs in as the built-in user ("Emulated User",
    /// `user@example.com`), whatever this list holds.
    #[must_use]
    pub fn users(mut self, users: Vec<EmulatedUser>) -> Self {
        self.users = Some(users);
        self
    }

    /// Whether `GET /oauth/v2/auth` shows an HTML consent page where a person picks a user and
    /// accepts or denies (`true`), or answers at once as [`Consent`] says (`false`, the default,
    /// which tests rely on).
    ///
    /// The standalone binary turns the page on unless it is given `--headless`.
    #[must_use]
    pub fn consent_page(mut self, on: bool) -> Self {
        self.consent_page = on;
        self
    }

    /// Serves data center `dc` on a fixed loopback port instead of an ephemeral one; port 0
    /// means ephemeral.
    ///
    /// [`Emulator::start`](crate::Emulator::start) refuses a port for a data center it does not
    /// serve.
    #[must_use]
    pub fn port(mut self, dc: &str, port: u16) -> Self {
        self.ports.retain(|(name, _)| name != dc);
        self.ports.push((dc.to_owned(), port));
        self
    }

    /// How long a device request (`POST /oauth/v3/device/code`) can be approved and polled
    /// (default five minutes, the lifetime of Zoho's user codes).
    #[must_use]
    pub fn device_code_lifetime(mut self, lifetime: Duration) -> Self {
        self.device_code_lifetime = lifetime;
        self
    }

    /// The shortest time between two polls of one device request at one data center; a quicker
    /// poll is answered `slow_down` (default 30 seconds, Zoho's "at most one poll per 30 s").
    #[must_use]
    pub fn device_poll_interval(mut self, interval: Duration) -> Self {
        self.device_poll_interval = interval;
        self
    }

    /// Whether the device request's answer gives `interval` and `expires_in` in milliseconds, as
    /// an older page of Zoho's documentation says, instead of seconds (the default).
    #[must_use]
    pub fn device_times_in_milliseconds(mut self, on: bool) -> Self {
        self.device_times_in_milliseconds = on;
        self
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::new()
    }
}
