//! Project automation, run as `cargo xtask <task>`.
//!
//! One module per task, each with a small `run` (`features`, `tidy`); `conformance` and `bench` are one function each because
//! they only run a crate of their own.

mod features;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <TASK> [ARGS]

Tasks:
  conformance [--target NAME]... [--server FILE.toml]... [--json] [--update-docs]
                Check the flow clause by clause against OAuth 2.0 servers.
                NAME: emulator (default), oidc-provider, authlib, dot, all.
                FILE.toml describes any other server (docs/conformance.md,
                'Describing your server'); --json prints report.json on stdout.
                Reports go to target/conformance/report.{md,json}.
  bench [--quick] [--no-docs] [--render] [--only cached|refresh]
                Benchmark the library against yup-oauth2, oauth2, bare reqwest and
                the floor, in one release-built run. Results go to target/bench/*.json;
                a full run also rewrites docs/benchmarks.md and docs/benchmarks-herd.svg.
                --quick runs each benchmark once with tiny counts and leaves docs/ alone.
                --only runs one benchmark and prints its JSON, writing no files.
  features [--count]
                Check (cargo check) every supported feature combination of the
                published crates, one crate at a time: defaults, none, each opt-in
                feature alone, all. --count prints how many crates the facade's
                default and featureless builds compile.
  tidy          Check the repository's conventions: `oauth2` named only where allowed,
                published crates depend on published crates only, every lint `allow`
                has a reason, lints, version, edition and licence inherited from the
                workspace, no placeholder `repository`. Also runs in `cargo test`.
  help          Print this message
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    match task.as_deref() {
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("conformance") => conformance(args.collect()),
        Some("bench") => bench(args.collect()),
        Some("features") => features::run(&args.collect::<Vec<_>>()),
        Some("tidy") => tidy::run(),
        Some(other) => {
            eprintln!("unknown task `{other}`\n\n{HELP}");
            ExitCode::FAILURE
        }
    }
}

/// Builds and runs the conformance runner, a crate of its own so that this one stays small.
fn conformance(args: Vec<String>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(project_root())
        .args(["run", "--quiet", "--package", "zoho-oauth-conformance", "--"])
        .args(args)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!("could not run cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the benchmark harness in release mode and runs it; it writes the JSON and the page itself.
fn bench(args: Vec<String>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(project_root())
        .args(["run", "--release", "--quiet", "--package", "zoho-oauth-bench", "--"])
        .args(args)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the benchmarks failed ({status})");
            ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1))
        }
        Err(error) => {
            eprintln!("could not run cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace root").to_path_buf()
}
