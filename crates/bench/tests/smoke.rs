//! Runs every benchmark once with tiny counts (`--quick`), so that none of them can rot.
//!
//! Nothing here looks at a time. It checks that each benchmark ran and produced its figures, and
//! the behaviour the figures stand for: exactly one refresh request per expiry for zoho-oauth, at
//! every N, across two processes, and across a fleet of processes sharing a PostgreSQL store.
//!
//! The PostgreSQL parts run when `ZOHO_OAUTH_BENCH_POSTGRES_URL` or `ZOHO_OAUTH_TEST_POSTGRES_URL`
//! names a database; without one, the test checks that they are reported as skipped.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn read(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rows<'a>(value: &'a Value, field: &str) -> &'a Vec<Value> {
    value[field].as_array().unwrap_or_else(|| panic!("no `{field}` array"))
}

fn counts(row: &Value, field: &str) -> Vec<u64> {
    rows(row, field).iter().map(|v| v.as_u64().expect("a count")).collect()
}

#[test]
fn every_benchmark_runs_once_and_reports() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = Command::new(env!("CARGO_BIN_EXE_zoho-oauth-bench"))
        .args(["--quick", "--out"])
        .arg(out.path())
        .status()
        .expect("the bench binary starts");
    assert!(status.success(), "the quick run failed: {status}");

    let run = read(out.path(), "run.json");
    assert_eq!(run["quick"], true);

    let cached = read(out.path(), "cached.json");
    let ids: Vec<&str> = rows(&cached, "rows").iter().map(|r| r["id"].as_str().expect("an id")).collect();
    assert_eq!(
        ids,
        [
            "floor_guard",
            "floor_guard_clone",
            "floor_guard_clock_clone",
            "arc_swap_load_full",
            "zoho_oauth",
            "yup_oauth2"
        ]
    );
    for row in rows(&cached, "rows") {
        assert!(row["single"]["samples"].as_u64() > Some(0) && row["parallel"]["samples"].as_u64() > Some(0));
    }

    let herd = read(out.path(), "herd.json");
    let herd_rows = rows(&herd, "rows");
    assert_eq!(herd_rows.len(), 12, "two libraries, three sizes, two delays");
    for row in herd_rows {
        let refreshes = counts(row, "refreshes");
        assert!(!refreshes.is_empty());
        if row["library"] == "zoho-oauth" {
            assert!(refreshes.iter().all(|&r| r == 1), "zoho-oauth made {refreshes:?} refreshes at N = {}", row["n"]);
        } else {
            assert!(refreshes.iter().all(|&r| r >= 1), "yup-oauth2 never refreshed");
        }
    }

    let refresh = read(out.path(), "refresh.json");
    assert_eq!(rows(&refresh, "rows").len(), 3);

    let store = read(out.path(), "store.json");
    assert_eq!(rows(&store, "save").len(), 2);
    assert_eq!(rows(&store, "load").len(), 2);

    let cross = read(out.path(), "cross_process.json");
    let ours = rows(&cross, "rows").iter().find(|r| r["library"] == "zoho-oauth").expect("a zoho-oauth row");
    assert_eq!(counts(ours, "refreshes"), [1], "two processes at expiry must make one refresh");
    assert_eq!(counts(ours, "distinct_tokens"), [1], "both processes must end with the same token");

    let encrypted = read(out.path(), "encrypted.json");
    assert_eq!(rows(&encrypted, "save").len(), 2);
    assert_eq!(rows(&encrypted, "load").len(), 2);
    assert!(encrypted["encrypted_bytes"].as_u64() > encrypted["plain_bytes"].as_u64(), "the sealed file is larger");

    let page = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("the rendered page");
    assert!(page.contains("## The herd"));
    assert!(page.contains("## The encrypted file store"));
    assert!(page.contains("## The PostgreSQL store") && page.contains("## The fleet herd on PostgreSQL"));

    let postgres = read(out.path(), "postgres.json");
    let fleet = read(out.path(), "fleet.json");
    let database = ["ZOHO_OAUTH_BENCH_POSTGRES_URL", "ZOHO_OAUTH_TEST_POSTGRES_URL"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|url| !url.trim().is_empty()));
    if database {
        assert!(postgres["skipped"].is_null(), "a database was given: {}", postgres["skipped"]);
        for operation in ["save", "update", "load"] {
            let ids: Vec<&str> = rows(&postgres, operation).iter().map(|r| r["id"].as_str().expect("an id")).collect();
            assert_eq!(ids, ["bare_pool", "bare_connection", "zoho_oauth"], "{operation}");
        }
        assert!(fleet["skipped"].is_null());
        let shapes = rows(&fleet, "rows");
        assert!(shapes.len() >= 2, "the lone worker and at least one herd");
        for row in shapes {
            let shape = (row["processes"].as_u64(), row["tasks_per_process"].as_u64());
            assert_eq!(counts(row, "refreshes"), [1], "a fleet of {shape:?} at expiry must make one refresh");
            assert_eq!(counts(row, "distinct_tokens"), [1], "every task of {shape:?} must end with the same token");
        }
    } else {
        assert_eq!(postgres["skipped"], "skipped: no PostgreSQL");
        assert!(rows(&postgres, "save").is_empty(), "no figure without a database");
        assert_eq!(fleet["skipped"], "skipped: no PostgreSQL");
        assert!(rows(&fleet, "rows").is_empty(), "no figure without a database");
        assert!(page.contains("**skipped: no PostgreSQL.**"));
    }
    assert!(out.path().join("benchmarks-herd.svg").exists());
}
