//! The conformance runner behind `cargo xtask conformance`.
//!
//! Usage: `zoho-oauth-conformance [--target NAME]... [--server FILE.toml]... [--json] [--update-docs]`,
//! where NAME is a built-in target (`emulator`, the default, `oidc-provider`, `authlib`, `dot`) or
//! `all`, and FILE.toml describes any other server (see docs/conformance.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use zoho_oauth_conformance::{BUILT_IN, RunOptions, TargetSpec, built_in, project_root, run};

const DOCS_HEADER: &str = include_str!("docs_header.md");

const HELP: &str = "\
cargo xtask conformance [--target NAME]... [--server FILE.toml]... [--json] [--update-docs]

  --target NAME       a built-in target: emulator (the default), oidc-provider, authlib, dot, or all
  --server FILE.toml  any server, described as in docs/conformance.md (\"Describing your server\")
  --json              print report.json on stdout (the table then goes to stderr)
  --update-docs       rewrite docs/conformance.md from this run

Reports go to target/conformance/report.md and report.json.
Exit status: 0 when nothing failed, 1 when a scenario failed or a target asked for by name was
skipped, 2 when the run itself could not be made.";

#[tokio::main]
async fn main() -> ExitCode {
    match cli().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("conformance: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn cli() -> anyhow::Result<bool> {
    let root = project_root();
    let mut specs: Vec<TargetSpec> = Vec::new();
    let mut all = false;
    let (mut json, mut update_docs) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" | "-t" => {
                let value = args.next().context("--target needs a name")?;
                for name in value.split(',') {
                    if name == "all" {
                        all = true;
                    } else if BUILT_IN.contains(&name) {
                        specs.push(built_in(&root, name)?);
                    } else {
                        bail!("unknown target `{name}` (built in: {}; or --server FILE.toml)", BUILT_IN.join(", "));
                    }
                }
            }
            "--server" | "-s" => {
                let file = PathBuf::from(args.next().context("--server needs a file")?);
                specs.push(TargetSpec::from_file(&file)?);
            }
            "--json" => json = true,
            "--update-docs" => update_docs = true,
            "--help" | "-h" => {
                println!("{HELP}");
                return Ok(true);
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    // Targets named explicitly must run: a missing runtime fails the run for them.
    let required: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    if all {
        for name in BUILT_IN {
            if !specs.iter().any(|s| s.name == name) {
                specs.push(built_in(&root, name)?);
            }
        }
    } else if specs.is_empty() {
        specs.push(built_in(&root, "emulator")?);
    }

    let report = run(&specs, &RunOptions { root: root.clone(), progress: true }).await;

    let table = report.table(false);
    if json {
        eprintln!("{table}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{table}");
    }
    let out = root.join("target/conformance");
    std::fs::create_dir_all(&out)?;
    let markdown = report.markdown();
    std::fs::write(out.join("report.md"), &markdown)?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    eprintln!("reports: {} and report.json", out.join("report.md").display());
    if update_docs {
        let docs = root.join("docs/conformance.md");
        let body = markdown.replacen("# Conformance report\n", "## Latest run\n", 1);
        std::fs::write(&docs, format!("{DOCS_HEADER}\n{body}"))?;
        eprintln!("updated {}", docs.display());
    }
    let s = &report.summary;
    eprintln!(
        "conformance: {} passed, {} failed, {} n/a, {} skipped, {} deviations",
        s.passed, s.failed, s.not_applicable, s.skipped, s.deviations
    );
    let skipped_required = report.targets.iter().any(|t| t.status == "skipped" && required.contains(&t.name));
    Ok(report.failures() == 0 && !skipped_required)
}
