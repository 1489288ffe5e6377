//! Project automation, run as `cargo xtask <task>`.

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <TASK>

Tasks:
  conformance   Check the flow clause by clause against OAuth 2.0 servers (not built yet)
  help          Print this message
";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("conformance") => {
            eprintln!("cargo xtask conformance: not built yet (tracked in its own issue)");
            ExitCode::FAILURE
        }
        Some(other) => {
            eprintln!("unknown task `{other}`\n\n{HELP}");
            ExitCode::FAILURE
        }
    }
}
