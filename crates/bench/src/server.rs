//! A minimal token endpoint on loopback that counts requests and answers after a set delay.
//!
//! The emulator is the better model of Zoho, but it enforces Zoho's rate limit, and a peer that
//! refreshes once per caller would be throttled by it, which would measure the limit instead of the
//! peer. This server accepts any client and any refresh token, answers in Zoho's shape (which every
//! RFC 6749 client reads), runs on a thread and runtime of its own so it does not share the
//! clients' workers, and listens with a backlog of 4096: with the common 128, a herd of 1000
//! fresh connections overflowed the queue and stalled on one-second SYN retries.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::oneshot;
use url::Url;

/// The listen backlog; Linux caps it at `net.core.somaxconn` (4096 by default since 5.4).
const BACKLOG: u32 = 4096;

/// Requests answered so far, by grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `grant_type=refresh_token`.
    pub refreshes: u64,
    /// `grant_type=authorization_code`.
    pub exchanges: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts { refreshes: self.refreshes - earlier.refreshes, exchanges: self.exchanges - earlier.exchanges }
    }
}

struct Shared {
    origin: String,
    refreshes: AtomicU64,
    exchanges: AtomicU64,
    minted: AtomicU64,
    delay_micros: AtomicU64,
    exchange_expires_in: AtomicI64,
}

/// A running token server; dropping it stops the server and closes its connections.
pub struct TokenServer {
    url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    /// Binds `127.0.0.1:0` and starts serving `POST /oauth/v2/token` with no delay.
    pub fn start() -> anyhow::Result<TokenServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<(SocketAddr, Arc<Shared>)>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("token-server".to_owned()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match bind() {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let addr = match listener.local_addr() {
                    Ok(addr) => addr,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let shared = Arc::new(Shared {
                    origin: format!("http://{addr}"),
                    refreshes: AtomicU64::new(0),
                    exchanges: AtomicU64::new(0),
                    minted: AtomicU64::new(0),
                    delay_micros: AtomicU64::new(0),
                    exchange_expires_in: AtomicI64::new(3600),
                });
                let app = Router::new().route("/oauth/v2/token", post(token)).with_state(shared.clone());
                if ready_tx.send(Ok((addr, shared))).is_err() {
                    return;
                }
                // Stopping drops the server future and, with the runtime, every connection task:
                // nothing waits for idle keep-alive connections to close.
                tokio::select! {
                    _ = axum::serve(listener, app).into_future() => {}
                    _ = stop_rx => {}
                }
            });
        })?;
        let (addr, shared) = ready_rx.recv()??;
        let url = Url::parse(&format!("http://{addr}/"))?;
        Ok(TokenServer { url, shared, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// The server's base URL, `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> Url {
        self.url.join("/oauth/v2/token").expect("joining an absolute path to a base URL cannot fail")
    }

    /// The requests answered so far.
    pub fn counts(&self) -> Counts {
        Counts {
            refreshes: self.shared.refreshes.load(Ordering::SeqCst),
            exchanges: self.shared.exchanges.load(Ordering::SeqCst),
        }
    }

    /// How long the server waits before answering a token request, like a real server's work.
    pub fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_micros.store(micros, Ordering::SeqCst);
    }

    /// The `expires_in` of code-exchange answers (3600 at start); refreshes always answer 3600.
    pub fn set_exchange_expires_in(&self, seconds: i64) {
        self.shared.exchange_expires_in.store(seconds, Ordering::SeqCst);
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind() -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(BACKLOG)
}

/// `POST /oauth/v2/token`: any client, any code, any refresh token.
async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let grant =
        url::form_urlencoded::parse(&body).find(|(name, _)| name == "grant_type").map(|(_, value)| value.into_owned());
    let refresh = match grant.as_deref() {
        Some("refresh_token") => true,
        Some("authorization_code") => false,
        _ => {
            return (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": "unsupported_grant_type" })))
                .into_response();
        }
    };
    if refresh {
        shared.refreshes.fetch_add(1, Ordering::SeqCst);
    } else {
        shared.exchanges.fetch_add(1, Ordering::SeqCst);
    }
    let delay = shared.delay_micros.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_micros(delay)).await;
    }
    let serial = shared.minted.fetch_add(1, Ordering::SeqCst);
    let expires_in = if refresh { 3600 } else { shared.exchange_expires_in.load(Ordering::SeqCst) };
    let mut body = serde_json::json!({
        "access_token": access_token(serial),
        "scope": crate::identity::SCOPE,
        "api_domain": shared.origin,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    if !refresh {
        body["refresh_token"] = serde_json::Value::from(crate::identity::REFRESH_TOKEN);
    }
    axum::Json(body).into_response()
}

pub use crate::identity::access_token;
