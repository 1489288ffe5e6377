//! The HTTP policy protects a user's own `HttpClient` as it protects the bundled one: a stub that
//! answers a token request with a redirect, a 10 MiB body or a body that never ends gets the same
//! refusals. And the access token goes only to an API domain the endpoints trust.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use url::Url;
use zoho_oauth_core::{
    AccessToken, BodyStream, BoxFuture, Bytes, DataCenter, Endpoints, Environment, HttpClient, HttpRequest, Redirected,
    RefreshToken, RequestKind, ResponseBody, Scopes, StreamingResponse, TokenSet, TransportError, TransportErrorKind,
};
use zoho_oauth_flow::{Authorized, ClientConfig, Error, Flow, HttpPolicy, RetryPolicy};

/// What the stub answers.
#[derive(Debug, Clone)]
enum Answer {
    Json(u16, &'static str),
    /// A 302 to another host.
    Redirect,
    /// A 200 that the client says it got by following a redirect.
    FollowedRedirect,
    /// `size` bytes, produced lazily in 64 KiB chunks, with or without a declared length.
    Sized {
        size: usize,
        declare_length: bool,
    },
    /// A head, then a body that never sends a byte.
    Stalled,
}

#[derive(Debug, Default)]
struct Stub {
    token: Mutex<VecDeque<Answer>>,
    api: Mutex<VecDeque<Answer>>,
    /// Every request's kind and host, in order.
    seen: Mutex<Vec<(RequestKind, String)>>,
    /// Body bytes handed out so far.
    produced: Arc<AtomicUsize>,
}

impl Stub {
    fn token(self, answer: Answer) -> Self {
        self.token.lock().unwrap().push_back(answer);
        self
    }

    fn api(self, answer: Answer) -> Self {
        self.api.lock().unwrap().push_back(answer);
        self
    }

    fn seen(&self, kind: RequestKind) -> Vec<String> {
        self.seen.lock().unwrap().iter().filter(|(k, _)| *k == kind).map(|(_, host)| host.clone()).collect()
    }
}

struct Lazy {
    left: usize,
    declared: Option<u64>,
    produced: Arc<AtomicUsize>,
}

impl BodyStream for Lazy {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>> {
        let n = self.left.min(64 * 1024);
        self.left -= n;
        self.produced.fetch_add(n, Ordering::SeqCst);
        Box::pin(async move { Ok((n > 0).then(|| Bytes::from(vec![b' '; n]))) })
    }

    fn declared_length(&self) -> Option<u64> {
        self.declared
    }
}

struct Stall;

impl BodyStream for Stall {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, TransportError>> {
        Box::pin(std::future::pending())
    }
}

impl HttpClient for Stub {
    fn execute(
        &self,
        request: HttpRequest,
        kind: RequestKind,
    ) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        self.seen.lock().unwrap().push((kind, host));
        let queue = if kind == RequestKind::Api { &self.api } else { &self.token };
        let answer = queue.lock().unwrap().pop_front().unwrap_or(match kind {
            RequestKind::Api => Answer::Json(200, r#"{"users":[]}"#),
            _ => Answer::Json(200, r#"{"access_token":"fresh","expires_in":3600}"#),
        });
        let builder = http::Response::builder().header("content-type", "application/json");
        let response = match answer {
            Answer::Json(status, body) => builder.status(status).body(ResponseBody::from(body)),
            Answer::Redirect => {
                builder.status(302).header("location", "https://evil.example/").body(ResponseBody::empty())
            }
            Answer::FollowedRedirect => builder
                .status(200)
                .extension(Redirected)
                .body(ResponseBody::from(r#"{"access_token":"stolen","expires_in":3600}"#)),
            Answer::Sized { size, declare_length } => builder.status(200).body(ResponseBody::from_stream(Lazy {
                left: size,
                declared: declare_length.then_some(size as u64),
                produced: self.produced.clone(),
            })),
            Answer::Stalled => builder.status(200).body(ResponseBody::from_stream(Stall)),
        };
        Box::pin(async move { Ok(response.unwrap()) })
    }
}

fn tokens(api_domain: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new("initial"),
        Some(RefreshToken::new("refresh")),
        Utc::now() + chrono::Duration::hours(1),
        Some(Url::parse(api_domain).unwrap()),
        DataCenter::Us.accounts_server(),
        Scopes::empty(),
    )
}

fn session_at(stub: &Arc<Stub>, endpoints: Endpoints, api_domain: &str, policy: HttpPolicy) -> Flow<Authorized> {
    let config = ClientConfig::new("1000.CLIENT", endpoints).http_policy(policy);
    Flow::new(config, stub.clone()).restore(tokens(api_domain)).unwrap()
}

fn session(stub: &Arc<Stub>) -> Flow<Authorized> {
    let policy = HttpPolicy::default().timeout(Duration::from_millis(300));
    session_at(stub, Endpoints::zoho(DataCenter::Us, Environment::Production), "https://www.zohoapis.com", policy)
}

fn transport_kind(result: Result<(), Error>) -> TransportErrorKind {
    match result.as_ref().map_err(Error::cause) {
        Err(Error::Transport(error)) => error.kind(),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

fn get(url: &str) -> HttpRequest {
    http::Request::get(url).body(Vec::new()).unwrap()
}

#[tokio::test]
async fn a_stub_that_redirects_a_token_request_is_refused() {
    let stub = Arc::new(Stub::default().token(Answer::Redirect).token(Answer::FollowedRedirect));
    let session = session(&stub);
    assert_eq!(transport_kind(session.refresh().await), TransportErrorKind::Redirect);
    assert_eq!(stub.seen(RequestKind::Refresh).len(), 1, "a redirect is neither followed nor retried");
    // A redirect the client followed itself is refused too: the "stolen" token is never used.
    let session = session_at(
        &stub,
        Endpoints::zoho(DataCenter::Us, Environment::Production),
        "https://www.zohoapis.com",
        HttpPolicy::default(),
    );
    assert_eq!(transport_kind(session.refresh().await), TransportErrorKind::Redirect);
    assert_eq!(session.tokens().access_token().expose_secret(), "initial");
}

#[tokio::test]
async fn a_stubs_huge_token_answer_is_refused_without_reading_it() {
    for declare_length in [true, false] {
        let stub = Arc::new(Stub::default().token(Answer::Sized { size: 10 * 1024 * 1024, declare_length }));
        let session = session(&stub);
        assert_eq!(transport_kind(session.refresh().await), TransportErrorKind::BodyTooLarge);
        let produced = stub.produced.load(Ordering::SeqCst);
        assert!(produced <= 128 * 1024, "declared {declare_length}: read {produced} bytes of a 10 MiB body");
    }
}

#[tokio::test]
async fn a_stubs_stalled_body_times_out() {
    let stub = Arc::new(Stub::default().token(Answer::Stalled));
    let session = session(&stub);
    let started = std::time::Instant::now();
    assert_eq!(transport_kind(session.refresh().await), TransportErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the policy's 300 ms");
}

#[tokio::test]
async fn a_stubs_5xx_is_retried_on_refresh_only() {
    let policy = HttpPolicy::default().retry(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(5),
    });
    let stub = Arc::new(Stub::default().token(Answer::Json(503, "<html></html>")).api(Answer::Json(503, "{}")));
    let session =
        session_at(&stub, Endpoints::zoho(DataCenter::Us, Environment::Production), "https://www.zohoapis.com", policy);
    session.refresh().await.unwrap();
    assert_eq!(stub.seen(RequestKind::Refresh).len(), 2, "one 503, then the retry");
    let response = session.send(get("https://www.zohoapis.com/crm/v8/Leads")).await.unwrap();
    assert_eq!(response.status(), 503, "an API call that reached the server is not retried");
    assert_eq!(stub.seen(RequestKind::Api).len(), 1);
}

#[tokio::test]
async fn api_answers_pass_whole_up_to_the_api_limit_and_stream_beyond() {
    let stub = Arc::new(
        Stub::default()
            .api(Answer::Sized { size: 255 * 1024, declare_length: true })
            .api(Answer::Sized { size: 10 * 1024 * 1024, declare_length: false })
            .api(Answer::Sized { size: 17 * 1024 * 1024, declare_length: true })
            .api(Answer::Sized { size: 40 * 1024 * 1024, declare_length: true })
            .api(Answer::Redirect),
    );
    let session = session(&stub);
    let url = session.api_url("/crm/v8/Leads?per_page=200").unwrap();
    assert_eq!(session.send(get(url.as_str())).await.unwrap().body().len(), 255 * 1024);
    assert_eq!(session.send(get(url.as_str())).await.unwrap().body().len(), 10 * 1024 * 1024);
    let over = session.send(get(url.as_str())).await.map(drop);
    assert_eq!(transport_kind(over), TransportErrorKind::BodyTooLarge, "over the 16 MiB default");

    let mut response = session.send_streaming(get(url.as_str())).await.unwrap();
    let mut read = 0;
    while let Some(chunk) = response.body_mut().next_chunk().await.unwrap() {
        read += chunk.len();
    }
    assert_eq!(read, 40 * 1024 * 1024, "a streamed answer has no cap");
    let response = session.send(get(url.as_str())).await.unwrap();
    assert_eq!(response.status(), 302, "an API call gets the redirect back, not followed");
}

#[tokio::test]
async fn send_streaming_refreshes_once_on_a_rejected_token() {
    let invalid = r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}"#;
    let stub = Arc::new(Stub::default().api(Answer::Json(401, invalid)).api(Answer::Json(401, invalid)));
    let first = session(&stub);
    let response = first.send_streaming(get("https://www.zohoapis.com/crm/v8/Leads")).await.unwrap();
    assert_eq!(response.status(), 401, "the retry's answer is returned, never a loop");
    assert_eq!(stub.seen(RequestKind::Refresh).len(), 1);
    assert_eq!(stub.seen(RequestKind::Api).len(), 2);
    let scope = r#"{"code":"OAUTH_SCOPE_MISMATCH","details":{},"message":"invalid oauth scope","status":"error"}"#;
    let stub = Arc::new(Stub::default().api(Answer::Json(401, scope)));
    let other = session(&stub);
    let response = other.send_streaming(get("https://www.zohoapis.com/crm/v8/Leads")).await.unwrap();
    let body = response.into_body().collect(1024).await.unwrap();
    assert_eq!(body, scope.as_bytes(), "another 401 comes back whole, without a refresh");
    assert!(stub.seen(RequestKind::Refresh).is_empty());
}

#[tokio::test]
async fn an_untrusted_api_domain_gets_no_request() {
    let zoho = || Endpoints::zoho(DataCenter::Us, Environment::Production);
    for untrusted in [
        "https://www.zohoapis.com.evil.example",
        "https://evil.example",
        "http://www.zohoapis.com",
        "https://sandbox.zohoapis.com",
        "http://127.0.0.1:9",
    ] {
        let stub = Arc::new(Stub::default());
        let session = session_at(&stub, zoho(), untrusted, HttpPolicy::default());
        assert!(matches!(session.api_url("/crm/v8/Leads"), Err(Error::UntrustedApiDomain { .. })), "{untrusted}");
        let request = get(&format!("{}crm/v8/Leads", Url::parse(untrusted).unwrap()));
        let error = session.send(request).await.unwrap_err();
        assert!(matches!(error, Error::UntrustedApiDomain { .. }), "{untrusted}: {error:?}");
        assert!(error.to_string().contains("nothing was sent"), "{error}");
        let request = get(&format!("{}crm/v8/Leads", Url::parse(untrusted).unwrap()));
        assert!(matches!(session.send_streaming(request).await, Err(Error::UntrustedApiDomain { .. })));
        assert!(stub.seen.lock().unwrap().is_empty(), "{untrusted}: no request of any kind");
    }
    // Trusted explicitly, the same host is called.
    let stub = Arc::new(Stub::default());
    let endpoints = zoho().with_trusted_api_domain("https://crm.example.com").unwrap();
    let session = session_at(&stub, endpoints, "https://crm.example.com", HttpPolicy::default());
    let url = session.api_url("/crm/v8/Leads").unwrap();
    assert_eq!(session.send(get(url.as_str())).await.unwrap().status(), 200);
    assert_eq!(stub.seen(RequestKind::Api), ["crm.example.com"]);
    // Another data center's API domain is Zoho's own, and trusted.
    let stub = Arc::new(Stub::default());
    let session = session_at(&stub, zoho(), "https://www.zohoapis.eu", HttpPolicy::default());
    assert_eq!(session.api_url("/crm/v8/Leads").unwrap().as_str(), "https://www.zohoapis.eu/crm/v8/Leads");
}

#[tokio::test]
async fn api_url_never_leaves_the_api_domain() {
    let stub = Arc::new(Stub::default());
    let session = session(&stub);
    for escape in [
        "https://evil.example/crm",
        "//evil.example/crm",
        "/\\evil.example/crm",
        "\\\\evil.example/crm",
        "http://www.zohoapis.com/crm",
        "//user@www.zohoapis.com/crm",
        "https://www.zohoapis.com:8443/crm",
    ] {
        assert!(matches!(session.api_url(escape), Err(Error::Config(_))), "{escape}: {:?}", session.api_url(escape));
    }
    assert_eq!(
        session.api_url("/crm/v8/users?type=CurrentUser").unwrap().as_str(),
        "https://www.zohoapis.com/crm/v8/users?type=CurrentUser"
    );
    assert!(stub.seen.lock().unwrap().is_empty());
}
