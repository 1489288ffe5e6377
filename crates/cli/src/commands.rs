//! `token`, `status`, `revoke` and `logout`, and what the commands share.

use std::io::Write as _;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use zoho_oauth::{
    ClientConfig, DataCenter, Error as FlowError, FailureKind, Flow, HttpClient, RefreshState, Renewal, ReqwestClient,
    StoreKey, TokenSet, TokenStore,
};

use crate::cli::{LogoutArgs, StatusArgs, TokenArgs};
use crate::config::{Origin, Settings, environment_name};
use crate::error::{CliError, During, Exit, Result};
use crate::format;
use crate::log::info;
use crate::profile::profile_flag;
use crate::store;

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(Exit::Failure, format!("cannot write to stdout: {error}")))
        }
        _ => Ok(()),
    }
}

/// The HTTP client every command uses.
pub fn http_client() -> Result<Arc<dyn HttpClient>> {
    let client = ReqwestClient::new()
        .map_err(|error| CliError::new(Exit::Failure, format!("cannot set up the HTTP client: {error}")))?;
    Ok(Arc::new(client))
}

/// The keys saved for `profile`.
async fn profile_keys(store: &dyn TokenStore, profile: &str) -> Result<Vec<StoreKey>> {
    Ok(store.keys().await?.into_iter().filter(|k| k.user() == profile).collect())
}

/// What `login` and `status` show about saved tokens; never a secret.
pub struct Summary {
    profile: String,
    client_id: String,
    data_center: Option<DataCenter>,
    accounts_server: String,
    environment: &'static str,
    api_domain: Option<String>,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
    refresh_token: bool,
    /// For a client-credentials grant, which has no refresh token: `Some` with the org (`soid`)
    /// the token is asked for again, if one was given.
    client_credentials: Option<Option<String>>,
    /// The renewal state every process sharing the store respects (backoff, lock-out).
    refresh_state: RefreshState,
}

impl Summary {
    /// The summary of `tokens`, saved under `key` with `refresh_state`.
    pub fn new(key: &StoreKey, tokens: &TokenSet, refresh_state: RefreshState) -> Self {
        Self {
            profile: key.user().to_owned(),
            client_id: key.client_id().to_owned(),
            data_center: DataCenter::from_accounts_server(key.accounts_server()),
            accounts_server: key.accounts_server().to_owned(),
            environment: environment_name(key.environment()),
            api_domain: tokens.api_domain().map(|u| u.as_str().trim_end_matches('/').to_owned()),
            scopes: tokens.scopes().iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: tokens.expires_at(),
            refresh_token: tokens.refresh_token().is_some(),
            client_credentials: match tokens.renewal() {
                Renewal::ClientCredentials { soid } => Some(soid.clone()),
                _ => None,
            },
            refresh_state,
        }
    }

    /// When Zoho's rate-limit lock-out ends, if one is running at `now`.
    fn rate_limited_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let state = &self.refresh_state;
        let limited = state.last_failure.as_ref().is_some_and(|f| f.kind == FailureKind::RateLimited);
        state.retry_at.filter(|until| limited && *until > now)
    }

    /// Indented lines for people.
    pub fn human(&self) -> String {
        let now = Utc::now();
        let dc = self.data_center.map_or("custom", DataCenter::location);
        let expiry = if self.expires_at > now {
            format!("valid until {} ({})", format::time(self.expires_at), format::relative(self.expires_at, now))
        } else {
            format!("expired at {} ({})", format::time(self.expires_at), format::relative(self.expires_at, now))
        };
        let refresh = match (&self.client_credentials, self.refresh_token) {
            (Some(soid), _) => {
                let org = soid.as_deref().map(|soid| format!(" for {soid}")).unwrap_or_default();
                format!(
                    "none (client credentials: `zoho-oauth token` asks for a new access token{org} when this one \
                     expires)"
                )
            }
            (None, true) => "held (renewed automatically by `zoho-oauth token`)".to_owned(),
            (None, false) => "none (run `zoho-oauth login` when the access token expires)".to_owned(),
        };
        let scopes = if self.scopes.is_empty() { "(not reported)".to_owned() } else { self.scopes.join(" ") };
        let mut text = format!(
            "  data center:    {dc} ({})\n  environment:    {}\n  API domain:     {}\n  scopes:         {scopes}\n  \
             access token:   {expiry}\n  refresh token:  {refresh}\n",
            self.accounts_server,
            self.environment,
            self.api_domain.as_deref().unwrap_or("(not reported)"),
        );
        if let Some(until) = self.rate_limited_until(now) {
            text.push_str(&format!(
                "  rate limited:   until {} ({})\n",
                format::time(until),
                format::relative(until, now)
            ));
        } else if let Some(failure) = &self.refresh_state.last_failure {
            let code = failure.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            let next = match self.refresh_state.retry_at {
                Some(at) if at > now => format!("; next attempt after {}", format::time(at)),
                Some(_) => "; the next `zoho-oauth token` tries again".to_owned(),
                None => "; no new attempt until someone acts".to_owned(),
            };
            text.push_str(&format!(
                "  last renewal:   failed{code} at {}, {} in a row{next}\n",
                format::time(failure.at),
                self.refresh_state.failures
            ));
        }
        text
    }

    /// A JSON object for scripts.
    pub fn json(&self) -> serde_json::Value {
        let now = Utc::now();
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let state = &self.refresh_state;
        json!({
            "profile": self.profile,
            "client_id": self.client_id,
            "data_center": self.data_center.map(DataCenter::location),
            "accounts_server": self.accounts_server,
            "environment": self.environment,
            "api_domain": self.api_domain,
            "scopes": self.scopes,
            "expires_at": time(self.expires_at),
            "expires_in": (self.expires_at - now).num_seconds().max(0),
            "expired": self.expires_at <= now,
            "refresh_token": self.refresh_token,
            "renewed_by": match (&self.client_credentials, self.refresh_token) {
                (Some(_), _) => Some("client_credentials"),
                (None, true) => Some("refresh_token"),
                (None, false) => None,
            },
            "soid": self.client_credentials.clone().flatten(),
            "rate_limited_until": self.rate_limited_until(now).map(time),
            "renewal": {
                "failures": state.failures,
                "retry_at": state.retry_at.map(time),
                "last_failure": state.last_failure.as_ref().map(|f| json!({
                    "kind": f.kind,
                    "code": f.code,
                    "at": time(f.at),
                })),
                "renewed_at": state.renewed_at.map(time),
            },
        })
    }
}

/// The error for saved tokens whose accounts server the current settings do not trust.
fn untrusted_saved(error: FlowError, profile: &str, during: During<'_>) -> CliError {
    match error {
        FlowError::UntrustedAccountsServer { .. } => CliError::config(format!(
            "the saved tokens of profile {profile:?} come from an accounts server the current settings do not \
             trust; use the same --dc, --accounts-url and --trust-accounts-url as at login"
        )),
        other => CliError::from_flow(&other, during),
    }
}

/// The client configuration for saved tokens: the secret is loaded only if a request needs it.
pub fn stored_config(settings: &Settings, client_id: &str) -> Result<ClientConfig> {
    let secret = settings.secret().clone();
    Ok(ClientConfig::new(client_id, settings.endpoints()?)
        .client_secret_with(move || secret.load().map_err(Into::into))
        .refresh_margin(settings.refresh_margin.value))
}

/// Runs `token`.
///
/// One flow, restored from the store: the library renews the token when it is due (under the
/// store's refresh lock, so processes sharing the store make one refresh between them, and
/// within the backoff and rate-limit lock-out recorded in the store entry), and the client
/// secret is loaded only for that renewal.
pub async fn token(settings: &Settings, args: &TokenArgs) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let client_id = settings.client_id()?;
    let during = During::Refresh { profile };
    let store = store::open(settings, false).await?.ok_or_else(|| CliError::not_logged_in(profile))?;
    let session = Flow::new(stored_config(settings, client_id)?, http_client()?)
        .with_store(store, profile)
        .restore_from_store()
        .await
        .map_err(|e| untrusted_saved(e, profile, during))?
        .ok_or_else(|| CliError::not_logged_in_with(profile, client_id, environment_name(settings.environment())))?;
    let saved = session.tokens();
    store::check_not_sealed(settings, &saved)?;

    let now = Utc::now();
    if !saved.is_fresh(now, settings.refresh_margin.value) {
        info!("the saved access token {}; renewing it", format::expiry(saved.expires_at(), now));
    }
    match session.renew_if_due().await {
        Ok(true) => info!("the access token is valid until {}", format::time(session.tokens().expires_at())),
        Ok(false) => info!("the saved access token is valid until {}", format::time(saved.expires_at())),
        Err(error) => {
            let failure = CliError::from_flow(&error, during);
            let held = session.tokens();
            if !still_serves(&error) || held.expires_at() <= Utc::now() {
                return Err(failure);
            }
            info!("{failure}; the saved access token still works until {}", format::time(held.expires_at()));
        }
    }

    let tokens = session.tokens();
    let access = tokens.access_token().expose_secret();
    if args.json {
        let now = Utc::now();
        let value = json!({
            "access_token": access,
            "token_type": "Zoho-oauthtoken",
            "expires_at": tokens.expires_at().to_rfc3339_opts(SecondsFormat::Secs, true),
            "expires_in": (tokens.expires_at() - now).num_seconds().max(0),
            "api_domain": tokens.api_domain().map(|u| u.as_str().trim_end_matches('/').to_owned()),
            "accounts_server": session.accounts_server(),
            "profile": profile,
        });
        stdout(&format!("{value}\n"))
    } else {
        stdout(&format!("{access}\n"))
    }
}

/// Whether a failed renewal still lets `token` print the saved token while it has not expired:
/// only when the failure passes by itself and the next run tries again (the network, a 5xx or
/// unreadable answer, Zoho's rate limit, or the backoff after one of these). Not when a person
/// must act: a dead grant (Zoho's revocation also ends its access tokens, so the saved one is
/// dead too), a client id or secret Zoho refuses, a secret that cannot be loaded, or a store
/// that fails; hiding those until the token expires would only move the failure to a worse time.
fn still_serves(error: &FlowError) -> bool {
    let FlowError::Refresh(failure) = error else { return false };
    let local = matches!(error.cause(), FlowError::ClientSecret(_) | FlowError::Store(_) | FlowError::NotSaved { .. });
    !local && !error.needs_attention() && matches!(failure.kind(), FailureKind::Transient | FailureKind::RateLimited)
}

/// Runs `status`.
///
/// `--json` always prints a list, empty when nothing is saved, so that scripts parse one shape.
pub async fn status(settings: &Settings, args: &StatusArgs) -> Result<()> {
    let location = settings.store()?;
    // Every profile, unless one was named.
    let only = (settings.profile.origin != Origin::Default).then_some(settings.profile.value.as_str());
    let mut summaries = Vec::new();
    if let Some(store) = store::open(settings, false).await? {
        for key in store.keys().await? {
            if only.is_some_and(|profile| key.user() != profile) {
                continue;
            }
            if let Some(record) = store.load(&key).await? {
                store::check_not_sealed(settings, record.tokens())?;
                summaries.push(Summary::new(&key, record.tokens(), record.refresh_state().clone()));
            }
        }
    }
    if args.json {
        let list: Vec<_> = summaries.iter().map(Summary::json).collect();
        return stdout(&format!("{}\n", serde_json::Value::Array(list)));
    }
    if summaries.is_empty() {
        return Err(match only {
            Some(profile) => CliError::not_logged_in(profile),
            None => {
                CliError::new(Exit::NeedsLogin, format!("no saved tokens in {location}; run `zoho-oauth login` first"))
            }
        });
    }
    let mut text = String::new();
    for summary in &summaries {
        text.push_str(&format!("profile {} (client {})\n", summary.profile, summary.client_id));
        text.push_str(&summary.human());
        text.push('\n');
    }
    text.push_str(&format!("token store: {location}\n"));
    stdout(&text)
}

/// Runs `revoke`: every saved grant of the profile is revoked at its accounts server, then deleted here.
pub async fn revoke(settings: &Settings) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let location = settings.store()?;
    let Some(store) = store::open(settings, false).await? else {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to revoke.\n"));
    };
    let keys = profile_keys(&*store, profile).await?;
    if keys.is_empty() {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to revoke.\n"));
    }
    let endpoints = settings.endpoints()?;
    let http = http_client()?;
    let mut text = String::new();
    for key in keys {
        let Some(record) = store.load(&key).await? else { continue };
        store::check_not_sealed(settings, record.tokens())?;
        let config = ClientConfig::new(key.client_id(), endpoints.clone().with_environment(key.environment()));
        let session = Flow::new(config, http.clone())
            .with_store(store.clone(), profile)
            .restore(record.into_tokens())
            .map_err(|e| untrusted_saved(e, profile, During::Revoke { profile }))?;
        info!("revoking the grant at {}", key.accounts_server());
        if let Err(failed) = session.revoke().await {
            let error = CliError::from_flow(&failed.error, During::Revoke { profile });
            return Err(CliError::new(
                error.exit,
                format!(
                    "{error}; the tokens were kept (run `zoho-oauth logout{}` to delete them here only)",
                    profile_flag(profile)
                ),
            ));
        }
        text.push_str(&format!(
            "Revoked the grant of profile {profile:?} (client {}) at {} and deleted its tokens from {location}.\n",
            key.client_id(),
            key.accounts_server(),
        ));
    }
    stdout(&text)
}

/// Runs `logout`: the profile's tokens are deleted here; with `--revoke`, the grant is revoked at
/// Zoho first, and nothing is deleted if that fails.
pub async fn logout(settings: &Settings, args: &LogoutArgs) -> Result<()> {
    if args.revoke {
        return revoke(settings).await;
    }
    let profile = settings.profile.value.as_str();
    let location = settings.store()?;
    let Some(store) = store::open(settings, false).await? else {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to delete.\n"));
    };
    let keys = profile_keys(&*store, profile).await?;
    if keys.is_empty() {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to delete.\n"));
    }
    for key in &keys {
        store.delete(key).await?;
        info!("deleted the tokens from {}", key.accounts_server());
    }
    stdout(&format!(
        "Deleted the tokens of profile {profile:?} from {location}.\nThe grant stays valid at Zoho until revoked: \
         `zoho-oauth logout --revoke` ends it there too.\n",
    ))
}
