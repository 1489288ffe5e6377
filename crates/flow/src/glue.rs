//! Where `oauth2` meets our HTTP seam and Zoho's dialect.
//!
//! `oauth2` builds every request and parses every response; this module only carries requests
//! through [`HttpClient`], normalizes responses first (see `zoho_oauth_core::response`), and
//! maps `oauth2`'s errors onto ours.

use std::sync::Arc;

use url::Url;

use oauth2::basic::BasicTokenIntrospectionResponse;
use oauth2::{AsyncHttpClient, AuthType, EndpointNotSet, EndpointSet, RequestTokenError, StandardRevocableToken};
use zoho_oauth_core::response::{self, Endpoint};
use zoho_oauth_core::{
    ClientAuth, Dialect, Endpoints, HttpClient, HttpRequest, HttpResponse, MalformedKind, RequestKind, ServerError,
    ZohoTokenResponse, redact,
};

use crate::config::ClientConfig;
use crate::error::Error;

/// The `oauth2` client type with our token-response and error types plugged in.
pub(crate) type OAuthClient<HasAuth = EndpointNotSet, HasRevocation = EndpointNotSet> = oauth2::Client<
    ServerError,
    ZohoTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    ServerError,
    HasAuth,
    EndpointNotSet,
    EndpointNotSet,
    HasRevocation,
    EndpointSet,
>;

/// Builds the `oauth2` client for `endpoints`.
pub(crate) fn oauth_client(config: &ClientConfig, endpoints: &Endpoints) -> OAuthClient {
    let mut client = oauth2::Client::new(oauth2::ClientId::new(config.client_id.clone()))
        .set_token_uri(oauth2::TokenUrl::from_url(endpoints.token_url().clone()))
        .set_auth_type(match endpoints.client_auth() {
            ClientAuth::RequestBody => AuthType::RequestBody,
            ClientAuth::BasicHeader => AuthType::BasicAuth,
        });
    if let Some(secret) = &config.client_secret {
        client = client.set_client_secret(oauth2::ClientSecret::new(secret.expose_secret().to_owned()));
    }
    if let Some(redirect) = &config.redirect_uri {
        client = client.set_redirect_uri(oauth2::RedirectUrl::from_url(redirect.clone()));
    }
    client
}

/// Carries `oauth2`'s requests over our [`HttpClient`].
pub(crate) struct Carrier {
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) kind: RequestKind,
    pub(crate) dialect: Dialect,
    /// Where the request really goes, when `oauth2` was given a stand-in URL (see [`revocation_url`]).
    pub(crate) target: Option<Url>,
}

/// The revocation URL to give `oauth2`, and the real one for the [`Carrier`] to send to.
///
/// `oauth2` refuses any revocation URL that is not `https` (RFC 7009 section 2). Our endpoints
/// already allow plain `http` only on loopback hosts (`Endpoints` checks it), so for such a URL
/// `oauth2` gets an `https` stand-in and the carrier sends the request to the real one.
pub(crate) fn revocation_url(url: &Url) -> (oauth2::RevocationUrl, Option<Url>) {
    if url.scheme() == "http" && zoho_oauth_core::endpoints::is_loopback(url) {
        let mut stand_in = url.clone();
        if stand_in.set_scheme("https").is_ok() {
            return (oauth2::RevocationUrl::from_url(stand_in), Some(url.clone()));
        }
    }
    (oauth2::RevocationUrl::from_url(url.clone()), None)
}

impl<'c> AsyncHttpClient<'c> for Carrier {
    type Error = zoho_oauth_core::Error;
    type Future = zoho_oauth_core::BoxFuture<'c, Result<HttpResponse, Self::Error>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let endpoint = match self.kind {
                RequestKind::Revoke => Endpoint::Revocation,
                _ => Endpoint::Token,
            };
            let mut request = request;
            if let Some(target) = &self.target {
                if let Ok(uri) = target.as_str().parse() {
                    *request.uri_mut() = uri;
                }
            }
            let request = if self.kind == RequestKind::Revoke && self.dialect == Dialect::Zoho {
                zoho_revocation(request)
            } else {
                request
            };
            let response = self.http.execute(request, self.kind).await?;
            response::normalize(endpoint, response)
        })
    }
}

/// Zoho documents revocation as `POST /oauth/v2/token/revoke?token=...`: copy the token from the
/// RFC 7009 form body into the query as well, so both readings of the request find it.
fn zoho_revocation(mut request: HttpRequest) -> HttpRequest {
    let token = url::form_urlencoded::parse(request.body())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned());
    if let Some(token) = token {
        let mut url = match url::Url::parse(&request.uri().to_string()) {
            Ok(url) => url,
            Err(_) => return request,
        };
        url.query_pairs_mut().append_pair("token", &token);
        if let Ok(uri) = url.as_str().parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Maps `oauth2`'s error onto ours.
pub(crate) fn map_error(error: RequestTokenError<zoho_oauth_core::Error, ServerError>) -> Error {
    match error {
        RequestTokenError::ServerResponse(server) => zoho_oauth_core::Error::from(server).into(),
        RequestTokenError::Request(inner) => inner.into(),
        RequestTokenError::Parse(_, body) => Error::MalformedResponse {
            status: 200,
            kind: MalformedKind::UnexpectedShape,
            excerpt: redact::excerpt(&body),
        },
        RequestTokenError::Other(message) => Error::MalformedResponse {
            status: 0,
            kind: MalformedKind::UnexpectedShape,
            excerpt: redact::excerpt(message.as_bytes()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_revocation_carries_the_token_in_the_query_and_the_body() {
        let request = http::Request::post("https://accounts.zoho.eu/oauth/v2/token/revoke")
            .body(b"token=1000.abc%2Edef&token_type_hint=refresh_token".to_vec())
            .expect("a valid request");
        let request = zoho_revocation(request);
        assert_eq!(request.uri().query(), Some("token=1000.abc.def"));
        assert_eq!(request.body(), b"token=1000.abc%2Edef&token_type_hint=refresh_token");
    }

    #[test]
    fn loopback_revocation_urls_get_an_https_stand_in() {
        let (stand_in, target) = revocation_url(&Url::parse("http://127.0.0.1:8080/revoke").expect("a URL"));
        assert_eq!(stand_in.url().as_str(), "https://127.0.0.1:8080/revoke");
        assert_eq!(target.expect("the real URL").as_str(), "http://127.0.0.1:8080/revoke");
        let (real, target) =
            revocation_url(&Url::parse("https://accounts.zoho.com/oauth/v2/token/revoke").expect("a URL"));
        assert_eq!(real.url().scheme(), "https");
        assert!(target.is_none());
    }
}
