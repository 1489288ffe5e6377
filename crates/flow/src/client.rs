//! What every state of a flow shares: the configuration, the HTTP client, and where tokens are saved.

use std::sync::Arc;

use zoho_oauth_core::HttpClient;
use zoho_oauth_store::{StoreKey, TokenStore};

use crate::config::ClientConfig;

/// The configuration, the HTTP client and the optional store of one flow.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) config: ClientConfig,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) persistence: Option<Persistence>,
}

/// Where an authorization's tokens are saved, and under whose name.
#[derive(Debug, Clone)]
pub(crate) struct Persistence {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) user: String,
}

impl Client {
    /// The store and the key the tokens from `accounts_server` are saved under, if the flow has a store.
    pub(crate) fn store_key(&self, accounts_server: &str) -> Option<(Arc<dyn TokenStore>, StoreKey)> {
        self.persistence.as_ref().map(|p| {
            let key = StoreKey::new(
                self.config.client_id.clone(),
                p.user.clone(),
                accounts_server,
                self.config.endpoints.environment(),
            );
            (p.store.clone(), key)
        })
    }
}
