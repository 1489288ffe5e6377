//! A tiny HTTP/1.1 client over loopback and helpers that walk the emulator's endpoints.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset of these helpers.
#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use url::Url;
use zoho_accounts_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator, EmulatorConfig};
use zoho_oauth_core::ManualClock;

/// An answer from the emulator.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The query parameters of the `Location` header.
    pub fn location_params(&self) -> HashMap<String, String> {
        let location = Url::parse(self.header("location").expect("a Location header")).unwrap();
        location.query_pairs().into_owned().collect()
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(method: &str, url: &Url, headers: &[(&str, &str)], body: &str) -> Reply {
    assert_eq!(url.host_str(), Some("127.0.0.1"), "tests only talk to loopback");
    let mut stream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        url.authority(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();

    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 4 + size..];
    }
}

pub async fn get(url: &Url) -> Reply {
    request("GET", url, &[], "").await
}

/// A form POST, the way clients are told to send token requests.
pub async fn post_form(url: &Url, pairs: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    request("POST", url, &[("Content-Type", "application/x-www-form-urlencoded")], &body).await
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = "a-fixed-test-verifier-that-is-long-enough-for-rfc7636".to_owned();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An emulator with data centers `us` and `eu` on a manual clock the test keeps.
pub struct Harness {
    pub emulator: Emulator,
    pub clock: ManualClock,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// Like [`start`](Self::start), with the configuration changed by `configure` first.
    pub async fn start_with(configure: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Self {
        let clock = ManualClock::starting_now();
        let config = EmulatorConfig::new().data_centers(&["us", "eu"]).clock(Arc::new(clock.clone()));
        let emulator = Emulator::start(configure(config)).await.expect("the emulator binds to loopback");
        Self { emulator, clock }
    }

    pub fn url(&self, dc: &str, path_and_query: &str) -> Url {
        self.emulator.accounts_url(dc).join(path_and_query).unwrap()
    }

    /// The demo client's authorization URL at `dc` with `extra` parameters.
    pub fn auth_url(&self, dc: &str, extra: &[(&str, &str)]) -> Url {
        let mut url = self.url(dc, "/oauth/v2/auth");
        url.query_pairs_mut()
            .append_pair("client_id", DEMO_CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", DEMO_REDIRECT_URI)
            .append_pair("scope", "ZohoCRM.modules.ALL,ZohoCRM.users.READ")
            .append_pair("access_type", "offline")
            .extend_pairs(extra);
        url
    }

    /// The demo client's authorization URL at `dc` with `pairs` replacing the defaults of the same name.
    pub fn auth_url_replacing(&self, dc: &str, pairs: &[(&str, &str)]) -> Url {
        let mut url = self.auth_url(dc, &[]);
        let kept: Vec<(String, String)> =
            url.query_pairs().into_owned().filter(|(name, _)| !pairs.iter().any(|(n, _)| n == name)).collect();
        url.query_pairs_mut().clear().extend_pairs(kept).extend_pairs(pairs);
        url
    }

    /// Consents at `dc` and returns the code from the redirect.
    pub async fn code(&self, dc: &str, extra: &[(&str, &str)]) -> String {
        let reply = get(&self.auth_url(dc, extra)).await;
        assert_eq!(reply.status, 302, "{}", reply.text());
        reply.location_params()["code"].clone()
    }

    /// Exchanges `code` at `dc` as the demo client, with `extra` parameters.
    pub async fn exchange(&self, dc: &str, code: &str, extra: &[(&str, &str)]) -> Reply {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("redirect_uri", DEMO_REDIRECT_URI),
        ];
        pairs.extend_from_slice(extra);
        post_form(&self.url(dc, "/oauth/v2/token"), &pairs).await
    }

    /// Consents and exchanges at `dc`, returning the token body.
    pub async fn tokens(&self, dc: &str) -> Value {
        let code = self.code(dc, &[]).await;
        let reply = self.exchange(dc, &code, &[]).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert!(body["access_token"].is_string(), "{body}");
        body
    }

    pub async fn refresh(&self, dc: &str, refresh_token: &str) -> Reply {
        let pairs = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ];
        post_form(&self.url(dc, "/oauth/v2/token"), &pairs).await
    }

    pub async fn revoke(&self, dc: &str, token: &str) -> Reply {
        post_form(&self.url(dc, "/oauth/v2/token/revoke"), &[("token", token)]).await
    }

    /// Calls the CRM endpoint at `dc` with an `Authorization` header.
    pub async fn crm(&self, dc: &str, authorization: &str) -> Reply {
        let url = self.emulator.api_domain(dc).join("/crm/v8/users?type=CurrentUser").unwrap();
        request("GET", &url, &[("Authorization", authorization)], "").await
    }
}

/// A form POST the way a browser sends one from a page of `url`'s origin.
pub async fn submit(url: &Url, pairs: &[(&str, &str)]) -> Reply {
    let origin = url.origin().ascii_serialization();
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", origin.as_str())];
    request("POST", url, &headers, &body).await
}

/// The value of the first `<input>` of `html` named `name`.
pub fn input_value(html: &str, name: &str) -> String {
    let start = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no input {name}: {html}"));
    let rest = &html[start + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The values of every radio button of `html` named `user`, in page order.
pub fn user_choices(html: &str) -> Vec<String> {
    html.match_indices("name=\"user\" value=\"")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// Asserts that an HTML page is self-contained: no script, no image, nothing loaded from elsewhere.
pub fn assert_self_contained(reply: &Reply) {
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(reply.header("content-security-policy").unwrap().starts_with("default-src 'none'"));
    let html = reply.text();
    for forbidden in ["<script", "<img", "<link", "<iframe", "src=", "http://", "https://"] {
        assert!(!html.contains(forbidden), "the page holds {forbidden:?}: {html}");
    }
}

/// Asserts a Zoho-style error body with the given HTTP status.
pub fn assert_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({ "error": error }));
    assert_eq!(reply.header("content-type"), Some("application/json;charset=UTF-8"));
}
