//! `cargo xtask features`: checks that every supported feature combination of the published
//! crates builds on its own, and (`--count`) how many crates the facade's builds compile.
//!
//! Each combination is one `cargo check --package <crate>` so that no other crate's features are
//! unified into it: a combination that builds here builds in a user's project. The list is
//! explicit, not generated: it is the list of combinations the project supports, and a new
//! feature is added here by hand, with its own row.

use std::collections::BTreeSet;
use std::process::{Command, ExitCode};

use crate::project_root;

/// The supported combinations: a published crate and the flags that select its features.
/// For each crate: its defaults, none, each opt-in feature alone, and all.
const COMBINATIONS: &[(&str, &[&str])] = &[
    ("zoho-oauth", &[]),
    ("zoho-oauth", &["--no-default-features"]),
    ("zoho-oauth", &["--no-default-features", "--features", "file"]),
    ("zoho-oauth", &["--no-default-features", "--features", "blocking"]),
    ("zoho-oauth", &["--no-default-features", "--features", "encryption"]),
    ("zoho-oauth", &["--no-default-features", "--features", "postgres"]),
    ("zoho-oauth", &["--all-features"]),
    ("zoho-oauth-store", &[]),
    ("zoho-oauth-store", &["--no-default-features"]),
    ("zoho-oauth-store", &["--no-default-features", "--features", "encryption"]),
    ("zoho-oauth-store", &["--no-default-features", "--features", "testing"]),
    ("zoho-oauth-store", &["--all-features"]),
    ("zoho-oauth-store-postgres", &[]),
    ("zoho-oauth-store-postgres", &["--no-default-features"]),
    ("zoho-oauth-core", &[]),
    ("zoho-oauth-flow", &[]),
    ("zoho-oauth-reqwest", &[]),
    ("zoho-oauth-reqwest", &["--no-default-features", "--features", "native-tls"]),
    ("zoho-accounts-emulator", &[]),
    ("zoho-oauth-cli", &[]),
    ("zoho-oauth-cli", &["--no-default-features"]),
    ("zoho-oauth-axum", &[]),
];

/// Runs the task: `--count` prints the crate counts, anything else checks every combination.
pub(crate) fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--count") {
        return count();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut failed = Vec::new();
    for (package, flags) in COMBINATIONS {
        let shown = format!("{package} {}", flags.join(" "));
        eprintln!("== cargo check -p {shown}");
        let status = Command::new(&cargo)
            .current_dir(project_root())
            .args(["check", "--quiet", "--locked", "--package", package])
            .args(*flags)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(_) => failed.push(shown),
            Err(error) => {
                eprintln!("could not run cargo: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed.is_empty() {
        eprintln!("all {} feature combinations build", COMBINATIONS.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("these feature combinations do not build:\n  {}", failed.join("\n  "));
        ExitCode::FAILURE
    }
}

/// Prints how many distinct crates (the facade included) a build of the facade compiles for this
/// platform, by default and with no features: the figure docs/dependencies.md records.
fn count() -> ExitCode {
    for flags in [&[][..], &["--no-default-features"][..]] {
        match crates_compiled(flags) {
            Ok(n) => println!("zoho-oauth {}: {n} crates", if flags.is_empty() { "default" } else { flags[0] }),
            Err(error) => {
                eprintln!("cargo tree failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Distinct packages (name and version) in the facade's normal dependency tree. Build scripts'
/// dependencies are left out: they are compiled too, but for the host, and the facade has none.
fn crates_compiled(flags: &[&str]) -> Result<usize, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(project_root())
        .args([
            "tree",
            "--quiet",
            "--package",
            "zoho-oauth",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(flags)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let packages: BTreeSet<&str> = text
        .lines()
        .map(|line| line.trim_end_matches(" (*)").trim_end_matches(" (proc-macro)"))
        .filter(|line| !line.is_empty())
        .collect();
    Ok(packages.len())
}
