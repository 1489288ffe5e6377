//! Benchmarks with their baselines, measured in the same run:
//!
//! - `cached/*`: the cached `access_token()` path against the floor, an `ArcSwap` load plus the
//!   clone of the token that any owned-token API pays;
//! - `cached_all_cores/*`: the same with one thread per core asking at once;
//! - `herd/1000`: 1000 tasks asking at once for a just-expired token, against the emulator;
//!   prints how many refresh requests were made (the goal is one per expiry);
//! - `refresh/*`: one refresh through the library against a bare reqwest POST of the same form to
//!   the same emulator, alternating within one run.
//!
//! Run with `cargo bench -p zoho-oauth-bench`; `-- --test` runs each once.

#![allow(missing_docs, clippy::unwrap_used)] // Benchmark set-up fails loudly; criterion's macros generate undocumented items.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use zoho_accounts_emulator::{Emulator, EmulatorConfig};
use zoho_oauth::{
    AccessToken, Authorized, ClientConfig, ClientSecret, Clock, Endpoints, Flow, HttpClient, ManualClock, RefreshToken,
    RequestKind, ReqwestClient, Scopes, TokenSet,
};

const CLIENT_ID: &str = "1000.DEMOCLIENT";
const CLIENT_SECRET: &str = "demo-client-secret";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

struct Setup {
    rt: tokio::runtime::Runtime,
    emulator: Emulator,
    clock: ManualClock,
    http: Arc<ReqwestClient>,
    session: Arc<Flow<Authorized>>,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let clock = ManualClock::starting_now();
    let emulator = rt.block_on(Emulator::start(EmulatorConfig::new().clock(Arc::new(clock.clone())))).unwrap();
    let http = Arc::new(ReqwestClient::new().unwrap());
    let session = rt.block_on(async {
        let (url, pending) = flow(&emulator, &clock, &http).authorization_url();
        let request = http::Request::get(url.as_str()).body(Vec::new()).unwrap();
        let response = http.execute(request, RequestKind::Api).await.unwrap();
        let callback = response.headers()["location"].to_str().unwrap().to_owned();
        pending.exchange(&callback).await.unwrap()
    });
    Setup { rt, emulator, clock, http, session: Arc::new(session) }
}

fn flow(emulator: &Emulator, clock: &ManualClock, http: &Arc<ReqwestClient>) -> Flow<zoho_oauth::Unauthorized> {
    let endpoints = Endpoints::zoho_custom(emulator.accounts_url("us").as_str(), None, &[]).unwrap();
    let config = ClientConfig::new(CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .redirect_uri(REDIRECT_URI)
        .unwrap()
        .scopes(Scopes::zoho(["ZohoCRM.modules.ALL"]).unwrap())
        .clock(Arc::new(clock.clone()));
    Flow::new(config, http.clone())
}

fn cached(c: &mut Criterion) {
    let s = setup();
    let floor = ArcSwap::from_pointee(s.session.tokens());
    let mut group = c.benchmark_group("cached");
    group.bench_function("floor_arc_swap_load_and_clone", |b| {
        b.to_async(&s.rt).iter(|| async { black_box(floor.load().access_token().clone()) })
    });
    group.bench_function("zoho_oauth_access_token", |b| {
        b.to_async(&s.rt).iter(|| async { black_box(s.session.access_token().await.unwrap()) })
    });
    group.finish();

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut group = c.benchmark_group("cached_all_cores");
    group.bench_function(format!("floor_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            all_cores(threads, iters, |rt| black_box(rt.block_on(async { floor.load().access_token().clone() })))
        })
    });
    group.bench_function(format!("zoho_oauth_{threads}_threads"), |b| {
        b.iter_custom(|iters| all_cores(threads, iters, |rt| black_box(rt.block_on(s.session.access_token()).unwrap())))
    });
    group.finish();
    drop(s.emulator);
}

/// Runs `iters` calls on each of `threads` threads at once; returns the slowest thread's time,
/// so the figure is the time per call while every core is asking.
fn all_cores(threads: usize, iters: u64, call: impl Fn(&tokio::runtime::Runtime) -> AccessToken + Sync) -> Duration {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    let start = Instant::now();
                    for _ in 0..iters {
                        call(&rt);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).max().unwrap_or_default()
    })
}

fn herd(c: &mut Criterion) {
    let s = setup();
    let saved = s.session.tokens();
    let refresh_token = saved.refresh_token().unwrap().clone();
    let mut group = c.benchmark_group("herd");
    group.sample_size(10);
    let before = s.emulator.counters().token_refresh;
    let mut rounds = 0u64;
    group.bench_function("1000_callers_at_expiry", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Stay under Zoho's ten refreshes per ten minutes: each round is a new ten minutes.
                s.clock.advance(chrono::Duration::minutes(11));
                let session = Arc::new(expired_session(&s, &refresh_token));
                rounds += 1;
                total += s.rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..1000)
                        .map(|_| {
                            let session = session.clone();
                            tokio::spawn(async move { session.access_token().await.unwrap() })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    start.elapsed()
                });
            }
            total
        })
    });
    group.finish();
    let refreshes = s.emulator.counters().token_refresh - before;
    eprintln!("herd: {rounds} rounds of 1000 callers made {refreshes} refresh requests");
}

fn expired_session(s: &Setup, refresh_token: &RefreshToken) -> Flow<Authorized> {
    let tokens = TokenSet::new(
        AccessToken::new("expired"),
        Some(refresh_token.clone()),
        s.clock.now() - chrono::Duration::seconds(1),
        Some(s.emulator.api_domain("us")),
        s.emulator.accounts_url("us").origin().ascii_serialization(),
        Scopes::empty(),
    );
    flow(&s.emulator, &s.clock, &s.http).restore(tokens).unwrap()
}

fn refresh(c: &mut Criterion) {
    let s = setup();
    let refresh_token = s.session.tokens().refresh_token().unwrap().expose_secret().to_owned();
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let token_url = s.emulator.accounts_url("us").join("/oauth/v2/token").unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let mut group = c.benchmark_group("refresh");
    group.bench_function("bare_reqwest_post", |b| {
        b.to_async(&s.rt).iter(|| async {
            s.clock.advance(chrono::Duration::minutes(2));
            let response = bare.post(token_url.clone()).form(&form).send().await.unwrap();
            black_box(response.bytes().await.unwrap())
        })
    });
    group.bench_function("zoho_oauth_refresh", |b| {
        b.to_async(&s.rt).iter(|| async {
            s.clock.advance(chrono::Duration::minutes(2));
            s.session.refresh().await.unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, cached, herd, refresh);
criterion_main!(benches);
