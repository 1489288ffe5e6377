//! Endpoints from an issuer URL: authorization server metadata
//! ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414)) and, as a fallback,
//! [OpenID Connect Discovery 1.0](https://openid.net/specs/openid-connect-discovery-1_0.html).
//!
//! [`discover`] fetches `/.well-known/oauth-authorization-server` (inserted before the issuer's
//! path, RFC 8414 section 3.1), then `/.well-known/openid-configuration` (appended to it, OpenID
//! Connect Discovery section 4.1) when the first is not served. A served document whose `issuer`
//! differs from the one asked for, by a single character, is refused (RFC 8414 section 3.3): it may
//! come from an attacker's server, and its endpoints would receive the code and the client secret.
//!
//! Zoho publishes no metadata: use [`Endpoints::zoho`](zoho_oauth_core::Endpoints::zoho) for it.

use serde::Deserialize;
use url::Url;
use zoho_oauth_core::{ClientAuth, Endpoints, HttpClient, HttpResponse, RequestKind, TransportError, redact};

/// What went wrong while discovering a server's endpoints.
///
/// No variant holds a server body: only a masked excerpt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not an `https` URL (or `http` on a loopback host) without query and fragment
    /// (RFC 8414 section 2).
    #[error("invalid issuer: {reason}")]
    InvalidIssuer {
        /// What was wrong.
        reason: &'static str,
    },
    /// Neither well-known document was served; `status` is the last HTTP status received.
    #[error("the server publishes no metadata (HTTP {status} for both well-known documents)")]
    NotFound {
        /// The HTTP status of the last attempt.
        status: u16,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The document is not a JSON object with the required members.
    #[error("malformed server metadata: {excerpt}")]
    Malformed {
        /// A short excerpt of the body with anything token-like masked.
        excerpt: String,
    },
    /// The document names another issuer than the one asked for (RFC 8414 section 3.3).
    #[error("the metadata names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer asked for.
        expected: String,
        /// The issuer the document names.
        found: String,
    },
    /// An endpoint in the document is not an `https` URL (or `http` on a loopback host).
    #[error("the metadata holds an unusable endpoint: {0}")]
    Endpoint(#[source] zoho_oauth_core::Error),
    /// The server lists its PKCE methods and S256, which every flow sends, is not among them.
    #[error("the server does not support PKCE with S256")]
    PkceUnsupported,
}

/// The members of a server's metadata document that the flow uses
/// ([RFC 8414 section 2](https://www.rfc-editor.org/rfc/rfc8414#section-2)).
///
/// ```
/// use zoho_oauth_core::ClientAuth;
/// use zoho_oauth_flow::ServerMetadata;
///
/// let document = br#"{
///     "issuer": "https://as.example",
///     "authorization_endpoint": "https://as.example/authorize",
///     "token_endpoint": "https://as.example/token",
///     "token_endpoint_auth_methods_supported": ["client_secret_post"],
///     "code_challenge_methods_supported": ["S256"],
///     "authorization_response_iss_parameter_supported": true
/// }"#;
/// let metadata = ServerMetadata::parse("https://as.example", document)?;
/// let endpoints = metadata.endpoints()?;
/// assert_eq!(endpoints.token_url().as_str(), "https://as.example/token");
/// assert_eq!(endpoints.client_auth(), ClientAuth::RequestBody);
/// assert_eq!(endpoints.issuer(), Some("https://as.example"));
/// # Ok::<(), zoho_oauth_flow::DiscoveryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    authorization_response_iss_parameter_supported: bool,
}

/// The document as served; unknown members are ignored (RFC 8414 section 3.2).
#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl ServerMetadata {
    /// Fetches the metadata of `issuer` through `http`: RFC 8414's document first, OpenID Connect's
    /// when the first is not served (any status but 2xx). A document that is served but malformed,
    /// or names another issuer, is an error, not a reason to try the other.
    pub async fn discover(http: &dyn HttpClient, issuer: &str) -> Result<Self, DiscoveryError> {
        let base = parse_issuer(issuer)?;
        let mut status = 0;
        for url in well_known_urls(&base) {
            let response = get(http, &url).await?;
            if response.status().is_success() {
                return Self::parse(issuer, response.body());
            }
            status = response.status().as_u16();
        }
        Err(DiscoveryError::NotFound { status })
    }

    /// Reads a metadata document that `issuer` served, e.g. one cached earlier.
    ///
    /// Fails if the document is not a JSON object with `issuer`, `authorization_endpoint` and
    /// `token_endpoint`, or if its `issuer` is not exactly `issuer`.
    pub fn parse(issuer: &str, document: &[u8]) -> Result<Self, DiscoveryError> {
        parse_issuer(issuer)?;
        let document: Document = serde_json::from_slice(document)
            .map_err(|_| DiscoveryError::Malformed { excerpt: redact::excerpt(document) })?;
        if document.issuer != issuer {
            return Err(DiscoveryError::IssuerMismatch { expected: issuer.to_owned(), found: document.issuer });
        }
        Ok(Self {
            issuer: document.issuer,
            authorization_endpoint: document.authorization_endpoint,
            token_endpoint: document.token_endpoint,
            revocation_endpoint: document.revocation_endpoint,
            code_challenge_methods_supported: document.code_challenge_methods_supported,
            token_endpoint_auth_methods_supported: document.token_endpoint_auth_methods_supported,
            authorization_response_iss_parameter_supported: document.authorization_response_iss_parameter_supported,
        })
    }

    /// The [`Endpoints`] these metadata describe, in the standard dialect:
    ///
    /// - the authorization, token and revocation endpoints, each `https` (or `http` on loopback);
    /// - client authentication with `client_secret_basic` when the server lists it or lists
    ///   nothing (RFC 8414's default), else `client_secret_post` when it lists that;
    /// - the issuer required in authorization responses ([`Endpoints::with_issuer`], RFC 9207)
    ///   when the server says it sends `iss`.
    ///
    /// Fails with [`DiscoveryError::PkceUnsupported`] when the server lists its PKCE methods
    /// without S256; a server that lists none is trusted to accept PKCE, as most do.
    pub fn endpoints(&self) -> Result<Endpoints, DiscoveryError> {
        if let Some(methods) = &self.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err(DiscoveryError::PkceUnsupported);
            }
        }
        let endpoints = Endpoints::standard(
            &self.authorization_endpoint,
            &self.token_endpoint,
            self.revocation_endpoint.as_deref(),
        )
        .map_err(DiscoveryError::Endpoint)?;
        let listed = |method: &str| {
            self.token_endpoint_auth_methods_supported
                .as_ref()
                .is_some_and(|methods| methods.iter().any(|m| m == method))
        };
        let basic = self.token_endpoint_auth_methods_supported.is_none() || listed("client_secret_basic");
        let auth =
            if !basic && listed("client_secret_post") { ClientAuth::RequestBody } else { ClientAuth::BasicHeader };
        let endpoints = endpoints.with_client_auth(auth);
        Ok(if self.authorization_response_iss_parameter_supported {
            endpoints.with_issuer(&self.issuer)
        } else {
            endpoints
        })
    }

    /// The issuer, exactly as asked for and as the document names it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The PKCE methods the server lists, if it lists them (`code_challenge_methods_supported`).
    pub fn code_challenge_methods_supported(&self) -> Option<&[String]> {
        self.code_challenge_methods_supported.as_deref()
    }

    /// The client authentication methods the server lists, if it lists them
    /// (`token_endpoint_auth_methods_supported`).
    pub fn token_endpoint_auth_methods_supported(&self) -> Option<&[String]> {
        self.token_endpoint_auth_methods_supported.as_deref()
    }

    /// Whether the server sends `iss` in authorization responses (RFC 9207).
    pub fn authorization_response_iss_parameter_supported(&self) -> bool {
        self.authorization_response_iss_parameter_supported
    }
}

/// Discovers the [`Endpoints`] of the server at `issuer`: [`ServerMetadata::discover`], then
/// [`ServerMetadata::endpoints`].
///
/// ```no_run
/// # use std::sync::Arc;
/// # use zoho_oauth_core::{HttpClient, Scopes};
/// # use zoho_oauth_flow::{ClientConfig, Flow};
/// # async fn example(http: Arc<dyn HttpClient>) -> Result<(), Box<dyn std::error::Error>> {
/// let endpoints = zoho_oauth_flow::discover(&*http, "https://login.example.com").await?;
/// let config = ClientConfig::new("my-client", endpoints).scopes(Scopes::parse("openid profile")?);
/// let (url, pending) = Flow::new(config, http).authorization_url();
/// # drop((url, pending));
/// # Ok(())
/// # }
/// ```
pub async fn discover(http: &dyn HttpClient, issuer: &str) -> Result<Endpoints, DiscoveryError> {
    ServerMetadata::discover(http, issuer).await?.endpoints()
}

/// Sends one GET: the only place discovery touches the HTTP seam, so that a change to the seam is
/// one change here. `Api` is the request kind with no token in it, which a transport may retry.
async fn get(http: &dyn HttpClient, url: &Url) -> Result<HttpResponse, TransportError> {
    let request =
        http::Request::get(url.as_str()).header(http::header::ACCEPT, "application/json").body(Vec::new()).map_err(
            |_| TransportError::new(zoho_oauth_core::TransportErrorKind::InvalidRequest, "invalid metadata url"),
        )?;
    // The policy bounds the time and the body, and refuses nothing else for an API-kind GET.
    crate::http::HttpPolicy::default().execute(http, request, RequestKind::Api).await
}

/// Checks `issuer` (RFC 8414 section 2): `https`, or `http` on a loopback host only, with a host,
/// and no query or fragment.
fn parse_issuer(issuer: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(issuer).map_err(|_| DiscoveryError::InvalidIssuer { reason: "not an absolute url" })?;
    let scheme_ok = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => zoho_oauth_core::endpoints::is_loopback(&url),
        _ => false,
    };
    if !scheme_ok {
        return Err(DiscoveryError::InvalidIssuer { reason: "an issuer is https (http only on a loopback host)" });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DiscoveryError::InvalidIssuer { reason: "an issuer has no query or fragment" });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DiscoveryError::InvalidIssuer { reason: "an issuer holds no credentials" });
    }
    Ok(url)
}

/// RFC 8414's URL (the well-known part inserted between host and path, a terminating `/` removed
/// first), then OpenID Connect's (appended to the path). For an issuer without a path both are
/// at the root.
fn well_known_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    [rfc8414, oidc]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(issuer: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize","token_endpoint":"{issuer}/token"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn well_known_urls_follow_both_specifications() {
        let [rfc, oidc] = well_known_urls(&Url::parse("https://as.example").expect("valid"));
        assert_eq!(rfc.as_str(), "https://as.example/.well-known/oauth-authorization-server");
        assert_eq!(oidc.as_str(), "https://as.example/.well-known/openid-configuration");
        let [rfc, oidc] = well_known_urls(&Url::parse("https://as.example/tenant/one/").expect("valid"));
        assert_eq!(rfc.as_str(), "https://as.example/.well-known/oauth-authorization-server/tenant/one");
        assert_eq!(oidc.as_str(), "https://as.example/tenant/one/.well-known/openid-configuration");
    }

    #[test]
    fn issuers_must_be_https_or_loopback() {
        for bad in [
            "http://as.example",
            "https://as.example?x=1",
            "https://as.example#f",
            "https://user@as.example",
            "ftp://as.example",
            "as.example",
        ] {
            assert!(matches!(parse_issuer(bad), Err(DiscoveryError::InvalidIssuer { .. })), "{bad}");
        }
        for good in ["https://as.example", "http://127.0.0.1:8080", "http://localhost:3000/oidc", "http://[::1]:9"] {
            assert!(parse_issuer(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        for found in ["https://as.example/", "https://AS.example", "https://as.example/other", "https://evil.example"] {
            let result = ServerMetadata::parse("https://as.example", &document(found, ""));
            assert!(matches!(result, Err(DiscoveryError::IssuerMismatch { .. })), "{found}");
        }
    }

    #[test]
    fn client_auth_follows_the_listed_methods() {
        let auth = |methods: &str| {
            let extra = if methods.is_empty() {
                String::new()
            } else {
                format!(r#","token_endpoint_auth_methods_supported":{methods}"#)
            };
            ServerMetadata::parse("https://as.example", &document("https://as.example", &extra))
                .and_then(|m| m.endpoints())
                .map(|e| e.client_auth())
                .expect("valid metadata")
        };
        assert_eq!(auth(""), ClientAuth::BasicHeader);
        assert_eq!(auth(r#"["client_secret_basic","client_secret_post"]"#), ClientAuth::BasicHeader);
        assert_eq!(auth(r#"["client_secret_post"]"#), ClientAuth::RequestBody);
        assert_eq!(auth(r#"["private_key_jwt"]"#), ClientAuth::BasicHeader);
    }

    #[test]
    fn pkce_and_iss_support_are_honoured() {
        let plain_only = document("https://as.example", r#","code_challenge_methods_supported":["plain"]"#);
        let metadata = ServerMetadata::parse("https://as.example", &plain_only).expect("valid metadata");
        assert!(matches!(metadata.endpoints(), Err(DiscoveryError::PkceUnsupported)));
        let unlisted = ServerMetadata::parse("https://as.example", &document("https://as.example", "")).expect("valid");
        assert_eq!(unlisted.endpoints().expect("pkce assumed").issuer(), None);
        let iss = document("https://as.example", r#","authorization_response_iss_parameter_supported":true"#);
        let endpoints = ServerMetadata::parse("https://as.example", &iss).and_then(|m| m.endpoints()).expect("valid");
        assert_eq!(endpoints.issuer(), Some("https://as.example"));
    }

    #[test]
    fn bad_documents_are_typed_errors() {
        let not_json = ServerMetadata::parse("https://as.example", b"<html>sign in</html>");
        assert!(matches!(not_json, Err(DiscoveryError::Malformed { .. })));
        let missing = ServerMetadata::parse("https://as.example", br#"{"issuer":"https://as.example"}"#);
        assert!(matches!(missing, Err(DiscoveryError::Malformed { .. })));
        let http_endpoint = br#"{"issuer":"https://as.example","authorization_endpoint":"http://as.example/a","token_endpoint":"https://as.example/t"}"#;
        let metadata = ServerMetadata::parse("https://as.example", http_endpoint).expect("parses");
        assert!(matches!(metadata.endpoints(), Err(DiscoveryError::Endpoint(_))));
    }
}
