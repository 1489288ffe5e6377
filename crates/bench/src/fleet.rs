//! The fleet herd: P worker processes of T tasks each share one `PostgresStore` and all ask for a
//! token at the same instant, just after it expired.
//!
//! The parent runs the token server and seeds the store; it starts this binary P times in the
//! fleet worker role, and every task of every worker calls at an agreed wall-clock instant. The
//! server counts the refreshes. The baseline is one worker with one task on the same store and
//! server: the time a lone refresh through the store takes, measured in turns with the herds.
//!
//! Needs a database (see [`crate::postgres::database_url`]); skipped without one. Workers read the
//! URL from the environment they inherit, so the password is never on a command line.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use url::Url;
use zoho_oauth::postgres::PostgresStore;
use zoho_oauth::postgres::sqlx::{self, ConnectOptions as _, Connection as _};
use zoho_oauth::{Environment, StoreKey, TokenStore};

use crate::Plan;
use crate::common::{CLIENT_ID, STORE_USER, Summary, token_set, zoho_flow};
use crate::cross_process::{fingerprint, wait_until};
use crate::postgres::{SKIPPED, database_url};
use crate::server::TokenServer;

/// The store's schema for this benchmark, dropped before and after.
const SCHEMA: &str = "zoho_oauth_bench_fleet";
/// How long after spawning the workers every task calls: enough for eight processes to start and
/// connect on a busy machine.
const START_AFTER: Duration = Duration::from_millis(1500);
/// A worker that has not finished by then is killed and the run fails.
const WORKER_LIMIT: Duration = Duration::from_secs(60);

/// One fleet shape over several rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub processes: usize,
    pub tasks_per_process: usize,
    /// Refresh requests per round (per expiry).
    pub refreshes: Vec<u64>,
    /// Distinct access tokens all the tasks ended with, per round.
    pub distinct_tokens: Vec<usize>,
    /// Milliseconds from the agreed instant until every task held a token, per round.
    pub millis: Vec<f64>,
    pub time: Summary,
    /// This shape's time over the lone worker's, round by round.
    pub paired_ratio: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Why nothing was measured, or `None` when the figures are real.
    pub skipped: Option<String>,
    pub delay_ms: u64,
    /// The lone worker (1 × 1) first, then the herds.
    pub rows: Vec<Row>,
}

/// What a worker reports on its standard output, as one JSON line.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerReport {
    /// Fingerprints of the access tokens its tasks got (not the tokens), without repeats.
    tokens: Vec<u64>,
    /// Microseconds from the agreed instant until its last task held a token.
    after_start_micros: u64,
}

pub fn run(plan: &Plan, exe: &std::path::Path) -> anyhow::Result<Results> {
    let delay_ms = u64::try_from(plan.cross_process_delay.as_millis()).unwrap_or(u64::MAX);
    let Some(url) = database_url() else {
        return Ok(Results { skipped: Some(SKIPPED.to_owned()), delay_ms, rows: Vec::new() });
    };
    let runtime = crate::common::runtime()?;
    let server = TokenServer::start()?;
    server.set_delay(plan.cross_process_delay);
    let mut shapes = vec![(1, 1)];
    shapes.extend(plan.fleet_shapes.iter().copied());
    let mut rows: Vec<Row> = shapes.iter().map(|&(p, t)| Row::new(p, t)).collect();
    runtime.block_on(async {
        drop_schema(&url).await?;
        let measured = async {
            let store = PostgresStore::builder(&url)?.schema(SCHEMA)?.connect().await?;
            for _ in 0..plan.fleet_rounds {
                // The shapes take turns, round by round, so the lone worker's figure sees the same load.
                for row in &mut rows {
                    let tokens = token_set(server.url(), chrono::Utc::now() - chrono::Duration::seconds(1))?;
                    let key = StoreKey::new(CLIENT_ID, STORE_USER, tokens.accounts_server(), Environment::Production);
                    store.save(&key, &tokens).await?;
                    let before = server.counts();
                    let reports = run_workers(exe, &server, row.processes, row.tasks_per_process).await?;
                    let made = server.counts() - before;
                    anyhow::ensure!(made.exchanges == 0, "a worker fell back to a new authorization");
                    let mut tokens: Vec<u64> = reports.iter().flat_map(|r| r.tokens.iter().copied()).collect();
                    tokens.sort_unstable();
                    tokens.dedup();
                    let slowest = reports.iter().map(|r| r.after_start_micros).max().unwrap_or(0);
                    row.refreshes.push(made.refreshes);
                    row.distinct_tokens.push(tokens.len());
                    row.millis.push(slowest as f64 / 1e3);
                }
            }
            anyhow::Ok(())
        };
        let result = measured.await;
        drop_schema(&url).await?;
        result
    })?;
    let lone = rows.first().map(|r| r.millis.clone()).unwrap_or_default();
    let rows = rows
        .into_iter()
        .map(|mut row| {
            row.time = Summary::of(&row.millis);
            row.paired_ratio = crate::common::paired_ratio(&row.millis, &lone);
            row
        })
        .collect();
    Ok(Results { skipped: None, delay_ms, rows })
}

impl Row {
    fn new(processes: usize, tasks_per_process: usize) -> Row {
        Row {
            processes,
            tasks_per_process,
            refreshes: Vec::new(),
            distinct_tokens: Vec::new(),
            millis: Vec::new(),
            time: Summary::of(&[]),
            paired_ratio: Summary::of(&[]),
        }
    }
}

async fn drop_schema(url: &str) -> anyhow::Result<()> {
    let options: zoho_oauth::postgres::sqlx::postgres::PgConnectOptions =
        url.parse().map_err(|_| anyhow::anyhow!("the PostgreSQL URL does not parse"))?;
    let mut connection = options.connect().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

async fn run_workers(
    exe: &std::path::Path,
    server: &TokenServer,
    processes: usize,
    tasks: usize,
) -> anyhow::Result<Vec<WorkerReport>> {
    let start_at = SystemTime::now() + START_AFTER;
    let start_at_micros = start_at.duration_since(UNIX_EPOCH)?.as_micros().to_string();
    let mut workers = Vec::new();
    for _ in 0..processes {
        let worker = tokio::process::Command::new(exe)
            .args(["--child", "fleet", "--server", server.url().as_str(), "--tasks", &tasks.to_string()])
            .args(["--start-at", &start_at_micros])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        workers.push(worker);
    }
    let mut reports = Vec::new();
    for mut worker in workers {
        let mut stdout = worker.stdout.take().ok_or_else(|| anyhow::anyhow!("the worker has no standard output"))?;
        let finished = tokio::time::timeout(WORKER_LIMIT, async {
            let mut output = String::new();
            stdout.read_to_string(&mut output).await?;
            let status = worker.wait().await?;
            anyhow::Ok((status, output))
        })
        .await;
        let (status, output) = finished.map_err(|_| anyhow::anyhow!("a fleet worker took over a minute"))??;
        anyhow::ensure!(status.success(), "a fleet worker failed: {status}");
        reports.push(serde_json::from_str(output.trim())?);
    }
    Ok(reports)
}

/// The worker role: `--child fleet --server URL --tasks T --start-at MICROS`, the database URL
/// from the environment.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let value = |name: &str| -> anyhow::Result<&str> {
        let at = args.iter().position(|a| a == name).ok_or_else(|| anyhow::anyhow!("the worker needs {name}"))?;
        args.get(at + 1).map(String::as_str).ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
    };
    let server = Url::parse(value("--server")?)?;
    let tasks: usize = value("--tasks")?.parse()?;
    let start_at = UNIX_EPOCH + Duration::from_micros(value("--start-at")?.parse()?);
    let url = database_url().ok_or_else(|| anyhow::anyhow!("the fleet worker has no PostgreSQL URL"))?;
    let runtime = crate::common::runtime()?;
    let report = runtime.block_on(async {
        // Everything a worker does at start-up happens before the agreed instant: the pool's
        // first connection included, as a worker that has served requests already has one.
        let store = PostgresStore::builder(&url)?.schema(SCHEMA)?.build();
        let session = Arc::new(
            zoho_flow(&server)?
                .with_store(Arc::new(store), STORE_USER)
                .restore_from_store()
                .await?
                .ok_or_else(|| anyhow::anyhow!("the store held no tokens"))?,
        );
        wait_until(start_at).await;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move {
                    let token = session.access_token().await?;
                    anyhow::Ok(fingerprint(token.expose_secret()))
                })
            })
            .collect();
        let mut tokens = Vec::with_capacity(tasks);
        for handle in handles {
            tokens.push(handle.await??);
        }
        let after_start = SystemTime::now().duration_since(start_at).unwrap_or_default();
        tokens.sort_unstable();
        tokens.dedup();
        anyhow::Ok(WorkerReport {
            tokens,
            after_start_micros: u64::try_from(after_start.as_micros()).unwrap_or(u64::MAX),
        })
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
