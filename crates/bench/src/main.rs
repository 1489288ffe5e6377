//! The benchmark harness behind `cargo xtask bench`: zoho-oauth against the alternatives a user
//! would pick and against the floor, measured in one run on one machine.
//!
//! Usage: `zoho-oauth-bench [--quick] [--out DIR] [--no-docs] [--render] [--only cached|refresh]`.
//!
//! - `--quick`: every benchmark once, with tiny counts; the figures mean nothing, and `docs/` is
//!   left alone.
//! - `--out DIR`: where the JSON results go (default `target/bench/`).
//! - `--no-docs`: a full run that does not rewrite `docs/benchmarks.md` and its chart.
//! - `--render`: measure nothing; render the page again from the JSON of the last run.
//! - `--only cached|refresh`: run that one benchmark and print its figures as JSON on standard
//!   output, writing no files; for working on one hot path.
//!
//! The JSON and a rendered copy of the page always go to the output directory; a full run also
//! writes `docs/benchmarks.md` and `docs/benchmarks-herd.svg`.
//!
//! The PostgreSQL benchmarks use the database named by `ZOHO_OAUTH_BENCH_POSTGRES_URL` (or else
//! `ZOHO_OAUTH_TEST_POSTGRES_URL`) and are reported as skipped without one.

// A binary: `pub` inside its private modules only means "used by main".
#![allow(unreachable_pub)]

mod cached;
mod chart;
mod common;
mod cross_process;
mod encrypted;
mod fleet;
mod herd;
mod identity;
mod postgres;
mod refresh;
mod report;
mod server;
mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::{Machine, Meta, Report};

/// How much of everything to measure.
#[derive(Debug, Clone)]
struct Plan {
    pub quick: bool,
    pub cached_warmup: Duration,
    pub cached_batch_time: Duration,
    pub cached_samples: usize,
    pub herd_sizes: Vec<usize>,
    pub herd_delays: Vec<Duration>,
    herd_rounds_by_size: Vec<(usize, usize)>,
    pub refresh_warmup: u64,
    pub refresh_samples: usize,
    pub refresh_batch: u64,
    pub store_warmup: usize,
    pub store_save_samples: usize,
    pub store_load_samples: usize,
    pub store_load_batch: u64,
    pub cross_process_rounds: usize,
    pub cross_process_delay: Duration,
    /// The fleet herd's shapes, (processes, tasks per process), besides the lone worker.
    pub fleet_shapes: Vec<(usize, usize)>,
    pub fleet_rounds: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            quick: false,
            cached_warmup: Duration::from_millis(200),
            cached_batch_time: Duration::from_millis(2),
            cached_samples: 200,
            herd_sizes: vec![10, 100, 1000],
            herd_delays: vec![Duration::ZERO, Duration::from_millis(5)],
            herd_rounds_by_size: vec![(10, 50), (100, 30), (1000, 20)],
            refresh_warmup: 50,
            refresh_samples: 3000,
            refresh_batch: 4,
            store_warmup: 5,
            store_save_samples: 200,
            store_load_samples: 200,
            store_load_batch: 20,
            cross_process_rounds: 20,
            cross_process_delay: Duration::from_millis(5),
            fleet_shapes: vec![(4, 25), (8, 100)],
            fleet_rounds: 10,
        }
    }

    fn quick() -> Plan {
        Plan {
            quick: true,
            cached_warmup: Duration::from_millis(5),
            cached_batch_time: Duration::from_micros(200),
            cached_samples: 3,
            herd_rounds_by_size: vec![],
            refresh_warmup: 1,
            refresh_samples: 2,
            refresh_batch: 2,
            store_warmup: 1,
            store_save_samples: 3,
            store_load_samples: 3,
            store_load_batch: 2,
            cross_process_rounds: 1,
            fleet_shapes: vec![(2, 3)],
            fleet_rounds: 1,
            ..Plan::full()
        }
    }

    /// Rounds of the herd at `n` tasks, per library and server delay.
    pub fn herd_rounds(&self, n: usize) -> usize {
        self.herd_rounds_by_size.iter().find(|(size, _)| *size == n).map_or(1, |(_, rounds)| *rounds)
    }

    fn describe(&self) -> String {
        let fleet: Vec<String> = self.fleet_shapes.iter().map(|(p, t)| format!("{p} × {t}")).collect();
        let herd: Vec<String> =
            self.herd_sizes.iter().map(|&n| format!("{} at N = {n}", self.herd_rounds(n))).collect();
        format!(
            "cached read {} samples per contender and thread count; herd rounds {}; refresh {} samples of {}; store {} saves and updates and {} samples of {} loads (file, encrypted file, PostgreSQL); cross-process {} round(s); fleet {} round(s) of 1 × 1, {}",
            self.cached_samples,
            herd.join(", "),
            self.refresh_samples,
            self.refresh_batch,
            self.store_save_samples,
            self.store_load_samples,
            self.store_load_batch,
            self.cross_process_rounds,
            self.fleet_rounds,
            fleet.join(", ")
        )
    }
}

struct Options {
    quick: bool,
    out: PathBuf,
    docs: bool,
    render_only: bool,
    only: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--child") {
        let worker =
            if args.get(1).is_some_and(|a| a == "fleet") { fleet::child(&args) } else { cross_process::child(&args) };
        return match worker {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bench child: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    match parse(&args).and_then(|options| run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options =
        Options { quick: false, out: project_root().join("target/bench"), docs: true, render_only: false, only: None };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => {
                options.out = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("--out needs a directory"))?)
            }
            "--no-docs" => options.docs = false,
            "--render" => options.render_only = true,
            "--only" => {
                options.only = Some(args.next().ok_or_else(|| anyhow::anyhow!("--only needs a benchmark"))?.clone())
            }
            "--help" | "-h" => {
                println!("zoho-oauth-bench [--quick] [--out DIR] [--no-docs] [--render] [--only cached|refresh]");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> anyhow::Result<()> {
    if let Some(only) = &options.only {
        return run_one(options, only);
    }
    let report = if options.render_only {
        Report::read_json(&options.out)?
    } else {
        let report = measure(options)?;
        report.write_json(&options.out)?;
        eprintln!("bench: results in {}", options.out.display());
        report
    };
    render(&report, &options.out)?;
    if options.docs && !report.run.quick {
        let docs = project_root().join("docs");
        render(&report, &docs)?;
        eprintln!("bench: wrote {}", docs.join("benchmarks.md").display());
    }
    Ok(())
}

/// Runs one benchmark and prints its results as JSON.
fn run_one(options: &Options, name: &str) -> anyhow::Result<()> {
    let plan = if options.quick { Plan::quick() } else { Plan::full() };
    let json = match name {
        "cached" => serde_json::to_string_pretty(&step("cached token read", || cached::run(&plan))?)?,
        "refresh" => serde_json::to_string_pretty(&step("refresh round trip", || refresh::run(&plan))?)?,
        other => anyhow::bail!("`--only` takes `cached` or `refresh`, not `{other}`"),
    };
    println!("{json}");
    Ok(())
}

/// Writes `benchmarks.md` and `benchmarks-herd.svg` into `dir`.
fn render(report: &Report, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("benchmarks-herd.svg"), chart::herd_svg(report)?)?;
    std::fs::write(dir.join("benchmarks.md"), report.markdown("benchmarks-herd.svg"))?;
    Ok(())
}

fn measure(options: &Options) -> anyhow::Result<Report> {
    let plan = if options.quick { Plan::quick() } else { Plan::full() };
    let started = Instant::now();
    std::fs::create_dir_all(&options.out)?;
    let scratch = tempfile::Builder::new().prefix("scratch-").tempdir_in(&options.out)?;
    let exe = std::env::current_exe()?;

    let cached = step("cached token read", || cached::run(&plan))?;
    let herd = step("herd", || herd::run(&plan))?;
    let refresh = step("refresh round trip", || refresh::run(&plan))?;
    let store = step("file store", || store::run(&plan, scratch.path()))?;
    let cross_process = step("two processes, one token file", || cross_process::run(&plan, &exe, scratch.path()))?;
    let encrypted = step("encrypted file store", || encrypted::run(&plan, scratch.path()))?;
    let postgres = step("PostgreSQL store", || postgres::run(&plan))?;
    let fleet = step("fleet herd on PostgreSQL", || fleet::run(&plan, &exe))?;

    let versions = [
        ("zoho-oauth", env!("CARGO_PKG_VERSION")),
        ("yup-oauth2", env!("BENCH_VERSION_YUP_OAUTH2")),
        ("oauth2", env!("BENCH_VERSION_OAUTH2")),
        ("reqwest", env!("BENCH_VERSION_REQWEST")),
        ("arc-swap", env!("BENCH_VERSION_ARC_SWAP")),
        ("tokio", env!("BENCH_VERSION_TOKIO")),
        ("rustc", env!("BENCH_RUSTC_VERSION").trim_start_matches("rustc ")),
    ];
    let run = Meta {
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        quick: plan.quick,
        command: if plan.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" }.to_owned(),
        seconds: started.elapsed().as_secs_f64(),
        profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_owned(),
        machine: Machine::here(),
        versions: versions.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        plan: plan.describe(),
    };
    Ok(Report { run, cached, herd, refresh, store, cross_process, encrypted, postgres, fleet })
}

fn step<T>(name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprint!("bench: {name} ... ");
    let started = Instant::now();
    let result = f().map_err(|e| e.context(format!("benchmark `{name}` failed")));
    eprintln!("{:.1} s", started.elapsed().as_secs_f64());
    result
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the bench crate sits in crates/ under the workspace root")
        .to_path_buf()
}
