//! The database stops and starts again in the middle of a run: operations fail with typed errors
//! while it is down, the same store recovers by itself afterwards, and nothing acknowledged is lost
//! or rolled back. Needs `ZOHO_OAUTH_TEST_POSTGRES_CTL`, a command that takes `stop` or `start`
//! (`.ci/run` provides one); in its own test binary so that no other test sees the outage.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::DropSchema;
use zoho_oauth_store::TokenStore;
use zoho_oauth_store::testing::{assert_same, key, tokens};
use zoho_oauth_store_postgres::Error;

fn ctl(command: &str, action: &str) {
    let status = Command::new("sh").arg("-c").arg(format!("{command} {action}")).status().unwrap();
    assert!(status.success(), "`{command} {action}` failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_is_survived_without_losing_or_rolling_back_tokens() {
    let Some(url) = common::database_url() else { return };
    let Some(control) = std::env::var(common::CTL_VAR).ok().filter(|c| !c.is_empty()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is not set: under CI=true the restart test must run (see .ci/run)",
            common::CTL_VAR
        );
        println!("skipped: {} is not set (a command taking `stop` or `start`)", common::CTL_VAR);
        return;
    };
    let schema = common::unique_schema("s");
    let _drop = DropSchema { url: url.clone(), schema: schema.clone() };
    let store = Arc::new(
        common::builder(&url, &schema)
            .operation_timeout(Duration::from_secs(1))
            .lock_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap(),
    );
    let grant = key("grant");
    let first = store.save(&grant, &tokens("before-the-outage")).await.unwrap();

    // A writer that keeps saving through the outage, remembering every save acknowledged with `Ok`.
    let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, acknowledged, failures, stop) =
            (Arc::clone(&store), Arc::clone(&acknowledged), Arc::clone(&failures), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = key(&format!("writer-{i}"));
                match store.save(&k, &tokens(&format!("w{i}"))).await {
                    Ok(revision) => {
                        acknowledged.lock().unwrap().insert(i, revision);
                    }
                    Err(error) => failures.lock().unwrap().push(format!("{error}")),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Down.
    let control_for_stop = control.clone();
    tokio::task::spawn_blocking(move || ctl(&control_for_stop, "stop")).await.unwrap();
    let started = Instant::now();
    let error = store.load(&grant).await.expect_err("the database is down");
    let waited = started.elapsed();
    let inner = Error::from_store(&error).expect("a postgres error");
    assert!(inner.is_transient(), "a typed, transient error while down: {inner:?}");
    assert!(waited < Duration::from_secs(3), "bounded by the operation timeout: {waited:?}");
    let lock_error = store.lock(&grant).await.expect_err("the database is down");
    assert!(Error::from_store(&lock_error).is_some_and(Error::is_transient), "{lock_error:?}");
    println!("while down: {error}");

    // Up again: the same store recovers without being rebuilt.
    tokio::task::spawn_blocking(move || ctl(&control, "start")).await.unwrap();
    let started = Instant::now();
    let record = loop {
        match store.load(&grant).await {
            Ok(record) => break record.expect("the grant survived"),
            Err(error) => {
                assert!(started.elapsed() < Duration::from_secs(30), "no recovery: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    println!("recovered {:?} after the start", started.elapsed());
    assert_same(record.tokens(), &tokens("before-the-outage"));
    assert_eq!(record.revision(), first, "nothing rolled back, nothing rewritten");
    // Compare-and-swap and the lock work again.
    let guard = store.lock(&grant).await.unwrap();
    let second = store.update(&grant, &record.with_tokens(tokens("after-the-outage"))).await.unwrap();
    assert!(second > first);
    drop(guard);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();

    // Every acknowledged save is there, at its revision or later.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!failures.lock().unwrap().is_empty(), "the writer saw the outage");
    assert!(acknowledged.len() > 5, "the writer saved before and after the outage");
    for (i, revision) in &acknowledged {
        let stored = store.load(&key(&format!("writer-{i}"))).await.unwrap().expect("an acknowledged save is kept");
        assert_same(stored.tokens(), &tokens(&format!("w{i}")));
        assert!(stored.revision() >= *revision);
    }
    println!("{} saves acknowledged, {} failed during the outage", acknowledged.len(), failures.lock().unwrap().len());
}
