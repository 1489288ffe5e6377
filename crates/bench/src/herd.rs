//! The herd: N tasks ask for a token at once just after it expired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Plan;
use crate::common::{SCOPE, Summary, yup_authenticator, zoho_session};
use crate::server::TokenServer;

/// No round may take longer than this; a stuck round fails the run instead of hanging it.
const ROUND_LIMIT: Duration = Duration::from_secs(60);

/// One library at one N and one server delay, over several rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub library: String,
    pub n: usize,
    pub delay_ms: u64,
    /// Refresh requests the server received in each round.
    pub refreshes: Vec<u64>,
    /// Milliseconds from the first task's start until every task held a token, per round.
    pub millis: Vec<f64>,
    pub time: Summary,
    pub refreshes_summary: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub rows: Vec<Row>,
}

pub const ZOHO_OAUTH: &str = "zoho-oauth";
pub const YUP_OAUTH2: &str = "yup-oauth2";

pub fn run(plan: &Plan) -> anyhow::Result<Results> {
    let runtime = crate::common::runtime()?;
    let mut rows = Vec::new();
    for &delay in &plan.herd_delays {
        // A fresh server per delay, so that closed connections of one configuration (yup-oauth2
        // opens one per request) do not crowd the ports of the next.
        let server = TokenServer::start()?;
        server.set_delay(delay);
        for &n in &plan.herd_sizes {
            let rounds = plan.herd_rounds(n);
            let mut ours = Row::new(ZOHO_OAUTH, n, delay);
            let mut yup = Row::new(YUP_OAUTH2, n, delay);
            for _ in 0..rounds {
                // The libraries take turns, round by round.
                let (refreshes, elapsed) = runtime.block_on(zoho_round(&server, n))?;
                ours.push(refreshes, elapsed);
                let (refreshes, elapsed) = runtime.block_on(yup_round(&server, n))?;
                yup.push(refreshes, elapsed);
            }
            rows.push(ours.finish());
            rows.push(yup.finish());
        }
    }
    Ok(Results { rows })
}

impl Row {
    fn new(library: &str, n: usize, delay: Duration) -> Row {
        Row {
            library: library.to_owned(),
            n,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            refreshes: Vec::new(),
            millis: Vec::new(),
            time: Summary::of(&[]),
            refreshes_summary: Summary::of(&[]),
        }
    }

    fn push(&mut self, refreshes: u64, elapsed: Duration) {
        self.refreshes.push(refreshes);
        self.millis.push(elapsed.as_secs_f64() * 1e3);
    }

    fn finish(mut self) -> Row {
        self.time = Summary::of(&self.millis);
        let refreshes: Vec<f64> = self.refreshes.iter().map(|&r| r as f64).collect();
        self.refreshes_summary = Summary::of(&refreshes);
        self
    }
}

/// One expiry for zoho-oauth: a session restored with a token that expired a second ago, on a new
/// HTTP client, and `n` tasks calling `access_token()` at once.
async fn zoho_round(server: &TokenServer, n: usize) -> anyhow::Result<(u64, Duration)> {
    let session = Arc::new(zoho_session(server.url(), chrono::Utc::now() - chrono::Duration::seconds(1))?);
    herd(server, n, move || {
        let session = session.clone();
        async move {
            session.access_token().await?;
            anyhow::Ok(())
        }
    })
    .await
}

/// One expiry for yup-oauth2: a new authenticator whose stored token is within its one-minute
/// margin of expiry, and `n` tasks calling `token()` at once.
async fn yup_round(server: &TokenServer, n: usize) -> anyhow::Result<(u64, Duration)> {
    let auth = yup_authenticator(server.url(), None, true).await?;
    // yup-oauth2 keeps tokens in memory keyed by scopes and can be given a token only through a
    // flow: exchange a code for a token that lives 30 seconds, which yup-oauth2 counts as expired.
    server.set_exchange_expires_in(30);
    let primed = auth.token(&[SCOPE]).await;
    server.set_exchange_expires_in(3600);
    primed?;
    let auth = Arc::new(auth);
    herd(server, n, move || {
        let auth = auth.clone();
        async move {
            auth.token(&[SCOPE]).await?;
            anyhow::Ok(())
        }
    })
    .await
}

/// Spawns `n` tasks made by `task` at once; returns the refresh requests they caused and the
/// time until the last one finished.
async fn herd<F, Fut>(server: &TokenServer, n: usize, task: F) -> anyhow::Result<(u64, Duration)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let before = server.counts();
    let started = Instant::now();
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(task())).collect();
    let all = async {
        for joined in tasks {
            joined.await??;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(ROUND_LIMIT, all).await.map_err(|_| anyhow::anyhow!("a herd round took over a minute"))??;
    let elapsed = started.elapsed();
    let made = server.counts() - before;
    anyhow::ensure!(made.exchanges == 0, "a library fell back to a new authorization during the herd");
    Ok((made.refreshes, elapsed))
}
