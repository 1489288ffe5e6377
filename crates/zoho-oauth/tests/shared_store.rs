//! The token manager's contract across processes sharing one token file: the store is the truth
//! when it knows better, and one lock-out holds for everyone.
//!
//! Each test runs a long-lived session in this process and a second, real process (this test
//! binary again, running `child` with a role in its environment) that logs in or renews through the
//! same `FileStore`. Both processes use the emulator's manual time, passed to the child.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error; that is its job")]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{CLIENT_ID, CLIENT_SECRET, Harness, REDIRECT_URI};
use zoho_accounts_emulator::Fault;
use zoho_oauth::{
    AuthorizationCode, ClientConfig, ClientSecret, Endpoints, FailureKind, FileStore, Flow, ManualClock, ReqwestClient,
    Scopes,
};

const ROLE: &str = "ZOHO_OAUTH_TEST_CHILD_ROLE";

/// Runs this test binary again as the second process, with `role` and the shared facts.
fn run_child(h: &Harness, path: &Path, role: &str, extra: &[(&str, String)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("CHILD_STORE", path)
        .env("CHILD_NOW", h.clock_now().to_rfc3339())
        .env("CHILD_US", h.emulator.accounts_url("us").as_str())
        .env("CHILD_EU", h.emulator.accounts_url("eu").as_str());
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the child failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // libtest may print "test child ... " on the same line before the child's own output.
    stdout.lines().find_map(|line| line.split_once("CHILD: ").map(|(_, said)| said)).unwrap_or_default().to_owned()
}

trait ClockNow {
    fn clock_now(&self) -> DateTime<Utc>;
}

impl ClockNow for Harness {
    fn clock_now(&self) -> DateTime<Utc> {
        zoho_oauth::Clock::now(&self.clock)
    }
}

/// The second process. Without the role in its environment (a normal test run) it does nothing.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let env = |name: &str| std::env::var(name).unwrap();
    let now: DateTime<Utc> = env("CHILD_NOW").parse().unwrap();
    let clock = ManualClock::new(now);
    let endpoints = Endpoints::zoho_custom(&env("CHILD_US"), None, &[env("CHILD_EU").as_str()]).unwrap();
    let config = ClientConfig::new(CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .redirect_uri(REDIRECT_URI)
        .unwrap()
        .scopes(Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"]).unwrap())
        .clock(Arc::new(clock));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Arc::new(FileStore::open(env("CHILD_STORE")).await.unwrap());
        let flow = Flow::new(config, Arc::new(ReqwestClient::new().unwrap())).with_store(store, "alice");
        match role.as_str() {
            // Logs in again (a self-client code stands in for the browser) into the same token file.
            "login" => {
                let session = flow.self_client(AuthorizationCode::new(env("CHILD_CODE"))).exchange().await.unwrap();
                println!("CHILD: {}", session.tokens().access_token().expose_secret());
            }
            // Asks for a renewal through the shared file and reports what it got.
            "refresh" => {
                let session = flow.restore_from_store().await.unwrap().unwrap();
                match session.refresh().await {
                    Ok(()) => println!("CHILD: renewed"),
                    Err(error) => println!(
                        "CHILD: error rate_limited={} retry_at={:?}",
                        error.is_rate_limited(),
                        error.retry_at().map(|t| t.to_rfc3339())
                    ),
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

async fn logged_in(h: &Harness, path: &Path) -> Flow<zoho_oauth::Authorized> {
    let store = Arc::new(FileStore::open(path).await.unwrap());
    let (url, pending) = h.flow().with_store(store, "alice").authorization_url();
    pending.exchange(&h.consent(&url).await).await.unwrap()
}

/// After a refresh answered `invalid_code` (final), another process logs in again into the same
/// token file: the long-running session adopts the new grant instead of answering
/// "reauthorization required" for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_login_elsewhere_ends_a_final_failure() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let session = logged_in(&h, &path).await;

    // The grant dies at the server (revoked from another copy of the tokens).
    let _ = h.flow().restore(session.tokens()).unwrap().revoke().await.unwrap();
    h.clock.advance(Duration::minutes(61));
    let error = session.access_token().await.unwrap_err();
    assert!(error.needs_reauthorization(), "{error:?}");
    let refreshes = h.emulator.counters().token_refresh;

    // Hours later another process logs in again into the same file.
    h.clock.advance(Duration::hours(3));
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(5));
    let new_token = run_child(&h, &path, "login", &[("CHILD_CODE", code)]);
    assert!(!new_token.is_empty());

    // The long-running session re-reads the store and serves the new grant's token.
    let token = session.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), new_token, "the store is the truth when it knows better");
    assert_eq!(h.emulator.counters().token_refresh, refreshes, "no request was needed to recover");
}

/// During a refresh backoff another process saved fresh tokens: the session adopts them at once
/// instead of answering its cached error until the backoff ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_tokens_saved_elsewhere_end_a_backoff() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let session = logged_in(&h, &path).await;

    h.clock.advance(Duration::minutes(61));
    h.emulator.set_fault(Some(Fault::BadGatewayHtml));
    let error = session.access_token().await.unwrap_err();
    assert_eq!(error.retry_at().map(|at| at > h.clock_now()), Some(true), "a backoff is running: {error:?}");
    h.emulator.set_fault(None);

    // Still inside the backoff, another process logs in and saves fresh tokens.
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(5));
    let new_token = run_child(&h, &path, "login", &[("CHILD_CODE", code)]);
    let token = session.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), new_token);
}

/// A rate-limit answer met by one process locks every process sharing the store out: the second
/// process sends nothing during the lock-out and says until when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lock_out_for_everyone_sharing_the_store() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let session = logged_in(&h, &path).await;

    // Zoho mints ten access tokens per ten minutes per refresh token; the login made the first.
    for _ in 0..9 {
        h.clock.advance(Duration::seconds(31));
        session.refresh().await.unwrap();
    }
    h.clock.advance(Duration::seconds(31));
    let error = session.refresh().await.unwrap_err();
    assert!(error.is_rate_limited(), "{error:?}");
    let sent = h.emulator.counters().token_refresh;

    // A minute later the other process asks for a renewal and finds the lock-out recorded beside
    // the tokens.
    h.clock.advance(Duration::minutes(1));
    let answer = run_child(&h, &path, "refresh", &[]);
    assert!(answer.starts_with("error rate_limited=true retry_at=Some("), "{answer}");
    assert_eq!(h.emulator.counters().token_refresh, sent, "no request during the shared lock-out");

    let stored = FileStore::open(&path).await.unwrap();
    let key = zoho_oauth::StoreKey::new(
        CLIENT_ID,
        "alice",
        h.emulator.accounts_url("us").as_str(),
        zoho_oauth::Environment::Production,
    );
    let record = zoho_oauth::TokenStore::load(&stored, &key).await.unwrap().unwrap();
    let failure = record.refresh_state().last_failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::RateLimited);
}
