//! The fleet: eight worker processes with a hundred tasks each, all asking for an access token the
//! moment it has expired, must cause exactly one refresh at Zoho (here, the accounts emulator), and
//! every one of the eight hundred callers must get the same new token. Twenty rounds.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{DropSchema, Worker};
use sha2::{Digest, Sha256};
use zoho_accounts_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, EmulatorConfig};
use zoho_oauth::{
    AccessToken, AuthorizationCode, ClientConfig, ClientSecret, Endpoints, Environment, ManualClock, Scopes, StoreKey,
    TokenSet, TokenStore,
};

const WORKERS: usize = 8;
const TASKS: usize = 100;
const ROUNDS: usize = 20;
const USER: &str = "fleet";

/// A short hash of a token, the only form in which a token leaves a worker.
fn fingerprint(token: &str) -> String {
    Sha256::digest(token.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn config(accounts: &str) -> ClientConfig {
    ClientConfig::new(DEMO_CLIENT_ID, Endpoints::zoho_custom(accounts, None, &[]).unwrap())
        .client_secret(ClientSecret::new(DEMO_CLIENT_SECRET))
        .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"]).unwrap())
}

/// The worker side: restore the session from the database, wait for "go", then call
/// `access_token()` from a hundred tasks at once and report what they got.
#[test]
fn worker() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "fleet");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = std::env::var(common::URL_VAR).unwrap();
    let schema = std::env::var("WORKER_SCHEMA").unwrap();
    let accounts = std::env::var("FLEET_ACCOUNTS").unwrap();
    let session = runtime.block_on(async {
        let store: Arc<dyn TokenStore> = Arc::new(common::builder(&url, &schema).build());
        zoho_oauth::flow(config(&accounts)).unwrap().with_store(store, USER).restore_from_store().await.unwrap()
    });
    let session = Arc::new(session.expect("the parent seeded the tokens"));
    common::report("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "go");
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let session = Arc::clone(&session);
                tokio::spawn(async move { session.access_token().await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    let mut hashes: Vec<String> = Vec::new();
    let mut errors = 0;
    for result in results {
        match result {
            Ok(token) => hashes.push(fingerprint(token.expose_secret())),
            Err(error) => {
                errors += 1;
                eprintln!("access_token failed: {error}");
            }
        }
    }
    let ok = hashes.len();
    hashes.sort();
    hashes.dedup();
    common::report(&format!("ok={ok} errors={errors} tokens={}", hashes.join(",")));
}

#[test]
fn eight_workers_with_a_hundred_tasks_each_refresh_once_per_expiry() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("f");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();

    // The emulator's clock moves eleven minutes per round, so Zoho's limit of ten access tokens per
    // ten minutes per refresh token never applies; the workers use the system clock.
    let clock = ManualClock::starting_now();
    let (emulator, store, tokens) = runtime.block_on(async {
        let emulator =
            Emulator::start(EmulatorConfig::new().data_centers(&["us"]).clock(Arc::new(clock.clone()))).await.unwrap();
        let store = common::builder(&url, &schema).connect().await.unwrap();
        let code =
            emulator.issue_self_client_code("us", DEMO_CLIENT_ID, "ZohoCRM.modules.ALL", chrono::Duration::minutes(10));
        let accounts = emulator.accounts_url("us").to_string();
        let session = zoho_oauth::flow(config(&accounts))
            .unwrap()
            .self_client(AuthorizationCode::new(code))
            .exchange()
            .await
            .unwrap();
        (emulator, store, session.tokens())
    });
    let accounts = emulator.accounts_url("us").to_string();
    let key = StoreKey::new(DEMO_CLIENT_ID, USER, tokens.accounts_server(), Environment::Production);

    let mut refreshes_per_round = Vec::new();
    for round in 0..ROUNDS {
        clock.advance(chrono::Duration::minutes(11));
        // An expired access token beside a valid refresh token, as at the end of an hour.
        let expired = TokenSet::new(
            AccessToken::new(format!("expired-{round}")),
            tokens.refresh_token().cloned(),
            Utc::now() - chrono::Duration::minutes(1),
            tokens.api_domain().cloned(),
            tokens.accounts_server(),
            tokens.scopes().clone(),
        );
        runtime.block_on(store.save(&key, &expired)).unwrap();
        let before = emulator.counters_for("us").token_refresh;

        let mut workers: Vec<Worker> = (0..WORKERS)
            .map(|_| Worker::spawn("fleet", &[("WORKER_SCHEMA", schema.clone()), ("FLEET_ACCOUNTS", accounts.clone())]))
            .collect();
        for worker in &mut workers {
            assert_eq!(worker.next_report().as_deref(), Some("ready"), "a worker did not start");
        }
        // All at once.
        for worker in &mut workers {
            let stdin = worker.child.stdin.as_mut().unwrap();
            stdin.write_all(b"go\n").unwrap();
            stdin.flush().unwrap();
        }
        let reports: Vec<String> = workers.iter_mut().map(|w| w.next_report().expect("a worker reported")).collect();

        let refreshes = emulator.counters_for("us").token_refresh - before;
        refreshes_per_round.push(refreshes);
        let stored = runtime.block_on(store.load(&key)).unwrap().unwrap();
        let new_token = fingerprint(stored.tokens().access_token().expose_secret());
        assert_ne!(new_token, fingerprint(&format!("expired-{round}")), "round {round}: the token was not renewed");
        let expected = format!("ok={TASKS} errors=0 tokens={new_token}");
        for (i, report) in reports.iter().enumerate() {
            assert_eq!(report, &expected, "round {round}, worker {i}: every caller holds the one new token");
        }
        assert_eq!(refreshes, 1, "round {round}: {refreshes} refresh requests for one expiry");
    }
    println!(
        "{ROUNDS} rounds of {WORKERS} workers x {TASKS} tasks: refresh requests per expiry {refreshes_per_round:?}, in {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(120), "the fleet test must stay bounded");
    drop(emulator);
}
