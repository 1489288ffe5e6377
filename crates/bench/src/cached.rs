//! Cached token read: the hot path when a valid token is held, against yup-oauth2 and the floor.

use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use zoho_oauth::{Authorized, Flow, TokenSet};

use crate::Plan;
use crate::common::{SCOPE, Summary, YupAuthenticator, yup_authenticator, zoho_session};
use crate::server::TokenServer;

/// One contender's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    /// What the figure is: ours, a peer, or a floor.
    pub role: String,
    /// Nanoseconds per call on one thread.
    pub single: Summary,
    /// Nanoseconds per call on each thread, with every thread calling at once.
    pub parallel: Summary,
    /// Calls per timed sample.
    pub batch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub threads: usize,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Guard,
    GuardClone,
    GuardClockClone,
    LoadFull,
    ZohoOauth,
    Yup,
}

impl Contender {
    const ALL: [Contender; 6] = [
        Contender::Guard,
        Contender::GuardClone,
        Contender::GuardClockClone,
        Contender::LoadFull,
        Contender::ZohoOauth,
        Contender::Yup,
    ];

    fn id(self) -> &'static str {
        match self {
            Contender::Guard => "floor_guard",
            Contender::GuardClone => "floor_guard_clone",
            Contender::GuardClockClone => "floor_guard_clock_clone",
            Contender::LoadFull => "arc_swap_load_full",
            Contender::ZohoOauth => "zoho_oauth",
            Contender::Yup => "yup_oauth2",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Contender::Guard => "floor: `ArcSwap::load` guard, read the token in place",
            Contender::GuardClone => "floor for an owned token: `ArcSwap::load` guard + clone of the token",
            Contender::GuardClockClone => {
                "floor for a checked owned token: guard + `Utc::now()` + expiry check + clone"
            }
            Contender::LoadFull => "`ArcSwap::load_full` (an `Arc` clone, one shared count)",
            Contender::ZohoOauth => "zoho-oauth `Flow::access_token()`",
            Contender::Yup => "yup-oauth2 `Authenticator::token()`",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Contender::Guard | Contender::GuardClone | Contender::GuardClockClone | Contender::LoadFull => "floor",
            Contender::ZohoOauth => "ours",
            Contender::Yup => "peer",
        }
    }
}

struct Subjects {
    floor: ArcSwap<TokenSet>,
    session: Flow<Authorized>,
    yup: YupAuthenticator,
}

pub fn run(plan: &Plan) -> anyhow::Result<Results> {
    let server = TokenServer::start()?;
    let runtime = crate::common::runtime()?;
    let valid_until = chrono::Utc::now() + chrono::Duration::hours(1);
    let session = zoho_session(server.url(), valid_until)?;
    let yup = runtime.block_on(async {
        let yup = yup_authenticator(server.url(), None, true).await?;
        // The first call exchanges a code; from then on yup-oauth2 holds a token valid for an hour.
        yup.token(&[SCOPE]).await?;
        anyhow::Ok(yup)
    })?;
    let subjects = Subjects { floor: ArcSwap::from_pointee(session.tokens()), session, yup };
    let before = server.counts();

    let single_thread = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut batches = Vec::new();
    for contender in Contender::ALL {
        batches.push(calibrate(&single_thread, &subjects, contender, plan.cached_warmup, plan.cached_batch_time)?);
    }
    let mut single: Vec<Vec<f64>> = vec![Vec::new(); Contender::ALL.len()];
    let mut parallel: Vec<Vec<f64>> = vec![Vec::new(); Contender::ALL.len()];
    // Contenders take turns, sample by sample, so that a neighbour's load on the machine spreads
    // over all of them rather than landing on one.
    for _ in 0..plan.cached_samples {
        for (i, contender) in Contender::ALL.into_iter().enumerate() {
            single[i].push(sample(&single_thread, &subjects, contender, batches[i])?);
        }
    }
    for _ in 0..plan.cached_samples {
        for (i, contender) in Contender::ALL.into_iter().enumerate() {
            parallel[i].push(sample_parallel(threads, &subjects, contender, batches[i])?);
        }
    }
    anyhow::ensure!(server.counts() == before, "a cached read went to the token server");

    let rows = Contender::ALL
        .into_iter()
        .enumerate()
        .map(|(i, contender)| Row {
            id: contender.id().to_owned(),
            name: contender.name().to_owned(),
            role: contender.role().to_owned(),
            single: Summary::of(&single[i]),
            parallel: Summary::of(&parallel[i]),
            batch: batches[i],
        })
        .collect();
    Ok(Results { threads, rows })
}

/// Warms `contender` up for `warmup` and returns how many calls make a sample of about `target`.
fn calibrate(
    runtime: &tokio::runtime::Runtime,
    subjects: &Subjects,
    contender: Contender,
    warmup: Duration,
    target: Duration,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut calls = 0u64;
    let mut batch = 64u64;
    let mut spent = Duration::ZERO;
    loop {
        let per_call = sample(runtime, subjects, contender, batch)?;
        calls += batch;
        spent += Duration::from_secs_f64(per_call * batch as f64 / 1e9);
        if started.elapsed() >= warmup {
            break;
        }
        batch = (batch * 2).min(1 << 20);
    }
    let per_call = spent.as_secs_f64() / calls as f64;
    Ok(((target.as_secs_f64() / per_call) as u64).max(1))
}

/// Nanoseconds per call over `batch` calls on the current thread.
fn sample(
    runtime: &tokio::runtime::Runtime,
    subjects: &Subjects,
    contender: Contender,
    batch: u64,
) -> anyhow::Result<f64> {
    let elapsed = runtime.block_on(timed(subjects, contender, batch))?;
    Ok(elapsed.as_nanos() as f64 / batch as f64)
}

/// Nanoseconds per call on each of `threads` threads calling at once: every thread makes `batch`
/// calls after a common start, and the slowest thread's time counts.
fn sample_parallel(threads: usize, subjects: &Subjects, contender: Contender, batch: u64) -> anyhow::Result<f64> {
    let barrier = Arc::new(Barrier::new(threads));
    let slowest = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    barrier.wait();
                    runtime.block_on(timed(subjects, contender, batch))
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for handle in handles {
            let elapsed = handle.join().map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))??;
            slowest = slowest.max(elapsed);
        }
        anyhow::Ok(slowest)
    })?;
    Ok(slowest.as_nanos() as f64 / batch as f64)
}

/// Times `batch` calls of `contender`, each result kept opaque to the optimiser.
async fn timed(subjects: &Subjects, contender: Contender, batch: u64) -> anyhow::Result<Duration> {
    match contender {
        Contender::Guard => {
            time_calls(batch, || async { anyhow::Ok(subjects.floor.load().access_token().expose_secret().len()) }).await
        }
        Contender::GuardClone => {
            time_calls(batch, || async { anyhow::Ok(subjects.floor.load().access_token().clone()) }).await
        }
        Contender::GuardClockClone => {
            time_calls(batch, || async {
                // What any cache that checks expiry and hands out an owned token must do.
                let now = chrono::Utc::now();
                let tokens = subjects.floor.load();
                anyhow::ensure!(tokens.is_fresh(now, zoho_oauth::DEFAULT_REFRESH_MARGIN), "the token expired");
                Ok(tokens.access_token().clone())
            })
            .await
        }
        Contender::LoadFull => time_calls(batch, || async { anyhow::Ok(subjects.floor.load_full()) }).await,
        Contender::ZohoOauth => time_calls(batch, || async { Ok(subjects.session.access_token().await?) }).await,
        Contender::Yup => time_calls(batch, || async { Ok(subjects.yup.token(&[SCOPE]).await?) }).await,
    }
}

async fn time_calls<F, Fut, T>(batch: u64, call: F) -> anyhow::Result<Duration>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    for _ in 0..batch {
        black_box(call().await?);
    }
    Ok(started.elapsed())
}
