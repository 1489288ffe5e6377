//! The one module that names `oauth2`: it builds the front-channel authorization request.
//!
//! `oauth2` generates the `state` value and the PKCE pair (RFC 7636, S256) and lays out the
//! authorization URL. The back-channel requests (code exchange, refresh, revocation) are small
//! form posts built in `requests.rs` and read in one parse by `zoho_oauth_core::dialect`, so a
//! token answer is not parsed twice and revocation needs no `https` stand-in for loopback servers.

use oauth2::{CsrfToken, PkceCodeChallenge};
use url::Url;
use zoho_oauth_core::{CsrfState, PkceVerifier, dialect};

use crate::config::{AccessType, ClientConfig, Prompt};

/// An authorization request: the URL to send the user to, and the secrets to check the answer with.
pub(crate) struct AuthorizationRequest {
    pub(crate) url: Url,
    pub(crate) state: CsrfState,
    pub(crate) verifier: PkceVerifier,
}

/// Builds the authorization URL with a fresh random `state`, a PKCE S256 challenge, the scopes
/// (joined in the server's dialect), and Zoho's `access_type` and `prompt` when configured.
pub(crate) fn authorization_request(config: &ClientConfig) -> AuthorizationRequest {
    let endpoints = &config.endpoints;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut client = oauth2::basic::BasicClient::new(oauth2::ClientId::new(config.client_id.clone()))
        .set_auth_uri(oauth2::AuthUrl::from_url(endpoints.authorization_url().clone()));
    if let Some(redirect) = &config.redirect_uri {
        client = client.set_redirect_uri(oauth2::RedirectUrl::from_url(redirect.clone()));
    }
    let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
    if !config.scopes.is_empty() {
        request = request.add_extra_param("scope", config.scopes.join(dialect::scope_separator(endpoints.dialect())));
    }
    if let Some(access_type) = config.access_type {
        let value = match access_type {
            AccessType::Offline => "offline",
            AccessType::Online => "online",
        };
        request = request.add_extra_param("access_type", value);
    }
    if let Some(Prompt::Consent) = config.prompt {
        request = request.add_extra_param("prompt", "consent");
    }
    let (url, state) = request.url();
    AuthorizationRequest {
        url,
        state: CsrfState::new(state.into_secret()),
        verifier: PkceVerifier::new(verifier.into_secret()),
    }
}
