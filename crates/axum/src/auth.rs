//! [`ZohoAuth`]: the configuration, the server-side state, and the sign-in steps the routes use.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use zoho_oauth::{
    Authorized, ClientConfig, CodeIssued, DataCenter, Environment, Flow, HttpClient, ReqwestClient, SharedClock,
    StoreKey, SystemClock, TokenStore, Unauthorized,
};

use crate::cookies::{CookieSettings, new_id};
use crate::error::{Error, LoginError};
use crate::identity;

/// The path of the login route: `GET /auth/login?next=/where/to/return`.
pub const LOGIN_PATH: &str = "/auth/login";
/// The path of the callback route, the redirect URI registered with Zoho (under the public base URL).
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The path of the logout route: `POST /auth/logout` with the form field `csrf`.
pub const LOGOUT_PATH: &str = "/auth/logout";

/// Sign-in with Zoho for an axum app: the routes ([`router`](Self::router)), the
/// [`ZohoSession`](crate::ZohoSession) extractor, and the steps underneath them for apps that keep
/// their own session layer.
///
/// Cheap to clone (one `Arc`); put it in the app's state and implement
/// [`FromRef`](axum::extract::FromRef) for it, or use it as the state itself.
///
/// It keeps three maps in memory: sign-ins waiting for their callback (each holding the secret
/// `state` and PKCE verifier, never sent to the browser), signed-in browsers (opaque cookie id to
/// user and logout token), and one authorized session per user, shared by every request and
/// browser of that user and refreshed through the token store.
/// The grants themselves live in the [`TokenStore`]; a restarted app signs browsers out but keeps
/// every user's grant.
#[derive(Clone)]
pub struct ZohoAuth {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    flow: Flow<Unauthorized>,
    client_id: String,
    environment: Environment,
    store: Arc<dyn TokenStore>,
    public_base: Url,
    pub(crate) cookies: CookieSettings,
    pub(crate) pending_lifetime: Duration,
    pub(crate) sign_in_lifetime: Duration,
    max_pending: usize,
    pub(crate) after_logout: String,
    pub(crate) revoke_on_logout: bool,
    clock: SharedClock,
    pending: Mutex<HashMap<String, PendingLogin>>,
    sign_ins: Mutex<HashMap<String, SignIn>>,
    sessions: Mutex<HashMap<String, Arc<Flow<Authorized>>>>,
}

/// A sign-in waiting for its callback: the flow's pending state, where to return, and when it began.
///
/// # Security
///
/// It holds the `state` value and the PKCE verifier in clear when serialized. Keep it on the
/// server (a server-side session store), never in a cookie, a URL or a page, and use it once.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    flow: CodeIssued,
    return_to: String,
    started_at: DateTime<Utc>,
}

impl PendingLogin {
    /// The app path to return to after the sign-in, such as `/` or `/reports?year=2025`.
    pub fn return_to(&self) -> &str {
        &self.return_to
    }

    /// When the sign-in was started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The Zoho CRM user a browser is signed in as, from `GET /crm/v8/users?type=CurrentUser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignedInUser {
    /// The CRM user id; also the user name the grant is stored under in the [`TokenStore`].
    pub id: String,
    /// The user's full name.
    pub full_name: String,
    /// The user's e-mail address.
    pub email: String,
    /// The data center the account lives in, such as `us` or `eu`.
    pub data_center: String,
    /// The accounts server the grant belongs to, such as `https://accounts.zoho.eu`.
    pub accounts_server: String,
}

/// A completed sign-in: who, their shared session, and where to send the browser.
#[derive(Debug)]
pub struct SignedIn {
    /// The user.
    pub user: Arc<SignedInUser>,
    /// The user's authorized session, shared with every other request of this user.
    pub session: Arc<Flow<Authorized>>,
    /// The app path to return to.
    pub return_to: String,
}

/// A callback that did not sign the user in: why, and the pending sign-in back when it is still
/// good (after a forged callback with a wrong `state`, nothing was sent and the real callback may
/// still come).
#[derive(Debug)]
pub struct CallbackError {
    /// Why.
    pub error: LoginError,
    /// The pending sign-in, to keep for the right callback.
    pub pending: Option<PendingLogin>,
}

/// A signed-in browser, as the built-in cookie layer keeps it.
#[derive(Clone)]
pub(crate) struct SignIn {
    pub(crate) user: Arc<SignedInUser>,
    /// The per-browser token the logout form must send back.
    pub(crate) csrf: String,
    expires_at: DateTime<Utc>,
}

/// Builds a [`ZohoAuth`]; see [`ZohoAuth::builder`].
#[must_use]
pub struct ZohoAuthBuilder {
    config: ClientConfig,
    store: Arc<dyn TokenStore>,
    public_base_url: String,
    http: Option<Arc<dyn HttpClient>>,
    secure: Option<bool>,
    pending_lifetime: Duration,
    sign_in_lifetime: Duration,
    max_pending: usize,
    after_logout: String,
    revoke_on_logout: bool,
    clock: SharedClock,
}

impl ZohoAuth {
    /// Starts building sign-in for the app served at `public_base_url`, the address users' browsers
    /// see, such as `https://crm-reports.example.com/`.
    ///
    /// The redirect URI is derived from it (`{public_base_url}auth/callback`) and set on `config`,
    /// so it is exactly the one to register in Zoho's API console. `config` must ask for
    /// `ZohoCRM.users.READ` (or `ZohoCRM.users.ALL`), which the sign-in needs to learn who signed in.
    /// Grants are saved in `store`, one entry per user.
    pub fn builder(config: ClientConfig, store: Arc<dyn TokenStore>, public_base_url: &str) -> ZohoAuthBuilder {
        ZohoAuthBuilder {
            config,
            store,
            public_base_url: public_base_url.to_owned(),
            http: None,
            secure: None,
            pending_lifetime: Duration::minutes(10),
            sign_in_lifetime: Duration::hours(12),
            max_pending: 10_000,
            after_logout: "/".to_owned(),
            revoke_on_logout: true,
            clock: Arc::new(SystemClock),
        }
    }
}

impl ZohoAuthBuilder {
    /// The HTTP client for the exchange, the current-user request and renewals (a default
    /// [`ReqwestClient`] otherwise).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// Whether the cookies carry `Secure` (and the `__Host-` prefix). By default they do exactly
    /// when the public base URL is `https`; turn it on for an `http` loopback base URL only when a
    /// proxy serves the app over https on that address.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// How long a sign-in may wait for its callback (10 minutes by default): time on the consent
    /// page plus the code's short life.
    pub fn pending_lifetime(mut self, lifetime: Duration) -> Self {
        self.pending_lifetime = lifetime;
        self
    }

    /// How long a browser stays signed in (12 hours by default); then it signs in again, which
    /// with the grant still valid is one trip through Zoho's consent page.
    pub fn sign_in_lifetime(mut self, lifetime: Duration) -> Self {
        self.sign_in_lifetime = lifetime;
        self
    }

    /// The most sign-ins that may wait for their callback at once (10 000 by default); the login
    /// route answers 503 beyond it.
    pub fn max_pending_logins(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// The app path the browser is sent to after logout (`/` by default).
    pub fn after_logout(mut self, path: &str) -> Self {
        self.after_logout = crate::routes::safe_return_path(Some(path)).to_owned();
        self
    }

    /// Whether logout also revokes the user's grant at Zoho and deletes it from the store (on by
    /// default). Off, logout only signs the browser out and the app keeps offline access.
    pub fn revoke_on_logout(mut self, revoke: bool) -> Self {
        self.revoke_on_logout = revoke;
        self
    }

    /// The clock for the pending and sign-in lifetimes; tests inject a
    /// [`ManualClock`](zoho_oauth::ManualClock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the public base URL, sets the redirect URI, and builds the [`ZohoAuth`].
    ///
    /// # Errors
    ///
    /// [`Error::PublicBaseUrl`] when the base URL is not `https` (or `http` on a loopback host),
    /// does not end with `/`, or has a query or fragment; [`Error::Flow`] when the HTTP client
    /// cannot be built.
    pub fn build(self) -> Result<ZohoAuth, Error> {
        let base = Url::parse(&self.public_base_url).map_err(|_| Error::PublicBaseUrl)?;
        let scheme_ok = match base.scheme() {
            "https" => base.host().is_some(),
            "http" => zoho_oauth::core::endpoints::is_loopback(&base),
            _ => false,
        };
        if !scheme_ok || !base.path().ends_with('/') || base.query().is_some() || base.fragment().is_some() {
            return Err(Error::PublicBaseUrl);
        }
        let redirect = base.join(&CALLBACK_PATH[1..]).map_err(|_| Error::PublicBaseUrl)?;
        let config = self.config.redirect_uri(redirect.as_str())?;
        let http = match self.http {
            Some(http) => http,
            None => Arc::new(ReqwestClient::new().map_err(zoho_oauth::Error::from)?),
        };
        let client_id = config.client_id().to_owned();
        let environment = config.endpoints().environment();
        let secure = self.secure.unwrap_or(base.scheme() == "https");
        let inner = Inner {
            flow: Flow::new(config, http),
            client_id,
            environment,
            store: self.store,
            public_base: base,
            cookies: CookieSettings { secure },
            pending_lifetime: self.pending_lifetime,
            sign_in_lifetime: self.sign_in_lifetime,
            max_pending: self.max_pending,
            after_logout: self.after_logout,
            revoke_on_logout: self.revoke_on_logout,
            clock: self.clock,
            pending: Mutex::default(),
            sign_ins: Mutex::default(),
            sessions: Mutex::default(),
        };
        Ok(ZohoAuth { inner: Arc::new(inner) })
    }
}

impl ZohoAuth {
    /// The redirect URI to register in Zoho's API console, e.g. `https://app.example.com/auth/callback`.
    pub fn redirect_uri(&self) -> Url {
        self.public_url(CALLBACK_PATH)
    }

    /// The absolute public URL of an app path (`/`-rooted), under the public base URL.
    pub fn public_url(&self, path: &str) -> Url {
        self.inner.public_base.join(path.trim_start_matches('/')).unwrap_or_else(|_| self.inner.public_base.clone())
    }

    /// The public origin (`https://app.example.com`), which a logout form's `Origin` must match.
    pub(crate) fn public_origin(&self) -> String {
        self.inner.public_base.origin().ascii_serialization()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Starts a sign-in: the consent page URL to send the browser to (with PKCE and a fresh
    /// `state`), and the pending sign-in to keep on the server until the callback.
    ///
    /// `return_to` is the app path to come back to; anything but a local path (an absolute URL,
    /// `//host`, a backslash) is replaced by `/`, so the login route cannot be an open redirect.
    pub fn start_login(&self, return_to: Option<&str>) -> (Url, PendingLogin) {
        let (url, flow) = self.inner.flow.clone().authorization_url();
        let pending = PendingLogin {
            flow: flow.into_pending(),
            return_to: crate::routes::safe_return_path(return_to).to_owned(),
            started_at: self.now(),
        };
        (url, pending)
    }

    /// Completes a sign-in from the callback's query string.
    ///
    /// In order: the pending sign-in must be younger than the pending lifetime; `state` is checked
    /// in constant time before any request (a wrong one sends nothing and gives the pending
    /// sign-in back); the code is exchanged at the accounts server the callback names, if it is a
    /// trusted Zoho one; the current user is asked of the CRM with the new token; the grant is
    /// saved in the store under that user's id, replacing (and revoking, in the background) the
    /// user's previous grant; and the user's shared session is rebuilt from the store.
    /// A grant that cannot be identified or saved is revoked rather than left alive.
    pub async fn finish_login(&self, pending: PendingLogin, callback_query: &str) -> Result<SignedIn, CallbackError> {
        let fail = |error: LoginError| CallbackError { error, pending: None };
        if self.now() - pending.started_at > self.inner.pending_lifetime {
            return Err(fail(LoginError::Expired));
        }
        let PendingLogin { flow, return_to, started_at } = pending;
        let flow = self.inner.flow.clone().resume(flow).map_err(|e| fail(e.into()))?;
        // The flow is given the whole callback URL: a bare query whose values hold `://` or `?`
        // (an unencoded `accounts-server`, say) would be read as a URL of its own.
        let callback = format!("{}?{}", self.redirect_uri(), callback_query.trim_start_matches('?'));
        let session = match flow.exchange(&callback).await {
            Ok(session) => session,
            Err(error) if matches!(error.error(), zoho_oauth::Error::StateMismatch) => {
                let flow =
                    error.into_flow().map(|flow| PendingLogin { flow: flow.into_pending(), return_to, started_at });
                return Err(CallbackError { error: LoginError::StateMismatch, pending: flow });
            }
            Err(error) => return Err(fail(error.into_error().into())),
        };
        let user = match identity::current_user(&session).await {
            Ok(user) => user,
            Err(error) => {
                revoke_in_background(session, "a grant whose user could not be identified");
                return Err(fail(LoginError::Failed(error)));
            }
        };
        let user = Arc::new(user);
        let key = StoreKey::new(&*self.inner.client_id, &*user.id, &*user.accounts_server, self.inner.environment);
        let store = &self.inner.store;
        let previous = store.load(&key).await.ok().flatten();
        let tokens = session.tokens();
        if let Err(error) = store.save(&key, &tokens).await {
            revoke_in_background(session, "a grant that could not be saved");
            return Err(fail(LoginError::Failed(Error::Store(error))));
        }
        drop(session);
        if let Some(old) = previous {
            let replaced = old.tokens().refresh_token().map(|t| t.expose_secret().to_owned())
                != tokens.refresh_token().map(|t| t.expose_secret().to_owned());
            if replaced {
                // The store kept only the new grant; the old refresh token is revoked so that it
                // does not stay valid, unknown to anyone, until Zoho's per-user limit evicts it.
                // A flow without the store revokes it, so the new entry is not deleted.
                if let Ok(old) = self.inner.flow.clone().restore(old.into_tokens()) {
                    revoke_in_background(old, "the user's previous grant");
                }
            }
        }
        self.drop_session(&user.id);
        let session = self.session_for(&user.id).await.map_err(|e| fail(LoginError::Failed(e)))?;
        let session = session.ok_or_else(|| fail(LoginError::Failed(Error::NoCurrentUser)))?;
        tracing::info!(user = %user.id, data_center = %user.data_center, "signed in with zoho");
        Ok(SignedIn { user, session, return_to })
    }

    /// The authorized session of the user with id `user_id`, shared by all of that user's requests.
    ///
    /// The first call after a start (or after the entry was dropped) restores it from the store;
    /// later calls return the cached `Arc`. Returns `None` when the store holds no grant for the
    /// user, or the cached one was revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Flow`] when the store fails or the saved grant names an untrusted accounts server.
    pub async fn session_for(&self, user_id: &str) -> Result<Option<Arc<Flow<Authorized>>>, Error> {
        if let Some(session) = lock(&self.inner.sessions).get(user_id) {
            if !session.is_revoked() {
                return Ok(Some(session.clone()));
            }
        }
        let store = self.inner.store.clone();
        let Some(restored) = self.inner.flow.clone().with_store(store, user_id).restore_from_store().await? else {
            lock(&self.inner.sessions).remove(user_id);
            return Ok(None);
        };
        let mut sessions = lock(&self.inner.sessions);
        let entry = sessions.entry(user_id.to_owned()).or_insert_with(|| Arc::new(restored));
        if entry.is_revoked() {
            sessions.remove(user_id);
            return Ok(None);
        }
        Ok(Some(entry.clone()))
    }

    /// Signs the user out of every browser of the built-in cookie layer and drops the cached
    /// session; with `revoke`, also revokes the grant at Zoho and deletes it from the store.
    ///
    /// # Errors
    ///
    /// [`Error::Flow`] when the revocation fails; the user is signed out of the app anyway, and the
    /// grant stays in the store (its tokens may still be valid).
    pub async fn sign_out_user(&self, user_id: &str, revoke: bool) -> Result<(), Error> {
        lock(&self.inner.sign_ins).retain(|_, sign_in| sign_in.user.id != user_id);
        let session = if revoke { self.session_for(user_id).await? } else { None };
        self.drop_session(user_id);
        if let Some(session) = session {
            session.revoke_shared().await?;
            tracing::info!(user = %user_id, "revoked the user's grant at sign-out");
        }
        Ok(())
    }

    fn drop_session(&self, user_id: &str) {
        lock(&self.inner.sessions).remove(user_id);
    }

    /// Keeps a pending sign-in under a new id, for the pending cookie.
    pub(crate) fn keep_pending(&self, pending: PendingLogin) -> Result<String, Error> {
        let id = new_id();
        self.keep_pending_as(id.clone(), pending)?;
        Ok(id)
    }

    pub(crate) fn keep_pending_as(&self, id: String, pending: PendingLogin) -> Result<(), Error> {
        let now = self.now();
        let lifetime = self.inner.pending_lifetime;
        let mut map = lock(&self.inner.pending);
        if map.len() >= self.inner.max_pending {
            map.retain(|_, p| now - p.started_at <= lifetime);
            if map.len() >= self.inner.max_pending {
                return Err(Error::TooManyPendingLogins);
            }
        }
        map.insert(id, pending);
        Ok(())
    }

    /// Takes a pending sign-in out: each is used once.
    pub(crate) fn take_pending(&self, id: &str) -> Option<PendingLogin> {
        lock(&self.inner.pending).remove(id)
    }

    /// Records a signed-in browser under a new cookie id.
    pub(crate) fn add_sign_in(&self, user: Arc<SignedInUser>) -> String {
        let now = self.now();
        let id = new_id();
        let sign_in = SignIn { user, csrf: new_id(), expires_at: now + self.inner.sign_in_lifetime };
        let mut map = lock(&self.inner.sign_ins);
        map.retain(|_, s| s.expires_at > now);
        map.insert(id.clone(), sign_in);
        id
    }

    /// The signed-in browser with cookie id `id`, unless it expired.
    pub(crate) fn sign_in(&self, id: &str) -> Option<SignIn> {
        let now = self.now();
        let mut map = lock(&self.inner.sign_ins);
        match map.get(id) {
            Some(sign_in) if sign_in.expires_at > now => Some(sign_in.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Forgets a signed-in browser; drops the user's cached session when it was their last one.
    pub(crate) fn remove_sign_in(&self, id: &str) -> Option<SignIn> {
        let mut map = lock(&self.inner.sign_ins);
        let removed = map.remove(id)?;
        let others = map.values().any(|s| s.user.id == removed.user.id);
        drop(map);
        if !others {
            self.drop_session(&removed.user.id);
        }
        Some(removed)
    }
}

impl fmt::Debug for ZohoAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZohoAuth")
            .field("public_base", &self.inner.public_base.as_str())
            .field("client_id", &self.inner.client_id)
            .field("secure_cookies", &self.inner.cookies.secure)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ZohoAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZohoAuthBuilder").field("public_base_url", &self.public_base_url).finish_non_exhaustive()
    }
}

/// The data center a user's account lives in: the CRM record's own field when it has one (the
/// emulator adds it), else the Zoho data center of the accounts server, else its host.
pub(crate) fn data_center_name(from_record: Option<&str>, accounts_server: &str) -> String {
    if let Some(name) = from_record.filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    match DataCenter::from_accounts_server(accounts_server) {
        Some(dc) => dc.location().to_owned(),
        None => Url::parse(accounts_server).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default(),
    }
}

fn revoke_in_background(session: Flow<Authorized>, what: &'static str) {
    tokio::spawn(async move {
        if let Err(error) = session.revoke().await {
            tracing::warn!(error = %error.error, "could not revoke {what}");
        }
    });
}

/// Locks a map; a panic while it was held leaves plain data behind, so the lock is taken anyway.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use zoho_oauth::{ClientSecret, DataCenter, Endpoints, MemoryStore, Scopes};

    use super::*;

    fn build(base: &str) -> Result<ZohoAuth, Error> {
        let config = ClientConfig::new("1000.TEST", Endpoints::zoho(DataCenter::Eu, Environment::Production))
            .client_secret(ClientSecret::new("test-secret"))
            .scopes(Scopes::zoho(["ZohoCRM.users.READ"]).expect("a valid scope"));
        ZohoAuth::builder(config, Arc::new(MemoryStore::new()), base).build()
    }

    #[test]
    fn the_redirect_uri_and_cookie_flags_follow_the_public_base_url() {
        let auth = build("https://reports.example.com/").expect("an https base");
        assert_eq!(auth.redirect_uri().as_str(), "https://reports.example.com/auth/callback");
        assert!(auth.inner.cookies.secure, "https means Secure cookies");
        assert_eq!(auth.public_origin(), "https://reports.example.com");

        let behind_prefix = build("https://example.com/reports/").expect("a base with a path");
        assert_eq!(behind_prefix.redirect_uri().as_str(), "https://example.com/reports/auth/callback");

        let local = build("http://127.0.0.1:3000/").expect("http on loopback");
        assert!(!local.inner.cookies.secure, "plain http on loopback cannot carry Secure cookies");
    }

    #[test]
    fn an_unsafe_public_base_url_is_refused() {
        for base in [
            "http://reports.example.com/",
            "https://example.com/reports",
            "https://example.com/?a=b",
            "ftp://x/",
            "nonsense",
        ] {
            assert!(matches!(build(base), Err(Error::PublicBaseUrl)), "{base} was accepted");
        }
    }

    #[test]
    fn pending_sign_ins_are_bounded_and_used_once() {
        let config = ClientConfig::new("1000.TEST", Endpoints::zoho(DataCenter::Eu, Environment::Production))
            .scopes(Scopes::zoho(["ZohoCRM.users.READ"]).expect("a valid scope"));
        let auth = ZohoAuth::builder(config, Arc::new(MemoryStore::new()), "https://a.example/")
            .max_pending_logins(2)
            .build()
            .expect("a valid configuration");
        let (url, first) = auth.start_login(Some("//evil.example"));
        assert_eq!(first.return_to(), "/", "an off-site next is replaced");
        assert!(url.query().is_some_and(|q| q.contains("code_challenge_method=S256") && q.contains("state=")));
        let id = auth.keep_pending(first).expect("room for one");
        auth.keep_pending(auth.start_login(None).1).expect("room for two");
        assert!(matches!(auth.keep_pending(auth.start_login(None).1), Err(Error::TooManyPendingLogins)));
        assert!(auth.take_pending(&id).is_some());
        assert!(auth.take_pending(&id).is_none(), "a pending sign-in is used once");
    }
}
