//! The transport under the flow's policy layer, against hostile servers on loopback: each server
//! is a few lines of raw TCP, so it can misbehave in ways a real HTTP framework would not allow.
//!
//! `ReqwestClient` only sends; retries, caps, redirect refusal and the total timeout come from
//! `HttpPolicy`, so these tests prove the guarantees a flow gets over this transport.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zoho_oauth_core::{
    HttpClient, HttpRequest, HttpResponse, RequestKind, StreamingResponse, TransportError, TransportErrorKind,
};
use zoho_oauth_flow::{HttpPolicy, RetryPolicy, TOKEN_BODY_LIMIT};
use zoho_oauth_reqwest::ReqwestClient;

#[derive(Clone, Copy)]
enum Fault {
    /// Reads the request and never answers.
    Silent,
    /// Promises 100 bytes and closes after 10.
    CloseMidBody,
    /// Sends one byte of the body every 100 ms.
    Trickle,
    /// Sends a body of `size` bytes, with or without a Content-Length.
    Sized { size: usize, declare_length: bool },
    /// Answers 503 to the first `n` requests, then a token response.
    Unavailable { n: usize },
    /// Answers a redirect to `location`.
    Redirect { location: &'static str },
    /// Answers a token response to anything.
    Token,
}

struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(fault: Fault) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/v2/token", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let _ = handle(stream, fault, n).await;
            });
        }
    });
    Server { url, requests, task }
}

async fn handle(mut stream: TcpStream, fault: Fault, n: usize) -> std::io::Result<()> {
    read_request(&mut stream).await?;
    let json = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n";
    match fault {
        Fault::Silent => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Fault::CloseMidBody => {
            stream.write_all(format!("{json}content-length: 100\r\n\r\n{{\"access_").as_bytes()).await?;
        }
        Fault::Trickle => {
            stream.write_all(format!("{json}content-length: 100\r\n\r\n").as_bytes()).await?;
            for _ in 0..100 {
                stream.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Fault::Sized { size, declare_length } => {
            let head =
                if declare_length { format!("{json}content-length: {size}\r\n\r\n") } else { format!("{json}\r\n") };
            stream.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                stream.write_all(&chunk[..n]).await?;
                left -= n;
            }
        }
        Fault::Unavailable { n: failures } => {
            let response = if n < failures {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<html></html>".to_owned()
            } else {
                let body = r#"{"access_token":"a","expires_in":3600}"#;
                format!("{json}content-length: {}\r\n\r\n{body}", body.len())
            };
            stream.write_all(response.as_bytes()).await?;
        }
        Fault::Redirect { location } => {
            let head = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
        }
        Fault::Token => {
            let body = r#"{"access_token":"a","expires_in":3600}"#;
            stream.write_all(format!("{json}content-length: {}\r\n\r\n{body}", body.len()).as_bytes()).await?;
        }
    }
    stream.shutdown().await
}

/// Reads one request: headers, then as many body bytes as Content-Length says.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await?;
                if read == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            return Ok(());
        }
    }
}

fn post(url: &str) -> HttpRequest {
    http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"grant_type=refresh_token&refresh_token=r".to_vec())
        .unwrap()
}

/// The bundled transport under a policy: what a flow sends its requests through.
struct Policed {
    http: ReqwestClient,
    policy: HttpPolicy,
}

impl Policed {
    async fn execute(&self, request: HttpRequest, kind: RequestKind) -> Result<HttpResponse, TransportError> {
        self.policy.execute(&self.http, request, kind).await
    }

    async fn execute_streaming(
        &self,
        request: HttpRequest,
        kind: RequestKind,
    ) -> Result<StreamingResponse, TransportError> {
        self.policy.execute_streaming(&self.http, request, kind).await
    }
}

fn client(timeout_ms: u64, retry: RetryPolicy) -> Policed {
    let http = ReqwestClient::builder().connect_timeout(Duration::from_millis(500)).build().unwrap();
    Policed { http, policy: HttpPolicy::default().timeout(Duration::from_millis(timeout_ms)).retry(retry) }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = serve(Fault::Silent).await;
    let error = client(300, fast_retries()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
    assert_eq!(error.to_string(), "the server did not answer in time (limit 300 ms)");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1, "a request that reached the server is not retried");
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_interrupted() {
    let server = serve(Fault::CloseMidBody).await;
    let error = client(2_000, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Interrupted, "{error}");
    assert!(!error.to_string().contains("could not connect"), "{error}");
    assert!(std::error::Error::source(&error).is_some(), "reqwest's error is kept as the typed source");
}

#[tokio::test]
async fn a_trickling_server_hits_the_total_timeout() {
    let server = serve(Fault::Trickle).await;
    let error = client(500, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_trickling_stream_hits_the_timeout_per_chunk() {
    let server = serve(Fault::Trickle).await;
    let policed = client(50, RetryPolicy::none());
    let request = http::Request::get(&server.url).body(Vec::new()).unwrap();
    let mut response = policed.execute_streaming(request, RequestKind::Api).await.unwrap();
    let error = loop {
        match response.body_mut().next_chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the trickle ended within the timeout"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_huge_token_answer_is_refused() {
    for declare_length in [true, false] {
        let server = serve(Fault::Sized { size: 10 * 1024 * 1024, declare_length }).await;
        for kind in [RequestKind::Refresh, RequestKind::Revoke, RequestKind::CodeExchange] {
            let error = client(5_000, RetryPolicy::none()).execute(post(&server.url), kind).await.unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge, "{kind:?}, declared {declare_length}: {error}");
            assert!(error.to_string().contains(&TOKEN_BODY_LIMIT.to_string()), "{error}");
        }
    }
}

#[tokio::test]
async fn api_answers_get_their_own_limit() {
    for declare_length in [true, false] {
        for size in [255 * 1024, 10 * 1024 * 1024] {
            let server = serve(Fault::Sized { size, declare_length }).await;
            let request = http::Request::get(&server.url).body(Vec::new()).unwrap();
            let response = client(10_000, RetryPolicy::none()).execute(request, RequestKind::Api).await.unwrap();
            assert_eq!(response.body().len(), size, "declared {declare_length}");
        }
        // Over the configured limit, an API answer is refused as well.
        let server = serve(Fault::Sized { size: 2 * 1024 * 1024, declare_length }).await;
        let mut small = client(10_000, RetryPolicy::none());
        small.policy = small.policy.api_body_limit(1024 * 1024);
        let request = http::Request::get(&server.url).body(Vec::new()).unwrap();
        let error = small.execute(request, RequestKind::Api).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge, "declared {declare_length}: {error}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let server = serve(Fault::Redirect { location: "http://127.0.0.1:1/steal" }).await;
    for kind in [RequestKind::Refresh, RequestKind::Revoke, RequestKind::CodeExchange] {
        let error = client(2_000, fast_retries()).execute(post(&server.url), kind).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Redirect, "{error}");
        assert_eq!(error.to_string(), "the server answered with a redirect, which is refused (HTTP 307)");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 3, "one request per call, none retried or followed");
    // An API call gets the redirect itself, not followed.
    let request = http::Request::get(&server.url).body(Vec::new()).unwrap();
    let response = client(2_000, fast_retries()).execute(request, RequestKind::Api).await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_users_client_that_follows_redirects_is_caught_on_token_requests() {
    let target = serve(Fault::Token).await;
    let location: &'static str = Box::leak(target.url.clone().into_boxed_str());
    let server = serve(Fault::Redirect { location }).await;
    let following = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(3)).build().unwrap();
    let policed = Policed {
        http: ReqwestClient::from_client(following),
        policy: HttpPolicy::default().timeout(Duration::from_secs(2)).retry(RetryPolicy::none()),
    };
    let error = policed.execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Redirect, "{error}");
    // The user's client did send the request on: the crate's docs say so, and this is why.
    assert_eq!(target.requests.load(Ordering::SeqCst), 1);
    // An API call through the same client gets the followed answer: the user chose to follow.
    let request = http::Request::get(&server.url).body(Vec::new()).unwrap();
    assert_eq!(policed.execute(request, RequestKind::Api).await.unwrap().status(), 200);
}

#[tokio::test]
async fn refreshes_are_retried_through_5xx_within_the_attempt_budget() {
    let server = serve(Fault::Unavailable { n: 2 }).await;
    let response = client(2_000, fast_retries()).execute(post(&server.url), RequestKind::Refresh).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);

    let server = serve(Fault::Unavailable { n: 5 }).await;
    let response = client(2_000, fast_retries()).execute(post(&server.url), RequestKind::Revoke).await.unwrap();
    assert_eq!(response.status(), 503, "the last answer is returned when the budget is spent");
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_code_exchange_or_api_call_that_reached_the_server_is_never_retried() {
    for kind in [RequestKind::CodeExchange, RequestKind::Api] {
        let server = serve(Fault::Unavailable { n: 1 }).await;
        let response = client(2_000, fast_retries()).execute(post(&server.url), kind).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(server.requests.load(Ordering::SeqCst), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth/v2/token/revoke?token=1000.secret", listener.local_addr().unwrap());
    drop(listener);
    let error = client(2_000, fast_retries()).execute(post(&url), RequestKind::CodeExchange).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
    let text = error.to_string();
    assert!(text.starts_with("could not connect to the server"), "{text}");
    // The message says each thing once, and neither it nor the typed source holds the URL.
    let full = format!("{error} {error:?}");
    assert!(!full.contains("1000.secret") && !full.contains("/oauth/v2"), "{full}");
    let mut source = std::error::Error::source(&error);
    assert!(source.is_some(), "reqwest's error is kept as the typed source");
    while let Some(cause) = source {
        assert!(!cause.to_string().contains("1000.secret"), "{cause}");
        source = cause.source();
    }
}

#[tokio::test]
async fn the_user_agent_names_the_library() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0u8; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await.unwrap();
        String::from_utf8_lossy(&buffer[..read]).to_ascii_lowercase()
    });
    let request = http::Request::get(&url).body(Vec::new()).unwrap();
    client(2_000, RetryPolicy::none()).execute(request, RequestKind::Api).await.unwrap();
    let head = server.await.unwrap();
    assert!(head.contains(&format!("user-agent: {}", zoho_oauth_reqwest::USER_AGENT)), "{head}");
}

#[tokio::test]
async fn the_bare_transport_only_sends() {
    // Without the policy the transport hands back a 3xx and a huge body as they are: the policy,
    // not the transport, is what refuses them.
    let server = serve(Fault::Redirect { location: "http://127.0.0.1:1/steal" }).await;
    let http = ReqwestClient::new().unwrap();
    let response = http.execute(post(&server.url), RequestKind::Refresh).await.unwrap();
    assert_eq!(response.status(), 307);
    let server = serve(Fault::Sized { size: 1024 * 1024, declare_length: true }).await;
    let response = http.execute(post(&server.url), RequestKind::Refresh).await.unwrap();
    assert_eq!(response.body().declared_length(), Some(1024 * 1024));
    assert_eq!(response.into_body().collect(usize::MAX).await.unwrap().len(), 1024 * 1024);
}

/// Reads one request (head and a body of `content-length` bytes) and answers 204; returns the
/// request's text, lower-cased.
async fn answer_one(listener: TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.unwrap();
        buffer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&buffer).to_ascii_lowercase();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if body.len() >= length || read == 0 {
                stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await.unwrap();
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_parsed_url_is_used_only_while_it_names_the_uri() {
    for hint_matches in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/v2/token?x=1", listener.local_addr().unwrap());
        let server = tokio::spawn(answer_one(listener));
        let mut request = post(&url);
        // A hint that names another server must never redirect the request there.
        let hint = if hint_matches { url.clone() } else { "http://127.0.0.1:1/elsewhere".to_owned() };
        request.extensions_mut().insert(zoho_oauth_core::RequestUrl::new(reqwest::Url::parse(&hint).unwrap()));
        let response = client(2_000, RetryPolicy::none()).execute(request, RequestKind::Refresh).await.unwrap();
        assert_eq!(response.status(), 204);
        let seen = server.await.unwrap();
        assert!(seen.starts_with("post /oauth/v2/token?x=1 http/1.1\r\n"), "{seen}");
        assert!(seen.contains("content-type: application/x-www-form-urlencoded"), "{seen}");
        assert!(seen.ends_with("grant_type=refresh_token&refresh_token=r"), "{seen}");
    }
}
