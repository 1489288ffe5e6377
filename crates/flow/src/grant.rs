//! Where every new grant ends: a token answer becomes the held tokens, saved first with a store,
//! then managed. The code exchange, the device flow and client credentials all finish here.

use std::sync::Arc;

use zoho_oauth_core::{Endpoints, TokenResponse, TokenSet};
use zoho_oauth_store::RefreshState;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::flow::{Authorized, Flow};
use crate::manager::TokenManager;

/// The tokens of a new grant's answer from `endpoints`: the configured scopes when the answer
/// names none, the endpoints' API domain when it names none, and no previous refresh token.
pub(crate) fn tokens(client: &Client, endpoints: &Endpoints, response: TokenResponse) -> TokenSet {
    let config = &client.config;
    TokenSet::from_response(
        response,
        config.clock.now(),
        endpoints.accounts_server(),
        endpoints.api_domain(),
        &config.scopes,
        None,
    )
}

/// The authorized flow of a new grant: its tokens are saved to the store (replacing whatever was
/// there) before anyone is handed them, and a failed save returns them inside
/// [`Error::NotSaved`] rather than losing them.
pub(crate) async fn authorize(client: Arc<Client>, endpoints: Endpoints, tokens: TokenSet) -> Result<Flow<Authorized>> {
    let mut revision = 0;
    if let Some((store, key)) = client.store_key(tokens.accounts_server()) {
        match store.save(&key, &tokens).await {
            Ok(saved) => revision = saved,
            Err(source) => return Err(Error::NotSaved { source: Box::new(source), tokens: Box::new(tokens) }),
        }
    }
    // A new grant's tokens were obtained now, which bounds their margin by their lifetime.
    let obtained_at = Some(client.config.clock.now());
    let manager = TokenManager::new(client.clone(), endpoints, tokens, revision, RefreshState::default(), obtained_at);
    Ok(Flow { client, state: Authorized { manager } })
}
