//! API calls over real loopback HTTP through the bundled transport: real CRM-sized pages pass
//! `send()`, a response of any size streams through `send_streaming()`, and an API domain the
//! endpoints do not trust never sees a request.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zoho_oauth::{
    AccessToken, ClientConfig, DataCenter, Endpoints, Environment, Error, Flow, RefreshToken, ReqwestClient, Scopes,
    TokenSet,
};

/// A loopback API server answering every request with `size` bytes of JSON-ish filler, and
/// counting the requests it got.
struct Api {
    origin: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn api(size: usize) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let _ = stream.read(&mut head).await;
                let start = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
                );
                if stream.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    Api { origin, requests, task }
}

/// A session restored from fresh tokens at `endpoints`, naming `api_domain`.
fn session(endpoints: Endpoints, api_domain: &str) -> Flow<zoho_oauth::Authorized> {
    let accounts_server = endpoints.accounts_server();
    let tokens = TokenSet::new(
        AccessToken::new("1000.access"),
        Some(RefreshToken::new("1000.refresh")),
        Utc::now() + chrono::Duration::hours(1),
        Some(url::Url::parse(api_domain).unwrap()),
        accounts_server,
        Scopes::empty(),
    );
    let config = ClientConfig::new("1000.CLIENT", endpoints);
    Flow::new(config, Arc::new(ReqwestClient::new().unwrap())).restore(tokens).unwrap()
}

#[tokio::test]
async fn crm_pages_of_255_kib_and_10_mib_pass_send() {
    for size in [255 * 1024, 10 * 1024 * 1024] {
        let server = api(size).await;
        // An emulator-like set-up: the accounts server and the API on loopback.
        let endpoints = Endpoints::zoho_custom(&server.origin, None, &[]).unwrap();
        let session = session(endpoints, &server.origin);
        let url = session.api_url("/crm/v8/Leads?per_page=200").unwrap();
        let response = session.send(http::Request::get(url.as_str()).body(Vec::new()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().len(), size);
    }
}

#[tokio::test]
async fn a_response_of_any_size_streams() {
    let size = 24 * 1024 * 1024; // over the 16 MiB limit of send()
    let server = api(size).await;
    let session = session(Endpoints::zoho_custom(&server.origin, None, &[]).unwrap(), &server.origin);
    let url = session.api_url("/crm/v8/Leads/bulk").unwrap();
    let request = || http::Request::get(url.as_str()).body(Vec::new()).unwrap();
    match session.send(request()).await {
        Err(Error::Transport(error)) => assert_eq!(error.kind(), zoho_oauth::TransportErrorKind::BodyTooLarge),
        other => panic!("expected BodyTooLarge from send(), got {other:?}"),
    }
    let mut response = session.send_streaming(request()).await.unwrap();
    assert_eq!(response.body().declared_length(), Some(size as u64));
    let mut read = 0;
    while let Some(chunk) = response.body_mut().next_chunk().await.unwrap() {
        read += chunk.len();
    }
    assert_eq!(read, size);
}

#[tokio::test]
async fn an_untrusted_api_domain_on_loopback_gets_no_request() {
    let server = api(16).await;
    // Real Zoho endpoints: a token response naming a plain-HTTP host, even on loopback, is not trusted.
    let zoho = Endpoints::zoho(DataCenter::Us, Environment::Production);
    // A standard server over https: its tokens never go in clear to a loopback API either.
    let standard = Endpoints::standard("https://as.example/authorize", "https://as.example/token", None).unwrap();
    for endpoints in [zoho, standard] {
        let session = session(endpoints, &server.origin);
        assert!(matches!(session.api_url("/crm/v8/Leads"), Err(Error::UntrustedApiDomain { .. })));
        let request = http::Request::get(format!("{}/crm/v8/Leads", server.origin)).body(Vec::new()).unwrap();
        let error = session.send(request).await.unwrap_err();
        assert!(matches!(&error, Error::UntrustedApiDomain { origin } if *origin == server.origin), "{error:?}");
        let request = http::Request::get(format!("{}/crm/v8/Leads", server.origin)).body(Vec::new()).unwrap();
        assert!(matches!(session.send_streaming(request).await, Err(Error::UntrustedApiDomain { .. })));
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 0, "no connection reached the untrusted host");
}
