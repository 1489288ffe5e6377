//! The emulator's memory: clients, codes and tokens, each tied to the data center that minted it.
//!
//! Everything here is plain data behind one mutex, and every method is synchronous and takes
//! the current time as an argument, so the HTTP handlers stay thin and no lock is ever held
//! across an `.await`.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::{ClientRegistration, Consent, Counters};

/// A data center, as an index into the emulator's list of data centers.
pub(crate) type Dc = usize;

/// A user, as an index into the emulator's list of users.
pub(crate) type UserIx = usize;

/// The built-in user that headless consent, self-client codes and client credentials act as.
///
/// It comes first in the list of users and is not offered on the consent page, so the tests
/// written for the one-user emulator keep their user whatever the page offers.
pub(crate) const BUILT_IN_USER: UserIx = 0;

/// One emulated user: who the CRM endpoint says a token belongs to, and where the account lives.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) full_name: String,
    pub(crate) email: String,
    pub(crate) dc: Dc,
}

impl User {
    /// The built-in user of the one-user emulator, living at `dc`.
    pub(crate) fn built_in(dc: Dc) -> Self {
        Self {
            id: "4150868000000225013".to_owned(),
            full_name: "Emulated User".to_owned(),
            email: "user@example.com".to_owned(),
            dc,
        }
    }
}

/// How long a consent page's anti-forgery value can be submitted.
pub(crate) const CONSENT_LIFETIME: Duration = Duration::minutes(10);

/// The knobs a test can turn while the emulator runs.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) consent: Consent,
    /// Whether `GET /oauth/v2/auth` shows the HTML consent page instead of answering at once.
    pub(crate) consent_page: bool,
    pub(crate) legacy_expires: bool,
    pub(crate) error_status: StatusCode,
    pub(crate) accept_bearer: bool,
    pub(crate) code_lifetime: Duration,
    pub(crate) access_token_lifetime: Duration,
    /// How long a refresh token stays locked out after it minted too many access tokens.
    pub(crate) rate_limit_lockout: Duration,
    /// A fault the token endpoint shows instead of running the protocol, if any.
    pub(crate) fault: Option<crate::Fault>,
    pub(crate) device_code_lifetime: Duration,
    pub(crate) device_poll_interval: Duration,
    pub(crate) device_times_in_milliseconds: bool,
}

/// Zoho's documented limits (see "Limits" in the fact sheet).
pub(crate) const ACCESS_TOKENS_PER_WINDOW: usize = 10;
/// The window of [`ACCESS_TOKENS_PER_WINDOW`].
pub(crate) const RATE_WINDOW: Duration = Duration::minutes(10);
/// Live access tokens per refresh token: minting one more invalidates the oldest.
pub(crate) const LIVE_ACCESS_TOKENS: usize = 15;
/// Refresh tokens per user and client: minting one more deletes the oldest with its access tokens.
pub(crate) const REFRESH_TOKENS_PER_USER: usize = 20;

/// The parts of a validated authorization request that the code must remember.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) offline: bool,
    pub(crate) prompt_consent: bool,
    pub(crate) code_challenge: Option<String>,
}

/// Why the token endpoint refuses a request; each becomes one of Zoho's `error` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    InvalidRequest,
    InvalidClient,
    InvalidClientSecret,
    InvalidCode,
    InvalidRedirectUri,
    UnsupportedGrantType,
    InvalidScope,
    /// Client credentials without `soid`.
    MissingOrgInfo,
    /// Zoho's rate-limit refusal: `"Access Denied"` with `error_description` and `status`.
    RateLimited,
    /// A device request nobody has approved or denied yet.
    AuthorizationPending,
    /// A device request polled again sooner than the interval allows.
    SlowDown,
    /// A device request the user denied.
    AccessDenied,
    /// A device request nobody decided within its lifetime.
    Expired,
    /// A device request approved by a user whose account lives at another data center.
    OtherDc(Dc),
}

impl TokenError {
    /// The value of the `error` member in Zoho's error body.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidClientSecret => "invalid_client_secret",
            Self::InvalidCode => "invalid_code",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::MissingOrgInfo => "missing_org_info",
            Self::RateLimited => "Access Denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::Expired => "expired",
            Self::OtherDc(_) => "other_dc",
        }
    }
}

/// The tokens a successful token request hands out.
#[derive(Debug)]
pub(crate) struct Grant {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_in: Duration,
}

/// How a code came to be, which decides the checks at exchange time.
#[derive(Debug)]
enum CodeKind {
    /// From the consent page: bound to a redirect URI and possibly a PKCE challenge.
    Browser { redirect_uri: String, code_challenge: Option<String>, offline: bool, prompt_consent: bool },
    /// From the API console's self-client page: no browser, so no redirect URI and no PKCE.
    SelfClient,
}

#[derive(Debug)]
struct CodeRecord {
    dc: Dc,
    client_id: String,
    user: UserIx,
    scopes: Vec<String>,
    kind: CodeKind,
    expires_at: DateTime<Utc>,
    used: bool,
}

/// The access tokens one source (a refresh token, or one client's client-credentials grant for
/// one org) has minted lately, for Zoho's ten-per-ten-minutes limit.
#[derive(Debug, Default)]
struct Minted {
    /// When access tokens were minted, within the last rate window.
    at: Vec<DateTime<Utc>>,
    /// No access token is minted from this source before this instant.
    locked_until: Option<DateTime<Utc>>,
}

impl Minted {
    /// Records one more access token, or refuses it: the eleventh within ten minutes locks the
    /// source out for `lockout`, and asking during the lock-out gets the same answer.
    fn admit(&mut self, now: DateTime<Utc>, lockout: Duration) -> Result<(), TokenError> {
        if self.locked_until.is_some_and(|until| now < until) {
            return Err(TokenError::RateLimited);
        }
        self.at.retain(|at| now - *at < RATE_WINDOW);
        if self.at.len() >= ACCESS_TOKENS_PER_WINDOW {
            self.locked_until = Some(now + lockout);
            return Err(TokenError::RateLimited);
        }
        self.at.push(now);
        Ok(())
    }
}

#[derive(Debug)]
struct RefreshRecord {
    dc: Dc,
    client_id: String,
    user: UserIx,
    scopes: Vec<String>,
    /// Mint order, to find the oldest even when the clock stands still.
    serial: u64,
    minted: Minted,
}

#[derive(Debug)]
struct AccessRecord {
    dc: Dc,
    /// Whose token it is, for the CRM endpoint.
    user: UserIx,
    /// What minted this access token, for the limit of fifteen live access tokens: a refresh
    /// token, a client-credentials source key (which never looks like a token), or `None` for
    /// online access.
    parent: Option<String>,
    /// Mint order, to find the oldest even when the clock stands still.
    serial: u64,
    expires_at: DateTime<Utc>,
}

/// A device request's parameters from `POST /oauth/v3/device/code`.
#[derive(Debug)]
pub(crate) struct DeviceRequest {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) offline: bool,
    pub(crate) prompt_consent: bool,
}

/// What the user made of a device request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pending,
    Denied,
    Approved(UserIx),
}

#[derive(Debug)]
struct DeviceRecord {
    /// Where the request was made; polls there learn the outcome.
    dc: Dc,
    request: DeviceRequest,
    user_code: String,
    expires_at: DateTime<Utc>,
    /// The last poll answered at each data center; separate servers keep separate counts.
    last_poll: HashMap<Dc, DateTime<Utc>>,
    decision: Decision,
}

/// What a device request looks like to the person who entered its user code.
#[derive(Debug)]
pub(crate) struct DeviceView {
    pub(crate) device_code: String,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) offline: bool,
}

/// What a consent page asks about, remembered until the person answers.
#[derive(Debug)]
pub(crate) enum ConsentSubject {
    /// An authorization request from `GET /oauth/v2/auth`, with its `state` to send back.
    Authorize { authorization: Authorization, state: Option<String> },
    /// A device request, found by its user code on the verification page.
    Device { device_code: String },
}

#[derive(Debug)]
struct PendingConsent {
    /// The listener that showed the page; the form is accepted there only.
    dc: Dc,
    expires_at: DateTime<Utc>,
    subject: ConsentSubject,
}

/// All mutable state, shared by every data center's listener.
#[derive(Debug)]
pub(crate) struct State {
    clients: HashMap<String, ClientRegistration>,
    pub(crate) settings: Settings,
    /// Every user, the built-in one first ([`BUILT_IN_USER`]).
    pub(crate) users: Vec<User>,
    codes: HashMap<String, CodeRecord>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    access_tokens: HashMap<String, AccessRecord>,
    /// Client-credentials sources by key, for the rate limit.
    org_grants: HashMap<String, Minted>,
    /// Device requests by device code.
    devices: HashMap<String, DeviceRecord>,
    /// Open consent pages by their anti-forgery value.
    consents: HashMap<String, PendingConsent>,
    /// The serial number of the next token minted.
    next_serial: u64,
    /// Request counters, one entry per data center.
    pub(crate) counters: Vec<Counters>,
}

impl State {
    pub(crate) fn new(
        clients: Vec<ClientRegistration>,
        settings: Settings,
        users: Vec<User>,
        data_centers: usize,
    ) -> Self {
        Self {
            clients: clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            settings,
            users,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            org_grants: HashMap::new(),
            devices: HashMap::new(),
            consents: HashMap::new(),
            next_serial: 0,
            counters: vec![Counters::default(); data_centers],
        }
    }

    pub(crate) fn register(&mut self, client: ClientRegistration) {
        self.clients.insert(client.client_id.clone(), client);
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<&ClientRegistration> {
        self.clients.get(client_id)
    }

    /// The user with CRM id `id`, as a form on the consent page names it.
    pub(crate) fn user_by_id(&self, id: &str) -> Option<UserIx> {
        self.users.iter().position(|u| u.id == id)
    }

    /// The user with e-mail address `email`, compared without regard to ASCII case.
    pub(crate) fn user_by_email(&self, email: &str) -> Option<UserIx> {
        self.users.iter().position(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Checks the client's credentials, telling an unknown client from a wrong secret as Zoho does.
    pub(crate) fn authenticate(&self, client_id: &str, client_secret: &str) -> Result<(), TokenError> {
        let client = self.clients.get(client_id).ok_or(TokenError::InvalidClient)?;
        if client.client_secret == client_secret { Ok(()) } else { Err(TokenError::InvalidClientSecret) }
    }

    /// Mints a code from the consent page for `user`, at the data center the user's account lives in.
    pub(crate) fn mint_browser_code(&mut self, auth: Authorization, user: UserIx, now: DateTime<Utc>) -> String {
        let kind = CodeKind::Browser {
            redirect_uri: auth.redirect_uri,
            code_challenge: auth.code_challenge,
            offline: auth.offline,
            prompt_consent: auth.prompt_consent,
        };
        let expires_at = now + self.settings.code_lifetime;
        let dc = self.users[user].dc;
        self.mint_code(dc, auth.client_id, user, auth.scopes, kind, expires_at, now)
    }

    /// Mints a self-client code for the built-in user, as Zoho's API console does for a chosen lifetime.
    pub(crate) fn mint_self_client_code(
        &mut self,
        dc: Dc,
        client_id: &str,
        scopes: Vec<String>,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> String {
        self.mint_code(dc, client_id.to_owned(), BUILT_IN_USER, scopes, CodeKind::SelfClient, now + lifetime, now)
    }

    #[allow(clippy::too_many_arguments)] // Each argument is one field of the record; a struct would only rename them.
    fn mint_code(
        &mut self,
        dc: Dc,
        client_id: String,
        user: UserIx,
        scopes: Vec<String>,
        kind: CodeKind,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> String {
        // Expired codes can never be exchanged again, so forgetting them keeps a long run's memory flat.
        // The per-client limit of 10 codes per 10 minutes will be checked here.
        self.codes.retain(|_, c| c.expires_at > now);
        let code = random_token();
        let record = CodeRecord { dc, client_id, user, scopes, kind, expires_at, used: false };
        self.codes.insert(code.clone(), record);
        code
    }

    /// Exchanges a code at data center `dc` for tokens; the client is already authenticated.
    pub(crate) fn exchange_code(
        &mut self,
        dc: Dc,
        now: DateTime<Utc>,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<Grant, TokenError> {
        let record = self.codes.get_mut(code).filter(|c| c.dc == dc).ok_or(TokenError::InvalidCode)?;
        // A code is single-use: the first attempt spends it whatever the outcome, so a client
        // that retries after an error sees invalid_code as it would at Zoho.
        if std::mem::replace(&mut record.used, true) || now >= record.expires_at || record.client_id != client_id {
            return Err(TokenError::InvalidCode);
        }
        // Self-client codes always come with a refresh token, as in Zoho's API console.
        let (offline, forced) = match &record.kind {
            CodeKind::SelfClient => (true, true),
            CodeKind::Browser { redirect_uri: expected, code_challenge, offline, prompt_consent } => {
                if redirect_uri != Some(expected.as_str()) {
                    return Err(TokenError::InvalidRedirectUri);
                }
                // A verifier without a stored challenge is refused too (OAuth 2.1 section 4.1.3),
                // so that stripping the challenge from the authorization request cannot downgrade PKCE.
                match (code_challenge, code_verifier) {
                    (None, None) => {}
                    (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
                    _ => return Err(TokenError::InvalidCode),
                }
                (*offline, *prompt_consent)
            }
        };
        let (user, scopes) = (record.user, record.scopes.clone());
        Ok(self.grant(dc, now, client_id, user, scopes, offline, forced))
    }

    /// Hands out the tokens of a fresh grant: a refresh token if `offline` and either `forced`
    /// or the first for this user and client, and an access token.
    #[allow(clippy::too_many_arguments)] // The code exchange and the device poll each know these; a struct would only rename them.
    fn grant(
        &mut self,
        dc: Dc,
        now: DateTime<Utc>,
        client_id: &str,
        user: UserIx,
        scopes: Vec<String>,
        offline: bool,
        forced: bool,
    ) -> Grant {
        // Zoho hands out a refresh token on the first offline grant only; prompt=consent forces a
        // new one. "First" here means that the user holds no live refresh token for this client,
        // so a revoked grant can be re-established.
        let issue_refresh = offline && (forced || !self.has_refresh_token(user, client_id));
        let refresh_token = issue_refresh.then(|| self.mint_refresh_token(dc, client_id, user, &scopes));
        if let Some(record) = refresh_token.as_ref().and_then(|t| self.refresh_tokens.get_mut(t)) {
            record.minted.at.push(now);
        }
        let access_token = self.mint_access_token(dc, user, refresh_token.clone(), now);
        Grant { access_token, refresh_token, scopes, expires_in: self.settings.access_token_lifetime }
    }

    /// Mints a new access token from a refresh token held at data center `dc`.
    pub(crate) fn refresh(
        &mut self,
        dc: Dc,
        now: DateTime<Utc>,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<Grant, TokenError> {
        let lockout = self.settings.rate_limit_lockout;
        let record = self
            .refresh_tokens
            .get_mut(refresh_token)
            .filter(|r| r.dc == dc && r.client_id == client_id)
            .ok_or(TokenError::InvalidCode)?;
        // At most ten access tokens per ten minutes per refresh token.
        record.minted.admit(now, lockout)?;
        let (user, scopes) = (record.user, record.scopes.clone());
        let access_token = self.mint_access_token(dc, user, Some(refresh_token.to_owned()), now);
        Ok(Grant { access_token, refresh_token: None, scopes, expires_in: self.settings.access_token_lifetime })
    }

    /// Mints an access token for Zoho's client-credentials grant at data center `dc`: no user
    /// consent and no refresh token, for org `soid` (`ZohoCRM.<org id>`).
    ///
    /// The token acts as the built-in user, the org's owner in the emulator. Each client and
    /// org is one source for Zoho's limits, like one refresh token: ten access tokens per ten
    /// minutes, and at most fifteen alive.
    pub(crate) fn client_credentials(
        &mut self,
        dc: Dc,
        now: DateTime<Utc>,
        client_id: &str,
        scopes: Vec<String>,
        soid: &str,
    ) -> Result<Grant, TokenError> {
        let lockout = self.settings.rate_limit_lockout;
        // The key holds a space, which no token has, so it never matches a refresh token.
        let key = format!("client_credentials {dc} {client_id} {soid}");
        self.org_grants.entry(key.clone()).or_default().admit(now, lockout)?;
        let access_token = self.mint_access_token(dc, BUILT_IN_USER, Some(key), now);
        Ok(Grant { access_token, refresh_token: None, scopes, expires_in: self.settings.access_token_lifetime })
    }

    /// Revokes a token minted at data center `dc`: a refresh token takes its access tokens with it.
    ///
    /// Unknown tokens are ignored, as RFC 7009 section 2.2 asks.
    pub(crate) fn revoke(&mut self, dc: Dc, token: &str) {
        if self.refresh_tokens.get(token).is_some_and(|r| r.dc == dc) {
            self.refresh_tokens.remove(token);
            self.access_tokens.retain(|_, a| a.parent.as_deref() != Some(token));
        } else if self.access_tokens.get(token).is_some_and(|a| a.dc == dc) {
            self.access_tokens.remove(token);
        }
    }

    /// The user of `token` if it is a live access token minted at data center `dc`.
    pub(crate) fn access_token_user(&self, dc: Dc, now: DateTime<Utc>, token: &str) -> Option<UserIx> {
        self.access_tokens.get(token).filter(|a| a.dc == dc && now < a.expires_at).map(|a| a.user)
    }

    /// Opens a device request made at data center `dc`, returning its device code and user code.
    pub(crate) fn start_device(&mut self, dc: Dc, request: DeviceRequest, now: DateTime<Utc>) -> (String, String) {
        // A request that expired an hour ago will not be polled any more; until then its polls
        // are answered `expired` rather than `invalid_code`.
        self.devices.retain(|_, d| d.expires_at + Duration::hours(1) > now);
        let user_code = loop {
            let candidate = random_user_code();
            if !self.devices.values().any(|d| d.user_code == candidate) {
                break candidate;
            }
        };
        let device_code = random_token();
        let record = DeviceRecord {
            dc,
            request,
            user_code: user_code.clone(),
            expires_at: now + self.settings.device_code_lifetime,
            last_poll: HashMap::new(),
            decision: Decision::Pending,
        };
        self.devices.insert(device_code.clone(), record);
        (device_code, user_code)
    }

    /// The undecided, unexpired device request with `user_code`, which a person may type with
    /// or without the dash and in either case.
    pub(crate) fn pending_device(&self, user_code: &str, now: DateTime<Utc>) -> Option<DeviceView> {
        let typed: String =
            user_code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
        let (device_code, _) = self.devices.iter().find(|(_, d)| d.user_code.replace('-', "") == typed)?;
        self.device_view(device_code, now)
    }

    /// The undecided, unexpired device request with `device_code`.
    pub(crate) fn device_view(&self, device_code: &str, now: DateTime<Utc>) -> Option<DeviceView> {
        let d = self.devices.get(device_code).filter(|d| d.decision == Decision::Pending && now < d.expires_at)?;
        Some(DeviceView {
            device_code: device_code.to_owned(),
            client_id: d.request.client_id.clone(),
            scopes: d.request.scopes.clone(),
            offline: d.request.offline,
        })
    }

    /// Records the user's answer to an undecided, unexpired device request: approval by `user`,
    /// or denial with `None`. Returns whether there was such a request.
    pub(crate) fn decide_device(&mut self, device_code: &str, user: Option<UserIx>, now: DateTime<Utc>) -> bool {
        match self.devices.get_mut(device_code) {
            Some(record) if record.decision == Decision::Pending && now < record.expires_at => {
                record.decision = user.map_or(Decision::Denied, Decision::Approved);
                true
            }
            _ => false,
        }
    }

    /// Answers one poll of a device request at data center `dc`; the client is already authenticated.
    ///
    /// Polls are answered at the data center the request was made at and, once a user approved
    /// it, at the user's data center; the first of those sends a user of another data center
    /// there with `other_dc`.
    pub(crate) fn poll_device(
        &mut self,
        dc: Dc,
        now: DateTime<Utc>,
        client_id: &str,
        device_code: &str,
    ) -> Result<Grant, TokenError> {
        let interval = self.settings.device_poll_interval;
        let record = self
            .devices
            .get_mut(device_code)
            .filter(|d| d.request.client_id == client_id)
            .ok_or(TokenError::InvalidCode)?;
        let approver_dc = match record.decision {
            Decision::Approved(user) => Some(self.users[user].dc),
            Decision::Pending | Decision::Denied => None,
        };
        if dc != record.dc && Some(dc) != approver_dc {
            return Err(TokenError::InvalidCode);
        }
        if now >= record.expires_at {
            return Err(TokenError::Expired);
        }
        // Zoho allows one poll per interval; a poll that comes too soon does not restart the
        // wait, so a client that polls a little early is not slowed down for ever.
        if record.last_poll.get(&dc).is_some_and(|last| now - *last < interval) {
            return Err(TokenError::SlowDown);
        }
        record.last_poll.insert(dc, now);
        let user = match record.decision {
            Decision::Pending => return Err(TokenError::AuthorizationPending),
            Decision::Denied => return Err(TokenError::AccessDenied),
            Decision::Approved(user) => user,
        };
        let user_dc = self.users[user].dc;
        if user_dc != dc {
            return Err(TokenError::OtherDc(user_dc));
        }
        // An approved request is exchanged once; later polls find nothing, as a spent code does.
        let Some(record) = self.devices.remove(device_code) else {
            return Err(TokenError::InvalidCode);
        };
        let DeviceRequest { client_id, scopes, offline, prompt_consent } = record.request;
        Ok(self.grant(dc, now, &client_id, user, scopes, offline, prompt_consent))
    }

    /// Remembers what a consent page shown by data center `dc` asks, under a fresh anti-forgery
    /// value that the page's form sends back.
    pub(crate) fn open_consent(&mut self, dc: Dc, subject: ConsentSubject, now: DateTime<Utc>) -> String {
        self.consents.retain(|_, c| c.expires_at > now);
        let value = random_token();
        self.consents.insert(value.clone(), PendingConsent { dc, expires_at: now + CONSENT_LIFETIME, subject });
        value
    }

    /// What the open consent page with anti-forgery value `value` asks, if it was shown by data
    /// center `dc` and has not expired or been answered.
    pub(crate) fn consent(&self, dc: Dc, value: &str, now: DateTime<Utc>) -> Option<&ConsentSubject> {
        self.consents.get(value).filter(|c| c.dc == dc && now < c.expires_at).map(|c| &c.subject)
    }

    /// Closes an open consent page, so that its form cannot be submitted twice.
    pub(crate) fn close_consent(&mut self, dc: Dc, value: &str, now: DateTime<Utc>) -> Option<ConsentSubject> {
        self.consent(dc, value, now)?;
        self.consents.remove(value).map(|c| c.subject)
    }

    fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    fn has_refresh_token(&self, user: UserIx, client_id: &str) -> bool {
        self.refresh_tokens.values().any(|r| r.user == user && r.client_id == client_id)
    }

    fn mint_refresh_token(&mut self, dc: Dc, client_id: &str, user: UserIx, scopes: &[String]) -> String {
        // At most twenty refresh tokens per user and client: the twenty-first deletes the oldest,
        // and its access tokens with it.
        let mut held: Vec<(u64, String)> = self
            .refresh_tokens
            .iter()
            .filter(|(_, r)| r.user == user && r.client_id == client_id)
            .map(|(t, r)| (r.serial, t.clone()))
            .collect();
        held.sort();
        while held.len() >= REFRESH_TOKENS_PER_USER {
            let (_, oldest) = held.remove(0);
            self.refresh_tokens.remove(&oldest);
            self.access_tokens.retain(|_, a| a.parent.as_deref() != Some(oldest.as_str()));
        }
        let token = random_token();
        let record = RefreshRecord {
            dc,
            client_id: client_id.to_owned(),
            user,
            scopes: scopes.to_vec(),
            serial: self.serial(),
            minted: Minted::default(),
        };
        self.refresh_tokens.insert(token.clone(), record);
        token
    }

    fn mint_access_token(&mut self, dc: Dc, user: UserIx, parent: Option<String>, now: DateTime<Utc>) -> String {
        // Expired access tokens are refused anyway, so forgetting them keeps a long run's memory flat.
        self.access_tokens.retain(|_, a| a.expires_at > now);
        // At most fifteen live access tokens per source: the sixteenth invalidates the oldest.
        if let Some(parent) = &parent {
            let mut live: Vec<(u64, String)> = self
                .access_tokens
                .iter()
                .filter(|(_, a)| a.parent.as_ref() == Some(parent))
                .map(|(t, a)| (a.serial, t.clone()))
                .collect();
            live.sort();
            while live.len() >= LIVE_ACCESS_TOKENS {
                let (_, oldest) = live.remove(0);
                self.access_tokens.remove(&oldest);
            }
        }
        let token = random_token();
        let expires_at = now + self.settings.access_token_lifetime;
        let serial = self.serial();
        self.access_tokens.insert(token.clone(), AccessRecord { dc, user, parent, serial, expires_at });
        token
    }
}

/// Checks a PKCE verifier against an S256 challenge (RFC 7636 section 4.6).
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A fresh code or token in Zoho's shape: `1000.` and two groups of 32 hex digits.
fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let (left, right) = bytes.split_at(16);
    format!("1000.{}.{}", hex(left), hex(right))
}

/// A fresh user code: eight letters without vowels, so no word can be spelled and none looks
/// like a digit, written `XXXX-XXXX` (RFC 8628 section 6.1).
fn random_user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut bytes = [0_u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    // The bias of `% 20` over bytes is one part in twelve; a user code only has to be hard to
    // guess within five minutes, not uniform.
    let letters: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_zohos_shape() {
        let token = random_token();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "1000");
        assert!(parts[1..].iter().all(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit())));
        assert_ne!(random_token(), token);
    }

    #[test]
    fn user_codes_are_two_groups_of_four_consonants() {
        let code = random_user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(code.bytes().filter(|b| *b != b'-').all(|b| b.is_ascii_uppercase() && !b"AEIOUY".contains(&b)));
    }

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        // The example from RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier));
        assert!(!pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "short"));
    }
}
