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

/// The id of the one emulated user; a field on every grant so that more users can be added later.
pub(crate) const USER_ID: &str = "4150868000000225013";

/// The knobs a test can turn while the emulator runs.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) consent: Consent,
    pub(crate) user_dc: Dc,
    pub(crate) legacy_expires: bool,
    pub(crate) error_status: StatusCode,
    pub(crate) accept_bearer: bool,
    pub(crate) code_lifetime: Duration,
    pub(crate) access_token_lifetime: Duration,
    /// How long a refresh token stays locked out after it minted too many access tokens.
    pub(crate) rate_limit_lockout: Duration,
    /// A fault the token endpoint shows instead of running the protocol, if any.
    pub(crate) fault: Option<crate::Fault>,
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
    /// Zoho's rate-limit refusal: `"Access Denied"` with `error_description` and `status`.
    RateLimited,
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
            Self::RateLimited => "Access Denied",
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
    user_id: String,
    scopes: Vec<String>,
    kind: CodeKind,
    expires_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug)]
struct RefreshRecord {
    dc: Dc,
    client_id: String,
    user_id: String,
    scopes: Vec<String>,
    /// Mint order, to find the oldest even when the clock stands still.
    serial: u64,
    /// When access tokens were minted from this refresh token, within the last rate window.
    minted: Vec<DateTime<Utc>>,
    /// No access token is minted from this refresh token before this instant.
    locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct AccessRecord {
    dc: Dc,
    /// The refresh token this access token was minted from; `None` for online access.
    refresh_token: Option<String>,
    /// Mint order, to find the oldest even when the clock stands still.
    serial: u64,
    expires_at: DateTime<Utc>,
}

/// All mutable state, shared by every data center's listener.
#[derive(Debug)]
pub(crate) struct State {
    clients: HashMap<String, ClientRegistration>,
    pub(crate) settings: Settings,
    codes: HashMap<String, CodeRecord>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    access_tokens: HashMap<String, AccessRecord>,
    /// The serial number of the next token minted.
    next_serial: u64,
    /// Request counters, one entry per data center.
    pub(crate) counters: Vec<Counters>,
}

impl State {
    pub(crate) fn new(clients: Vec<ClientRegistration>, settings: Settings, data_centers: usize) -> Self {
        Self {
            clients: clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            settings,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
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

    /// Checks the client's credentials, telling an unknown client from a wrong secret as Zoho does.
    pub(crate) fn authenticate(&self, client_id: &str, client_secret: &str) -> Result<(), TokenError> {
        let client = self.clients.get(client_id).ok_or(TokenError::InvalidClient)?;
        if client.client_secret == client_secret { Ok(()) } else { Err(TokenError::InvalidClientSecret) }
    }

    /// Mints a code from the consent page at the user's data center.
    pub(crate) fn mint_browser_code(&mut self, auth: Authorization, now: DateTime<Utc>) -> String {
        let kind = CodeKind::Browser {
            redirect_uri: auth.redirect_uri,
            code_challenge: auth.code_challenge,
            offline: auth.offline,
            prompt_consent: auth.prompt_consent,
        };
        let expires_at = now + self.settings.code_lifetime;
        self.mint_code(self.settings.user_dc, auth.client_id, auth.scopes, kind, expires_at, now)
    }

    /// Mints a self-client code, as Zoho's API console does for a chosen lifetime.
    pub(crate) fn mint_self_client_code(
        &mut self,
        dc: Dc,
        client_id: &str,
        scopes: Vec<String>,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> String {
        self.mint_code(dc, client_id.to_owned(), scopes, CodeKind::SelfClient, now + lifetime, now)
    }

    fn mint_code(
        &mut self,
        dc: Dc,
        client_id: String,
        scopes: Vec<String>,
        kind: CodeKind,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> String {
        // Expired codes can never be exchanged again, so forgetting them keeps a long run's memory flat.
        // The per-client limit of 10 codes per 10 minutes will be checked here.
        self.codes.retain(|_, c| c.expires_at > now);
        let code = random_token();
        let record = CodeRecord { dc, client_id, user_id: USER_ID.to_owned(), scopes, kind, expires_at, used: false };
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
        let (user_id, scopes) = (record.user_id.clone(), record.scopes.clone());
        // Zoho hands out a refresh token on the first offline grant only; prompt=consent forces a
        // new one. "First" here means that the user holds no live refresh token for this client,
        // so a revoked grant can be re-established.
        let issue_refresh = offline && (forced || !self.has_refresh_token(&user_id, client_id));
        let refresh_token = issue_refresh.then(|| self.mint_refresh_token(dc, client_id, &user_id, &scopes));
        if let Some(record) = refresh_token.as_ref().and_then(|t| self.refresh_tokens.get_mut(t)) {
            record.minted.push(now);
        }
        let access_token = self.mint_access_token(dc, refresh_token.clone(), now);
        Ok(Grant { access_token, refresh_token, scopes, expires_in: self.settings.access_token_lifetime })
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
        // At most ten access tokens per ten minutes per refresh token; the eleventh locks the
        // refresh token out for a while, and asking during the lock-out gets the same answer.
        if record.locked_until.is_some_and(|until| now < until) {
            return Err(TokenError::RateLimited);
        }
        record.minted.retain(|at| now - *at < RATE_WINDOW);
        if record.minted.len() >= ACCESS_TOKENS_PER_WINDOW {
            record.locked_until = Some(now + lockout);
            return Err(TokenError::RateLimited);
        }
        record.minted.push(now);
        let scopes = record.scopes.clone();
        let access_token = self.mint_access_token(dc, Some(refresh_token.to_owned()), now);
        Ok(Grant { access_token, refresh_token: None, scopes, expires_in: self.settings.access_token_lifetime })
    }

    /// Revokes a token minted at data center `dc`: a refresh token takes its access tokens with it.
    ///
    /// Unknown tokens are ignored, as RFC 7009 section 2.2 asks.
    pub(crate) fn revoke(&mut self, dc: Dc, token: &str) {
        if self.refresh_tokens.get(token).is_some_and(|r| r.dc == dc) {
            self.refresh_tokens.remove(token);
            self.access_tokens.retain(|_, a| a.refresh_token.as_deref() != Some(token));
        } else if self.access_tokens.get(token).is_some_and(|a| a.dc == dc) {
            self.access_tokens.remove(token);
        }
    }

    /// Whether `token` is a live access token minted at data center `dc`.
    pub(crate) fn access_token_is_live(&self, dc: Dc, now: DateTime<Utc>, token: &str) -> bool {
        self.access_tokens.get(token).is_some_and(|a| a.dc == dc && now < a.expires_at)
    }

    fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    fn has_refresh_token(&self, user_id: &str, client_id: &str) -> bool {
        self.refresh_tokens.values().any(|r| r.user_id == user_id && r.client_id == client_id)
    }

    fn mint_refresh_token(&mut self, dc: Dc, client_id: &str, user_id: &str, scopes: &[String]) -> String {
        // At most twenty refresh tokens per user and client: the twenty-first deletes the oldest,
        // and its access tokens with it.
        let mut held: Vec<(u64, String)> = self
            .refresh_tokens
            .iter()
            .filter(|(_, r)| r.user_id == user_id && r.client_id == client_id)
            .map(|(t, r)| (r.serial, t.clone()))
            .collect();
        held.sort();
        while held.len() >= REFRESH_TOKENS_PER_USER {
            let (_, oldest) = held.remove(0);
            self.refresh_tokens.remove(&oldest);
            self.access_tokens.retain(|_, a| a.refresh_token.as_deref() != Some(oldest.as_str()));
        }
        let token = random_token();
        let record = RefreshRecord {
            dc,
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            scopes: scopes.to_vec(),
            serial: self.serial(),
            minted: Vec::new(),
            locked_until: None,
        };
        self.refresh_tokens.insert(token.clone(), record);
        token
    }

    fn mint_access_token(&mut self, dc: Dc, refresh_token: Option<String>, now: DateTime<Utc>) -> String {
        // Expired access tokens are refused anyway, so forgetting them keeps a long run's memory flat.
        self.access_tokens.retain(|_, a| a.expires_at > now);
        // At most fifteen live access tokens per refresh token: the sixteenth invalidates the oldest.
        if let Some(parent) = &refresh_token {
            let mut live: Vec<(u64, String)> = self
                .access_tokens
                .iter()
                .filter(|(_, a)| a.refresh_token.as_ref() == Some(parent))
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
        self.access_tokens.insert(token.clone(), AccessRecord { dc, refresh_token, serial, expires_at });
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
    fn pkce_matches_the_rfc_7636_example() {
        // The example from RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier));
        assert!(!pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "short"));
    }
}
