//! The back-channel requests: code exchange and refresh (RFC 6749 sections 4.1.3 and 6) and
//! revocation (RFC 7009), built as form posts and read through `zoho_oauth_core::dialect`.

use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::form_urlencoded;
use zoho_oauth_core::{
    AuthorizationCode, ClientAuth, Endpoints, HttpRequest, PkceVerifier, RefreshToken, RequestKind, TokenResponse,
    dialect,
};

use crate::client::Client;
use crate::error::{Error, Result};

/// What a token request asks for.
pub(crate) enum Grant<'a> {
    /// Exchanging an authorization code (RFC 6749 section 4.1.3).
    Code { code: &'a AuthorizationCode, verifier: Option<&'a PkceVerifier> },
    /// Refreshing (RFC 6749 section 6).
    Refresh { token: &'a RefreshToken },
}

/// What a revocation request revokes (RFC 7009 section 2.1).
pub(crate) enum Revocable<'a> {
    Refresh(&'a str),
    Access(&'a str),
}

/// Sends a token request to `endpoints` and reads the answer in one parse.
pub(crate) async fn token(client: &Client, endpoints: &Endpoints, grant: Grant<'_>) -> Result<TokenResponse> {
    let (request, kind) = token_request(client, endpoints, grant)?;
    let response = client.config.http.execute(&*client.http, request, kind).await?;
    Ok(dialect::read_token_answer(endpoints.dialect(), &response)?)
}

/// Builds a token request. Synchronous, so that the form serializer (which is not `Sync`) never
/// lives across an await point.
fn token_request(client: &Client, endpoints: &Endpoints, grant: Grant<'_>) -> Result<(HttpRequest, RequestKind)> {
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    let kind = match grant {
        Grant::Code { code, verifier } => {
            form.append_pair("grant_type", "authorization_code");
            form.append_pair("code", code.expose_secret());
            if let Some(redirect) = &client.config.redirect_uri {
                form.append_pair("redirect_uri", redirect.as_str());
            }
            if let Some(verifier) = verifier {
                form.append_pair("code_verifier", verifier.expose_secret());
            }
            RequestKind::CodeExchange
        }
        Grant::Refresh { token } => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", token.expose_secret());
            RequestKind::Refresh
        }
    };
    Ok((post(client, endpoints, endpoints.token_url().as_str(), form)?, kind))
}

/// Sends a revocation request to `endpoints`.
pub(crate) async fn revoke(client: &Client, endpoints: &Endpoints, token: Revocable<'_>) -> Result<()> {
    let request = revoke_request(client, endpoints, token)?;
    let response = client.config.http.execute(&*client.http, request, RequestKind::Revoke).await?;
    Ok(dialect::read_revocation_answer(endpoints.dialect(), &response)?)
}

fn revoke_request(client: &Client, endpoints: &Endpoints, token: Revocable<'_>) -> Result<HttpRequest> {
    let url = endpoints.revocation_url().ok_or(Error::NoRevocationEndpoint)?;
    let (value, hint) = match token {
        Revocable::Refresh(value) => (value, "refresh_token"),
        Revocable::Access(value) => (value, "access_token"),
    };
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    form.append_pair("token", value);
    form.append_pair("token_type_hint", hint);
    let url = dialect::revocation_url(endpoints.dialect(), url, value);
    post(client, endpoints, url.as_str(), form)
}

/// A form post with the client's authentication (RFC 6749 section 2.3.1): the client id and
/// secret in the body, or in an HTTP Basic header, each part form-encoded first as the RFC says.
fn post(
    client: &Client,
    endpoints: &Endpoints,
    url: &str,
    mut form: form_urlencoded::Serializer<'_, String>,
) -> Result<HttpRequest> {
    let config = &client.config;
    let mut builder = http::Request::post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    match (endpoints.client_auth(), config.secret()?) {
        (ClientAuth::BasicHeader, Some(secret)) => {
            let encode = |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&config.client_id), encode(secret.expose_secret()));
            let mut value = HeaderValue::try_from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ))
            .map_err(|_| Error::Config(zoho_oauth_core::Error::InvalidUrl { what: "client credentials" }))?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        (_, secret) => {
            form.append_pair("client_id", &config.client_id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret.expose_secret());
            }
        }
    }
    // The URL was checked when the endpoints were built; a request that still does not build is a
    // configuration problem, reported without the URL (a Zoho revocation URL carries the token).
    builder
        .body(form.finish().into_bytes())
        .map_err(|_| Error::Config(zoho_oauth_core::Error::InvalidUrl { what: "endpoint url" }))
}
