//! The transport against hostile servers on loopback: each server is a few lines of raw TCP,
//! so it can misbehave in ways a real HTTP framework would not allow.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zoho_oauth_core::{HttpClient, HttpRequest, RequestKind, TransportErrorKind};
use zoho_oauth_reqwest::{ReqwestClient, RetryPolicy};

#[derive(Clone, Copy)]
enum Fault {
    /// Reads the request and never answers.
    Silent,
    /// Promises 100 bytes and closes after 10.
    CloseMidBody,
    /// Sends one byte of the body every 100 ms.
    Trickle,
    /// Sends a 10 MB body, with or without a Content-Length.
    Huge { declare_length: bool },
    /// Answers 503 to the first `n` requests, then a token response.
    Unavailable { n: usize },
    /// Answers a redirect.
    Redirect,
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
        Fault::Huge { declare_length } => {
            let size = 10 * 1024 * 1024;
            let head =
                if declare_length { format!("{json}content-length: {size}\r\n\r\n") } else { format!("{json}\r\n") };
            stream.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..size / chunk.len() {
                stream.write_all(&chunk).await?;
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
        Fault::Redirect => {
            stream
                .write_all(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:1/steal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await?;
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

fn client(timeout_ms: u64, retry: RetryPolicy) -> ReqwestClient {
    ReqwestClient::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_millis(timeout_ms))
        .retry(retry)
        .build()
        .unwrap()
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
    let error = client(300, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_interrupted() {
    let server = serve(Fault::CloseMidBody).await;
    let error = client(2_000, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Interrupted, "{error}");
}

#[tokio::test]
async fn a_trickling_server_hits_the_total_timeout() {
    let server = serve(Fault::Trickle).await;
    let error = client(500, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_huge_body_is_refused() {
    for declare_length in [true, false] {
        let server = serve(Fault::Huge { declare_length }).await;
        let error =
            client(5_000, RetryPolicy::none()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::BodyTooLarge, "declared length {declare_length}: {error}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let server = serve(Fault::Redirect).await;
    let error = client(2_000, fast_retries()).execute(post(&server.url), RequestKind::Refresh).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Redirect, "{error}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
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
async fn a_code_exchange_that_reached_the_server_is_never_retried() {
    let server = serve(Fault::Unavailable { n: 1 }).await;
    let response = client(2_000, fast_retries()).execute(post(&server.url), RequestKind::CodeExchange).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth/v2/token", listener.local_addr().unwrap());
    drop(listener);
    let error = client(2_000, fast_retries()).execute(post(&url), RequestKind::CodeExchange).await.unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
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
