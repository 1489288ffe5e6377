//! The token manager's decisions, with a scripted in-process transport and a manual clock:
//! when it refreshes, how often, and what it does after failures.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use zoho_oauth_core::{
    AccessToken, BoxFuture, Clock, DataCenter, Endpoints, Environment, HttpClient, HttpRequest, HttpResponse,
    ManualClock, RefreshToken, RequestKind, Scopes, TokenSet, TransportError, TransportErrorKind,
};
use zoho_oauth_flow::{Authorized, ClientConfig, Error, Flow};

/// Answers refresh requests from a script; once the script is empty, with fresh tokens.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(u16, String), TransportErrorKind>>>,
    refreshes: AtomicUsize,
    minted: AtomicUsize,
}

impl Scripted {
    fn then(self, status: u16, body: &str) -> Self {
        self.script.lock().unwrap().push_back(Ok((status, body.to_owned())));
        self
    }

    fn then_fail(self, kind: TransportErrorKind) -> Self {
        self.script.lock().unwrap().push_back(Err(kind));
        self
    }
}

impl HttpClient for Scripted {
    fn execute(&self, _request: HttpRequest, kind: RequestKind) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        assert_eq!(kind, RequestKind::Refresh);
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let next = self.script.lock().unwrap().pop_front().unwrap_or_else(|| {
            let n = self.minted.fetch_add(1, Ordering::SeqCst);
            Ok((200, format!(r#"{{"access_token":"fresh-{n}","expires_in":3600,"token_type":"Bearer"}}"#)))
        });
        Box::pin(async move {
            // Yield so that concurrent callers really overlap with the request in flight.
            tokio::task::yield_now().await;
            let (status, body) = next.map_err(|kind| TransportError::new(kind, "scripted failure"))?;
            Ok(http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.into_bytes())
                .unwrap())
        })
    }
}

fn session(http: Arc<Scripted>, clock: &ManualClock, expires_in: Duration) -> Flow<Authorized> {
    let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
        .clock(Arc::new(clock.clone()));
    let tokens = TokenSet::new(
        AccessToken::new("initial"),
        Some(RefreshToken::new("refresh")),
        clock.now() + expires_in,
        None,
        DataCenter::Us.accounts_server(),
        Scopes::empty(),
    );
    Flow::new(config, http).restore(tokens).unwrap()
}

#[tokio::test]
async fn a_fresh_token_needs_no_request() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::hours(1));
    for _ in 0..100 {
        assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    }
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_token_is_renewed_within_the_margin_not_before() {
    let http = Arc::new(Scripted::default());
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::hours(1));
    clock.advance(Duration::minutes(54));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    clock.advance(Duration::minutes(2)); // four minutes left: inside the default five-minute margin
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "fresh-0");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_refresh() {
    for n in [1usize, 10, 1000] {
        let http = Arc::new(Scripted::default());
        let clock = ManualClock::starting_now();
        let session = Arc::new(session(http.clone(), &clock, Duration::seconds(-1)));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move { session.access_token().await.unwrap().expose_secret().to_owned() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "fresh-0");
        }
        assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "n = {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failure() {
    let http = Arc::new(Scripted::default().then(503, "<html>unavailable</html>"));
    let clock = ManualClock::starting_now();
    let session = Arc::new(session(http.clone(), &clock, Duration::seconds(-1)));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.access_token().await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Err(Error::MalformedResponse { .. })));
    }
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "the failure is shared, not retried by each caller");
}

#[tokio::test]
async fn a_failed_refresh_backs_off_and_keeps_the_refresh_token() {
    let http =
        Arc::new(Scripted::default().then_fail(TransportErrorKind::Timeout).then_fail(TransportErrorKind::Timeout));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));

    assert!(matches!(session.access_token().await, Err(Error::Transport(_))));
    assert!(matches!(session.access_token().await, Err(Error::Transport(_))), "inside the backoff: the last error");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");

    clock.advance(Duration::seconds(2)); // the first backoff has passed
    assert!(matches!(session.access_token().await, Err(Error::Transport(_))));
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
    clock.advance(Duration::seconds(3)); // the second backoff (4 s) has not
    assert!(session.access_token().await.is_err());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
    clock.advance(Duration::seconds(1));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "fresh-0");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rate_limit_answer_locks_refreshes_out() {
    let body = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;
    let http = Arc::new(Scripted::default().then(200, body));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    assert!(matches!(session.access_token().await, Err(Error::RateLimited(_))));
    clock.advance(Duration::minutes(14));
    assert!(matches!(session.refresh().await, Err(Error::RateLimited(_))), "even a forced refresh waits");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
    clock.advance(Duration::minutes(1));
    assert!(session.access_token().await.is_ok());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dead_refresh_token_is_final() {
    let http = Arc::new(Scripted::default().then(200, r#"{"error":"invalid_code"}"#));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    let error = session.access_token().await.unwrap_err();
    assert!(error.needs_reauthorization(), "{error:?}");
    clock.advance(Duration::days(1));
    assert!(session.access_token().await.unwrap_err().needs_reauthorization());
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1, "no retry can revive a revoked refresh token");
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "refresh");
}

#[tokio::test]
async fn a_token_within_the_margin_is_still_served_when_renewal_fails() {
    let http = Arc::new(Scripted::default().then(502, "<html>Bad Gateway</html>"));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::minutes(3));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "initial");
    assert_eq!(http.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rotation_replaces_the_refresh_token() {
    let http =
        Arc::new(Scripted::default().then(200, r#"{"access_token":"a2","refresh_token":"r2","expires_in":3600}"#));
    let clock = ManualClock::starting_now();
    let session = session(http.clone(), &clock, Duration::seconds(-1));
    assert_eq!(session.access_token().await.unwrap().expose_secret(), "a2");
    assert_eq!(session.tokens().refresh_token().unwrap().expose_secret(), "r2");
}
