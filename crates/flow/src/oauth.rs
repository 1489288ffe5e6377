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
/// (joined in the server's dialect), Zoho's `access_type` and `prompt` when configured, and the
/// caller's further parameters (`ClientConfig::authorization_param`), which replace `access_type`
/// and `prompt` when they name them; the reserved names were refused when they were added.
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
    let overridden = |name: &str| config.authorization_params.iter().any(|(n, _)| n == name);
    if let Some(access_type) = config.access_type.filter(|_| !overridden("access_type")) {
        let value = match access_type {
            AccessType::Offline => "offline",
            AccessType::Online => "online",
        };
        request = request.add_extra_param("access_type", value);
    }
    if let Some(Prompt::Consent) = config.prompt.filter(|_| !overridden("prompt")) {
        request = request.add_extra_param("prompt", "consent");
    }
    for (name, value) in &config.authorization_params {
        request = request.add_extra_param(name.as_str(), value.as_str());
    }
    let (url, state) = request.url();
    AuthorizationRequest {
        url,
        state: CsrfState::new(state.into_secret()),
        verifier: PkceVerifier::new(verifier.into_secret()),
    }
}

#[cfg(test)]
mod tests {
    use zoho_oauth_core::{DataCenter, Endpoints, Environment};

    use super::*;

    fn params(config: &ClientConfig) -> Vec<(String, String)> {
        authorization_request(config).url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn extra_params_reach_the_url_in_order() {
        let endpoints = Endpoints::standard("https://as.example/authorize", "https://as.example/token", None)
            .expect("valid endpoints");
        let config = ClientConfig::new("client", endpoints)
            .authorization_param("login_hint", "a b&c@example.com")
            .and_then(|c| c.authorization_param("resource", "https://one.example"))
            .and_then(|c| c.authorization_param("resource", "https://two.example"))
            .expect("not reserved");
        let pairs = params(&config);
        let extra: Vec<_> = pairs.iter().filter(|(k, _)| k == "login_hint" || k == "resource").collect();
        assert_eq!(
            extra,
            [
                &("login_hint".to_owned(), "a b&c@example.com".to_owned()),
                &("resource".to_owned(), "https://one.example".to_owned()),
                &("resource".to_owned(), "https://two.example".to_owned()),
            ]
        );
        assert_eq!(pairs.iter().filter(|(k, _)| k == "state").count(), 1);
    }

    #[test]
    fn extra_prompt_replaces_zohos_default() {
        let zoho = ClientConfig::new("1000.X", Endpoints::zoho(DataCenter::Us, Environment::Production));
        let default = params(&zoho);
        assert!(default.contains(&("prompt".to_owned(), "consent".to_owned())));
        let login = zoho.authorization_param("prompt", "login").expect("not reserved");
        let prompts: Vec<_> = params(&login).into_iter().filter(|(k, _)| k == "prompt").collect();
        assert_eq!(prompts, [("prompt".to_owned(), "login".to_owned())]);
        assert!(params(&login).contains(&("access_type".to_owned(), "offline".to_owned())));
    }
}
