//! Several processes on one database: concurrent saves from many processes, and a worker killed
//! while it holds the refresh lock. Workers are this test binary run again in a worker role.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::time::{Duration, Instant};

use common::{DropSchema, Worker};
use zoho_oauth_store::testing::{assert_same, key, tokens};
use zoho_oauth_store::{Record, TokenStore};
use zoho_oauth_store_postgres::{Error, PostgresStore};

const PROCESSES: usize = 4;
const KEYS_PER_PROCESS: usize = 250;

fn env(name: &str) -> String {
    std::env::var(name).unwrap()
}

/// The worker side: does nothing unless this process was started as a worker.
#[test]
fn worker() {
    let Some(role) = common::role() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let store = common::builder(&env(common::URL_VAR), &env("WORKER_SCHEMA")).build();
        match role.as_str() {
            "save-keys" => {
                let first: usize = env("WORKER_FIRST").parse().unwrap();
                report("ready");
                // Sixteen tasks at once, as a busy worker would.
                let mut tasks = tokio::task::JoinSet::new();
                for lane in 0..16 {
                    let store = store.clone();
                    tasks.spawn(async move {
                        for i in (first + lane..first + KEYS_PER_PROCESS).step_by(16) {
                            store.save(&key(&format!("user-{i}")), &tokens(&format!("access-{i}"))).await.unwrap();
                        }
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    done.unwrap();
                }
                report("done");
            }
            "hold-lock" => {
                let k = key("locked");
                let _guard = store.lock(&k).await.unwrap();
                // What a refresh does under the lock: read, then compare-and-swap new tokens.
                let current = store.load(&k).await.unwrap().unwrap();
                store.update(&k, &current.with_tokens(tokens("written-under-the-lock"))).await.unwrap();
                report("locked");
                // Hold the lock until killed.
                tokio::time::sleep(Duration::from_secs(120)).await;
            }
            other => panic!("unknown worker role {other}"),
        }
    });
}

fn report(line: &str) {
    common::report(line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_keys_saved_from_several_processes_are_all_there() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("p");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = common::builder(&url, &schema).connect().await.unwrap();

    let mut workers: Vec<Worker> = (0..PROCESSES)
        .map(|p| {
            Worker::spawn(
                "save-keys",
                &[("WORKER_SCHEMA", schema.clone()), ("WORKER_FIRST", (p * KEYS_PER_PROCESS).to_string())],
            )
        })
        .collect();
    for worker in &mut workers {
        assert_eq!(worker.next_report().as_deref(), Some("ready"));
    }
    for worker in &mut workers {
        assert_eq!(worker.next_report().as_deref(), Some("done"), "a worker failed");
    }

    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), PROCESSES * KEYS_PER_PROCESS);
    for i in 0..PROCESSES * KEYS_PER_PROCESS {
        let loaded = store.load(&key(&format!("user-{i}"))).await.unwrap().expect("every key was saved");
        assert_same(loaded.tokens(), &tokens(&format!("access-{i}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_holding_the_lock_releases_it_and_loses_nothing() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("k");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = common::builder(&url, &schema).connect().await.unwrap();
    let k = key("locked");
    store.save(&k, &tokens("before")).await.unwrap();

    let mut worker = Worker::spawn("hold-lock", &[("WORKER_SCHEMA", schema.clone())]);
    assert_eq!(worker.next_report().as_deref(), Some("locked"));

    // Held: a bounded wait ends with a typed error.
    let impatient = common::builder(&url, &schema).lock_timeout(Duration::from_millis(300)).build();
    let started = Instant::now();
    let error = impatient.lock(&k).await.expect_err("the worker holds the lock");
    assert!(matches!(Error::from_store(&error), Some(Error::LockTimeout { .. })), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "the wait is bounded: {:?}", started.elapsed());

    // SIGKILL: no destructor runs, no unlock is sent. The server notices the closed socket.
    worker.child.kill().unwrap();
    worker.child.wait().unwrap();
    let started = Instant::now();
    let guard = store.lock(&k).await.expect("the lock of a dead worker is free");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "took {waited:?} to get the lock");
    println!("lock taken {waited:?} after the holder was killed");

    // What the dead worker wrote under the lock is there, and builds on.
    let current = store.load(&k).await.unwrap().unwrap();
    assert_same(current.tokens(), &tokens("written-under-the-lock"));
    let revision = store.update(&k, &current.clone().with_tokens(tokens("after"))).await.unwrap();
    assert!(revision > current.revision());
    drop(guard);
}

#[tokio::test]
async fn an_unreachable_database_is_a_typed_error_without_the_password() {
    // Port 1 on loopback: nothing listens there, so connections are refused at once.
    let store = PostgresStore::builder("postgres://app:hunter2-sekrit@127.0.0.1:1/app")
        .unwrap()
        .operation_timeout(Duration::from_millis(500))
        .lock_timeout(Duration::from_millis(500))
        .build();
    let started = Instant::now();
    let error = store.load(&key("a")).await.expect_err("nothing listens on port 1");
    assert!(started.elapsed() < Duration::from_secs(3));
    let inner = Error::from_store(&error).expect("a postgres error");
    assert!(inner.is_transient(), "{inner:?}");
    assert!(matches!(inner, Error::Unavailable { .. } | Error::Timeout { .. }), "{inner:?}");
    let error = store.lock(&key("a")).await.expect_err("nothing listens on port 1");
    let inner = Error::from_store(&error).expect("a postgres error");
    assert!(inner.is_transient(), "{inner:?}");
    let printed = format!("{error} {error:?} {store:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
}

#[tokio::test]
async fn migrations_are_versioned_idempotent_and_refuse_a_newer_schema() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("m");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    // Several processes starting at once all migrate; the schema is created once.
    let (a, b, c) = tokio::join!(
        common::builder(&url, &schema).connect(),
        common::builder(&url, &schema).connect(),
        common::builder(&url, &schema).connect(),
    );
    let store = a.unwrap();
    b.unwrap();
    c.unwrap();
    store.migrate().await.unwrap();

    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar(&format!("SELECT version FROM \"{schema}\"._sqlx_migrations ORDER BY version"))
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(versions, vec![1]);

    // A migration this version does not know: a newer program upgraded the schema.
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\"._sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999999, 'from the future', true, '\\x00', 0)"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    let error = common::builder(&url, &schema).connect().await.expect_err("a newer schema is refused");
    assert!(matches!(error, Error::Migrate { .. }), "{error:?}");
}

#[tokio::test]
async fn a_corrupt_row_is_a_typed_error_that_quotes_no_token() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("c");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = common::builder(&url, &schema).connect().await.unwrap();
    store.save(&key("a"), &tokens("1000.sekrit")).await.unwrap();
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("UPDATE \"{schema}\".tokens SET tokens = '{{\"access_token\": \"1000.sekrit\"}}'"))
        .execute(&mut db)
        .await
        .unwrap();
    let error = store.load(&key("a")).await.expect_err("the row is corrupt");
    assert!(matches!(Error::from_store(&error), Some(Error::Corrupt { .. })), "{error:?}");
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains("sekrit"), "{printed}");
}

#[tokio::test]
async fn revisions_are_never_reused_and_retry_at_is_never_earlier() {
    let Some(url) = common::database_url() else { return };
    let schema = common::unique_schema("r");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = common::builder(&url, &schema).connect().await.unwrap();
    let k = key("a");
    let first = store.save(&k, &tokens("one")).await.unwrap();
    let stale = store.load(&k).await.unwrap().unwrap();
    assert!(store.delete(&k).await.unwrap());
    let second = store.save(&k, &tokens("two")).await.unwrap();
    assert!(second > first);
    // The stale record's revision is never handed out again, so it cannot overwrite the new grant.
    assert!(matches!(store.update(&k, &stale).await, Err(zoho_oauth_store::Error::Conflict { .. })));

    let current = store.load(&k).await.unwrap().unwrap();
    let retry_at = chrono::DateTime::from_timestamp(1_900_000_000, 123_456_789).unwrap();
    let state = zoho_oauth_store::RefreshState { failures: 2, retry_at: Some(retry_at), ..Default::default() };
    store.update(&k, &current.with_refresh_state(state)).await.unwrap();
    let read: Record = store.load(&k).await.unwrap().unwrap();
    let stored = read.refresh_state().retry_at.unwrap();
    assert!(stored >= retry_at && stored - retry_at < chrono::Duration::microseconds(1), "{stored}");
    assert_eq!(read.refresh_state().failures, 2);
}
