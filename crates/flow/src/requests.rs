//! The back-channel requests: code exchange and refresh (RFC 6749 sections 4.1.3 and 6),
//! client credentials (section 4.4), the device flow (RFC 8628, and Zoho's), and revocation
//! (RFC 7009), built as form posts and read through `zoho_oauth_core::dialect`.

use std::sync::Arc;

use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::Url;
use url::form_urlencoded;
use zoho_oauth_core::redact::Known;
use zoho_oauth_core::{
    AccessToken, AuthorizationCode, ClientAuth, ClientSecret, DeviceAuthorization, DeviceCode, DevicePoll, Dialect,
    Endpoints, HttpRequest, HttpResponse, PkceVerifier, RefreshToken, RequestKind, RequestUrl, Scopes, TokenResponse,
    TransportError, dialect,
};

use crate::client::Client;
use crate::config::AccessType;
use crate::error::{Error, Result};

/// What a token request asks for.
pub(crate) enum Grant<'a> {
    /// Exchanging an authorization code (RFC 6749 section 4.1.3).
    Code { code: &'a AuthorizationCode, verifier: Option<&'a PkceVerifier> },
    /// Refreshing (RFC 6749 section 6); `held` is the access token held now, masked from errors too.
    Refresh { token: &'a RefreshToken, held: Option<&'a AccessToken> },
}

/// What a revocation request revokes (RFC 7009 section 2.1).
pub(crate) enum Revocable<'a> {
    Refresh(&'a str),
    Access(&'a str),
}

/// Sends a token request to `target`, the token endpoint of `endpoints`, and reads the answer in
/// one parse.
pub(crate) async fn token(
    client: &Client,
    endpoints: &Endpoints,
    target: &Target,
    grant: Grant<'_>,
) -> Result<TokenResponse> {
    let secret = client.config.secret()?;
    let mut known = Known::new().with(secret.map_or("", ClientSecret::expose_secret));
    known = match &grant {
        Grant::Code { code, verifier } => {
            known.with(code.expose_secret()).with(verifier.map_or("", PkceVerifier::expose_secret))
        }
        Grant::Refresh { token, held } => {
            known.with(token.expose_secret()).with(held.map_or("", AccessToken::expose_secret))
        }
    };
    let (post, kind) = token_request(client, endpoints, target, grant)?;
    let response = send(client, &post, kind).await?;
    Ok(dialect::read_token_answer_masking(endpoints.dialect(), &response, &known)?)
}

/// Builds a token request. Synchronous, so that the form serializer (which is not `Sync`) never
/// lives across an await point.
fn token_request(
    client: &Client,
    endpoints: &Endpoints,
    target: &Target,
    grant: Grant<'_>,
) -> Result<(FormPost, RequestKind)> {
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
        Grant::Refresh { token, .. } => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", token.expose_secret());
            RequestKind::Refresh
        }
    };
    Ok((post(client, endpoints, target.clone(), form)?, kind))
}

/// Asks for a token with the client's own credentials (RFC 6749 section 4.4; Zoho's self client
/// with `soid`, the org the token is for).
pub(crate) async fn client_credentials(
    client: &Client,
    endpoints: &Endpoints,
    scopes: &Scopes,
    soid: Option<&str>,
) -> Result<TokenResponse> {
    let secret = client.config.secret()?;
    let known = Known::new().with(secret.map_or("", ClientSecret::expose_secret));
    let post = client_credentials_request(client, endpoints, scopes, soid)?;
    // Retried like a refresh: asking again can only mint another token, never spend a grant.
    let response = send(client, &post, RequestKind::Refresh).await?;
    Ok(dialect::read_token_answer_masking(endpoints.dialect(), &response, &known)?)
}

fn client_credentials_request(
    client: &Client,
    endpoints: &Endpoints,
    scopes: &Scopes,
    soid: Option<&str>,
) -> Result<FormPost> {
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    form.append_pair("grant_type", "client_credentials");
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(dialect::scope_separator(endpoints.dialect())));
    }
    if let Some(soid) = soid {
        form.append_pair("soid", soid);
    }
    post(client, endpoints, Target::new(endpoints.token_url())?, form)
}

/// Starts a device authorization (RFC 8628 section 3.1, or Zoho's `grant_type=device_request`).
pub(crate) async fn device_authorization(client: &Client, endpoints: &Endpoints) -> Result<DeviceAuthorization> {
    let post = device_authorization_request(client, endpoints)?;
    // Not retried once sent: a retry would start a second authorization with another user code.
    let response = send(client, &post, RequestKind::CodeExchange).await?;
    Ok(dialect::read_device_authorization(endpoints.dialect(), &response)?)
}

fn device_authorization_request(client: &Client, endpoints: &Endpoints) -> Result<FormPost> {
    let config = &client.config;
    let url = endpoints.device_authorization_url().ok_or(Error::NoDeviceAuthorizationEndpoint)?;
    let target = Target::new(&url)?;
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    if !config.scopes.is_empty() {
        form.append_pair("scope", &config.scopes.join(dialect::scope_separator(endpoints.dialect())));
    }
    match endpoints.dialect() {
        Dialect::Zoho => {
            // Zoho asks for no client secret at this step, so none is sent.
            form.append_pair("grant_type", "device_request");
            form.append_pair("client_id", &config.client_id);
            if let Some(access_type) = config.access_type {
                let value = match access_type {
                    AccessType::Offline => "offline",
                    AccessType::Online => "online",
                };
                form.append_pair("access_type", value);
            }
            if config.prompt.is_some() {
                form.append_pair("prompt", "consent");
            }
            Ok(FormPost { target, authorization: None, body: form.finish().into_bytes() })
        }
        // RFC 8628 section 3.1: a confidential client authenticates as at the token endpoint.
        Dialect::Standard => post(client, endpoints, target, form),
    }
}

/// Polls a device authorization once (RFC 8628 section 3.4, or Zoho's `grant_type=device_token`).
pub(crate) async fn device_poll(
    client: &Client,
    endpoints: &Endpoints,
    device_code: &DeviceCode,
) -> Result<DevicePoll> {
    let secret = client.config.secret()?;
    let known = Known::new().with(secret.map_or("", ClientSecret::expose_secret)).with(device_code.expose_secret());
    let post = device_poll_request(client, endpoints, device_code)?;
    // Never retried once sent: an approved device code is single use, like an authorization code,
    // and a quick second poll would only be told to slow down.
    let response = send(client, &post, RequestKind::CodeExchange).await?;
    Ok(dialect::read_device_poll_masking(endpoints.dialect(), &response, &known)?)
}

fn device_poll_request(client: &Client, endpoints: &Endpoints, device_code: &DeviceCode) -> Result<FormPost> {
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    match endpoints.dialect() {
        Dialect::Zoho => {
            form.append_pair("grant_type", "device_token");
            form.append_pair("code", device_code.expose_secret());
        }
        Dialect::Standard => {
            form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:device_code");
            form.append_pair("device_code", device_code.expose_secret());
        }
    }
    post(client, endpoints, Target::new(&endpoints.device_token_url())?, form)
}

/// Sends a revocation request to `endpoints`.
pub(crate) async fn revoke(client: &Client, endpoints: &Endpoints, token: Revocable<'_>) -> Result<()> {
    let secret = client.config.secret()?;
    let revoked = match token {
        Revocable::Refresh(value) | Revocable::Access(value) => value,
    };
    let known = Known::new().with(secret.map_or("", ClientSecret::expose_secret)).with(revoked);
    let post = revoke_request(client, endpoints, token)?;
    let response = send(client, &post, RequestKind::Revoke).await?;
    Ok(dialect::read_revocation_answer_masking(endpoints.dialect(), &response, &known)?)
}

fn revoke_request(client: &Client, endpoints: &Endpoints, token: Revocable<'_>) -> Result<FormPost> {
    let url = endpoints.revocation_url().ok_or(Error::NoRevocationEndpoint)?;
    let (value, hint) = match token {
        Revocable::Refresh(value) => (value, "refresh_token"),
        Revocable::Access(value) => (value, "access_token"),
    };
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(256));
    form.append_pair("token", value);
    form.append_pair("token_type_hint", hint);
    let url = dialect::revocation_url(endpoints.dialect(), url, value);
    post(client, endpoints, Target::new(&url)?, form)
}

/// Where a form post goes: its URL, and the same URL as the `http::Uri` a request carries, parsed
/// once and shared, so that each attempt and each renewal reuses both (cloning the `Uri` only
/// counts a reference).
#[derive(Clone)]
pub(crate) struct Target(Arc<Parsed>);

struct Parsed {
    url: Url,
    uri: http::Uri,
}

impl Target {
    pub(crate) fn new(url: &Url) -> Result<Self> {
        // The URL was checked when the endpoints were built; one that is still no `http::Uri` is a
        // configuration problem, reported without the URL (a Zoho revocation URL carries the token).
        let uri = http::Uri::try_from(url.as_str()).map_err(|_| Error::invalid_url("endpoint url"))?;
        Ok(Self(Arc::new(Parsed { url: url.clone(), uri })))
    }
}

/// A form post of the library, ready to be sent as often as the policy tries it.
pub(crate) struct FormPost {
    target: Target,
    /// The client's HTTP Basic credentials, when it authenticates with them.
    authorization: Option<HeaderValue>,
    body: Vec<u8>,
}

impl FormPost {
    /// One attempt's request, built afresh rather than cloned from a first one that would only be
    /// dropped: most requests are sent once.
    ///
    /// The parsed URL rides along in the extensions, so that an HTTP client built on `Url` does
    /// not parse it again.
    fn request(&self) -> HttpRequest {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.target.0.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        request.extensions_mut().insert(RequestUrl::new(self.target.0.url.clone()));
        request
    }
}

/// Sends `post` under the client's HTTP policy and reads the whole answer.
async fn send(client: &Client, post: &FormPost, kind: RequestKind) -> Result<HttpResponse, TransportError> {
    client.config.http.execute_built(&*client.http, || post.request(), kind).await
}

/// A form post with the client's authentication (RFC 6749 section 2.3.1): the client id and
/// secret in the body, or in an HTTP Basic header, each part form-encoded first as the RFC says.
fn post(
    client: &Client,
    endpoints: &Endpoints,
    target: Target,
    mut form: form_urlencoded::Serializer<'_, String>,
) -> Result<FormPost> {
    let config = &client.config;
    let mut authorization = None;
    match (endpoints.client_auth(), config.secret()?) {
        (ClientAuth::BasicHeader, Some(secret)) => {
            let encode = |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&config.client_id), encode(secret.expose_secret()));
            let mut value = HeaderValue::try_from(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ))
            .map_err(|_| Error::invalid_url("client credentials"))?;
            value.set_sensitive(true);
            authorization = Some(value);
        }
        (_, secret) => {
            form.append_pair("client_id", &config.client_id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret.expose_secret());
            }
        }
    }
    Ok(FormPost { target, authorization, body: form.finish().into_bytes() })
}
