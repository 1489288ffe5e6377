//! The conformance runner behind `cargo xtask conformance`: the library's flow checked clause by
//! clause, over real HTTP on loopback, against any OAuth 2.0 server described in a TOML file.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use zoho_oauth_conformance::{RunOptions, TargetSpec, project_root, run};
//!
//! let spec = TargetSpec::from_file("my-server.toml".as_ref())?;
//! let report = run(&[spec], &RunOptions { root: project_root(), progress: false }).await;
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! assert_eq!(report.failures(), 0);
//! # Ok(()) }
//! ```
//!
//! The description format is documented in `docs/conformance.md` ("Describing your server"); the
//! built-in targets are described in it under `xtask/conformance/targets/`.

// In the private modules `pub` means "used elsewhere in this crate".
#[allow(unreachable_pub)]
mod library;
pub mod report;
#[allow(unreachable_pub, reason = "the catalogue's items are public inside the crate's private module")]
mod scenarios;
pub mod spec;
#[allow(unreachable_pub, reason = "the targets' items are public inside the crate's private module")]
mod target;

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use report::{Deviation, Outcome, Report, ResultRow, TargetRow};
pub use spec::TargetSpec;

use target::{NotApplicable, Started, Target};

/// The built-in targets, in the order `--target all` runs them; each is described by
/// `xtask/conformance/targets/<name>.toml`.
pub const BUILT_IN: [&str; 4] = ["emulator", "oidc-provider", "authlib", "dot"];

/// How a run is made.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The workspace root: virtual environments go under `target/conformance/` there.
    pub root: PathBuf,
    /// Whether to print progress on stderr.
    pub progress: bool,
}

/// The longest one scenario may take.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// The description of built-in target `name`.
pub fn built_in(root: &Path, name: &str) -> anyhow::Result<TargetSpec> {
    TargetSpec::from_file(&root.join("xtask/conformance/targets").join(format!("{name}.toml")))
}

/// The workspace root, two levels above this crate's manifest.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits at crates/conformance")
        .to_path_buf()
}

/// Runs the whole catalogue against each target in turn; every target is stopped before the next
/// starts. A target that cannot start is reported (its scenarios fail, or are skipped when a
/// runtime it needs is missing); the run goes on.
pub async fn run(targets: &[TargetSpec], options: &RunOptions) -> Report {
    let catalogue = scenarios::catalogue();
    let mut report = Report::new(catalogue.iter().map(scenarios::Scenario::info).collect());
    for spec in targets {
        run_target(spec, &catalogue, &mut report, options).await;
    }
    report.summarize();
    report
}

fn say(options: &RunOptions, text: std::fmt::Arguments<'_>) {
    if options.progress {
        eprint!("{text}");
        let _ = std::io::stderr().flush();
    }
}

async fn run_target(spec: &TargetSpec, catalogue: &[scenarios::Scenario], report: &mut Report, options: &RunOptions) {
    let name = spec.name.clone();
    let source = spec.source.as_ref().map(|p| p.strip_prefix(&options.root).unwrap_or(p).display().to_string());
    let started = Instant::now();
    say(options, format_args!("[{name}] starting ..."));
    let result = |scenario: &scenarios::Scenario, outcome, ms, message| ResultRow {
        scenario: scenario.id.to_owned(),
        clause: scenario.clause.to_owned(),
        target: name.clone(),
        outcome,
        duration_ms: ms,
        message,
    };
    let target = match Target::start(spec, &options.root).await {
        Ok(Started::Ready(target)) => target,
        Ok(Started::Skipped(reason)) => {
            say(options, format_args!(" skipped: {reason}\n"));
            report.targets.push(TargetRow {
                name: name.clone(),
                source,
                status: "skipped",
                duration_ms: 0,
                start_ms: 0,
                note: Some(reason.clone()),
            });
            for s in catalogue {
                report.results.push(result(s, Outcome::Skipped, 0, Some(reason.clone())));
            }
            return;
        }
        Err(error) => {
            let message = format!("the target did not start: {error:#}");
            say(options, format_args!(" {message}\n"));
            report.targets.push(TargetRow {
                name: name.clone(),
                source,
                status: "failed_to_start",
                duration_ms: started.elapsed().as_millis() as u64,
                start_ms: started.elapsed().as_millis() as u64,
                note: Some(message.clone()),
            });
            for s in catalogue {
                report.results.push(result(s, Outcome::Fail, 0, Some(message.clone())));
            }
            return;
        }
    };
    let start_ms = started.elapsed().as_millis() as u64;
    say(options, format_args!(" ready in {start_ms} ms\n"));
    for mut d in target.take_deviations() {
        d.scenario = "start".to_owned();
        report.deviations.push(d);
    }
    let terminal = std::io::stderr().is_terminal();
    for (i, scenario) in catalogue.iter().enumerate() {
        let n = catalogue.len();
        // On a terminal one progress line is rewritten in place; in a CI log each scenario gets a line.
        if terminal {
            say(options, format_args!("\r[{name}] {:>2}/{n} {:<40}", i + 1, scenario.id));
        }
        if let Some(reason) = (scenario.not_applicable)(spec) {
            if !terminal {
                say(options, format_args!("[{name}] {:>2}/{n} {} n/a\n", i + 1, scenario.id));
            }
            report.results.push(result(scenario, Outcome::NotApplicable, 0, Some(reason.to_owned())));
            continue;
        }
        let began = Instant::now();
        let outcome = tokio::time::timeout(SCENARIO_TIMEOUT, (scenario.run)(&target)).await;
        let ms = began.elapsed().as_millis() as u64;
        let (outcome, message) = match outcome {
            Ok(Ok(())) => (Outcome::Pass, None),
            Ok(Err(error)) => match error.downcast_ref::<NotApplicable>() {
                Some(reason) => (Outcome::NotApplicable, Some(reason.0.clone())),
                None => (Outcome::Fail, Some(format!("{error:#}"))),
            },
            Err(_) => (Outcome::Fail, Some(format!("timed out after {} s", SCENARIO_TIMEOUT.as_secs()))),
        };
        match (outcome, &message) {
            (Outcome::Fail, Some(message)) => {
                say(options, format_args!("\r[{name}] {} FAILED: {message}\n", scenario.id))
            }
            _ if terminal => {}
            (outcome, _) => {
                say(options, format_args!("[{name}] {:>2}/{n} {} {outcome:?} ({ms} ms)\n", i + 1, scenario.id))
            }
        }
        for mut d in target.take_deviations() {
            d.scenario = scenario.id.to_owned();
            report.deviations.push(d);
        }
        report.results.push(result(scenario, outcome, ms, message));
    }
    target.stop().await;
    let took = started.elapsed();
    say(options, format_args!("{}[{name}] done in {:.1} s\n", if terminal { "\r" } else { "" }, took.as_secs_f64()));
    report.targets.push(TargetRow {
        name: name.clone(),
        source,
        status: "ran",
        duration_ms: took.as_millis() as u64,
        start_ms,
        note: None,
    });
}
