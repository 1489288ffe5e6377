//! Where the client secret comes from, loaded only when a request needs it.
//!
//! `token` hands [`SecretSource::load`] to the library (`ClientConfig::client_secret_with`), which
//! calls it only when it sends a refresh: a cron job whose token is fresh needs no secret, and a
//! person at a terminal is asked only when the secret is really needed.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use zoho_oauth::ClientSecret;

use super::env::SECRET_VAR;
use super::precedence::Setting;
use crate::error::{CliError, Result};

/// The client secret from the environment or the config file, or else a prompt.
#[derive(Clone)]
pub struct SecretSource {
    /// The secret from the environment or the config file.
    given: Option<Setting<ClientSecret>>,
    /// The config file, to say where the secret could go.
    config_path: Option<PathBuf>,
    /// The client id, for the prompt.
    client_id: Option<String>,
}

/// Says where the secret comes from, never the secret.
impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SecretSource {
    /// A source with `given` (from the environment or the config file), else a prompt.
    pub fn new(given: Option<Setting<ClientSecret>>, config_path: Option<PathBuf>, client_id: Option<String>) -> Self {
        Self { given, config_path, client_id }
    }

    /// "set (environment)" or "not set", for `-vv`.
    pub fn describe(&self) -> String {
        match &self.given {
            Some(secret) => format!("client secret set ({})", secret.origin),
            None => "client secret not set".to_owned(),
        }
    }

    /// The secret from the environment or the config file, or else from a prompt without echo
    /// when the tool runs in a terminal.
    pub fn load(&self) -> Result<ClientSecret> {
        if let Some(secret) = &self.given {
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
        let prompt =
            format!("Client secret for {} (input hidden): ", self.client_id.as_deref().unwrap_or("your client"));
        let value = rpassword::prompt_password(prompt)
            .map_err(|error| CliError::config(format!("cannot read the client secret from the terminal: {error}")))?;
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(missing());
        }
        Ok(ClientSecret::new(value))
    }
}
