//! Records the versions the benchmark report names: the compiler, and the peers as Cargo.lock
//! resolved them, so the page never states a version that was not the one measured.

use std::path::Path;
use std::process::Command;

/// The packages whose resolved versions the report prints, and the variable each goes into.
const PACKAGES: &[(&str, &str)] = &[
    ("yup-oauth2", "BENCH_VERSION_YUP_OAUTH2"),
    ("oauth2", "BENCH_VERSION_OAUTH2"),
    ("reqwest", "BENCH_VERSION_REQWEST"),
    ("arc-swap", "BENCH_VERSION_ARC_SWAP"),
    ("tokio", "BENCH_VERSION_TOKIO"),
];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = Path::new(&manifest_dir).join("../../Cargo.lock");
    println!("cargo::rerun-if-changed={}", lock.display());
    let lock = std::fs::read_to_string(&lock).unwrap_or_default();
    for (package, variable) in PACKAGES {
        let version = locked_version(&lock, package).unwrap_or_else(|| "unknown".to_owned());
        println!("cargo::rustc-env={variable}={version}");
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned());
    println!("cargo::rustc-env=BENCH_RUSTC_VERSION={rustc_version}");
}

/// The version of `package` in a Cargo.lock; the highest one when several are locked.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    let mut found: Vec<String> = Vec::new();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            if let Some(version) = lines.next().and_then(|v| v.trim().strip_prefix("version = ")) {
                found.push(version.trim_matches('"').to_owned());
            }
        }
    }
    found.into_iter().max_by_key(|v| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>())
}
