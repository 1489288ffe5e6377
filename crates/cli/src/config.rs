//! Where each setting comes from: flags, then environment variables, then the config file, then defaults.
//!
//! The config file is TOML. Top-level keys apply to every profile; `[profiles.NAME]` tables
//! override them for one profile:
//!
//! ```toml
//! client_id = "1000.ABC"
//! dc = "eu"
//!
//! [profiles.sandbox]
//! environment = "sandbox"
//! ```
//!
//! A file that holds a `client_secret` must be readable by its owner only, like an ssh key.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;
use url::Url;
use zoho_oauth::{ClientSecret, DataCenter, Endpoints, Environment, Scope, Scopes};

use crate::cli::{Global, LoginArgs};
use crate::error::{CliError, Result};
use crate::log::{debug, info};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// The scopes `login` asks for when none are configured.
pub const DEFAULT_SCOPES: [&str; 2] = ["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"];
/// The redirect URI's default host: the IPv4 loopback literal, as RFC 8252 section 7.3 recommends.
pub const DEFAULT_REDIRECT_HOST: &str = "127.0.0.1";
/// The redirect URI's default port.
pub const DEFAULT_REDIRECT_PORT: u16 = 8910;
/// The redirect URI's default path.
pub const DEFAULT_REDIRECT_PATH: &str = "/callback";
/// The environment variable that holds the client secret.
pub const SECRET_VAR: &str = "ZOHO_CLIENT_SECRET";

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A flag on the command line.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File,
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Flag => "command line",
            Origin::Env => "environment",
            Origin::File => "config file",
            Origin::Default => "default",
        })
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

/// One profile's keys in the config file; the top level has the same keys plus `profiles` and `token_file`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProfile {
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    dc: Option<String>,
    environment: Option<String>,
    accounts_url: Option<String>,
    trust_accounts_urls: Option<Vec<String>>,
    scopes: Option<FileScopes>,
    redirect_host: Option<String>,
    redirect_port: Option<u16>,
    redirect_path: Option<String>,
    refresh_margin: Option<u32>,
    /// Top level only.
    token_file: Option<PathBuf>,
    /// Top level only.
    profiles: Option<BTreeMap<String, FileProfile>>,
}

/// Scopes as a list or as one comma- or space-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileScopes {
    List(Vec<String>),
    Text(String),
}

impl FileScopes {
    fn into_vec(self) -> Vec<String> {
        match self {
            FileScopes::List(list) => list,
            FileScopes::Text(text) => text
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The config file, read.
struct FileConfig {
    path: PathBuf,
    top: FileProfile,
    profile: FileProfile,
}

impl FileConfig {
    /// Reads the config file at `path`, keeping the top level and `profile`'s table.
    ///
    /// A missing file is `None` unless `explicit` (named by flag or environment).
    fn load(path: &Path, explicit: bool, profile: &str) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {
                debug!("no config file at {}", path.display());
                return Ok(None);
            }
            Err(error) => {
                return Err(CliError::config(format!("cannot read the config file {}: {error}", path.display())));
            }
        };
        let mut top: FileProfile = toml::from_str(&text).map_err(|error| parse_error(path, &text, &error))?;
        let mut profiles = top.profiles.take().unwrap_or_default();
        for (name, table) in &profiles {
            if table.profiles.is_some() || table.token_file.is_some() {
                return Err(CliError::config(format!(
                    "config file {}: [profiles.{name}] cannot hold `profiles` or `token_file`; move them to the top level",
                    path.display()
                )));
            }
        }
        let holds_secret = top.client_secret.is_some() || profiles.values().any(|p| p.client_secret.is_some());
        if holds_secret {
            check_private(path)?;
        }
        let profile = profiles.remove(profile).unwrap_or_default();
        info!("read the config file {}", path.display());
        Ok(Some(Self { path: path.to_owned(), top, profile }))
    }

    /// A key's value from the profile's table, else from the top level.
    fn get<T>(&mut self, take: impl Fn(&mut FileProfile) -> Option<T>) -> Option<T> {
        take(&mut self.profile).or_else(|| take(&mut self.top))
    }
}

/// A TOML error as one line with its position, never quoting the file (it may hold the secret).
fn parse_error(path: &Path, text: &str, error: &toml::de::Error) -> CliError {
    let position = error
        .span()
        .map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        })
        .unwrap_or_default();
    let message = error.message();
    // Serde's type errors quote the offending value, which could be a mistyped secret.
    let message = if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "a value has the wrong type"
    } else {
        message.lines().next().unwrap_or("invalid TOML")
    };
    CliError::config(format!("config file {}{position}: {message}", path.display()))
}

/// Refuses a file that its group or others can access, as ssh does with a private key.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|error| CliError::config(format!("cannot read the config file {}: {error}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(CliError::config(format!(
            "config file {} holds a client secret but can be read by group or others (mode {:04o}); \
             run `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    Ok(())
}

/// Windows has no mode bits; the file inherits the ACL of the user's profile directory.
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// Every setting a command may need, resolved.
pub struct Settings {
    /// The profile.
    pub profile: Setting<String>,
    client_id: Option<Setting<String>>,
    /// The secret from the environment or the config file; without one, commands that need it prompt.
    secret: Option<Setting<ClientSecret>>,
    dc: Setting<DataCenter>,
    environment: Setting<Environment>,
    accounts_url: Option<Setting<String>>,
    trust_accounts_urls: Option<Setting<Vec<String>>>,
    /// How long before expiry an access token is renewed.
    pub refresh_margin: Setting<chrono::Duration>,
    store: std::result::Result<Setting<PathBuf>, String>,
    config_path: Option<PathBuf>,
    /// `login`'s settings, when the command is `login`.
    pub login: Option<LoginSettings>,
}

/// The settings only `login` uses.
pub struct LoginSettings {
    /// The scopes to ask for.
    pub scopes: Setting<Scopes>,
    /// The redirect URI registered in Zoho's API console, e.g. `http://127.0.0.1:8910/callback`.
    pub redirect_uri: Setting<Url>,
}

/// Where a value given to clap came from, or `None` if it was not given.
fn clap_origin(matches: &ArgMatches, id: &str) -> Option<Origin> {
    match matches.value_source(id)? {
        ValueSource::CommandLine => Some(Origin::Flag),
        ValueSource::EnvVariable => Some(Origin::Env),
        _ => None,
    }
}

/// A clap value with its origin; empty strings count as unset.
fn from_clap<T>(matches: &ArgMatches, id: &str, value: Option<T>) -> Option<Setting<T>> {
    let origin = clap_origin(matches, id)?;
    value.map(|value| Setting { value, origin })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// An invalid value: a usage error when it came from the command line or environment,
/// a configuration error when it came from the config file.
fn invalid(origin: Origin, config_path: Option<&Path>, message: String) -> CliError {
    match (origin, config_path) {
        (Origin::File, Some(path)) => CliError::config(format!("config file {}: {message}", path.display())),
        _ => CliError::usage(message),
    }
}

impl Settings {
    /// Resolves every setting from the command line, the environment and the config file.
    ///
    /// `matches` are the top-level matches; `login` is `login`'s arguments and matches.
    pub fn resolve(global: &Global, matches: &ArgMatches, login: Option<(&LoginArgs, &ArgMatches)>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "zoho-oauth");

        let profile = from_clap(matches, "profile", non_empty(global.profile.clone()))
            .unwrap_or(Setting { value: DEFAULT_PROFILE.to_owned(), origin: Origin::Default });
        check_profile_name(&profile.value)?;

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
        let from_file = |value: Option<String>| non_empty(value).map(|value| Setting { value, origin: Origin::File });

        let client_id = from_clap(matches, "client_id", non_empty(global.client_id.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.client_id.take()))));

        let secret = match std::env::var(SECRET_VAR) {
            Ok(value) if !value.is_empty() => Some(Setting { value: ClientSecret::new(value), origin: Origin::Env }),
            Ok(_) | Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(CliError::config(format!("{SECRET_VAR} is not valid UTF-8")));
            }
        }
        .or_else(|| {
            file.as_mut()
                .and_then(|f| f.get(|p| p.client_secret.take()))
                .filter(|s| !s.expose_secret().is_empty())
                .map(|value| Setting { value, origin: Origin::File })
        });

        let dc = from_clap(matches, "dc", non_empty(global.dc.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.dc.take()))))
            .map(|s| {
                s.value.parse::<DataCenter>().map(|value| Setting { value, origin: s.origin }).map_err(|error| {
                    invalid(s.origin, file_path.as_deref(), format!("invalid data center {:?}: {error}", s.value))
                })
            })
            .transpose()?
            .unwrap_or(Setting { value: DataCenter::Us, origin: Origin::Default });

        let environment = from_clap(matches, "environment", non_empty(global.environment.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.environment.take()))))
            .map(|s| {
                parse_environment(&s.value).map(|value| Setting { value, origin: s.origin }).ok_or_else(|| {
                    invalid(
                        s.origin,
                        file_path.as_deref(),
                        format!("invalid environment {:?}: use production, sandbox or developer", s.value),
                    )
                })
            })
            .transpose()?
            .unwrap_or(Setting { value: Environment::Production, origin: Origin::Default });

        let accounts_url = from_clap(matches, "accounts_url", non_empty(global.accounts_url.clone()))
            .or_else(|| from_file(file.as_mut().and_then(|f| f.get(|p| p.accounts_url.take()))));

        let trust: Vec<String> = global.trust_accounts_urls.iter().filter(|u| !u.trim().is_empty()).cloned().collect();
        let trust_accounts_urls =
            from_clap(matches, "trust_accounts_urls", Some(trust)).filter(|s| !s.value.is_empty()).or_else(|| {
                file.as_mut()
                    .and_then(|f| f.get(|p| p.trust_accounts_urls.take()))
                    .map(|value| Setting { value, origin: Origin::File })
            });

        let refresh_margin = from_clap(matches, "refresh_margin", global.refresh_margin)
            .or_else(|| {
                file.as_mut()
                    .and_then(|f| f.get(|p| p.refresh_margin.take()))
                    .map(|value| Setting { value, origin: Origin::File })
            })
            .map(|s| Setting { value: chrono::Duration::seconds(i64::from(s.value)), origin: s.origin })
            .unwrap_or(Setting { value: zoho_oauth::DEFAULT_REFRESH_MARGIN, origin: Origin::Default });

        let store = match from_clap(matches, "store", global.store.clone()) {
            Some(store) => Ok(store),
            None => match file.as_mut().and_then(|f| f.top.token_file.take()) {
                // A relative path in the config file is relative to the file, not to wherever the tool runs.
                Some(path) => {
                    let base = file_path.as_deref().and_then(Path::parent).unwrap_or(Path::new("."));
                    Ok(Setting { value: base.join(path), origin: Origin::File })
                }
                None => dirs
                    .as_ref()
                    .map(|d| Setting { value: d.data_dir().join("tokens.json"), origin: Origin::Default })
                    .ok_or_else(|| "no home directory was found for the token file; pass --store FILE".to_owned()),
            },
        };

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
        match &self.secret {
            Some(secret) => debug!("client secret set ({})", secret.origin),
            None => debug!("client secret not set"),
        }
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
            debug!("token file {} ({})", store.value.display(), store.origin);
        }
        if let Some(login) = &self.login {
            debug!("scopes {} ({})", login.scopes.value.join(","), login.scopes.origin);
            debug!("redirect URI {} ({})", login.redirect_uri.value, login.redirect_uri.origin);
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

    /// The client secret from the environment or the config file, or else from a prompt without
    /// echo when the tool runs in a terminal.
    pub fn client_secret(&self) -> Result<ClientSecret> {
        if let Some(secret) = &self.secret {
            return Ok(secret.value.clone());
        }
        let where_file = match &self.config_path {
            Some(path) => format!("put client_secret in {} (chmod 600)", path.display()),
            None => "put client_secret in the config file (chmod 600)".to_owned(),
        };
        let missing = || {
            CliError::config(format!(
                "no client secret: set {SECRET_VAR}, {where_file}, or run in a terminal to be asked"
            ))
        };
        if !std::io::stdin().is_terminal() {
            return Err(missing());
        }
        let prompt = format!("Client secret for {} (input hidden): ", self.client_id().unwrap_or("your client"));
        let value = rpassword::prompt_password(prompt)
            .map_err(|error| CliError::config(format!("cannot read the client secret from the terminal: {error}")))?;
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(missing());
        }
        Ok(ClientSecret::new(value))
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
        let others: Vec<&str> = trust.map(|t| t.value.iter().map(String::as_str).collect()).unwrap_or_default();
        for other in &others {
            if Endpoints::zoho_custom(other, None, &[]).is_err() {
                let origin = trust.map_or(Origin::Flag, |t| t.origin);
                return Err(invalid(origin, self.config_path.as_deref(), bad_accounts_url(other)));
            }
        }
        let endpoints = Endpoints::zoho_custom(&url.value, None, &others)
            .map_err(|_| invalid(url.origin, self.config_path.as_deref(), bad_accounts_url(&url.value)))?;
        Ok(endpoints.with_environment(environment))
    }

    /// The environment the tokens belong to.
    pub fn environment(&self) -> Environment {
        self.environment.value
    }

    /// The token file's path.
    pub fn store_path(&self) -> Result<&Path> {
        self.store.as_ref().map(|s| s.value.as_path()).map_err(|message| CliError::config(message.clone()))
    }
}

fn bad_accounts_url(url: &str) -> String {
    format!(
        "invalid accounts server {url:?}: give a bare origin such as https://accounts.example.com, \
         or http://127.0.0.1:PORT for a local server"
    )
}

impl LoginSettings {
    fn resolve(args: &LoginArgs, matches: &ArgMatches, mut file: Option<&mut FileConfig>) -> Result<Self> {
        let file_path = file.as_ref().map(|f| f.path.clone());
        let mut get = |take: fn(&mut FileProfile) -> Option<String>| {
            file.as_mut().and_then(|f| f.get(take)).and_then(|v| non_empty(Some(v)))
        };
        let host = from_clap(matches, "redirect_host", non_empty(args.redirect_host.clone()))
            .or_else(|| get(|p| p.redirect_host.take()).map(|value| Setting { value, origin: Origin::File }));
        let path = from_clap(matches, "redirect_path", non_empty(args.redirect_path.clone()))
            .or_else(|| get(|p| p.redirect_path.take()).map(|value| Setting { value, origin: Origin::File }));
        let port = from_clap(matches, "redirect_port", args.redirect_port).or_else(|| {
            file.as_mut()
                .and_then(|f| f.get(|p| p.redirect_port.take()))
                .map(|value| Setting { value, origin: Origin::File })
        });
        let scopes_given: Vec<String> = args.scopes.iter().filter(|s| !s.trim().is_empty()).cloned().collect();
        let scopes = from_clap(matches, "scopes", Some(scopes_given)).filter(|s| !s.value.is_empty()).or_else(|| {
            file.as_mut()
                .and_then(|f| f.get(|p| p.scopes.take()))
                .map(|value| Setting { value: value.into_vec(), origin: Origin::File })
        });

        // The URI's origin is the most specific of its parts' origins, for error messages.
        let origins =
            [host.as_ref().map(|s| s.origin), port.as_ref().map(|s| s.origin), path.as_ref().map(|s| s.origin)];
        let uri_origin = origins
            .into_iter()
            .flatten()
            .find(|o| *o == Origin::File)
            .or_else(|| origins.into_iter().flatten().next())
            .unwrap_or(Origin::Default);
        let host = host.map_or_else(|| DEFAULT_REDIRECT_HOST.to_owned(), |s| s.value);
        let port = port.map_or(DEFAULT_REDIRECT_PORT, |s| s.value);
        let path = path.map_or_else(|| DEFAULT_REDIRECT_PATH.to_owned(), |s| s.value);
        let redirect_uri =
            redirect_uri(&host, port, &path).map_err(|message| invalid(uri_origin, file_path.as_deref(), message))?;

        let scopes = match scopes {
            Some(s) => {
                let parsed: std::result::Result<Scopes, _> = s.value.iter().map(|v| Scope::new(v.trim())).collect();
                let value = parsed.map_err(|error| {
                    invalid(
                        s.origin,
                        file_path.as_deref(),
                        format!("invalid scope in {:?}: {error}", s.value.join(",")),
                    )
                })?;
                Setting { value, origin: s.origin }
            }
            None => Setting {
                value: DEFAULT_SCOPES
                    .iter()
                    .map(|s| Scope::new(*s))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|error| CliError::config(format!("the default scopes are invalid: {error}")))?,
                origin: Origin::Default,
            },
        };
        Ok(Self { scopes, redirect_uri: Setting { value: redirect_uri, origin: uri_origin } })
    }
}

/// The loopback redirect URI `http://HOST:PORT/PATH`, checked.
fn redirect_uri(host: &str, port: u16, path: &str) -> std::result::Result<Url, String> {
    if port == 0 {
        return Err("the redirect port must be the one registered in Zoho's API console, not 0".to_owned());
    }
    if !path.starts_with('/') || path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
        return Err(format!("invalid redirect path {path:?}: it starts with `/` and has no `?`, `#` or spaces"));
    }
    // An IPv6 literal needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
    let url = Url::parse(&format!("http://{host}:{port}{path}"))
        .map_err(|_| format!("invalid redirect URI http://{host}:{port}{path}"))?;
    if !zoho_oauth::core::endpoints::is_loopback(&url) {
        return Err(format!(
            "the redirect host {host} is not a loopback address; use 127.0.0.1, [::1] or localhost, \
             so that the code never leaves this machine"
        ));
    }
    Ok(url)
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

/// Profile names appear in commands the tool suggests, so they are kept to a safe alphabet.
fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid profile name {name:?}: use up to 64 letters, digits, `-`, `_`, `.` or `@`"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

    use super::*;

    #[test]
    fn redirect_uris_are_loopback_only() {
        assert_eq!(redirect_uri("127.0.0.1", 8910, "/callback").unwrap().as_str(), "http://127.0.0.1:8910/callback");
        assert_eq!(redirect_uri("::1", 9000, "/cb").unwrap().as_str(), "http://[::1]:9000/cb");
        assert!(redirect_uri("localhost", 9000, "/").is_ok());
        assert!(redirect_uri("192.168.1.2", 9000, "/cb").is_err());
        assert!(redirect_uri("example.com", 9000, "/cb").is_err());
        assert!(redirect_uri("127.0.0.1", 0, "/cb").is_err());
        assert!(redirect_uri("127.0.0.1", 9000, "cb").is_err());
        assert!(redirect_uri("127.0.0.1", 9000, "/cb?x=1").is_err());
    }

    #[test]
    fn profile_names() {
        assert!(check_profile_name("work-eu.sandbox_1").is_ok());
        assert!(check_profile_name("me@example.com").is_ok());
        assert!(check_profile_name("").is_err());
        assert!(check_profile_name("a b").is_err());
        assert!(check_profile_name("$(rm)").is_err());
    }

    #[test]
    fn config_file_profiles_override_the_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "client_id = \"1000.TOP\"\ndc = \"eu\"\nscopes = \"A.b.ALL, C.d.READ\"\n\n[profiles.work]\nclient_id = \"1000.WORK\"\n",
        )
        .unwrap();
        let mut work = FileConfig::load(&path, true, "work").unwrap().unwrap();
        assert_eq!(work.get(|p| p.client_id.take()).as_deref(), Some("1000.WORK"));
        assert_eq!(work.get(|p| p.dc.take()).as_deref(), Some("eu"));
        assert_eq!(work.get(|p| p.scopes.take()).unwrap().into_vec(), ["A.b.ALL", "C.d.READ"]);
        let mut other = FileConfig::load(&path, true, "other").unwrap().unwrap();
        assert_eq!(other.get(|p| p.client_id.take()).as_deref(), Some("1000.TOP"));
        assert!(FileConfig::load(&dir.path().join("missing.toml"), false, "x").unwrap().is_none());
        assert!(FileConfig::load(&dir.path().join("missing.toml"), true, "x").is_err());
    }

    #[test]
    fn config_errors_never_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for text in [
            "client_secret = 123456789\n",
            "redirect_port = \"top-secret-value\"\n",
            "client_secret = \"top-secret-value\n",
            "clientsecret = \"top-secret-value\"\n",
            "[profiles.x]\ntoken_file = \"top-secret-value\"\n",
        ] {
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let error = FileConfig::load(&path, true, "x").err().unwrap().message();
            assert!(!error.contains("top-secret-value") && !error.contains("123456789"), "{text}: {error}");
            assert!(error.starts_with("config file "), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_config_file_with_a_secret_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[profiles.x]\nclient_secret = \"s\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = FileConfig::load(&path, true, "x").err().unwrap().message();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(FileConfig::load(&path, true, "x").is_ok());
        // Without a secret the mode does not matter.
        std::fs::write(&path, "client_id = \"1000.X\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(FileConfig::load(&path, true, "x").is_ok());
    }
}
