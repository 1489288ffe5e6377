//! Shared set-up: the database from the environment, a schema per test, child processes.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset of these helpers.
#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use zoho_oauth_store_postgres::{PostgresStore, PostgresStoreBuilder};

/// The variable that names the test database.
pub const URL_VAR: &str = "ZOHO_OAUTH_TEST_POSTGRES_URL";
/// The variable that names a command taking `stop` or `start`, for the restart test.
pub const CTL_VAR: &str = "ZOHO_OAUTH_TEST_POSTGRES_CTL";
/// The variable that turns a run of a test binary into a worker process.
pub const ROLE_VAR: &str = "ZOHO_OAUTH_TEST_WORKER_ROLE";

/// The test database's URL; `None` (the test passes, saying it was skipped) when it is not set,
/// except under `CI=true`, where a missing database fails the test.
pub fn database_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{URL_VAR} is not set: under CI=true the PostgreSQL tests must run (see .ci/run)"
            );
            println!("skipped: {URL_VAR} is not set");
            None
        }
    }
}

/// A schema name no other test (or test process) uses.
pub fn unique_schema(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t_{tag}_{}_{n}_{nanos}", std::process::id())
}

/// A builder for `schema` with timeouts short enough for tests.
pub fn builder(url: &str, schema: &str) -> PostgresStoreBuilder {
    PostgresStore::builder(url)
        .unwrap()
        .schema(schema)
        .unwrap()
        .operation_timeout(Duration::from_secs(10))
        .lock_timeout(Duration::from_secs(10))
}

/// Runs `future` to completion on a runtime of its own, on a thread of its own, so it works from
/// inside or outside another runtime.
pub fn on_own_runtime<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    })
    .join()
    .unwrap()
}

/// Creates `schema` and migrates it.
pub fn migrate(url: &str, schema: &str) {
    let builder = builder(url, schema);
    on_own_runtime(async move { builder.connect().await.map(drop) }).unwrap();
}

/// Drops its schema when dropped, so test runs leave the database as they found it.
#[derive(Debug)]
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = on_own_runtime(async move {
            use sqlx::Connection as _;
            let mut connection = sqlx::PgConnection::connect(&url).await?;
            // `schema` came from `unique_schema`: lowercase letters, digits and `_` only.
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).execute(&mut connection).await?;
            connection.close().await
        });
        if let Err(error) = dropped {
            eprintln!("could not drop schema {}: {error}", self.schema);
        }
    }
}

/// A child process running this test binary's `worker` test in `role`, with `env`.
pub struct Worker {
    pub child: Child,
    pub lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Worker {
    pub fn spawn(role: &str, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "worker", "--nocapture", "--test-threads=1", "--quiet"])
            .env(ROLE_VAR, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next line the worker reported (lines starting with `@@ `), without the prefix.
    pub fn next_report(&mut self) -> Option<String> {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if let Some(report) = line.strip_prefix("@@ ") {
                return Some(report.to_owned());
            }
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a worker reports to its parent: one line, recognised by its prefix.
pub fn report(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

/// The worker role this process was started in, if it is a worker.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}
