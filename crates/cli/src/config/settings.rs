//! Every setting a command may need, resolved in order of precedence.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use zoho_oauth::{DataCenter, Endpoints, Environment};

use super::env;
use super::file::FileConfig;
use super::login::LoginSettings;
use super::precedence::{Origin, Setting, from_clap, invalid, non_empty};
use super::secret::SecretSource;
use super::store::{StoreLocation, is_postgres_url};
use crate::cli::{Global, LoginArgs};
use crate::error::{CliError, Result};
use crate::log::{debug, info};
use crate::profile::{DEFAULT_PROFILE, check_profile_name};

/// Every setting a command may need, resolved.
pub struct Settings {
    /// The profile.
    pub profile: Setting<String>,
    client_id: Option<Setting<String>>,
    /// Where the client secret comes from; only commands that send a request load it.
    secret: SecretSource,
    dc: Setting<DataCenter>,
    environment: Setting<Environment>,
    accounts_url: Option<Setting<String>>,
    trust_accounts_urls: Option<Setting<Vec<String>>>,
    /// How long before expiry an access token is renewed.
    pub refresh_margin: Setting<chrono::Duration>,
    store: std::result::Result<Setting<StoreLocation>, String>,
    encryption_key_file: Option<Setting<PathBuf>>,
    config_path: Option<PathBuf>,
    /// `login`'s settings, when the command is `login`.
    pub login: Option<LoginSettings>,
}

impl Settings {
    /// Resolves every setting from the command line, the environment and the config file.
    ///
    /// `matches` are the top-level matches; `login` is `login`'s arguments and matches.
    pub fn resolve(global: &Global, matches: &ArgMatches, login: Option<(&LoginArgs, &ArgMatches)>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "zoho-oauth");

        let profile = from_clap(matches, "profile", non_empty(global.profile.clone()))
            .unwrap_or(Setting::new(DEFAULT_PROFILE.to_owned(), Origin::Default));
        check_profile_name(&profile.value).map_err(CliError::usage)?;

        let explicit_config = from_clap(matches, "config", global.config.clone());
        let config_path = explicit_config
            .as_ref()
            .map(|s| s.value.clone())
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().join("config.toml")));
        let mut file = match &config_path {
            Some(path) => FileConfig::load(path, explicit_config.is_some(), &profile.value)?,
            None => None,
        };
        let file_path = file.as_ref().map(|f| f.path.clone());
        let from_file = |value: Option<String>| non_empty(value).map(|value| Setting::new(value, Origin::File));

        let client_id = from_clap(matches, "client_id", non_empty(global.client_id.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.client_id.take()))));

        let secret = env::client_secret()?.map(|value| Setting::new(value, Origin::Env)).or_else(|| {
            file.as_mut()
                .and_then(|f| f.get(|p| p.client_secret.take()))
                .filter(|s| !s.expose_secret().is_empty())
                .map(|value| Setting::new(value, Origin::File))
        });
        let secret = SecretSource::new(secret, file_path.clone(), client_id.as_ref().map(|s| s.value.clone()));

        let dc = from_clap(matches, "dc", non_empty(global.dc.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.dc.take()))))
            .map(|s| {
                s.value.parse::<DataCenter>().map(|value| Setting::new(value, s.origin)).map_err(|error| {
                    invalid(s.origin, file_path.as_deref(), format!("invalid data center {:?}: {error}", s.value))
                })
            })
            .transpose()?
            .unwrap_or(Setting::new(DataCenter::Us, Origin::Default));

        let environment = from_clap(matches, "environment", non_empty(global.environment.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.environment.take()))))
            .map(|s| {
                parse_environment(&s.value).map(|value| Setting::new(value, s.origin)).ok_or_else(|| {
                    invalid(
                        s.origin,
                        file_path.as_deref(),
                        format!("invalid environment {:?}: use production, sandbox or developer", s.value),
                    )
                })
            })
            .transpose()?
            .unwrap_or(Setting::new(Environment::Production, Origin::Default));

        let accounts_url = from_clap(matches, "accounts_url", non_empty(global.accounts_url.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.accounts_url.take()))));

        let trust: Vec<String> = global.trust_accounts_urls.iter().filter(|u| !u.trim().is_empty()).cloned().collect();
        let trust_accounts_urls =
            from_clap(matches, "trust_accounts_urls", Some(trust)).filter(|s| !s.value.is_empty()).or_else(|| {
                file.as_mut()
                    .and_then(|f| f.get(|p| p.trust_accounts_urls.take()))
                    .map(|value| Setting::new(value, Origin::File))
            });

        let refresh_margin = from_clap(matches, "refresh_margin", global.refresh_margin)
            .or_else(|| {
                file.as_mut()
                    .and_then(|f| f.get(|p| p.refresh_margin.take()))
                    .map(|value| Setting::new(value, Origin::File))
            })
            .map(|s| Setting::new(chrono::Duration::seconds(i64::from(s.value)), s.origin))
            .unwrap_or(Setting::new(zoho_oauth::DEFAULT_REFRESH_MARGIN, Origin::Default));

        // A flag names the store outright; of the two variables the URL one is the more specific.
        let store_url = env::store_url()?;
        if let Some(url) = &store_url {
            if !is_postgres_url(url) {
                return Err(CliError::usage(format!(
                    "{} must be a postgres:// or postgresql:// URL; name a token file with --store or ZOHO_OAUTH_STORE",
                    env::STORE_URL_VAR
                )));
            }
        }
        let store = match from_clap(matches, "store", global.store.clone()) {
            Some(flag) if flag.origin == Origin::Flag => {
                Ok(Setting::new(StoreLocation::parse(flag.value), flag.origin))
            }
            other => match (store_url, other) {
                (Some(url), _) => Ok(Setting::new(StoreLocation::Postgres(url), Origin::Env)),
                (None, Some(var)) => Ok(Setting::new(StoreLocation::parse(var.value), var.origin)),
                (None, None) => match file.as_mut().and_then(|f| f.top_path(|p| p.token_file.take())) {
                    Some(path) => Ok(Setting::new(StoreLocation::File(path), Origin::File)),
                    None => dirs
                        .as_ref()
                        .map(|d| Setting::new(StoreLocation::File(d.data_dir().join("tokens.json")), Origin::Default))
                        .ok_or_else(|| "no home directory was found for the token file; pass --store FILE".to_owned()),
                },
            },
        };

        let encryption_key_file = from_clap(matches, "encryption_key_file", global.encryption_key_file.clone())
            .filter(|s| !s.value.as_os_str().is_empty())
            .or_else(|| {
                file.as_mut()
                    .and_then(|f| f.top_path(|p| p.encryption_key_file.take()))
                    .map(|path| Setting::new(path, Origin::File))
            });

        let login = match login {
            Some((args, login_matches)) => Some(LoginSettings::resolve(args, login_matches, file.as_mut())?),
            None => None,
        };

        let settings = Self {
            profile,
            client_id,
            secret,
            dc,
            environment,
            accounts_url,
            trust_accounts_urls,
            refresh_margin,
            store,
            encryption_key_file,
            config_path: file_path,
            login,
        };
        settings.log();
        Ok(settings)
    }

    /// Logs where each setting came from (`-vv`); the secret only as "set" or "not set".
    fn log(&self) {
        debug!("profile {} ({})", self.profile.value, self.profile.origin);
        match &self.client_id {
            Some(id) => debug!("client id {} ({})", id.value, id.origin),
            None => debug!("client id not set"),
        }
        debug!("{}", self.secret.describe());
        debug!("data center {} ({})", self.dc.value, self.dc.origin);
        debug!("environment {} ({})", environment_name(self.environment.value), self.environment.origin);
        if let Some(url) = &self.accounts_url {
            debug!("accounts server {} ({})", url.value, url.origin);
        }
        if let Some(trust) = &self.trust_accounts_urls {
            debug!("also trusted: {} ({})", trust.value.join(", "), trust.origin);
        }
        debug!("refresh margin {}s ({})", self.refresh_margin.value.num_seconds(), self.refresh_margin.origin);
        if let Ok(store) = &self.store {
            debug!("token store {} ({})", store.value, store.origin);
        }
        if let Some(key) = &self.encryption_key_file {
            debug!("encryption key file {} ({})", key.value.display(), key.origin);
        }
        if let Some(login) = &self.login {
            debug!("scopes {} ({})", login.scopes.value.join(","), login.scopes.origin);
            debug!("redirect URI {} ({})", login.redirect_uri.value, login.redirect_uri.origin);
            if let Some(soid) = &login.soid {
                debug!("soid {} ({})", soid.value, soid.origin);
            }
        }
    }

    /// The client id, or an error saying how to set it.
    pub fn client_id(&self) -> Result<&str> {
        self.client_id.as_ref().map(|s| s.value.as_str()).ok_or_else(|| {
            CliError::config(
                "no client id: set ZOHO_CLIENT_ID, pass --client-id, or put client_id in the config file \
                 (create one for your client in Zoho's API console)",
            )
        })
    }

    /// Where the client secret comes from, to be loaded when it is needed.
    pub fn secret(&self) -> &SecretSource {
        &self.secret
    }

    /// The endpoints: the data center's, or a custom accounts server and the others it may hand over to.
    pub fn endpoints(&self) -> Result<Endpoints> {
        let environment = self.environment.value;
        let Some(url) = &self.accounts_url else {
            if self.trust_accounts_urls.is_some() {
                info!("ignoring the trusted accounts servers: they apply to --accounts-url only");
            }
            return Ok(Endpoints::zoho(self.dc.value, environment));
        };
        let trust = self.trust_accounts_urls.as_ref();
        let entries: Vec<(Option<&str>, &str)> =
            trust.map(|t| t.value.iter().map(|entry| located(entry)).collect()).unwrap_or_default();
        for (_, other) in &entries {
            if Endpoints::zoho_custom(other, None, &[]).is_err() {
                let origin = trust.map_or(Origin::Flag, |t| t.origin);
                return Err(invalid(origin, self.config_path.as_deref(), bad_accounts_url(other)));
            }
        }
        let others: Vec<&str> = entries.iter().map(|(_, url)| *url).collect();
        let mut endpoints = Endpoints::zoho_custom(&url.value, None, &others)
            .map_err(|_| invalid(url.origin, self.config_path.as_deref(), bad_accounts_url(&url.value)))?;
        // A location names the server in the device flow's `other_dc` answer, which gives the
        // user's data center by its location code only.
        for (location, other) in entries {
            if let Some(location) = location {
                endpoints = endpoints.with_location(location, other).map_err(|_| {
                    let origin = trust.map_or(Origin::Flag, |t| t.origin);
                    invalid(origin, self.config_path.as_deref(), bad_accounts_url(other))
                })?;
            }
        }
        Ok(endpoints.with_environment(environment))
    }

    /// The environment the tokens belong to.
    pub fn environment(&self) -> Environment {
        self.environment.value
    }

    /// Where the tokens are kept.
    pub fn store(&self) -> Result<&StoreLocation> {
        self.store.as_ref().map(|s| &s.value).map_err(|message| CliError::config(message.clone()))
    }

    /// The file holding the key the store is encrypted with, if it is.
    pub fn encryption_key_file(&self) -> Option<&Path> {
        self.encryption_key_file.as_ref().map(|s| s.value.as_path())
    }
}

/// A trusted accounts server as `URL` or `LOCATION=URL` (`eu=http://127.0.0.1:8082`): the location
/// code is what Zoho's device flow names a data center by.
fn located(entry: &str) -> (Option<&str>, &str) {
    match entry.split_once('=') {
        Some((location, url)) if !location.is_empty() && !location.contains([':', '/']) => {
            (Some(location.trim()), url.trim())
        }
        _ => (None, entry.trim()),
    }
}

fn bad_accounts_url(url: &str) -> String {
    format!(
        "invalid accounts server {url:?}: give a bare origin such as https://accounts.example.com, \
         or http://127.0.0.1:PORT for a local server (a trusted one may start with its location, as in eu=URL)"
    )
}

fn parse_environment(value: &str) -> Option<Environment> {
    match value.to_ascii_lowercase().as_str() {
        "production" | "prod" => Some(Environment::Production),
        "sandbox" => Some(Environment::Sandbox),
        "developer" | "dev" => Some(Environment::Developer),
        _ => None,
    }
}

/// The name of an environment as the tool prints it.
pub fn environment_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "production",
        Environment::Sandbox => "sandbox",
        Environment::Developer => "developer",
    }
}
