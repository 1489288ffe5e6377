//! Tests of the file backend on real files: format, permissions, damage, and several processes
//! sharing one file, including processes killed in the middle of a write.
//!
//! The multi-process tests re-run this test binary as the child: the parent starts
//! `current_exe() child_process --exact --ignored` with `CHILD_ROLE` set, and the ignored
//! `child_process` test plays the role named there.

#![cfg(unix)] // Permissions, SIGKILL and `flock` are what these tests are about.
#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use common::{assert_same, key, tokens};
use rand::Rng;
use zoho_oauth_core::{AccessToken, Environment, Scopes, TokenSet};
use zoho_oauth_store::{Error, FileKind, FileStore, StoreKey, TokenStore};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn creates_file_0600_and_directory_0700() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("deeper").join("tokens.json");
    let store = FileStore::open(&path).await.unwrap();
    assert!(!path.exists(), "opening creates the directory only");
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    assert_eq!(mode(&dir.path().join("new/deeper")), 0o700);

    store.save(&key("a"), &tokens("a")).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    // Rewrites keep the mode, and leave no temporary file behind.
    store.save(&key("b"), &tokens("b")).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    assert!(!dir.path().join("new/deeper/tokens.json.tmp").exists());
}

#[tokio::test]
async fn existing_directory_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let store = FileStore::new(dir.path().join("tokens.json"));
    store.save(&key("a"), &tokens("a")).await.unwrap();
    assert_eq!(mode(dir.path()), 0o755);
}

#[tokio::test]
async fn file_open_to_group_or_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    store.save(&key("a"), &tokens("a")).await.unwrap();
    let before = std::fs::read(&path).unwrap();

    for insecure in [0o644, 0o640, 0o604, 0o620, 0o602, 0o601] {
        set_mode(&path, insecure);
        let error = store.load(&key("a")).await.unwrap_err();
        match &error {
            Error::InsecurePermissions { path: p, mode } => {
                assert_eq!(p, &path);
                assert_eq!(*mode, insecure);
            }
            other => panic!("expected InsecurePermissions, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("tokens.json"), "{message}");
        assert!(message.contains(&format!("{insecure:04o}")), "{message}");
        assert!(matches!(store.keys().await, Err(Error::InsecurePermissions { .. })));
        assert!(matches!(store.save(&key("b"), &tokens("b")).await, Err(Error::InsecurePermissions { .. })));
        assert!(matches!(store.delete(&key("a")).await, Err(Error::InsecurePermissions { .. })));
        assert!(matches!(FileStore::open(&path).await, Err(Error::InsecurePermissions { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), before, "a refused file is not touched");
        assert_eq!(mode(&path), insecure);
    }

    // Owner-only modes are fine.
    for secure in [0o600, 0o400] {
        set_mode(&path, secure);
        assert!(store.load(&key("a")).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn insecure_permissions_can_be_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    FileStore::new(&path).save(&key("a"), &tokens("a")).await.unwrap();
    set_mode(&path, 0o640);

    let store = FileStore::new(&path).allow_insecure_permissions();
    assert_same(&store.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("a"));
    store.save(&key("b"), &tokens("b")).await.unwrap();
    assert_eq!(mode(&path), 0o640, "the opt-out keeps the file's chosen mode");
    assert_eq!(store.keys().await.unwrap().len(), 2);
}

#[tokio::test]
async fn corrupt_file_is_reported_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let secret = "1000.do-not-print-me";
    let damaged = [
        format!("{{\"version\":1,\"tokens\":[{{\"key\":\"{secret}\""),
        format!("{{\"version\":1,\"tokens\":[{{\"key\":{{}},\"tokens\":\"{secret}\"}}]}}"),
        format!("not json at all {secret}"),
        String::new(),
        "[1, 2, 3]".to_owned(),
        "{\"tokens\": []}".to_owned(),
    ];
    for content in damaged {
        std::fs::write(&path, &content).unwrap();
        set_mode(&path, 0o600);
        let store = FileStore::new(&path);

        let error = store.load(&key("a")).await.unwrap_err();
        match &error {
            Error::Corrupt { path: p, reason } => {
                assert_eq!(p, &path);
                assert!(!reason.contains("do-not-print"), "{reason}");
            }
            other => panic!("expected Corrupt for {content:?}, got {other:?}"),
        }
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("tokens.json"), "{shown}");
        assert!(!shown.contains("do-not-print"), "{shown}");

        assert!(matches!(store.keys().await, Err(Error::Corrupt { .. })));
        assert!(matches!(store.save(&key("a"), &tokens("a")).await, Err(Error::Corrupt { .. })));
        assert!(matches!(store.delete(&key("a")).await, Err(Error::Corrupt { .. })));
        assert!(matches!(FileStore::open(&path).await, Err(Error::Corrupt { .. })));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "never replaced");
    }
}

#[tokio::test]
async fn duplicate_keys_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    store.save(&key("a"), &tokens("a")).await.unwrap();
    let mut document: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let entry = document["tokens"][0].clone();
    document["tokens"].as_array_mut().unwrap().push(entry);
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    assert!(matches!(store.load(&key("a")).await, Err(Error::Corrupt { .. })));
}

#[tokio::test]
async fn newer_format_version_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let newer = r#"{"version": 3, "entries": {"something": "new"}}"#;
    std::fs::write(&path, newer).unwrap();
    set_mode(&path, 0o600);
    let store = FileStore::new(&path);
    match store.load(&key("a")).await {
        Err(Error::UnsupportedVersion { path: p, version }) => {
            assert_eq!(p, path);
            assert_eq!(version, 3);
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    assert!(matches!(store.save(&key("a"), &tokens("a")).await, Err(Error::UnsupportedVersion { version: 3, .. })));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::create_dir(&path).unwrap();
    set_mode(&path, 0o700);
    let store = FileStore::new(&path);
    for error in [store.load(&key("a")).await.unwrap_err(), store.save(&key("a"), &tokens("a")).await.unwrap_err()] {
        match &error {
            Error::NotARegularFile { path: p, kind: FileKind::Directory } => assert_eq!(p, &path),
            other => panic!("expected NotARegularFile, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("tokens.json") && message.contains("a directory"), "{message}");
    }
}

/// Runs `operation` on a runtime of its own with a time limit, and abandons the runtime's
/// blocking threads afterwards, so that a store stuck opening a FIFO fails the test instead of
/// hanging it.
fn within_seconds<T: Send + 'static>(
    seconds: u64,
    operation: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let result = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(seconds), operation).await.ok() });
    runtime.shutdown_background();
    result
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo failed");
}

fn assert_not_regular(result: Option<Result<impl std::fmt::Debug, Error>>, what: &str, path: &Path, kind: FileKind) {
    match result {
        None => panic!("{what} hung on {kind} instead of failing at once"),
        Some(Err(Error::NotARegularFile { path: p, kind: k })) => {
            assert_eq!(p, path, "{what}");
            assert_eq!(k, kind, "{what}");
        }
        Some(other) => panic!("{what}: expected NotARegularFile, got {other:?}"),
    }
}

#[test]
fn a_fifo_at_the_token_path_fails_at_once_and_blocks_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    mkfifo(&path);
    let store = FileStore::new(&path);
    let s = store.clone();
    assert_not_regular(within_seconds(5, async move { s.load(&key("a")).await }), "load", &path, FileKind::Fifo);
    let s = store.clone();
    assert_not_regular(within_seconds(5, async move { s.keys().await }), "keys", &path, FileKind::Fifo);
    let s = store.clone();
    assert_not_regular(
        within_seconds(5, async move { s.save(&key("a"), &tokens("a")).await }),
        "save",
        &path,
        FileKind::Fifo,
    );
    let s = store.clone();
    assert_not_regular(within_seconds(5, async move { s.delete(&key("a")).await }), "delete", &path, FileKind::Fifo);
    let s = store.clone();
    assert_not_regular(within_seconds(5, async move { s.check().await }), "check", &path, FileKind::Fifo);
    // The failed save left the write lock free: a store on another path in the same directory
    // would not care, but a second save on this one must fail at once too rather than queue.
    let s = store.clone();
    assert_not_regular(
        within_seconds(5, async move { s.save(&key("b"), &tokens("b")).await }),
        "second save",
        &path,
        FileKind::Fifo,
    );
    // The refresh lock does not read the token file, so it still works.
    let s = store.clone();
    assert!(within_seconds(5, async move { s.lock(&key("a")).await.map(drop) }).unwrap().is_ok());
}

#[test]
fn sockets_and_devices_at_the_token_path_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let store = FileStore::new(&path);
    assert_not_regular(within_seconds(5, async move { store.load(&key("a")).await }), "load", &path, FileKind::Socket);

    // Only read: a save would create `/dev/null.lock`.
    let null = Path::new("/dev/null");
    let store = FileStore::new(null);
    assert_not_regular(
        within_seconds(5, async move { store.load(&key("a")).await }),
        "load",
        null,
        FileKind::CharDevice,
    );
}

#[tokio::test]
async fn a_dangling_lock_file_symlink_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let target = dir.path().join("chosen-by-someone-else");
    let lock = dir.path().join("tokens.json.lock");
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let store = FileStore::new(&path);
    match store.save(&key("a"), &tokens("a")).await {
        Err(Error::NotARegularFile { path: p, kind: FileKind::Symlink }) => assert_eq!(p, lock),
        other => panic!("expected NotARegularFile for the lock file, got {other:?}"),
    }
    assert!(!target.exists(), "the save created a file through the symlink");
    assert!(!path.exists());

    // A symlink to an existing file is not followed either, and the file is left alone.
    std::fs::write(&target, "precious").unwrap();
    assert!(matches!(store.save(&key("a"), &tokens("a")).await, Err(Error::NotARegularFile { .. })));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[tokio::test]
async fn a_temporary_file_symlink_is_removed_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let target = dir.path().join("chosen-by-someone-else");
    std::os::unix::fs::symlink(&target, dir.path().join("tokens.json.tmp")).unwrap();
    let store = FileStore::new(&path);
    store.save(&key("a"), &tokens("a")).await.unwrap();
    assert!(!target.exists(), "the save wrote through the symlink");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
    assert_same(&store.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("a"));
}

#[tokio::test]
async fn refresh_lock_files_and_their_directory_are_never_followed_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    drop(store.lock(&key("a")).await.unwrap());
    let locks = dir.path().join("tokens.json.locks");
    assert_eq!(mode(&locks), 0o700);
    let lock_file = std::fs::read_dir(&locks).unwrap().next().unwrap().unwrap().path();

    // A lock file replaced by a dangling symlink.
    let target = dir.path().join("chosen-by-someone-else");
    std::fs::remove_file(&lock_file).unwrap();
    std::os::unix::fs::symlink(&target, &lock_file).unwrap();
    match store.lock(&key("a")).await {
        Err(Error::NotARegularFile { path: p, kind: FileKind::Symlink }) => assert_eq!(p, lock_file),
        other => panic!("expected NotARegularFile for the refresh lock, got {other:?}"),
    }
    assert!(!target.exists(), "the lock created a file through the symlink");

    // The lock directory replaced by a symlink to another directory.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir_all(&locks).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &locks).unwrap();
    match store.lock(&key("a")).await {
        Err(Error::NotADirectory { path: p, kind: FileKind::Symlink }) => assert_eq!(p, locks),
        other => panic!("expected NotADirectory for the lock directory, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "a lock file was created through the symlink");
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Another user's id: `nobody` where this runs as root, root otherwise.
const NOBODY: u32 = 65534;

#[tokio::test]
async fn files_and_directories_of_another_user_are_refused() {
    if euid() != 0 {
        // Only root can give a file away; the check itself is the same for every user.
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("zoho");
    let path = sub.join("tokens.json");
    let store = FileStore::new(&path);
    store.save(&key("a"), &tokens("a")).await.unwrap();
    let before = std::fs::read(&path).unwrap();

    std::os::unix::fs::chown(&path, Some(NOBODY), None).unwrap();
    for error in [
        store.load(&key("a")).await.unwrap_err(),
        store.keys().await.unwrap_err(),
        store.save(&key("b"), &tokens("b")).await.unwrap_err(),
        FileStore::open(&path).await.unwrap_err(),
    ] {
        match &error {
            Error::ForeignOwner { path: p, uid } => {
                assert_eq!(p, &path);
                assert_eq!(*uid, NOBODY);
            }
            other => panic!("expected ForeignOwner, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("tokens.json") && message.contains("uid 65534"), "{message}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "a refused file is not touched");
    // The same opt-out as for the mode.
    let allowed = FileStore::new(&path).allow_insecure_permissions();
    assert_same(&allowed.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("a"));

    // A directory of another user: refused even before the file is looked at.
    std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    std::os::unix::fs::chown(&sub, Some(NOBODY), None).unwrap();
    for error in [store.load(&key("a")).await.unwrap_err(), store.save(&key("b"), &tokens("b")).await.unwrap_err()] {
        match &error {
            Error::ForeignOwner { path: p, uid } => {
                assert_eq!(p, &sub);
                assert_eq!(*uid, NOBODY);
            }
            other => panic!("expected ForeignOwner for the directory, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing is written in a foreign directory");
}

/// Runs `f` as a user who is not root, on a thread of its own: Linux keeps user ids per thread,
/// and the threads this one starts (the runtime's blocking pool) inherit its ids.
/// Elsewhere, root sees no "permission denied" and the check is skipped.
fn unprivileged<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    if euid() != 0 {
        return Some(f());
    }
    #[cfg(not(target_os = "linux"))]
    {
        drop(f);
        None
    }
    #[cfg(target_os = "linux")]
    std::thread::spawn(move || {
        use rustix::process::{Gid, Uid};
        use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
        let gid = Gid::from_raw(NOBODY);
        let uid = Uid::from_raw(NOBODY);
        set_thread_groups(&[]).unwrap();
        set_thread_res_gid(gid, gid, gid).unwrap();
        set_thread_res_uid(uid, uid, uid).unwrap();
        Some(f())
    })
    .join()
    .unwrap()
}

#[test]
fn errors_name_the_operating_systems_reason() {
    // A read-only directory: "permission denied", in the message and as the source.
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o555);
    let path = dir.path().join("tokens.json");
    let error = unprivileged(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(FileStore::new(&path).save(&key("a"), &tokens("a"))).unwrap_err()
    });
    set_mode(dir.path(), 0o700);
    if let Some(error) = error {
        let message = error.to_string();
        assert!(matches!(error, Error::Io { .. }), "{error:?}");
        assert!(message.to_lowercase().contains("permission denied"), "{message}");
        let source = std::error::Error::source(&error).expect("the OS error is the source");
        assert!(message.contains(&source.to_string()), "{message}");
    }

    // A path through a regular file: "not a directory".
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), "").unwrap();
    let store = FileStore::new(dir.path().join("plain/tokens.json"));
    let error = within_seconds(5, async move { store.load(&key("a")).await }).unwrap().unwrap_err();
    let message = error.to_string();
    assert!(message.to_lowercase().contains("not a directory"), "{message}");
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn stale_temporary_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let temp = dir.path().join("tokens.json.tmp");
    std::fs::write(&temp, "half a file from a writer that crashed").unwrap();
    let store = FileStore::new(&path);
    store.save(&key("a"), &tokens("a")).await.unwrap();
    assert!(!temp.exists());
    assert_same(&store.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("a"));
}

#[tokio::test]
async fn file_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    store.save(&key("b"), &tokens("second")).await.unwrap();
    store.save(&key("a"), &tokens("first")).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \"version\": 2,\n"), "pretty-printed, version first:\n{text}");
    assert!(text.ends_with("}\n"));
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["version"], 2);
    let entries = document["tokens"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["key"]["user"], "a", "entries are sorted by key");
    assert_eq!(entries[1]["key"]["user"], "b");
    let entry = &entries[0];
    assert_eq!(entry["key"]["client_id"], "1000.TESTCLIENT");
    assert_eq!(entry["key"]["accounts_server"], "https://accounts.zoho.eu");
    assert_eq!(entry["key"]["environment"], "production");
    assert_eq!(entry["tokens"]["access_token"], "first");
    assert_eq!(entry["tokens"]["refresh_token"], "refresh-for-first");
    assert_eq!(entry["tokens"]["expires_at"], "2030-01-02T03:04:05.123456789Z");
    assert_eq!(entry["tokens"]["api_domain"], "https://www.zohoapis.eu/");
    assert_eq!(entry["tokens"]["scopes"], "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    assert_eq!(entry["revision"], 1);
    assert!(entry.get("refresh").is_none(), "a clear refresh state is left out");
    assert!(entry["saved_at"].as_str().unwrap().ends_with('Z'));
    assert!(!text.contains("secret"), "no client secret field");
}

/// The example in the crate docs' FORMAT section is a file the store reads.
#[tokio::test]
async fn documented_example_file_loads() {
    let docs = include_str!("../src/lib.rs");
    let example: String = docs
        .lines()
        .skip_while(|line| line.trim() != "//! ```json")
        .skip(1)
        .take_while(|line| line.trim() != "//! ```")
        .map(|line| format!("{}\n", line.trim_start_matches("//!").trim_start_matches(' ')))
        .collect();
    assert!(example.contains("\"version\": 2"), "{example}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, example).unwrap();
    set_mode(&path, 0o600);
    let store = FileStore::new(&path);
    let key = zoho_oauth_store::StoreKey::new(
        "1000.CLIENTID",
        "me@example.com",
        "https://accounts.zoho.eu",
        zoho_oauth_core::Environment::Production,
    );
    assert_eq!(store.keys().await.unwrap(), vec![key.clone()]);
    let record = store.load(&key).await.unwrap().unwrap();
    assert_eq!(record.revision(), 7);
    assert_eq!(record.refresh_state().failures, 1);
    assert_eq!(
        record.refresh_state().last_failure.as_ref().map(|f| f.kind),
        Some(zoho_oauth_store::FailureKind::RateLimited)
    );
    let loaded = record.into_tokens();
    assert_eq!(loaded.access_token().expose_secret(), "1000.access");
    assert_eq!(loaded.scopes().len(), 2);
}

// ----- Several processes -----

const ROLE: &str = "ZOHO_STORE_TEST_CHILD_ROLE";
const FILE: &str = "ZOHO_STORE_TEST_FILE";
const ARG: &str = "ZOHO_STORE_TEST_ARG";
/// Children prefix the lines meant for the parent with this, to tell them from the test harness's.
const MARK: &str = "@@ ";

/// The child side of the multi-process tests. Run alone, without `CHILD_ROLE`, it does nothing.
#[test]
#[ignore = "helper process for the multi-process tests, started by them"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = PathBuf::from(std::env::var(FILE).unwrap());
    let arg = std::env::var(ARG).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = FileStore::new(&path);
        match role.as_str() {
            // Saves 200 keys of its own.
            "writer" => {
                for i in 0..KEYS_PER_WRITER {
                    store.save(&writer_key(&arg, i), &small_tokens(&format!("{arg}-{i}"))).await.unwrap();
                }
            }
            // Saves "victim" over and over, reporting each completed save, until killed.
            "looper" => {
                println!("{MARK}ready");
                for i in 0u64.. {
                    store.save(&key("victim"), &tokens(&format!("round{arg}-{i}"))).await.unwrap();
                    println!("{MARK}saved {i}");
                }
            }
            // Holds the refresh lock on "contended" for a while.
            "holder" => {
                let guard = store.lock(&key("contended")).await.unwrap();
                println!("{MARK}locked");
                tokio::time::sleep(Duration::from_millis(400)).await;
                println!("{MARK}releasing");
                drop(guard);
            }
            // Increments a counter under the refresh lock, as a token manager refreshes.
            "counter" => {
                for _ in 0..INCREMENTS_PER_COUNTER {
                    let _guard = store.lock(&key("counter")).await.unwrap();
                    let current = store.load(&key("counter")).await.unwrap().unwrap().into_tokens();
                    let n: u64 = current.access_token().expose_secret().parse().unwrap();
                    store.save(&key("counter"), &tokens(&(n + 1).to_string())).await.unwrap();
                }
            }
            other => panic!("unknown child role {other}"),
        }
    });
}

/// The key writer `writer` saves as its `i`th.
fn writer_key(writer: &str, i: usize) -> StoreKey {
    StoreKey::new("c", format!("w{writer}-{i}"), "s", Environment::Production)
}

/// A token set with only the required fields, and short ones. Every save parses and rewrites the
/// whole file, and unoptimised test builds parse JSON slowly, so the writers keep entries small to
/// keep the test fast.
fn small_tokens(access: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access),
        None,
        DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        None,
        "s",
        Scopes::empty(),
    )
}

const WRITERS: usize = 8;
const KEYS_PER_WRITER: usize = 200;
const COUNTERS: usize = 4;
const INCREMENTS_PER_COUNTER: usize = 25;

/// Starts this test binary as a child playing `role` on the token file at `path`.
fn spawn_child(role: &str, path: &Path, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child_process", "--exact", "--ignored", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env(FILE, path)
        .env(ARG, arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Forwards a child's marked output lines to a channel, from a thread, so the child never blocks
/// on a full pipe and the parent can wait for a line with a timeout.
fn marked_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some(message) = line.strip_prefix(MARK) else {
                continue;
            };
            if sender.send(message.to_owned()).is_err() {
                break;
            }
        }
    });
    receiver
}

fn assert_success(child: Child, what: &str) {
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{what} failed: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn eight_processes_saving_different_keys_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let started = Instant::now();
    let children: Vec<Child> = (0..WRITERS).map(|w| spawn_child("writer", &path, &w.to_string())).collect();
    for (w, child) in children.into_iter().enumerate() {
        assert_success(child, &format!("writer {w}"));
    }
    eprintln!("{WRITERS} writers x {KEYS_PER_WRITER} keys took {:?}", started.elapsed());

    let store = FileStore::open(&path).await.unwrap();
    let mut expected: Vec<StoreKey> =
        (0..WRITERS).flat_map(|w| (0..KEYS_PER_WRITER).map(move |i| writer_key(&w.to_string(), i))).collect();
    expected.sort();
    assert_eq!(store.keys().await.unwrap(), expected);
    // Every value, from one parse of the file (each `load` parses the whole file).
    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let entries = document["tokens"].as_array().unwrap();
    assert_eq!(entries.len(), WRITERS * KEYS_PER_WRITER);
    for entry in entries {
        let key: StoreKey = serde_json::from_value(entry["key"].clone()).unwrap();
        let (writer, i) = key.user().trim_start_matches('w').split_once('-').unwrap();
        assert_eq!(entry["tokens"]["access_token"], format!("{writer}-{i}"));
    }
    // And a sample through the store's own API.
    for w in 0..WRITERS {
        for i in (0..KEYS_PER_WRITER).step_by(50) {
            let loaded = store.load(&writer_key(&w.to_string(), i)).await.unwrap();
            assert_same(&loaded.expect("every key is present").into_tokens(), &small_tokens(&format!("{w}-{i}")));
        }
    }
    assert_eq!(mode(&path), 0o600);
}

/// A process killed with SIGKILL at a random moment while saving leaves a file that parses and
/// holds either the value before the interrupted save or the value it was writing.
#[tokio::test]
async fn killed_writer_leaves_old_or_new_value() {
    const ROUNDS: u64 = 25;
    const BYSTANDERS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    // Other keys make the file a few tens of kilobytes, so that kills often land mid-write,
    // and must all survive every kill.
    for i in 0..BYSTANDERS {
        store.save(&key(&format!("bystander{i}")), &tokens(&format!("b{i}"))).await.unwrap();
    }
    store.save(&key("victim"), &tokens("initial")).await.unwrap();
    let mut previous = "initial".to_owned();
    let mut rounds_with_saves = 0;

    for round in 0..ROUNDS {
        let mut child = spawn_child("looper", &path, &round.to_string());
        let lines = marked_lines(&mut child);
        assert_eq!(lines.recv_timeout(Duration::from_secs(30)).unwrap(), "ready");
        let delay = rand::thread_rng().gen_range(0..20);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL on Unix.
        child.wait().unwrap();
        // The forwarding thread ends at end of file, once the child is gone.
        let last_saved =
            lines.iter().filter_map(|line| line.strip_prefix("saved ").map(|n| n.parse::<u64>().unwrap())).last();

        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("round {round}: the file does not parse: {e}"));
        let reader = FileStore::new(&path);
        let value = reader.load(&key("victim")).await.unwrap().unwrap().into_tokens();
        let value = value.access_token().expose_secret().to_owned();
        let allowed = match last_saved {
            // The save that was in flight may or may not have landed.
            Some(n) => [format!("round{round}-{n}"), format!("round{round}-{}", n + 1)],
            None => [previous.clone(), format!("round{round}-0")],
        };
        assert!(allowed.contains(&value), "round {round}: found {value}, expected one of {allowed:?}");
        if last_saved.is_some() {
            rounds_with_saves += 1;
        }
        assert_eq!(reader.keys().await.unwrap().len(), BYSTANDERS + 1, "round {round}");
        for i in 0..BYSTANDERS {
            let bystander = reader.load(&key(&format!("bystander{i}"))).await.unwrap();
            assert_same(&bystander.expect("bystanders survive").into_tokens(), &tokens(&format!("b{i}")));
        }
        previous = value;
    }
    eprintln!("{rounds_with_saves} of {ROUNDS} rounds were killed after at least one save");

    // The store still works after all that.
    store.save(&key("victim"), &tokens("after")).await.unwrap();
    assert_same(&store.load(&key("victim")).await.unwrap().unwrap().into_tokens(), &tokens("after"));
}

/// The refresh lock excludes another process holding it for the same key, and only that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_lock_excludes_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    let mut child = spawn_child("holder", &path, "");
    let lines = marked_lines(&mut child);
    let locked = tokio::task::spawn_blocking(move || {
        let first = lines.recv_timeout(Duration::from_secs(30));
        (first, lines)
    })
    .await
    .unwrap();
    assert_eq!(locked.0.unwrap(), "locked");

    let other_key = tokio::time::timeout(Duration::from_secs(5), store.lock(&key("elsewhere"))).await;
    assert!(other_key.is_ok(), "another key is not held up");
    drop(other_key);

    let started = Instant::now();
    let guard = tokio::time::timeout(Duration::from_secs(30), store.lock(&key("contended")))
        .await
        .expect("the lock is granted once the other process releases it")
        .unwrap();
    let waited = started.elapsed();
    // The child holds the lock for 400 ms after saying "locked"; we cannot have had it much sooner.
    assert!(waited >= Duration::from_millis(200), "got the lock after only {waited:?}");
    drop(guard);
    assert_success(child, "holder");
}

/// Processes that each load, increment and save one value under the refresh lock lose no
/// increment: no two of them ever "refresh" at once.
#[tokio::test]
async fn refresh_lock_serialises_read_modify_write_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    store.save(&key("counter"), &tokens("0")).await.unwrap();
    let children: Vec<Child> = (0..COUNTERS).map(|c| spawn_child("counter", &path, &c.to_string())).collect();
    for (c, child) in children.into_iter().enumerate() {
        assert_success(child, &format!("counter {c}"));
    }
    let last = store.load(&key("counter")).await.unwrap().unwrap().into_tokens();
    assert_eq!(last.access_token().expose_secret(), (COUNTERS * INCREMENTS_PER_COUNTER).to_string());
}
