//! Entering the flow: a new flow, a store, the authorization URL, a self-client code, a saved
//! pending authorization, or saved tokens.

use std::marker::PhantomData;
use std::sync::Arc;

use zoho_oauth_core::{AuthorizationCode, HttpClient, TokenSet};
use zoho_oauth_store::{Record, RefreshState, TokenStore};

use crate::client::{Client, Persistence};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::flow::{Authorized, CodeIssued, Flow, SelfClient, Unauthorized};
use crate::manager::TokenManager;
use crate::oauth;

impl Clone for Flow<Unauthorized> {
    fn clone(&self) -> Self {
        Flow { client: self.client.clone(), state: self.state.clone() }
    }
}

impl Flow<Unauthorized> {
    /// A new flow for `config`, sending its requests through `http`.
    pub fn new(config: ClientConfig, http: Arc<dyn HttpClient>) -> Self {
        Flow { client: Arc::new(Client { config, http, persistence: None }), state: Unauthorized::new() }
    }

    pub(crate) fn unauthorized(client: Arc<Client>) -> Self {
        Flow { client, state: Unauthorized::new() }
    }

    /// Saves every token change of the authorizations this flow makes to `store`, under `user`.
    ///
    /// With a store, tokens are saved after the exchange and after every refresh before they are
    /// handed out, deleted after revocation, and coordinated with other processes sharing the store
    /// (one refreshes, the others load its result; one backoff and lock-out for all). `user` tells
    /// authorizations apart in one store: an email, an organisation id, or a fixed name such as
    /// `"default"`.
    pub fn with_store(self, store: Arc<dyn TokenStore>, user: impl Into<String>) -> Self {
        let client = Client {
            config: self.client.config.clone(),
            http: self.client.http.clone(),
            persistence: Some(Persistence { store, user: user.into() }),
        };
        Flow { client: Arc::new(client), state: self.state }
    }

    /// Restores the authorization saved in the flow's store for its client, user and environment,
    /// without a browser: a restarted program needs no new consent.
    ///
    /// Returns `Ok(None)` when nothing is saved (the user must authorize), [`Error::NoStore`] when
    /// the flow has no store, and [`Error::Store`] when the store fails.
    pub async fn restore_from_store(self) -> Result<Option<Flow<Authorized>>> {
        let Some(persistence) = self.client.persistence.clone() else {
            return Err(Error::NoStore);
        };
        let config = &self.client.config;
        let mut newest: Option<Record> = None;
        for key in persistence.store.keys().await? {
            let ours = key.client_id() == config.client_id
                && key.user() == persistence.user
                && key.environment() == config.endpoints.environment();
            if !ours {
                continue;
            }
            // The user may have authorized at several data centers; the latest authorization wins.
            if let Some(record) = persistence.store.load(&key).await? {
                if newest.as_ref().is_none_or(|n| record.tokens().expires_at() > n.tokens().expires_at()) {
                    newest = Some(record);
                }
            }
        }
        newest.map(|record| self.restore_record(record)).transpose()
    }

    /// Builds the authorization URL to send the user to, and moves to [`CodeIssued`].
    ///
    /// The URL carries a fresh random `state` and a PKCE S256 challenge (RFC 7636), the scopes
    /// (comma-joined for Zoho, space-joined otherwise), and for Zoho `access_type` and `prompt`.
    pub fn authorization_url(self) -> (url::Url, Flow<CodeIssued>) {
        let config = &self.client.config;
        let request = oauth::authorization_request(config);
        let issued = CodeIssued {
            client_id: config.client_id.clone(),
            state: Some(request.state),
            verifier: Some(request.verifier),
            code: None,
            started_at: config.clock.now(),
            via: PhantomData,
        };
        (request.url, Flow { client: self.client, state: issued })
    }

    /// Enters the flow with a code generated in Zoho's API console (a self client), without a browser.
    pub fn self_client(self, code: AuthorizationCode) -> Flow<CodeIssued<SelfClient>> {
        let issued = CodeIssued {
            client_id: self.client.config.client_id.clone(),
            state: None,
            verifier: None,
            code: Some(code),
            started_at: self.client.config.clock.now(),
            via: PhantomData,
        };
        Flow { client: self.client, state: issued }
    }

    /// Resumes a flow whose [`CodeIssued`] state was saved with [`Flow::into_pending`].
    ///
    /// Fails if the pending state was started by a client with another client id.
    pub fn resume(self, pending: CodeIssued) -> Result<Flow<CodeIssued>> {
        if pending.client_id != self.client.config.client_id {
            return Err(Error::ForeignPendingAuthorization);
        }
        Ok(Flow { client: self.client, state: pending })
    }

    /// Restores an authorization from tokens saved earlier, without a browser.
    ///
    /// Refreshes and revocation go to the accounts server recorded in `tokens`, provided the
    /// configured endpoints trust it. With a store, the store's entry wins over `tokens` at the
    /// first renewal when the two differ.
    pub fn restore(self, tokens: TokenSet) -> Result<Flow<Authorized>> {
        self.authorized(tokens, 0, RefreshState::default())
    }

    fn restore_record(self, record: Record) -> Result<Flow<Authorized>> {
        let revision = record.revision();
        let state = record.refresh_state().clone();
        self.authorized(record.into_tokens(), revision, state)
    }

    fn authorized(self, tokens: TokenSet, revision: u64, state: RefreshState) -> Result<Flow<Authorized>> {
        let endpoints = self.client.config.endpoints.redirected_to(tokens.accounts_server())?;
        let manager = TokenManager::new(self.client.clone(), endpoints, tokens, revision, state, None);
        Ok(Flow { client: self.client, state: Authorized { manager } })
    }
}
