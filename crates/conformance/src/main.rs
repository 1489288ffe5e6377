//! The conformance runner behind `cargo xtask conformance`.
//!
//! Usage: `zoho-oauth-conformance [--target NAME]... [--update-docs]`, where NAME is `emulator`
//! (the default), `oidc-provider`, `authlib` or `all`.

// A binary: `pub` inside its private modules only means "used by main".
#![allow(unreachable_pub)]

mod report;
mod scenarios;
mod target;

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use report::{Outcome, Report, ResultRow, TargetRow};
use target::{Kind, Target};

const DOCS_HEADER: &str = include_str!("docs_header.md");

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("conformance: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let mut named: Vec<Kind> = Vec::new();
    let mut all = false;
    let mut update_docs = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" | "-t" => {
                let value = args.next().context("--target needs a name")?;
                for name in value.split(',') {
                    if name == "all" {
                        all = true;
                    } else {
                        named.push(Kind::parse(name).with_context(|| format!("unknown target `{name}`"))?);
                    }
                }
            }
            "--update-docs" => update_docs = true,
            "--help" | "-h" => {
                println!("cargo xtask conformance [--target emulator|oidc-provider|authlib|all]... [--update-docs]");
                return Ok(true);
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    let kinds: Vec<Kind> = if all {
        Kind::ALL.to_vec()
    } else if named.is_empty() {
        vec![Kind::Emulator]
    } else {
        named.clone()
    };

    let root = project_root();
    let catalogue = scenarios::catalogue();
    let mut report = Report {
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        library_version: env!("CARGO_PKG_VERSION"),
        targets: Vec::new(),
        results: Vec::new(),
    };
    let mut missing_runtime_failure = false;

    for kind in kinds {
        let started = Instant::now();
        eprint!("[{}] starting ...", kind.name());
        let target = match Target::start(kind, &root).await {
            Ok(Ok(target)) => target,
            Ok(Err(reason)) => {
                eprintln!(" skipped: {reason}");
                // A missing runtime fails the run only when the target was asked for by name.
                missing_runtime_failure |= named.contains(&kind);
                report.targets.push(TargetRow { name: kind.name(), duration_ms: 0, skipped: Some(reason.clone()) });
                for s in &catalogue {
                    report.results.push(row(s, kind, Outcome::Skipped, 0, Some(reason.clone())));
                }
                continue;
            }
            Err(error) => {
                eprintln!(" failed to start");
                let message = format!("the target did not start: {error:#}");
                report.targets.push(TargetRow { name: kind.name(), duration_ms: 0, skipped: None });
                for s in &catalogue {
                    report.results.push(row(s, kind, Outcome::Fail, 0, Some(message.clone())));
                }
                continue;
            }
        };
        eprintln!(" ready in {} ms", started.elapsed().as_millis());
        let terminal = std::io::stderr().is_terminal();
        for (i, scenario) in catalogue.iter().enumerate() {
            // On a terminal one progress line is rewritten in place; in a CI log each scenario gets a line.
            if terminal {
                eprint!("\r[{}] {:>2}/{} {:<40}", kind.name(), i + 1, catalogue.len(), scenario.id);
                let _ = std::io::stderr().flush();
            }
            if let Some(reason) = (scenario.not_applicable)(kind) {
                if !terminal {
                    eprintln!("[{}] {:>2}/{} {} n/a", kind.name(), i + 1, catalogue.len(), scenario.id);
                }
                report.results.push(row(scenario, kind, Outcome::NotApplicable, 0, None).noted(reason));
                continue;
            }
            let began = Instant::now();
            let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), (scenario.run)(&target)).await;
            let ms = began.elapsed().as_millis() as u64;
            let (outcome, message) = match outcome {
                Ok(Ok(())) => (Outcome::Pass, None),
                Ok(Err(error)) => (Outcome::Fail, Some(format!("{error:#}"))),
                Err(_) => (Outcome::Fail, Some("timed out after 60 s".to_owned())),
            };
            if let Some(message) = &message {
                eprintln!("\r[{}] {} FAILED: {message}", kind.name(), scenario.id);
            } else if !terminal {
                eprintln!("[{}] {:>2}/{} {} pass ({ms} ms)", kind.name(), i + 1, catalogue.len(), scenario.id);
            }
            report.results.push(row(scenario, kind, outcome, ms, message));
        }
        target.stop().await;
        let took = started.elapsed();
        eprintln!("{}[{}] done in {:.1} s", if terminal { "\r" } else { "" }, kind.name(), took.as_secs_f64());
        report.targets.push(TargetRow { name: kind.name(), duration_ms: took.as_millis() as u64, skipped: None });
    }

    println!("{}", report.table(&catalogue, false));
    let out = root.join("target/conformance");
    std::fs::create_dir_all(&out)?;
    let markdown = report.markdown(&catalogue);
    std::fs::write(out.join("report.md"), &markdown)?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    println!("reports: {} and report.json", out.join("report.md").display());
    if update_docs {
        let docs = root.join("docs/conformance.md");
        std::fs::write(
            &docs,
            format!("{DOCS_HEADER}\n{}", markdown.replacen("# Conformance report\n", "## Latest run\n", 1)),
        )?;
        println!("updated {}", docs.display());
    }
    let failures = report.failures();
    let passed = report.results.iter().filter(|r| r.outcome == Outcome::Pass).count();
    println!("conformance: {passed} passed, {failures} failed");
    Ok(failures == 0 && !missing_runtime_failure)
}

fn row(scenario: &scenarios::Scenario, kind: Kind, outcome: Outcome, ms: u64, message: Option<String>) -> ResultRow {
    ResultRow { scenario: scenario.id, clause: scenario.clause, target: kind.name(), outcome, duration_ms: ms, message }
}

trait Noted {
    fn noted(self, note: &str) -> Self;
}

impl Noted for ResultRow {
    fn noted(mut self, note: &str) -> Self {
        self.message = Some(format!("not applicable: {note}"));
        self
    }
}

/// The workspace root: two levels above this crate's manifest.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits at crates/conformance")
        .to_path_buf()
}
