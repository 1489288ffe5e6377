//! The client credentials grant: Zoho's self client for one-off jobs (`grant_type=client_credentials`
//! with `soid`), and [RFC 6749 section 4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)
//! for other servers.
//!
//! There is no user and no refresh token: the token set records
//! [`Renewal::ClientCredentials`] with its `soid`, and the token manager asks again the same way
//! at expiry, with the single flight, backoff, lock-out and store protocol of a refresh. Because
//! the renewal is part of the token set, a session restored from a store renews the same way.

use zoho_oauth_core::Renewal;

use crate::error::Result;
use crate::flow::{Authorized, Flow, Unauthorized};
use crate::{grant, requests};

impl Flow<Unauthorized> {
    /// Obtains an access token with the client's own credentials and moves to [`Authorized`].
    ///
    /// For Zoho: `POST /oauth/v2/token` with `grant_type=client_credentials`, the configured
    /// scopes (comma-joined) and `soid`, the org the token is for: `ZohoCRM.<org id>` for CRM.
    /// Without `soid` Zoho answers `missing_org_info` (an [`Error::Server`](crate::Error::Server)).
    /// Other servers get RFC 6749 section 4.4's request; `soid`, if given, is sent as it is.
    ///
    /// The answer has no refresh token; when the access token is due, the flow asks again the same
    /// way. With a store, the tokens are saved first; a program that runs often should try
    /// [`restore_from_store`](Self::restore_from_store) before asking for a new token, since Zoho
    /// mints at most ten per ten minutes.
    pub async fn client_credentials(self, soid: Option<&str>) -> Result<Flow<Authorized>> {
        let config = &self.client.config;
        let endpoints = config.endpoints.clone();
        let response = requests::client_credentials(&self.client, &endpoints, &config.scopes, soid).await?;
        let tokens = grant::tokens(&self.client, &endpoints, response)
            .with_renewal(Renewal::ClientCredentials { soid: soid.map(str::to_owned) });
        grant::authorize(self.client, endpoints, tokens).await
    }
}
