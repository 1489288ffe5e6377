//! `token`, `status`, `revoke` and `logout`, and what the commands share.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use zoho_oauth::{
    ClientConfig, DataCenter, Error as FlowError, FileStore, Flow, HttpClient, ReqwestClient, StoreKey, TokenSet,
    TokenStore,
};

use crate::cli::{StatusArgs, TokenArgs};
use crate::config::{Origin, Settings, environment_name};
use crate::error::{CliError, During, Exit, Result, profile_flag};
use crate::format;
use crate::lockout::{Lockouts, lockout};
use crate::log::{debug, info};

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

/// Opens the token file, creating its directory; refuses a corrupt or group/world-readable file.
pub async fn open_store(path: &Path) -> Result<Arc<FileStore>> {
    debug!("opening the token file {}", path.display());
    Ok(Arc::new(FileStore::open(path).await?))
}

/// Opens the token file if it exists; `None` means nothing was ever saved.
async fn open_existing(path: &Path) -> Result<Option<Arc<FileStore>>> {
    if path.exists() { open_store(path).await.map(Some) } else { Ok(None) }
}

/// The keys saved for `profile`.
async fn profile_keys(store: &FileStore, profile: &str) -> Result<Vec<StoreKey>> {
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
    rate_limited_until: Option<DateTime<Utc>>,
}

impl Summary {
    /// The summary of `tokens`, saved under `key`.
    pub fn new(key: &StoreKey, tokens: &TokenSet, rate_limited_until: Option<DateTime<Utc>>) -> Self {
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
            rate_limited_until,
        }
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
        let refresh = if self.refresh_token {
            "held (renewed automatically by `zoho-oauth token`)"
        } else {
            "none (run `zoho-oauth login` when the access token expires)"
        };
        let scopes = if self.scopes.is_empty() { "(not reported)".to_owned() } else { self.scopes.join(" ") };
        let mut text = format!(
            "  data center:    {dc} ({})\n  environment:    {}\n  API domain:     {}\n  scopes:         {scopes}\n  \
             access token:   {expiry}\n  refresh token:  {refresh}\n",
            self.accounts_server,
            self.environment,
            self.api_domain.as_deref().unwrap_or("(not reported)"),
        );
        if let Some(until) = self.rate_limited_until {
            text.push_str(&format!(
                "  rate limited:   until {} ({})\n",
                format::time(until),
                format::relative(until, now)
            ));
        }
        text
    }

    /// A JSON object for scripts.
    pub fn json(&self) -> serde_json::Value {
        let now = Utc::now();
        json!({
            "profile": self.profile,
            "client_id": self.client_id,
            "data_center": self.data_center.map(DataCenter::location),
            "accounts_server": self.accounts_server,
            "environment": self.environment,
            "api_domain": self.api_domain,
            "scopes": self.scopes,
            "expires_at": self.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "expires_in": (self.expires_at - now).num_seconds().max(0),
            "expired": self.expires_at <= now,
            "refresh_token": self.refresh_token,
            "rate_limited_until": self.rate_limited_until.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
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

/// Runs `token`.
pub async fn token(settings: &Settings, args: &TokenArgs) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let client_id = settings.client_id()?;
    let store_path = settings.store_path()?;
    let store = open_existing(store_path).await?.ok_or_else(|| CliError::not_logged_in(profile))?;
    let endpoints = settings.endpoints()?;
    let margin = settings.refresh_margin.value;
    let http = http_client()?;
    let during = During::Refresh { profile };

    // Without the secret first: a fresh token needs none, so cron jobs need no secret most of the time.
    let config = ClientConfig::new(client_id, endpoints.clone()).refresh_margin(margin);
    let saved = Flow::new(config, http.clone())
        .with_store(store.clone(), profile)
        .restore_from_store()
        .await
        .map_err(|e| untrusted_saved(e, profile, during))?
        .ok_or_else(|| CliError::not_logged_in_with(profile, client_id, environment_name(settings.environment())))?
        .tokens();
    let key = StoreKey::new(client_id, profile, saved.accounts_server(), settings.environment());
    let now = Utc::now();

    let tokens = if saved.is_fresh(now, margin) {
        info!("the saved access token is valid until {}", format::time(saved.expires_at()));
        saved
    } else {
        let lockouts = Lockouts::beside(store_path);
        if let Some(until) = lockouts.until(&key, now) {
            if !saved.is_fresh(now, chrono::Duration::zero()) {
                return Err(CliError::rate_limited(until, now));
            }
            info!("rate limited until {}; the saved access token still works", format::time(until));
            saved
        } else {
            info!("the saved access token expires {}; renewing it", format::relative(saved.expires_at(), now));
            renew(settings, &key, saved, &lockouts, http).await?
        }
    };

    let access = tokens.access_token().expose_secret();
    if args.json {
        let now = Utc::now();
        let value = json!({
            "access_token": access,
            "token_type": "Zoho-oauthtoken",
            "expires_at": tokens.expires_at().to_rfc3339_opts(SecondsFormat::Secs, true),
            "expires_in": (tokens.expires_at() - now).num_seconds().max(0),
            "api_domain": tokens.api_domain().map(|u| u.as_str().trim_end_matches('/').to_owned()),
            "accounts_server": key.accounts_server(),
            "profile": profile,
        });
        stdout(&format!("{value}\n"))
    } else {
        stdout(&format!("{access}\n"))
    }
}

/// Renews `saved` through the token file's refresh lock, so that processes sharing the file make one
/// refresh between them. A token that still works is kept when renewal fails; a rate-limit answer
/// is remembered so that later runs do not ask again during the lock-out.
async fn renew(
    settings: &Settings,
    key: &StoreKey,
    saved: TokenSet,
    lockouts: &Lockouts,
    http: Arc<dyn HttpClient>,
) -> Result<TokenSet> {
    let profile = key.user();
    let store = open_store(settings.store_path()?).await?;
    let config = ClientConfig::new(key.client_id(), settings.endpoints()?)
        .client_secret(settings.client_secret()?)
        .refresh_margin(settings.refresh_margin.value);
    // The flow is handed the tokens as already expired, so that a failed renewal comes back as an
    // error (the flow would otherwise serve a token that is only within the margin, and say nothing).
    // Under the refresh lock the flow still adopts a newer token that another process saved.
    let now = Utc::now();
    let expired = TokenSet::new(
        saved.access_token().clone(),
        saved.refresh_token().cloned(),
        saved.expires_at().min(now),
        saved.api_domain().cloned(),
        saved.accounts_server(),
        saved.scopes().clone(),
    );
    let session = Flow::new(config, http)
        .with_store(store, profile)
        .restore(expired)
        .map_err(|e| untrusted_saved(e, profile, During::Refresh { profile }))?;
    match session.access_token().await {
        Ok(_) => {
            let fresh = session.tokens();
            info!("the access token is valid until {}", format::time(fresh.expires_at()));
            Ok(fresh)
        }
        Err(error) => {
            let still_works = saved.is_fresh(Utc::now(), chrono::Duration::zero());
            let failure = match error {
                error if error.is_rate_limited() => {
                    let until = error.retry_at().unwrap_or_else(|| Utc::now() + lockout());
                    lockouts.record(key, until);
                    CliError::rate_limited(until, Utc::now())
                }
                other => CliError::from_flow(&other, During::Refresh { profile }),
            };
            // A token that still works is worth more to a script than an error, unless a login is needed.
            if still_works && matches!(failure.exit, Exit::RateLimited | Exit::Network) {
                info!("{failure}; the saved access token still works until {}", format::time(saved.expires_at()));
                Ok(saved)
            } else {
                Err(failure)
            }
        }
    }
}

/// Runs `status`.
pub async fn status(settings: &Settings, args: &StatusArgs) -> Result<()> {
    let store_path = settings.store_path()?;
    // Every profile, unless one was named.
    let only = (settings.profile.origin != Origin::Default).then_some(settings.profile.value.as_str());
    let mut summaries = Vec::new();
    if let Some(store) = open_existing(store_path).await? {
        let lockouts = Lockouts::beside(store_path);
        let now = Utc::now();
        for key in store.keys().await? {
            if only.is_some_and(|profile| key.user() != profile) {
                continue;
            }
            if let Some(tokens) = store.load(&key).await?.map(zoho_oauth::Record::into_tokens) {
                summaries.push(Summary::new(&key, &tokens, lockouts.until(&key, now)));
            }
        }
    }
    if summaries.is_empty() {
        return Err(match only {
            Some(profile) => CliError::not_logged_in(profile),
            None => CliError::new(
                Exit::NeedsLogin,
                format!("no saved tokens in {}; run `zoho-oauth login` first", store_path.display()),
            ),
        });
    }
    if args.json {
        let list: Vec<_> = summaries.iter().map(Summary::json).collect();
        return stdout(&format!("{}\n", serde_json::Value::Array(list)));
    }
    let mut text = String::new();
    for summary in &summaries {
        text.push_str(&format!("profile {} (client {})\n", summary.profile, summary.client_id));
        text.push_str(&summary.human());
        text.push('\n');
    }
    text.push_str(&format!("token file: {}\n", store_path.display()));
    stdout(&text)
}

/// Runs `revoke`: every saved grant of the profile is revoked at its accounts server, then deleted here.
pub async fn revoke(settings: &Settings) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let store_path = settings.store_path()?;
    let Some(store) = open_existing(store_path).await? else {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to revoke.\n"));
    };
    let keys = profile_keys(&store, profile).await?;
    if keys.is_empty() {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to revoke.\n"));
    }
    let endpoints = settings.endpoints()?;
    let http = http_client()?;
    let lockouts = Lockouts::beside(store_path);
    let mut text = String::new();
    for key in keys {
        let Some(tokens) = store.load(&key).await?.map(zoho_oauth::Record::into_tokens) else { continue };
        let config = ClientConfig::new(key.client_id(), endpoints.clone().with_environment(key.environment()));
        let session = Flow::new(config, http.clone())
            .with_store(store.clone(), profile)
            .restore(tokens)
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
        lockouts.clear(|k| *k == key);
        text.push_str(&format!(
            "Revoked the grant of profile {profile:?} (client {}) at {} and deleted its tokens from {}.\n",
            key.client_id(),
            key.accounts_server(),
            store_path.display()
        ));
    }
    stdout(&text)
}

/// Runs `logout`: the profile's tokens are deleted here; Zoho keeps the grant.
pub async fn logout(settings: &Settings) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let store_path = settings.store_path()?;
    let Some(store) = open_existing(store_path).await? else {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to delete.\n"));
    };
    let keys = profile_keys(&store, profile).await?;
    if keys.is_empty() {
        return stdout(&format!("No saved tokens for profile {profile:?}; nothing to delete.\n"));
    }
    for key in &keys {
        store.delete(key).await?;
        info!("deleted the tokens from {}", key.accounts_server());
    }
    Lockouts::beside(store_path).clear(|k| k.user() == profile);
    stdout(&format!(
        "Deleted the tokens of profile {profile:?} from {}.\nThe grant stays valid at Zoho until revoked: \
         `zoho-oauth revoke` ends it there too (run it before logout next time).\n",
        store_path.display()
    ))
}
