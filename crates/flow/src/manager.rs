//! The token manager: fresh access tokens on demand, one renewal at a time, and one contract
//! across tasks and processes.
//!
//! The current tokens live in an [`ArcSwap`] as a [`Snapshot`] with its "serve until" instant
//! precomputed, so the common case, a valid token already held, is one atomic load and one
//! comparison with the clock's cheap seconds: no lock, no I/O, no allocation.
//!
//! Renewal goes through one async mutex, the gate: whoever holds it renews, and everyone who
//! queued behind it finds the new tokens (or the shared failure) when their turn comes, so N
//! callers at expiry make one request. With a store, the gate's holder also takes the store's
//! per-key lock, reads the entry again (another process may have renewed), renews, and writes the
//! new tokens with a compare-and-swap before anyone is handed them. Backoff and rate-limit
//! lock-out are recorded in the store entry, so every process sharing it respects them.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use chrono::{DateTime, Utc};
use zoho_oauth_core::{AccessToken, Endpoints, ErrorCode, Renewal, TokenSet, dialect};
use zoho_oauth_store::{FailureKind, FailureRecord, Record, RefreshState, StoreKey, TokenStore};

use crate::client::Client;
use crate::error::{Error, RefreshError, Result};
use crate::requests::{self, Grant, Revocable, Target};

/// The tokens held at one moment, with what the cached read needs precomputed.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) tokens: TokenSet,
    /// The access token is served without renewal while the clock's Unix seconds are below this:
    /// expiry minus the effective margin. `i64::MIN` once revoked.
    fresh_until: i64,
    /// The store's revision of the entry these tokens came from (0 without a store).
    revision: u64,
    /// When the tokens were obtained, when known: it bounds the margin by the token's lifetime.
    obtained_at: Option<DateTime<Utc>>,
    revoked: bool,
}

/// A valid access token, borrowed from the token manager without copying it.
///
/// It dereferences to [`AccessToken`]; [`into_owned`](Self::into_owned) makes an owned copy.
/// Hold it briefly (for one request): it pins the token set it came from.
pub struct CurrentToken(Guard<Arc<Snapshot>>);

impl CurrentToken {
    /// An owned copy of the token, for callers that keep it.
    pub fn into_owned(self) -> AccessToken {
        self.deref().clone()
    }
}

impl Deref for CurrentToken {
    type Target = AccessToken;

    fn deref(&self) -> &AccessToken {
        self.0.tokens.access_token()
    }
}

/// Prints only the type name: the token is a secret.
impl std::fmt::Debug for CurrentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentToken([redacted])")
    }
}

/// A renewal in progress, boxed: it is large, and only the slow path builds one.
type RenewalFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<CurrentToken>> + Send + 'a>>;

/// The future of [`TokenManager::access_token`]: its first poll serves a fresh token at once, and
/// only a token that needs renewal builds the slow future.
///
/// The work happens in `poll`, not when the future is made: awaiting it then moves two words into
/// the caller's state, where a token handle built beforehand would be written and read back on the
/// hot path (which measurably stalled the processor on a store it had not finished).
pub(crate) struct TokenFuture<'a> {
    manager: &'a TokenManager,
    renewal: Option<RenewalFuture<'a>>,
}

impl std::future::Future for TokenFuture<'_> {
    type Output = Result<CurrentToken>;

    // Always inlined, like the two calls that lead here: the fresh case is a handful of
    // instructions, and a call across the crate boundary costs as much again (`#[inline]` alone
    // left it out of line in the benchmark).
    #[inline(always)]
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        if self.renewal.is_none() {
            let snapshot = self.manager.current.load();
            if self.manager.client.config.unix_seconds() < snapshot.fresh_until {
                return std::task::Poll::Ready(Ok(CurrentToken(snapshot)));
            }
            self.renewal = Some(self.manager.renewing(snapshot));
        }
        match &mut self.renewal {
            Some(renewal) => renewal.as_mut().poll(cx),
            None => unreachable!("the renewal was set just above"),
        }
    }
}

/// What the gate remembers between attempts.
#[derive(Debug, Default)]
struct Gate {
    /// The refresh state: a copy of the store entry's when there is a store, the only one otherwise.
    state: RefreshState,
    /// The last failure of this process's own attempt, shared with every caller that asks while
    /// it holds.
    last_error: Option<RefreshError>,
    /// When the store was last read again while a failure was held.
    store_checked_at: Option<DateTime<Utc>>,
}

/// Fresh access tokens for one authorization.
pub(crate) struct TokenManager {
    client: Arc<Client>,
    /// The endpoints of the accounts server that issued the tokens (after any multi-DC redirect).
    endpoints: Endpoints,
    /// The endpoints' accounts server, worked out once for the traces. (A renewed token set keeps
    /// the accounts server of the set it replaces, the one its store key was made from.)
    accounts_server: String,
    /// The token endpoint, parsed once for every renewal (`None` if it is no `http::Uri`, which
    /// each renewal then reports).
    token_target: Option<Target>,
    store: Option<(Arc<dyn TokenStore>, StoreKey)>,
    current: ArcSwap<Snapshot>,
    gate: tokio::sync::Mutex<Gate>,
}

/// The endpoints, the store key and the tokens held (redacted); not the client, whose HTTP client
/// is the user's and may print anything.
impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("endpoints", &self.endpoints)
            .field("store_key", &self.store.as_ref().map(|(_, key)| key))
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager for `tokens`, read from the store at `revision` with `state` (or 0 and a clear
    /// state without a store), obtained at `obtained_at` when that is known.
    pub(crate) fn new(
        client: Arc<Client>,
        endpoints: Endpoints,
        tokens: TokenSet,
        revision: u64,
        state: RefreshState,
        obtained_at: Option<DateTime<Utc>>,
    ) -> Self {
        let store = client.store_key(tokens.accounts_server());
        let obtained_at = obtained_at.or(state.renewed_at);
        let snapshot = snapshot(&client, tokens, revision, obtained_at);
        let gate = Gate { state, last_error: None, store_checked_at: None };
        Self {
            client,
            accounts_server: endpoints.accounts_server(),
            token_target: Target::new(endpoints.token_url()).ok(),
            endpoints,
            store,
            current: ArcSwap::from_pointee(snapshot),
            gate: tokio::sync::Mutex::new(gate),
        }
    }

    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The tokens held now.
    pub(crate) fn tokens(&self) -> TokenSet {
        self.current.load().tokens.clone()
    }

    pub(crate) fn is_revoked(&self) -> bool {
        self.current.load().revoked
    }

    /// A valid access token: the cached one when it is fresh, otherwise renewed first.
    ///
    /// Awaiting it costs, in the fresh case, one guard load and one comparison with the clock's
    /// cheap seconds; only a renewal builds (and boxes) the slow future.
    #[inline(always)]
    pub(crate) fn access_token(&self) -> TokenFuture<'_> {
        TokenFuture { manager: self, renewal: None }
    }

    /// The slow path, kept out of line so that the fresh case stays small enough to inline into
    /// the caller.
    #[cold]
    #[inline(never)]
    fn renewing(&self, stale: Guard<Arc<Snapshot>>) -> RenewalFuture<'_> {
        drop(stale);
        Box::pin(self.access_token_renewing())
    }

    async fn access_token_renewing(&self) -> Result<CurrentToken> {
        let clock = &self.client.config.clock;
        match self.renew(|s| clock.now().timestamp() >= s.fresh_until).await {
            // The renewed tokens are the current ones (or newer, if another renewal followed).
            Ok(_) => Ok(CurrentToken(self.current.load())),
            // The caller must learn that new tokens were not saved, even though they are held.
            Err(error @ (Error::NotSaved { .. } | Error::Revoked)) => Err(error),
            Err(error) => {
                // A token inside the margin but not yet expired still works: serve it.
                let current = self.current.load();
                if !current.revoked && current.tokens.expires_at() > clock.now() {
                    Ok(CurrentToken(current))
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Renews when the token is due (inside its margin) and reports a failure instead of falling
    /// back to a token that still works. Returns whether new tokens were obtained or adopted.
    pub(crate) async fn renew_if_due(&self) -> Result<bool> {
        let clock = &self.client.config.clock;
        let before = self.current.load_full();
        if !before.revoked && self.client.config.unix_seconds() < before.fresh_until {
            return Ok(false);
        }
        let after = self.renew(|s| clock.now().timestamp() >= s.fresh_until).await?;
        Ok(!Arc::ptr_eq(&before, &after))
    }

    /// Renews now, whatever the expiry (backoff, lock-out and the floor between renewals still apply).
    pub(crate) async fn refresh(&self) -> Result<()> {
        self.renew(|_| true).await.map(drop)
    }

    /// Renews unless another task already replaced `stale`.
    pub(crate) async fn refresh_replacing(&self, stale: &AccessToken) -> Result<CurrentToken> {
        self.renew(|current| current.tokens.access_token().ct_eq(stale)).await?;
        Ok(CurrentToken(self.current.load()))
    }

    /// The single-flight core: under the gate, renews if `needed` still says so.
    ///
    /// Traced as the span `renew` with the authorization's user, accounts server and the outcome;
    /// no field ever holds a secret.
    async fn renew(&self, needed: impl Fn(&Snapshot) -> bool) -> Result<Arc<Snapshot>> {
        // With nobody listening at debug level, no span is built, entered at each poll, and
        // filled in: the events inside still go wherever warnings go.
        if !tracing::level_enabled!(tracing::Level::DEBUG) {
            return self.renew_inner(needed, None).await;
        }
        let span = tracing::debug_span!(
            "renew",
            user = self.store.as_ref().map(|(_, key)| key.user()),
            accounts_server = %self.accounts_server,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        // The clock is read for the timings only when someone listens: on a virtual machine each
        // read can be a system call.
        let started = (!span.is_disabled()).then(std::time::Instant::now);
        let result = tracing::Instrument::instrument(self.renew_inner(needed, started), span.clone()).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(Error::Refresh(failure)) if failure.is_final() => "final failure",
            Err(Error::Refresh(_)) => "failure",
            Err(Error::Revoked) => "revoked",
            Err(Error::NotSaved { .. }) => "not saved",
            Err(_) => "error",
        };
        span.record("outcome", outcome);
        if let Some(started) = started {
            span.record("duration_ms", millis_since(started));
        }
        result
    }

    async fn renew_inner(
        &self,
        needed: impl Fn(&Snapshot) -> bool,
        started: Option<std::time::Instant>,
    ) -> Result<Arc<Snapshot>> {
        let mut gate = self.gate.lock().await;
        let waited_ms = started.map(millis_since);
        let mut current = self.current.load_full();
        if current.revoked {
            return Err(Error::Revoked);
        }
        if !needed(&current) {
            tracing::debug!(waited_ms, "another task renewed while this one waited at the gate");
            return Ok(current);
        }
        let now = self.client.config.clock.now();
        if let Some(failure) = held_back(&gate, now) {
            tracing::debug!(kind = ?failure.kind(), retry_at = ?failure.retry_at(), "a remembered failure holds renewal back");
            // The store is the truth when it knows better: another process may have logged in
            // again or renewed since the failure, and its tokens must not wait for the backoff.
            match self.recheck_store(&mut gate, &current, now).await {
                Some(adopted) => {
                    current = adopted;
                    if !needed(&current) {
                        return Ok(current);
                    }
                    if let Some(failure) = held_back(&gate, now) {
                        return Err(Error::Refresh(failure));
                    }
                }
                None => return Err(Error::Refresh(failure)),
            }
        }
        match self.store.clone() {
            None => self.attempt_alone(&mut gate, current, now).await,
            // Boxed: its future holds the store's records across the store's calls and is twice
            // the size of the rest, which every renewal without a store would otherwise carry.
            Some((store, key)) => Box::pin(self.attempt_shared(&mut gate, current, &*store, &key, &needed, now)).await,
        }
    }

    /// Reads the store again, at most once per `store_recheck`, and adopts a newer entry.
    async fn recheck_store(&self, gate: &mut Gate, current: &Snapshot, now: DateTime<Utc>) -> Option<Arc<Snapshot>> {
        let (store, key) = self.store.as_ref()?;
        let recheck = self.client.config.refresh.store_recheck;
        if gate.store_checked_at.is_some_and(|at| now < at + recheck) {
            return None;
        }
        gate.store_checked_at = Some(now);
        // A store that fails here changes nothing: the remembered failure still stands.
        let record = store.load(key).await.ok()??;
        if record.revision() == current.revision {
            return None;
        }
        tracing::info!(
            revision = record.revision(),
            "adopted tokens another process saved, ending the remembered failure"
        );
        Some(self.adopt(gate, &record))
    }

    /// Makes a store entry the current tokens and state.
    fn adopt(&self, gate: &mut Gate, record: &Record) -> Arc<Snapshot> {
        gate.state = record.refresh_state().clone();
        gate.last_error = None;
        let obtained_at = record.refresh_state().renewed_at;
        let adopted = Arc::new(snapshot(&self.client, record.tokens().clone(), record.revision(), obtained_at));
        self.current.store(adopted.clone());
        adopted
    }

    /// Renews without a store: the gate's state is the only one.
    async fn attempt_alone(
        &self,
        gate: &mut Gate,
        current: Arc<Snapshot>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Snapshot>> {
        if self.floor_holds(&gate.state, &current, now) {
            tracing::debug!("renewed less than the floor ago: the current token is kept");
            return Ok(current);
        }
        match self.request(&current.tokens, now).await {
            Ok(tokens) => {
                tracing::debug!(expires_at = %tokens.expires_at(), "renewed");
                gate.state = RefreshState { renewed_at: Some(now), ..RefreshState::default() };
                gate.last_error = None;
                let fresh = Arc::new(snapshot(&self.client, tokens, 0, Some(now)));
                self.current.store(fresh.clone());
                Ok(fresh)
            }
            Err(error @ Error::ClientSecret(_)) => Err(error),
            Err(error) => {
                let (failure, state) = self.failure(&gate.state, error, now);
                gate.state = state;
                gate.last_error = Some(failure.clone());
                Err(Error::Refresh(failure))
            }
        }
    }

    /// Renews through the store: under its lock, from its entry, saved before anyone sees it.
    async fn attempt_shared(
        &self,
        gate: &mut Gate,
        mut current: Arc<Snapshot>,
        store: &dyn TokenStore,
        key: &StoreKey,
        needed: &impl Fn(&Snapshot) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Arc<Snapshot>> {
        let lock_started = tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now);
        let loaded = match store.lock(key).await {
            Ok(lock) => store.load(key).await.map(|record| (lock, record)),
            Err(error) => Err(error),
        };
        tracing::debug!(waited_ms = lock_started.map(millis_since), "store refresh lock");
        let (_lock, record) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                // The store is unreachable: back off locally, and keep serving the current token
                // while it works (the caller does that).
                let (failure, state) = self.failure(&gate.state, Error::Store(Box::new(error)), now);
                gate.state = state;
                gate.last_error = Some(failure.clone());
                return Err(Error::Refresh(failure));
            }
        };
        let Some(record) = record else {
            // The entry was deleted: the authorization was revoked or signed out elsewhere.
            self.mark_revoked(&current);
            return Err(Error::Revoked);
        };
        if record.revision() != current.revision {
            current = self.adopt(gate, &record);
            if !needed(&current) {
                tracing::debug!(revision = record.revision(), "another process renewed: its tokens were adopted");
                return Ok(current);
            }
        } else {
            gate.state = record.refresh_state().clone();
        }
        if let Some(failure) = held_back(gate, now) {
            tracing::info!(kind = ?failure.kind(), retry_at = ?failure.retry_at(), "the store's shared lock-out or backoff holds renewal back");
            return Err(Error::Refresh(failure));
        }
        if self.floor_holds(&gate.state, &current, now) {
            tracing::debug!("renewed less than the floor ago: the current token is kept");
            return Ok(current);
        }
        match self.request(&current.tokens, now).await {
            Ok(tokens) => {
                tracing::debug!(expires_at = %tokens.expires_at(), "renewed; saving before handing out");
                let state = RefreshState { renewed_at: Some(now), ..RefreshState::default() };
                let updated = record.with_tokens(tokens.clone()).with_refresh_state(state.clone());
                match store.update(key, &updated).await {
                    Ok(revision) => {
                        gate.state = state;
                        gate.last_error = None;
                        let fresh = Arc::new(snapshot(&self.client, tokens, revision, Some(now)));
                        self.current.store(fresh.clone());
                        Ok(fresh)
                    }
                    Err(zoho_oauth_store::Error::Conflict { .. }) => {
                        // A new grant was saved while we renewed (a login without the lock): it wins.
                        match store.load(key).await {
                            Ok(Some(newer)) => Ok(self.adopt(gate, &newer)),
                            Ok(None) => {
                                self.mark_revoked(&current);
                                Err(Error::Revoked)
                            }
                            Err(error) => Err(Error::Store(Box::new(error))),
                        }
                    }
                    Err(source) => {
                        // Hold the new tokens so that nothing is lost (a rotated refresh token
                        // exists nowhere else), and tell the caller they are not saved.
                        gate.state = state;
                        gate.last_error = None;
                        let fresh = Arc::new(snapshot(&self.client, tokens.clone(), current.revision, Some(now)));
                        self.current.store(fresh);
                        Err(Error::NotSaved { source: Box::new(source), tokens: Box::new(tokens) })
                    }
                }
            }
            // A secret this process could not load is its own problem, not the grant's: nothing
            // was sent, and other processes sharing the store must not wait for it.
            Err(error @ Error::ClientSecret(_)) => Err(error),
            Err(error) => {
                let (failure, state) = self.failure(&gate.state, error, now);
                // Record the failure for every process sharing the store; if another writer got
                // there first, its entry is adopted on the next read.
                if let Ok(revision) = store.update(key, &record.with_refresh_state(state.clone())).await {
                    let same = snapshot_at(&self.client, &current, revision);
                    self.current.store(Arc::new(same));
                }
                gate.state = state;
                gate.last_error = Some(failure.clone());
                Err(Error::Refresh(failure))
            }
        }
    }

    /// Whether the floor between two renewals holds this one back: the tokens were renewed less
    /// than `min_interval` ago and still work.
    fn floor_holds(&self, state: &RefreshState, current: &Snapshot, now: DateTime<Utc>) -> bool {
        let floor = self.client.config.refresh.min_interval;
        current.tokens.expires_at() > now && state.renewed_at.is_some_and(|at| at <= now && now < at + floor)
    }

    /// The failure a renewal error becomes, and the refresh state after it.
    fn failure(&self, state: &RefreshState, error: Error, now: DateTime<Utc>) -> (RefreshError, RefreshState) {
        let policy = &self.client.config.refresh;
        let kind = classify(&error);
        let failures = state.failures.saturating_add(1);
        let retry_at = match kind {
            FailureKind::GrantInvalid => None,
            FailureKind::RateLimited => now.checked_add_signed(policy.rate_limit_lockout),
            FailureKind::Rejected if failures >= policy.max_rejections => None,
            _ => now.checked_add_signed(policy.backoff(failures)),
        };
        // The code is the server's text, and is written to the store: mask it like any server text.
        let code = match &error {
            Error::Server(e) | Error::RateLimited(e) => {
                Some(zoho_oauth_core::redact::excerpt(e.error.as_str().as_bytes()))
            }
            Error::MalformedResponse { status, .. } => Some(format!("HTTP {status}")),
            Error::NoRefreshToken => Some("no refresh token".to_owned()),
            _ => None,
        };
        tracing::warn!(?kind, failures, retry_at = ?retry_at, code = code.as_deref(), "renewal failed");
        let state = RefreshState {
            failures,
            retry_at,
            last_failure: Some(FailureRecord { kind, code, at: now }),
            renewed_at: state.renewed_at,
        };
        (RefreshError::new(kind, retry_at, error), state)
    }

    /// Sends one renewal request: a refresh, or for a client-credentials grant the same request
    /// again, with the scopes and `soid` the token set records.
    ///
    /// `now`, read before the request was sent, dates the new tokens, so that their expiry errs
    /// early rather than late.
    async fn request(&self, current: &TokenSet, now: DateTime<Utc>) -> Result<TokenSet> {
        let response = if let Renewal::ClientCredentials { soid } = current.renewal() {
            requests::client_credentials(&self.client, &self.endpoints, current.scopes(), soid.as_deref()).await?
        } else {
            let refresh_token = current.refresh_token().ok_or(Error::NoRefreshToken)?;
            let target = match &self.token_target {
                Some(target) => target,
                None => &Target::new(self.endpoints.token_url())?,
            };
            let grant = Grant::Refresh { token: refresh_token, held: Some(current.access_token()) };
            requests::token(&self.client, &self.endpoints, target, grant).await?
        };
        // The new set shares with the current one everything the answer does not replace.
        Ok(current.renewed(response, now))
    }

    /// Revokes the grant at the server (RFC 7009) and, with a store, deletes its entry; afterwards
    /// every holder of this session gets [`Error::Revoked`].
    pub(crate) async fn revoke(&self) -> Result<()> {
        let span = tracing::debug_span!("revoke", accounts_server = %self.accounts_server);
        tracing::Instrument::instrument(self.revoke_inner(), span).await
    }

    async fn revoke_inner(&self) -> Result<()> {
        let _gate = self.gate.lock().await;
        let current = self.current.load_full();
        if current.revoked {
            return Ok(());
        }
        let token = match current.tokens.refresh_token() {
            Some(refresh) => Revocable::Refresh(refresh.expose_secret()),
            None => Revocable::Access(current.tokens.access_token().expose_secret()),
        };
        requests::revoke(&self.client, &self.endpoints, token).await?;
        tracing::info!("revoked at the accounts server");
        // The tokens are dead at the server: nobody may be handed them any more, whatever the
        // store says next.
        self.mark_revoked(&current);
        if let Some((store, key)) = &self.store {
            store.delete(key).await?;
        }
        Ok(())
    }

    fn mark_revoked(&self, current: &Snapshot) {
        let mut revoked = snapshot_at(&self.client, current, current.revision);
        revoked.revoked = true;
        revoked.fresh_until = i64::MIN;
        self.current.store(Arc::new(revoked));
    }

    /// A header value for `token` in the endpoints' dialect, marked sensitive.
    pub(crate) fn header_for(&self, token: &AccessToken) -> Result<http::HeaderValue> {
        let scheme = dialect::authorization_scheme(self.endpoints.dialect());
        let mut value = http::HeaderValue::try_from(format!("{scheme} {}", token.expose_secret())).map_err(|_| {
            Error::MalformedResponse {
                status: 200,
                kind: zoho_oauth_core::MalformedKind::UnexpectedShape,
                excerpt: "the access token holds characters not allowed in a header".to_owned(),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// The failure that holds renewals back at `now`, if any: a final one, or one whose wait has not passed.
fn held_back(gate: &Gate, now: DateTime<Utc>) -> Option<RefreshError> {
    let state = &gate.state;
    let last = state.last_failure.as_ref()?;
    let waiting = match state.retry_at {
        None => true,
        Some(at) => now < at,
    };
    if !waiting {
        return None;
    }
    Some(match &gate.last_error {
        Some(error) => error.clone(),
        None => RefreshError::recorded(last.kind, state.retry_at, last.code.clone()),
    })
}

/// What kind of failure a renewal error is.
///
/// RFC 6749 section 5.2: `invalid_grant` means the grant is dead; other 4xx refusals (a wrong
/// client secret, an empty or unparsable 400 from a server that revoked the token) will be
/// repeated by the server, so they count towards giving up; 408, 429, 5xx, the network and
/// unparsable successes are transient.
fn classify(error: &Error) -> FailureKind {
    match error {
        Error::Server(e) if dialect::grant_is_invalid(&e.error) => FailureKind::GrantInvalid,
        Error::Server(e) if matches!(&e.error, ErrorCode::Other(code) if code == "server_error" || code == "temporarily_unavailable") => {
            FailureKind::Transient
        }
        Error::Server(_) => FailureKind::Rejected,
        Error::RateLimited(_) => FailureKind::RateLimited,
        Error::NoRefreshToken => FailureKind::GrantInvalid,
        Error::MalformedResponse { status, .. } if (400..500).contains(status) && *status != 408 && *status != 429 => {
            FailureKind::Rejected
        }
        _ => FailureKind::Transient,
    }
}

/// A snapshot of `tokens`. When it is known when they were obtained, the margin is bounded by
/// their lifetime; tokens of unknown age (restored from elsewhere) get the configured margin, and
/// the floor between renewals keeps a short-lived one from being renewed on every call.
fn snapshot(client: &Client, tokens: TokenSet, revision: u64, obtained_at: Option<DateTime<Utc>>) -> Snapshot {
    let policy = &client.config.refresh;
    let margin = match obtained_at {
        Some(at) => policy.effective_margin(tokens.expires_at().signed_duration_since(at)),
        None => policy.margin,
    };
    let fresh_until = tokens.expires_at().checked_sub_signed(margin).unwrap_or(DateTime::<Utc>::MIN_UTC).timestamp();
    Snapshot { tokens, fresh_until, revision, obtained_at, revoked: false }
}

fn snapshot_at(client: &Client, current: &Snapshot, revision: u64) -> Snapshot {
    let mut same = snapshot(client, current.tokens.clone(), revision, current.obtained_at);
    same.revoked = current.revoked;
    if current.revoked {
        same.fresh_until = i64::MIN;
    }
    same
}

/// Milliseconds since `started`, for trace fields.
fn millis_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
