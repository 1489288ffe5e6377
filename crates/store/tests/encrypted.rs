//! `EncryptedStore`: the shared behaviour suite over the memory and file backends, key rotation,
//! wrong keys, and what reaches the disk.

#![cfg(feature = "encryption")]
#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;

use base64::Engine;
use common::{assert_same, key, tokens};
use zoho_oauth_core::TokenSet;
use zoho_oauth_store::testing::Fixture;
use zoho_oauth_store::{
    EncryptedStore, EncryptionKey, Error, FileStore, MemoryStore, Record, RefreshState, StoreKey, TokenStore,
};

const KEY: [u8; 32] = [0x5a; 32];
const OLD_KEY: [u8; 32] = [0x17; 32];

fn current() -> EncryptionKey {
    EncryptionKey::from_bytes(KEY)
}

fn encrypted_memory_fixture() -> Fixture {
    let memory = MemoryStore::new();
    let shared = memory.clone();
    Fixture {
        store: Arc::new(EncryptedStore::new(memory, current())),
        reopen: Box::new(move || Arc::new(EncryptedStore::new(shared.clone(), current()))),
        guard: Box::new(()),
    }
}

fn encrypted_file_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let again = path.clone();
    Fixture {
        store: Arc::new(EncryptedStore::new(FileStore::new(path), current())),
        reopen: Box::new(move || Arc::new(EncryptedStore::new(FileStore::new(again.clone()), current()))),
        guard: Box::new(dir),
    }
}

zoho_oauth_store::behaviour_suite!(encrypted_memory, encrypted_memory_fixture, cases = 32);
zoho_oauth_store::behaviour_suite!(encrypted_file, encrypted_file_fixture, cases = 16);

fn sample() -> TokenSet {
    tokens("1000.3f9a1c0ffee5ecret.access")
}

#[tokio::test]
async fn nothing_of_a_token_reaches_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = EncryptedStore::new(FileStore::new(&path), current());
    let t = sample();
    store.save(&key("a"), &t).await.unwrap();
    let record = store.load(&key("a")).await.unwrap().unwrap();
    store
        .update(&key("a"), &record.with_refresh_state(RefreshState { failures: 1, ..Default::default() }))
        .await
        .unwrap();

    let raw = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let access = t.access_token().expose_secret();
    let refresh = t.refresh_token().unwrap().expose_secret();
    let json = serde_json::to_string(&t).unwrap();
    let mut needles = vec![access.to_owned(), refresh.to_owned(), "5ecret".to_owned(), "refresh-for".to_owned()];
    for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE_NO_PAD] {
        needles.push(engine.encode(access));
        needles.push(engine.encode(refresh));
        needles.push(engine.encode(&json));
    }
    for needle in &needles {
        assert!(!text.contains(needle.as_str()), "{needle} is in the file:\n{text}");
    }
    // What stays in clear: the key, the expiry, the servers, the scopes, the refresh state.
    assert!(text.contains("zoe1:"), "{text}");
    assert!(text.contains("2030-01-02T03:04:05.123456789Z"), "{text}");
    assert!(text.contains("ZohoCRM.modules.ALL"), "{text}");
    assert!(text.contains("\"failures\": 1"), "{text}");
    assert!(!text.contains("\"refresh_token\""), "{text}");
    // The key material is nowhere either.
    for needle in [hex(&KEY), base64::engine::general_purpose::STANDARD.encode(KEY)] {
        assert!(!text.contains(&needle));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn debug_never_prints_a_key() {
    let store =
        EncryptedStore::new(MemoryStore::new(), current()).with_old_key(EncryptionKey::from_bytes(OLD_KEY)).unwrap();
    store.save(&key("a"), &sample()).await.unwrap();
    let printed = format!("{store:?} {store:#?} {:?}", current());
    for needle in [hex(&KEY), hex(&OLD_KEY), "5a, 5a".to_owned(), "90, 90".to_owned(), "23, 23".to_owned()] {
        assert!(!printed.contains(&needle), "{printed}");
    }
    assert!(printed.contains(current().id()), "{printed}");
}

#[tokio::test]
async fn old_keys_open_and_the_next_write_reseals_with_the_current_key() {
    let memory = MemoryStore::new();
    let old = EncryptedStore::new(memory.clone(), EncryptionKey::from_bytes(OLD_KEY));
    old.save(&key("a"), &tokens("under-old")).await.unwrap();
    old.save(&key("b"), &tokens("b-under-old")).await.unwrap();
    old.save(&key("c"), &tokens("c-under-old")).await.unwrap();
    let old_id = EncryptionKey::from_bytes(OLD_KEY).id().to_owned();

    let rotated =
        EncryptedStore::new(memory.clone(), current()).with_old_key(EncryptionKey::from_bytes(OLD_KEY)).unwrap();
    let record = rotated.load(&key("a")).await.unwrap().unwrap();
    assert_same(record.tokens(), &tokens("under-old"));
    assert!(sealed_with(&memory, &key("a")).await.contains(&old_id));

    // An update (as a refresh does) seals with the current key.
    rotated.update(&key("a"), &record.with_tokens(tokens("refreshed"))).await.unwrap();
    let id = rotated.current_key_id().to_owned();
    assert!(sealed_with(&memory, &key("a")).await.starts_with(&format!("zoe1:{id}:")));
    // So does a save.
    rotated.save(&key("b"), &tokens("new grant")).await.unwrap();
    assert!(sealed_with(&memory, &key("b")).await.starts_with(&format!("zoe1:{id}:")));

    // `rotate` reseals the rest, and only the rest.
    assert_eq!(rotated.rotate().await.unwrap(), 1);
    assert!(sealed_with(&memory, &key("c")).await.starts_with(&format!("zoe1:{id}:")));
    assert_eq!(rotated.rotate().await.unwrap(), 0);

    // Now the old key can go.
    let new_only = EncryptedStore::new(memory, current());
    assert_same(&new_only.load(&key("a")).await.unwrap().unwrap().into_tokens(), &tokens("refreshed"));
    assert_same(&new_only.load(&key("b")).await.unwrap().unwrap().into_tokens(), &tokens("new grant"));
    assert_same(&new_only.load(&key("c")).await.unwrap().unwrap().into_tokens(), &tokens("c-under-old"));
}

async fn sealed_with(memory: &MemoryStore, k: &StoreKey) -> String {
    memory.load(k).await.unwrap().unwrap().tokens().access_token().expose_secret().to_owned()
}

#[tokio::test]
async fn a_missing_key_is_unknown_key_and_changes_nothing() {
    let memory = MemoryStore::new();
    EncryptedStore::new(memory.clone(), EncryptionKey::from_bytes(OLD_KEY)).save(&key("a"), &sample()).await.unwrap();
    let before = sealed_with(&memory, &key("a")).await;
    let store = EncryptedStore::new(memory.clone(), current());
    match store.load(&key("a")).await {
        Err(Error::UnknownKey { key: k, key_id }) => {
            assert_eq!(k, key("a"));
            assert_eq!(key_id, EncryptionKey::from_bytes(OLD_KEY).id());
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert!(matches!(store.rotate().await, Err(Error::UnknownKey { .. })));
    assert_eq!(sealed_with(&memory, &key("a")).await, before);
    assert_eq!(store.keys().await.unwrap(), vec![key("a")], "the entry is still listed, not reset");
}

#[tokio::test]
async fn a_wrong_key_under_the_same_id_is_a_decrypt_error() {
    let memory = MemoryStore::new();
    let right = EncryptionKey::from_bytes(OLD_KEY).with_id("prod").unwrap();
    EncryptedStore::new(memory.clone(), right).save(&key("a"), &sample()).await.unwrap();
    let wrong = EncryptionKey::from_bytes(KEY).with_id("prod").unwrap();
    let store = EncryptedStore::new(memory, wrong);
    match store.load(&key("a")).await {
        Err(error @ Error::Decrypt { .. }) => {
            let message = error.to_string();
            assert!(message.contains("prod") && message.contains("could not be decrypted"), "{message}");
        }
        other => panic!("expected Decrypt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_envelope_moved_to_another_key_or_altered_does_not_open() {
    let memory = MemoryStore::new();
    let store = EncryptedStore::new(memory.clone(), current());
    store.save(&key("alice"), &tokens("alice's")).await.unwrap();
    let sealed = memory.load(&key("alice")).await.unwrap().unwrap().into_tokens();

    // Copied under bob's key: bob must not get alice's tokens.
    memory.save(&key("bob"), &sealed).await.unwrap();
    assert!(matches!(store.load(&key("bob")).await, Err(Error::Decrypt { .. })));

    // One character of the payload changed.
    let envelope = sealed.access_token().expose_secret();
    let last = envelope.chars().last().unwrap();
    let altered = format!("{}{}", &envelope[..envelope.len() - 1], if last == 'A' { 'B' } else { 'A' });
    for bad in [altered, format!("{}x", &envelope[..40]), "zoe1:".to_owned() + current().id() + ":"] {
        let forged = TokenSet::new(
            zoho_oauth_core::AccessToken::new(bad),
            None,
            sealed.expires_at(),
            None,
            sealed.accounts_server(),
            sealed.scopes().clone(),
        );
        memory.save(&key("alice"), &forged).await.unwrap();
        assert!(matches!(store.load(&key("alice")).await, Err(Error::Decrypt { .. })));
    }

    // A plain token set planted in the inner store is refused, not used.
    memory.save(&key("carol"), &tokens("planted")).await.unwrap();
    assert!(matches!(store.load(&key("carol")).await, Err(Error::NotEncrypted { .. })));
}

#[tokio::test]
async fn compare_and_swap_holds_through_the_wrapper() {
    let memory = MemoryStore::new();
    let store = EncryptedStore::new(memory.clone(), current());
    store.save(&key("a"), &tokens("one")).await.unwrap();
    let read = store.load(&key("a")).await.unwrap().unwrap();
    let inner_read = memory.load(&key("a")).await.unwrap().unwrap();
    assert_eq!(read.revision(), inner_read.revision());
    store.update(&key("a"), &read.clone().with_tokens(tokens("two"))).await.unwrap();
    assert!(matches!(store.update(&key("a"), &read).await, Err(Error::Conflict { .. })));
    assert!(store.update(&key("new"), &Record::new(tokens("x"))).await.is_ok());
}

const ENV_KEY_BYTES: [u8; 32] = [0x42; 32];

/// Reads keys from environment variables that the parent test set for this process only:
/// changing the environment of a running test binary would need `unsafe`, which the workspace
/// forbids.
#[test]
#[ignore = "helper process for keys_from_the_environment, started by it"]
fn env_child() {
    let id = EncryptionKey::from_bytes(ENV_KEY_BYTES).id().to_owned();
    assert_eq!(EncryptionKey::from_env("ZOS_TEST_KEY_HEX").unwrap().id(), id);
    assert_eq!(EncryptionKey::from_env("ZOS_TEST_KEY_B64").unwrap().id(), id);
    let error = EncryptionKey::from_env("ZOS_TEST_KEY_BAD").unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
    assert!(error.to_string().contains("ZOS_TEST_KEY_BAD"), "{error}");
    assert!(!error.to_string().contains("0011"), "{error}");
    let error = EncryptionKey::from_env("ZOS_TEST_KEY_UNSET").unwrap_err();
    assert!(error.to_string().contains("not set"), "{error}");
    println!("env child passed");
}

#[test]
fn keys_from_the_environment() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["env_child", "--exact", "--ignored", "--nocapture"])
        .env("ZOS_TEST_KEY_HEX", format!("{}\n", hex(&ENV_KEY_BYTES)))
        .env("ZOS_TEST_KEY_B64", base64::engine::general_purpose::STANDARD.encode(ENV_KEY_BYTES))
        .env("ZOS_TEST_KEY_BAD", "0011")
        .env_remove("ZOS_TEST_KEY_UNSET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("env child passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(unix)]
#[test]
fn key_files_must_be_private_regular_and_ours() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bytes: [u8; 32] = std::array::from_fn(|i| (255 - i) as u8);
    let id = EncryptionKey::from_bytes(bytes).id().to_owned();
    let write = |name: &str, contents: &[u8], mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };

    // Raw bytes, hex with a newline, base64: all the same key.
    let raw = write("raw.key", &bytes, 0o600);
    assert_eq!(EncryptionKey::from_file(&raw).unwrap().id(), id);
    let text = write("hex.key", format!("{}\n", hex(&bytes)).as_bytes(), 0o400);
    assert_eq!(EncryptionKey::from_file(&text).unwrap().id(), id);
    let b64 = write("b64.key", base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes(), 0o600);
    assert_eq!(EncryptionKey::from_file(&b64).unwrap().id(), id);

    // Readable by others: refused, unless the caller opts out.
    let open = write("open.key", &bytes, 0o644);
    match EncryptionKey::from_file(&open) {
        Err(Error::InsecurePermissions { path, mode: 0o644 }) => assert_eq!(path, open),
        other => panic!("expected InsecurePermissions, got {other:?}"),
    }
    assert_eq!(EncryptionKey::from_file_allow_insecure_permissions(&open).unwrap().id(), id);

    // Not a key: refused without quoting it.
    let short = write("short.key", b"0123456789abcdef", 0o600);
    let error = EncryptionKey::from_file(&short).unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
    assert!(!error.to_string().contains("0123456789abcdef"), "{error}");

    // Not a regular file: refused at once, a FIFO included.
    let fifo = dir.path().join("fifo.key");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    assert!(matches!(EncryptionKey::from_file(&fifo), Err(Error::NotARegularFile { .. })));
    assert!(matches!(EncryptionKey::from_file(dir.path()), Err(Error::NotARegularFile { .. })));

    // Owned by another user: refused (only root can give a file away to test it).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&raw, Some(65534), None).unwrap();
        match EncryptionKey::from_file(&raw) {
            Err(Error::ForeignOwner { path, uid: 65534 }) => assert_eq!(path, raw),
            other => panic!("expected ForeignOwner, got {other:?}"),
        }
        assert_eq!(EncryptionKey::from_file_allow_insecure_permissions(&raw).unwrap().id(), id);
    }
}
