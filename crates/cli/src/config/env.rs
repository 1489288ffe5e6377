//! The environment variables the tool reads itself, rather than through a clap argument: the
//! client secret (never a flag, so it has no argument) and the store URL (a second variable for
//! `--store`, which already reads `ZOHO_OAUTH_STORE`).

use zoho_oauth::ClientSecret;

use crate::error::{CliError, Result};

/// The environment variable that holds the client secret.
pub const SECRET_VAR: &str = "ZOHO_CLIENT_SECRET";
/// The environment variable that names a database store, such as `postgres://zoho@db/app`.
pub const STORE_URL_VAR: &str = "ZOHO_STORE_URL";

/// A variable's value; unset and empty are the same, and a value that is not UTF-8 is an error.
fn var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Some(value)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::config(format!("{name} is not valid UTF-8"))),
    }
}

/// The client secret from [`SECRET_VAR`], if set.
pub fn client_secret() -> Result<Option<ClientSecret>> {
    Ok(var(SECRET_VAR)?.map(ClientSecret::new))
}

/// The store URL from [`STORE_URL_VAR`], if set.
pub fn store_url() -> Result<Option<String>> {
    var(STORE_URL_VAR)
}
