//! Discovery (RFC 8414, OpenID Connect Discovery) against a metadata server on loopback.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zoho_oauth::{ClientAuth, DiscoveryError, ReqwestClient, ServerMetadata};

/// A metadata server on 127.0.0.1: answers each path from `routes` (404 otherwise) and records the
/// paths it was asked for.
struct MetadataServer {
    origin: String,
    requested: Arc<Mutex<Vec<String>>>,
}

impl MetadataServer {
    /// `routes` maps a path to a JSON body; `{origin}` in a body becomes the server's origin.
    fn start(routes: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        let routes: HashMap<String, String> =
            routes.iter().map(|(path, body)| ((*path).to_owned(), body.replace("{origin}", &origin))).collect();
        let requested = Arc::new(Mutex::new(Vec::new()));
        let log = requested.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                stream.set_read_timeout(Some(Duration::from_secs(5))).expect("a timeout is valid");
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                log.lock().expect("not poisoned").push(path.clone());
                let (status, body) = match routes.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", r#"{"error":"not_found"}"#.to_owned()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self { origin, requested }
    }

    fn requested(&self) -> Vec<String> {
        self.requested.lock().expect("not poisoned").clone()
    }
}

const METADATA: &str = r#"{
    "issuer": "{origin}",
    "authorization_endpoint": "{origin}/authorize",
    "token_endpoint": "{origin}/token",
    "revocation_endpoint": "{origin}/revoke",
    "token_endpoint_auth_methods_supported": ["client_secret_post"],
    "code_challenge_methods_supported": ["S256"],
    "authorization_response_iss_parameter_supported": true
}"#;

fn http() -> ReqwestClient {
    ReqwestClient::new().expect("the default client builds")
}

#[tokio::test]
async fn rfc8414_metadata_gives_the_endpoints() {
    let server = MetadataServer::start(&[("/.well-known/oauth-authorization-server", METADATA)]);
    let endpoints = zoho_oauth::discover(&http(), &server.origin).await.expect("metadata is served");
    assert_eq!(endpoints.authorization_url().as_str(), format!("{}/authorize", server.origin));
    assert_eq!(endpoints.token_url().as_str(), format!("{}/token", server.origin));
    assert_eq!(endpoints.revocation_url().map(|u| u.to_string()), Some(format!("{}/revoke", server.origin)));
    assert_eq!(endpoints.client_auth(), ClientAuth::RequestBody);
    assert_eq!(endpoints.issuer(), Some(server.origin.as_str()));
    // The OpenID document is not asked for when RFC 8414's is served.
    assert_eq!(server.requested(), ["/.well-known/oauth-authorization-server"]);
}

#[tokio::test]
async fn openid_configuration_is_the_fallback() {
    let oidc = r#"{"issuer":"{origin}/tenant","authorization_endpoint":"{origin}/tenant/auth","token_endpoint":"{origin}/tenant/token"}"#;
    let server = MetadataServer::start(&[("/tenant/.well-known/openid-configuration", oidc)]);
    let issuer = format!("{}/tenant", server.origin);
    let metadata = ServerMetadata::discover(&http(), &issuer).await.expect("the OpenID document is served");
    assert_eq!(metadata.issuer(), issuer);
    let endpoints = metadata.endpoints().expect("valid endpoints");
    assert_eq!(endpoints.token_url().as_str(), format!("{issuer}/token"));
    assert_eq!(endpoints.client_auth(), ClientAuth::BasicHeader);
    assert_eq!(endpoints.issuer(), None);
    assert_eq!(
        server.requested(),
        ["/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration"]
    );
}

#[tokio::test]
async fn another_issuer_is_refused_without_trying_the_fallback() {
    let impostor = METADATA.replace(r#""issuer": "{origin}""#, r#""issuer": "{origin}/""#);
    let server = MetadataServer::start(&[
        ("/.well-known/oauth-authorization-server", &impostor),
        ("/.well-known/openid-configuration", METADATA),
    ]);
    let result = zoho_oauth::discover(&http(), &server.origin).await;
    assert!(matches!(result, Err(DiscoveryError::IssuerMismatch { .. })), "{result:?}");
    assert_eq!(server.requested().len(), 1);
}

#[tokio::test]
async fn a_server_without_metadata_is_a_typed_error() {
    let server = MetadataServer::start(&[]);
    let result = zoho_oauth::discover(&http(), &server.origin).await;
    assert!(matches!(result, Err(DiscoveryError::NotFound { status: 404 })), "{result:?}");
    assert_eq!(server.requested().len(), 2);
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_before_any_request() {
    let result = zoho_oauth::discover(&http(), "http://as.example").await;
    assert!(matches!(result, Err(DiscoveryError::InvalidIssuer { .. })), "{result:?}");
}
