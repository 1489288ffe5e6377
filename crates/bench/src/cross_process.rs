//! Two processes share one token file and ask for a token at the same moment, just after expiry.
//!
//! The parent runs the token server and seeds the file; it starts this binary twice in a child
//! role, and both children call at an agreed wall-clock instant. The server counts the refreshes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use url::Url;
use zoho_oauth::{Environment, FileStore, StoreKey, TokenStore};

use crate::Plan;
use crate::common::{CLIENT_ID, SCOPE, STORE_USER, Summary, token_set, yup_authenticator, zoho_flow};
use crate::herd::{YUP_OAUTH2, ZOHO_OAUTH};
use crate::server::TokenServer;

/// How long after spawning the children both call; enough for a debug build to start.
const START_AFTER: Duration = Duration::from_millis(500);
/// A child that has not finished by then is killed and the run fails.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub library: String,
    /// Refresh requests per round.
    pub refreshes: Vec<u64>,
    /// Distinct access tokens the two processes ended with, per round.
    pub distinct_tokens: Vec<usize>,
    /// Milliseconds from the agreed instant until both processes held a token, per round.
    pub millis: Vec<f64>,
    /// Processes that failed, per round. Only a peer may fail (yup-oauth2 rewrites its token file
    /// in place, so the other process can read it half-written); a failure of zoho-oauth fails the run.
    #[serde(default)]
    pub failed: Vec<usize>,
    pub time: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub processes: usize,
    pub delay_ms: u64,
    pub rows: Vec<Row>,
}

/// What a child reports on its standard output, as one JSON line.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    /// A fingerprint of the access token it got (not the token).
    token: u64,
    /// Microseconds from the agreed instant until it held the token.
    after_start_micros: u64,
}

pub fn run(plan: &Plan, exe: &Path, scratch: &Path) -> anyhow::Result<Results> {
    let runtime = crate::common::runtime()?;
    let server = TokenServer::start()?;
    server.set_delay(plan.cross_process_delay);
    let mut ours = Row::new(ZOHO_OAUTH);
    let mut yup = Row::new(YUP_OAUTH2);
    runtime.block_on(async {
        for _ in 0..plan.cross_process_rounds {
            for row in [&mut ours, &mut yup] {
                let dir = tempfile::Builder::new().prefix("cross-process-").tempdir_in(scratch)?;
                let path = dir.path().join("tokens.json");
                if row.library == ZOHO_OAUTH {
                    seed_zoho(&server, &path).await?;
                } else {
                    seed_yup(&server, &path).await?;
                }
                let before = server.counts();
                let (reports, failed) = run_children(exe, &row.library, &server, &path).await?;
                let made = server.counts() - before;
                anyhow::ensure!(made.exchanges == 0, "a child fell back to a new authorization");
                let mut tokens: Vec<u64> = reports.iter().map(|r| r.token).collect();
                tokens.sort_unstable();
                tokens.dedup();
                let slowest = reports.iter().map(|r| r.after_start_micros).max().unwrap_or(0);
                row.refreshes.push(made.refreshes);
                row.distinct_tokens.push(tokens.len());
                row.millis.push(slowest as f64 / 1e3);
                row.failed.push(failed);
            }
        }
        anyhow::Ok(())
    })?;
    Ok(Results {
        processes: 2,
        delay_ms: u64::try_from(plan.cross_process_delay.as_millis()).unwrap_or(u64::MAX),
        rows: vec![ours.finish(), yup.finish()],
    })
}

impl Row {
    fn new(library: &str) -> Row {
        Row {
            library: library.to_owned(),
            refreshes: Vec::new(),
            distinct_tokens: Vec::new(),
            millis: Vec::new(),
            failed: Vec::new(),
            time: Summary::of(&[]),
        }
    }

    fn finish(mut self) -> Row {
        self.time = Summary::of(&self.millis);
        self
    }
}

/// Saves tokens that expired a second ago where zoho-oauth's flows will look for them.
async fn seed_zoho(server: &TokenServer, path: &Path) -> anyhow::Result<()> {
    let tokens = token_set(server.url(), chrono::Utc::now() - chrono::Duration::seconds(1))?;
    let key = StoreKey::new(CLIENT_ID, STORE_USER, tokens.accounts_server(), Environment::Production);
    FileStore::open(path).await?.save(&key, &tokens).await?;
    Ok(())
}

/// Has yup-oauth2 write its token file with a token inside its one-minute expiry margin.
async fn seed_yup(server: &TokenServer, path: &Path) -> anyhow::Result<()> {
    let auth = yup_authenticator(server.url(), Some(path), true).await?;
    server.set_exchange_expires_in(30);
    let seeded = auth.token(&[SCOPE]).await;
    server.set_exchange_expires_in(3600);
    seeded?;
    Ok(())
}

/// Runs the two children; returns the reports of those that succeeded and how many failed.
async fn run_children(
    exe: &Path,
    library: &str,
    server: &TokenServer,
    path: &Path,
) -> anyhow::Result<(Vec<ChildReport>, usize)> {
    let start_at = SystemTime::now() + START_AFTER;
    let start_at_micros = start_at.duration_since(UNIX_EPOCH)?.as_micros().to_string();
    let mut children = Vec::new();
    for _ in 0..2 {
        let child = tokio::process::Command::new(exe)
            .args(["--child", library, "--server", server.url().as_str(), "--store"])
            .arg(path)
            .args(["--start-at", &start_at_micros])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
    }
    let (mut reports, mut failed) = (Vec::new(), 0);
    for mut child in children {
        let mut stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("the child has no standard output"))?;
        let finished = tokio::time::timeout(CHILD_LIMIT, async {
            let mut output = String::new();
            stdout.read_to_string(&mut output).await?;
            let status = child.wait().await?;
            anyhow::Ok((status, output))
        })
        .await;
        let (status, output) = finished.map_err(|_| anyhow::anyhow!("a child process took over a minute"))??;
        if !status.success() && library != ZOHO_OAUTH {
            // A peer's failure is a result, not a broken benchmark: it is counted and reported.
            failed += 1;
            continue;
        }
        anyhow::ensure!(status.success(), "a {library} child failed: {status}");
        reports.push(serde_json::from_str(output.trim())?);
    }
    Ok((reports, failed))
}

/// The child role: `--child LIBRARY --server URL --store PATH --start-at MICROS`.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let value = |name: &str| -> anyhow::Result<&str> {
        let at = args.iter().position(|a| a == name).ok_or_else(|| anyhow::anyhow!("the child needs {name}"))?;
        args.get(at + 1).map(String::as_str).ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
    };
    let library = value("--child")?.to_owned();
    let server = Url::parse(value("--server")?)?;
    let path = PathBuf::from(value("--store")?);
    let start_at = UNIX_EPOCH + Duration::from_micros(value("--start-at")?.parse()?);
    let runtime = crate::common::runtime()?;
    let report = runtime.block_on(async {
        // Everything a program does at start-up happens before the agreed instant.
        let token = if library == ZOHO_OAUTH {
            let store = FileStore::open(&path).await?;
            let session = zoho_flow(&server)?
                .with_store(Arc::new(store), STORE_USER)
                .restore_from_store()
                .await?
                .ok_or_else(|| anyhow::anyhow!("the store held no tokens"))?;
            wait_until(start_at).await;
            let token = session.access_token().await?;
            fingerprint(token.expose_secret())
        } else if library == YUP_OAUTH2 {
            let auth = yup_authenticator(&server, Some(&path), false).await?;
            wait_until(start_at).await;
            let token = auth.token(&[SCOPE]).await?;
            fingerprint(token.token().unwrap_or_default())
        } else {
            anyhow::bail!("unknown library `{library}`");
        };
        let after_start = SystemTime::now().duration_since(start_at).unwrap_or_default();
        anyhow::Ok(ChildReport {
            token,
            after_start_micros: u64::try_from(after_start.as_micros()).unwrap_or(u64::MAX),
        })
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

pub async fn wait_until(instant: SystemTime) {
    if let Ok(left) = instant.duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

/// A stable fingerprint of a token, so the children never print one.
pub fn fingerprint(token: &str) -> u64 {
    // FNV-1a: stable across processes, unlike the standard library's seeded hasher.
    token.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}
