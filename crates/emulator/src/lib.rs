//! An emulator of Zoho's OAuth 2.0 accounts server, served over loopback HTTP, for tests,
//! examples and conformance runs.
//!
//! It behaves like the real service as described in Zoho's developer documentation
//! (<https://www.zoho.com/accounts/protocol/oauth.html>). Every data center gets one listener
//! serving:
//!
//! - `GET /oauth/v2/auth`: the consent page. By default it is headless and answers at once as
//!   the built-in user ([`Consent`]); with [`EmulatorConfig::consent_page`] it is an HTML page
//!   where a person picks one of the [users](EmulatedUser) and accepts or denies, and the form
//!   comes back to `POST /oauth/v2/auth`.
//! - `POST /oauth/v2/token`: code exchange, refresh, and client credentials
//!   (`grant_type=client_credentials` with `soid`), with errors under HTTP 200 by default.
//! - `POST /oauth/v2/token/revoke`.
//! - `POST /oauth/v3/device/code` and `POST /oauth/v3/device/token`: Zoho's device flow, with the
//!   verification page at `GET /oauth/v3/device` (its consent form comes back to
//!   `POST /oauth/v3/device`) and the headless [`Emulator::approve_device`] and
//!   [`Emulator::deny_device`] for tests.
//! - `GET /crm/v8/users?type=CurrentUser`: the smallest API call that proves a token works, and
//!   which user it belongs to.
//!
//! Codes and tokens are valid only at the data center that minted them, a user's codes are
//! minted at the data center the user's account lives in, and every expiry is measured against
//! an injected [`Clock`](zoho_oauth_core::Clock), so tests expire codes and tokens without
//! sleeping.
//!
//! ```no_run
//! use zoho_accounts_emulator::{Emulator, EmulatorConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let emulator = Emulator::start(EmulatorConfig::new().data_centers(&["us", "eu"])).await?;
//! // The user's account lives at eu, so the consent page sends the code back with location=eu.
//! emulator.set_user_data_center("eu");
//! let authorize = emulator.accounts_url("us").join("/oauth/v2/auth").expect("a valid path");
//! println!("point the client at {authorize}");
//! // ... run the client ...
//! assert_eq!(emulator.counters().token_exchange, 0);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The emulator is for loopback tests only: it keeps everything in memory, and checks client
//! secrets with plain string comparison.

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod config;
mod html;
mod routes;
mod state;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{
    ClientRegistration, Consent, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, EmulatedUser, EmulatorConfig,
    Fault,
};
use routes::{DataCenter, Shared};
use state::{BUILT_IN_USER, Dc, Settings, State, User};

/// How many requests an emulator has answered, per endpoint.
///
/// Every request counts, whether it succeeded or not. The pages a person sees (the HTML consent
/// page's form and the device verification page) are not protocol endpoints and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests to `GET /oauth/v2/auth`.
    pub authorize: u64,
    /// Requests to `POST /oauth/v2/token` with `grant_type=authorization_code`.
    pub token_exchange: u64,
    /// Requests to `POST /oauth/v2/token` with `grant_type=refresh_token`.
    pub token_refresh: u64,
    /// Requests to `POST /oauth/v2/token` with `grant_type=client_credentials`.
    pub token_client_credentials: u64,
    /// Requests to `POST /oauth/v3/device/code`, the start of the device flow.
    pub device_code: u64,
    /// Polls of `POST /oauth/v3/device/token`, whatever they were answered.
    pub device_token: u64,
    /// Requests to `POST /oauth/v2/token/revoke`.
    pub revoke: u64,
    /// Requests to the emulated CRM API.
    pub api: u64,
    /// Error answers from `POST /oauth/v2/token`, including those with a missing or unsupported
    /// `grant_type`, which count nowhere else.
    pub token_errors: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, other: Self) {
        self.authorize += other.authorize;
        self.token_exchange += other.token_exchange;
        self.token_refresh += other.token_refresh;
        self.token_client_credentials += other.token_client_credentials;
        self.device_code += other.device_code;
        self.device_token += other.device_token;
        self.revoke += other.revoke;
        self.api += other.api;
        self.token_errors += other.token_errors;
    }
}

/// A running emulator: one loopback listener per data center, all sharing one state.
///
/// Dropping it stops the listeners; [`shutdown`](Self::shutdown) also waits for them to finish.
/// The setters take effect for the next request, at every data center.
pub struct Emulator {
    shared: Arc<Shared>,
    stop: Option<watch::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Binds one listener per data center on `127.0.0.1` (an ephemeral port unless
    /// [`EmulatorConfig::port`] chose one) and starts serving.
    ///
    /// # Errors
    ///
    /// Fails when a listener cannot be bound, or with [`std::io::ErrorKind::InvalidInput`] when
    /// the configuration names no data center or the same one twice, gives a port to a data
    /// center it does not serve, or lists a user whose data center is not served or whose id or
    /// e-mail address another user has too.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        if config.data_centers.is_empty() {
            return Err(invalid("the emulator needs at least one data center".to_owned()));
        }
        for (i, name) in config.data_centers.iter().enumerate() {
            if config.data_centers[..i].contains(name) {
                return Err(invalid("a data center is named twice".to_owned()));
            }
        }
        let dc_index = |name: &str| config.data_centers.iter().position(|dc| dc == name);
        if let Some((name, _)) = config.ports.iter().find(|(name, _)| dc_index(name).is_none()) {
            return Err(invalid(format!("a port is given for {name:?}, which is not a served data center")));
        }
        let users = users(&config, &dc_index).map_err(invalid)?;

        let mut listeners = Vec::with_capacity(config.data_centers.len());
        let mut data_centers = Vec::with_capacity(config.data_centers.len());
        for name in &config.data_centers {
            let port = config.ports.iter().find(|(dc, _)| dc == name).map_or(0, |(_, port)| *port);
            let listener = TcpListener::bind(("127.0.0.1", port)).await?;
            let url = Url::parse(&format!("http://{}", listener.local_addr()?))
                .map_err(|e| std::io::Error::other(format!("the listener address is not a URL: {e}")))?;
            data_centers.push(DataCenter { name: name.clone(), url });
            listeners.push(listener);
        }

        let settings = Settings {
            consent: Consent::Approve,
            consent_page: config.consent_page,
            legacy_expires: false,
            error_status: StatusCode::OK,
            accept_bearer: false,
            code_lifetime: config.code_lifetime,
            access_token_lifetime: config.access_token_lifetime,
            rate_limit_lockout: config.rate_limit_lockout,
            fault: None,
            device_code_lifetime: config.device_code_lifetime,
            device_poll_interval: config.device_poll_interval,
            device_times_in_milliseconds: config.device_times_in_milliseconds,
        };
        let state = State::new(config.clients, settings, users, data_centers.len());
        let shared = Arc::new(Shared { state: Mutex::new(state), clock: config.clock, data_centers });

        let (stop, stopped) = watch::channel(());
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(dc, listener)| {
                let router = routes::router(shared.clone(), dc);
                let mut stopped = stopped.clone();
                // The signal fires when the sender sends or is dropped, so dropping the emulator stops it too.
                let signal = async move {
                    let _ = stopped.changed().await;
                };
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(signal).await {
                        tracing::warn!(%error, "an emulator listener stopped with an error");
                    }
                })
            })
            .collect();
        Ok(Emulator { shared, stop: Some(stop), tasks })
    }

    /// The base URL of a data center's accounts server, such as `http://127.0.0.1:49152/`.
    ///
    /// # Panics
    ///
    /// Panics when `dc` is not one of the configured data centers.
    pub fn accounts_url(&self, dc: &str) -> Url {
        self.shared.data_centers[self.dc(dc)].url.clone()
    }

    /// The base URL of a data center's API server; the accounts listener serves the API too.
    ///
    /// # Panics
    ///
    /// Panics when `dc` is not one of the configured data centers.
    pub fn api_domain(&self, dc: &str) -> Url {
        self.accounts_url(dc)
    }

    /// The names of the data centers, in configuration order.
    pub fn data_centers(&self) -> Vec<String> {
        self.shared.data_centers.iter().map(|dc| dc.name.clone()).collect()
    }

    /// The request counters summed over every data center.
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.iter().fold(Counters::default(), |mut sum, c| {
            sum += *c;
            sum
        })
    }

    /// The request counters of one data center.
    ///
    /// # Panics
    ///
    /// Panics when `dc` is not one of the configured data centers.
    pub fn counters_for(&self, dc: &str) -> Counters {
        let dc = self.dc(dc);
        self.shared.lock().counters[dc]
    }

    /// What the headless consent page answers from now on ([`Consent::Approve`] at start); the
    /// HTML consent page ignores it.
    pub fn set_consent(&self, consent: Consent) {
        self.shared.lock().settings.consent = consent;
    }

    /// Whether `GET /oauth/v2/auth` shows the HTML consent page (`true`) or answers at once as
    /// [`set_consent`](Self::set_consent) says (`false`); see [`EmulatorConfig::consent_page`].
    pub fn set_consent_page(&self, on: bool) {
        self.shared.lock().settings.consent_page = on;
    }

    /// Where the headless consent's user, the built-in "Emulated User", has its account (the
    /// first data center at start).
    ///
    /// Codes are minted there and the redirect names it in `location` and `accounts-server`,
    /// as Zoho's multi-DC sign-in does.
    ///
    /// # Panics
    ///
    /// Panics when `dc` is not one of the configured data centers.
    pub fn set_user_data_center(&self, dc: &str) {
        let dc = self.dc(dc);
        self.shared.lock().users[BUILT_IN_USER].dc = dc;
    }

    /// The users the consent page offers, in order.
    pub fn users(&self) -> Vec<EmulatedUser> {
        let state = self.shared.lock();
        state.users[BUILT_IN_USER + 1..]
            .iter()
            .map(|u| EmulatedUser {
                id: u.id.clone(),
                full_name: u.full_name.clone(),
                email: u.email.clone(),
                data_center: self.shared.data_centers[u.dc].name.clone(),
            })
            .collect()
    }

    /// Approves the device request with `user_code` as the user with e-mail address `email`, as
    /// that user would on the verification page; the headless switch for tests.
    ///
    /// The built-in user (`user@example.com`) may approve too. A user whose account lives at
    /// another data center than the request's makes the next poll there answer `other_dc`.
    /// Returns `false`, changing nothing, when no undecided, unexpired request has that user code.
    ///
    /// # Panics
    ///
    /// Panics when no user has the e-mail address `email`.
    pub fn approve_device(&self, user_code: &str, email: &str) -> bool {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        let user = state.user_by_email(email).unwrap_or_else(|| panic!("the emulator has no user {email:?}"));
        let Some(device) = state.pending_device(user_code, now) else {
            return false;
        };
        state.decide_device(&device.device_code, Some(user), now)
    }

    /// Denies the device request with `user_code`, as the user would on the verification page.
    ///
    /// Returns `false`, changing nothing, when no undecided, unexpired request has that user code.
    pub fn deny_device(&self, user_code: &str) -> bool {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        let Some(device) = state.pending_device(user_code, now) else {
            return false;
        };
        state.decide_device(&device.device_code, None, now)
    }

    /// Switches token responses to the older shape, where `expires_in_sec` is in seconds and
    /// `expires_in` is in milliseconds.
    pub fn set_legacy_expires(&self, on: bool) {
        self.shared.lock().settings.legacy_expires = on;
    }

    /// The HTTP status of token-endpoint error bodies; Zoho often uses 200, the default here.
    ///
    /// # Panics
    ///
    /// Panics when `status` is not between 100 and 999.
    pub fn set_error_status(&self, status: u16) {
        let status = StatusCode::from_u16(status).expect("an HTTP status is between 100 and 999");
        self.shared.lock().settings.error_status = status;
    }

    /// Makes the token endpoint misbehave instead of running the protocol, or behave again with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.lock().settings.fault = fault;
    }

    /// Whether the API endpoint also accepts `Authorization: Bearer` besides `Zoho-oauthtoken`
    /// (off at start).
    pub fn set_accept_bearer(&self, on: bool) {
        self.shared.lock().settings.accept_bearer = on;
    }

    /// Mints a code the way the API console's self client does: valid at `dc` for `lifetime`,
    /// exchanged without a redirect URI or PKCE, and always yielding a refresh token.
    ///
    /// `scopes` are separated by commas or spaces.
    ///
    /// # Panics
    ///
    /// Panics when `dc` is not one of the configured data centers or `client_id` is not registered.
    pub fn issue_self_client_code(
        &self,
        dc: &str,
        client_id: &str,
        scopes: &str,
        lifetime: chrono::Duration,
    ) -> String {
        let dc = self.dc(dc);
        let scopes =
            scopes.split(|c: char| c == ',' || c.is_ascii_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned);
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        assert!(state.client(client_id).is_some(), "the self client {client_id:?} is not registered");
        state.mint_self_client_code(dc, client_id, scopes.collect(), lifetime, now)
    }

    /// Registers a client, replacing any client with the same id.
    pub fn register_client(&self, client: ClientRegistration) {
        self.shared.lock().register(client);
    }

    /// Stops every listener and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        self.stop.take();
        for mut task in std::mem::take(&mut self.tasks) {
            // A client holding a connection open in the middle of a request must not hang the test
            // suite, so the wait is bounded.
            if tokio::time::timeout(StdDuration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    fn dc(&self, name: &str) -> Dc {
        self.shared
            .data_centers
            .iter()
            .position(|dc| dc.name == name)
            .unwrap_or_else(|| panic!("the emulator has no data center named {name:?}"))
    }
}

/// The emulator's users: the built-in one first, then the configured ones (or the defaults at
/// served data centers), each checked.
fn users(config: &EmulatorConfig, dc_index: &dyn Fn(&str) -> Option<Dc>) -> Result<Vec<User>, String> {
    let mut users = vec![User::built_in(0)];
    let listed = match &config.users {
        Some(users) => users.clone(),
        // Defaults at data centers the emulator does not serve are dropped, so that any set of
        // data centers starts without naming users.
        None => EmulatedUser::defaults().into_iter().filter(|u| dc_index(&u.data_center).is_some()).collect(),
    };
    for user in listed {
        let dc = dc_index(&user.data_center)
            .ok_or_else(|| format!("user {:?} lives at {:?}, which is not served", user.email, user.data_center))?;
        if users.iter().any(|u| u.id == user.id || u.email.eq_ignore_ascii_case(&user.email)) {
            return Err(format!("two users have the id {:?} or the e-mail address {:?}", user.id, user.email));
        }
        users.push(User { id: user.id, full_name: user.full_name, email: user.email, dc });
    }
    Ok(users)
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data_centers: Vec<(&str, &str)> =
            self.shared.data_centers.iter().map(|dc| (dc.name.as_str(), dc.url.as_str())).collect();
        f.debug_struct("Emulator").field("data_centers", &data_centers).finish_non_exhaustive()
    }
}
