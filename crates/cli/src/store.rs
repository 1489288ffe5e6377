//! Opens the token store the settings name: a token file or a PostgreSQL database, encrypted
//! with `EncryptedStore` when a key file is given.

use std::sync::Arc;

use zoho_oauth::store::{EncryptedStore, EncryptionKey};
use zoho_oauth::{FileStore, TokenSet, TokenStore};

use crate::config::{Settings, StoreLocation};
use crate::error::{CliError, Exit, Result};
use crate::log::debug;

/// Opens the store. With `create` false, a token file that does not exist is `None`: nothing
/// was ever saved, and reading must not create the file or its directory.
pub async fn open(settings: &Settings, create: bool) -> Result<Option<Arc<dyn TokenStore>>> {
    let location = settings.store()?;
    let inner: Arc<dyn TokenStore> = match location {
        StoreLocation::File(path) => {
            if !create && !path.exists() {
                debug!("no token file at {}", path.display());
                return Ok(None);
            }
            debug!("opening the token file {}", path.display());
            Arc::new(FileStore::open(path).await?)
        }
        StoreLocation::Postgres(url) => postgres(url, location).await?,
    };
    let Some(key_file) = settings.encryption_key_file() else {
        return Ok(Some(inner));
    };
    let key = EncryptionKey::from_file(key_file).map_err(|error| {
        CliError::config(format!("cannot use the encryption key file {}: {error}", key_file.display()))
    })?;
    debug!("encrypting the token store with key {}", key.id());
    Ok(Some(Arc::new(EncryptedStore::new(inner, key))))
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str, location: &StoreLocation) -> Result<Arc<dyn TokenStore>> {
    use zoho_oauth_store_postgres::PostgresStore;
    debug!("connecting to the PostgreSQL store {location}");
    let store = PostgresStore::builder(url)
        .map_err(|error| CliError::usage(format!("invalid store URL {location}: {error}")))?
        .connect()
        .await
        .map_err(|error| {
            let exit = if error.is_transient() { Exit::Network } else { Exit::Config };
            CliError::new(exit, format!("cannot use the PostgreSQL store {location}: {error}"))
        })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_url: &str, location: &StoreLocation) -> Result<Arc<dyn TokenStore>> {
    Err(CliError::new(
        Exit::Config,
        format!(
            "the store {location} is a PostgreSQL database, and this build of zoho-oauth has no PostgreSQL \
             support; install it with `cargo install zoho-oauth-cli --features postgres`"
        ),
    ))
}

/// Refuses tokens that `EncryptedStore` sealed when no key was given: they would otherwise be
/// read as an access token that is only ciphertext.
pub fn check_not_sealed(settings: &Settings, tokens: &TokenSet) -> Result<()> {
    let sealed = zoho_oauth_store::is_sealed(tokens);
    if sealed && settings.encryption_key_file().is_none() {
        return Err(CliError::config(
            "the saved tokens are encrypted; give the key with --encryption-key-file or ZOHO_ENCRYPTION_KEY_FILE",
        ));
    }
    Ok(())
}
