//! Token storage for Zoho OAuth 2.0: the [`TokenStore`] trait, an in-memory backend and a
//! crash-safe, locked file backend.
//!
//! Zoho's own SDKs keep tokens in a CSV file that is rewritten in place without locking, next to
//! the client secret in plain text: one crash or two processes at once and the refresh token is
//! gone. This crate is the storage to use instead.
//!
//! - [`TokenStore`] is the trait the token manager talks to, keyed by a [`StoreKey`]
//!   (client id, user, accounts server, environment), with a per-key refresh lock
//!   ([`TokenStore::lock`]) so that processes sharing a store do not both refresh.
//! - [`MemoryStore`] keeps tokens in memory, for tests and applications that do not persist them.
//! - `FileStore` (cargo feature `file`, on by default) keeps them in one JSON file with atomic
//!   replacement, advisory locks and owner-only permissions.
//!
//! - `EncryptedStore` (cargo feature `encryption`) wraps any of them, or any other backend, and
//!   encrypts every token set with XChaCha20-Poly1305 under a key you supply
//!   (`EncryptionKey`: from bytes, an environment variable or a `0600` key file), with key ids
//!   for rotation.
//! - `testing` (cargo feature `testing`) is the behaviour suite every backend passes:
//!   `zoho_oauth_store::behaviour_suite!(name, fixture, cases = 64)` generates one test per
//!   behaviour for your own backend.
//!
//! Stores hold token sets only, never the client secret.
//!
//! # Cargo features
//!
//! | feature      | default | what it adds |
//! |--------------|---------|--------------|
//! | `file`       | on      | `FileStore`, the locked, crash-safe token file (`fs4` for advisory locks) |
//! | `encryption` | off     | `EncryptedStore` and `EncryptionKey` (RustCrypto's `chacha20poly1305`) |
//! | `testing`    | off     | the `testing` module and `behaviour_suite!`, for dev-dependencies (tokio's multi-thread runtime, proptest) |
//!
//! ```
//! use chrono::{Duration, Utc};
//! use zoho_oauth_core::{AccessToken, Environment, RefreshToken, Scopes, TokenSet};
//! use zoho_oauth_store::{FileStore, StoreKey, TokenStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("zoho").join("tokens.json");
//! let store = FileStore::open(path).await?;
//! let key = StoreKey::new("1000.CLIENTID", "me@example.com", "https://accounts.zoho.eu", Environment::Production);
//! let tokens = TokenSet::new(
//!     AccessToken::new("1000.access"),
//!     Some(RefreshToken::new("1000.refresh")),
//!     Utc::now() + Duration::hours(1),
//!     None,
//!     "https://accounts.zoho.eu",
//!     Scopes::zoho(["ZohoCRM.modules.ALL"])?,
//! );
//! store.save(&key, &tokens).await?;
//!
//! let loaded = store.load(&key).await?.expect("just saved");
//! assert_eq!(loaded.tokens().refresh_token().map(|t| t.expose_secret()), Some("1000.refresh"));
//! assert_eq!(store.keys().await?, vec![key]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # FORMAT
//!
//! [`FileStore`] keeps every token set in one UTF-8 JSON file, pretty-printed so that a person can
//! read it (it holds live tokens: treat it like a private key):
//!
//! ```json
//! {
//!   "version": 2,
//!   "tokens": [
//!     {
//!       "key": {
//!         "client_id": "1000.CLIENTID",
//!         "user": "me@example.com",
//!         "accounts_server": "https://accounts.zoho.eu",
//!         "environment": "production"
//!       },
//!       "tokens": {
//!         "access_token": "1000.access",
//!         "refresh_token": "1000.refresh",
//!         "expires_at": "2025-01-31T12:00:00Z",
//!         "api_domain": "https://www.zohoapis.eu/",
//!         "accounts_server": "https://accounts.zoho.eu",
//!         "scopes": "ZohoCRM.modules.ALL ZohoCRM.users.READ"
//!       },
//!       "refresh": {
//!         "failures": 1,
//!         "retry_at": "2025-01-31T12:15:00Z",
//!         "last_failure": {
//!           "kind": "rate_limited",
//!           "code": "Access Denied",
//!           "at": "2025-01-31T12:00:00Z"
//!         },
//!         "renewed_at": "2025-01-31T11:00:00Z"
//!       },
//!       "revision": 7,
//!       "saved_at": "2025-01-31T11:00:00.123456789Z"
//!     }
//!   ]
//! }
//! ```
//!
//! - `version` is the format version, `2` for this layout (version 1, without `refresh` and
//!   `revision`, is still read, and written back as version 2 on the next change). A file with any other version is
//!   refused with [`Error::UnsupportedVersion`] and never overwritten, so an older program cannot
//!   destroy what a newer one wrote. Any change that an older reader could misread or would drop
//!   on rewrite, a new field included, bumps the version; a newer reader keeps a parser for every
//!   older version and writes the file back in the newest one on its next change, which is the
//!   migration path.
//! - `tokens` lists one entry per key, sorted by key; two entries with the same key make the file
//!   [`Error::Corrupt`]. An entry whose token set does not decode is reported as
//!   [`Error::Corrupt`] when its key is loaded, and copied through untouched when other keys are
//!   saved, so damage to one entry neither blocks nor spreads to the others.
//! - `key` is a [`StoreKey`]; `environment` is `production`, `sandbox` or `developer`.
//! - `tokens` is a [`TokenSet`](zoho_oauth_core::TokenSet) as it serializes: `refresh_token` and
//!   `api_domain` may be absent, `expires_at` is an absolute RFC 3339 time in UTC, and `scopes` is
//!   one space-separated string.
//! - `refresh` is the [`RefreshState`] every process sharing the file respects: consecutive
//!   failures, no renewal before `retry_at`, why the last renewal failed (`kind` is
//!   `rate_limited`, `transient`, `rejected` or `grant_invalid`; `code` is the server's error code),
//!   and when the tokens were last renewed. It holds no secret, and is left out when empty.
//! - `revision` counts the entry's writes; [`TokenStore::update`] writes only if it is unchanged
//!   since the entry was read.
//! - `saved_at` is when the entry was last written, for people; the store does not use it.
//!
//! Beside the token file `tokens.json`, the store keeps:
//!
//! - `tokens.json.lock`, an empty file locked exclusively around every read-modify-write;
//! - `tokens.json.tmp`, the next version of the file while it is being written, renamed over the
//!   token file once complete (a leftover after a crash is stale and is removed by the next write);
//! - `tokens.json.locks/`, one empty file per key, named by a hash of the key, locked by
//!   [`TokenStore::lock`] while a process refreshes that key. These are never deleted: removing a
//!   lock file that another process has open would let two processes hold "the" lock at once.
//!
//! The store refuses, with a typed error and before it waits on anything, a token path that is not
//! a regular file ([`Error::NotARegularFile`]: a directory, a FIFO, a socket, a device), a lock or
//! temporary file replaced by a symbolic link (never followed: they are opened with `O_NOFOLLOW`),
//! a `.locks` directory that is a symbolic link ([`Error::NotADirectory`]), and files or
//! directories owned by another user ([`Error::ForeignOwner`]; a directory owned by root is
//! accepted). The token file itself may be a symbolic link to a file of the user's.
//!
//! With `EncryptedStore` in front, each entry's `tokens` holds an envelope instead of the tokens:
//! `"access_token": "zoe1:<key id>:<base64url>"`, no `refresh_token`, and the other fields in
//! clear (see `EncryptedStore`).
//!
//! The locks are advisory `flock` locks: they coordinate processes using this crate and are
//! released by the kernel when a process dies. Network file systems may not honour them;
//! keep the token file on a local disk.
//!
//! # Why one file
//!
//! One file for every key, rather than one per key, because it is one place to inspect, back up and
//! protect; one permission check covers every token; [`TokenStore::keys`] is one read; and key
//! fields such as email addresses need no encoding into file names. Its cost is that every save
//! rewrites the whole file under one lock, which is cheap at token scale (a few hundred bytes per
//! key, written about once an hour per key). Refreshes, which wait on the network, use per-key lock
//! files, so refreshing one user never holds up another.

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

#[cfg(feature = "encryption")]
mod encrypted;
#[cfg_attr(
    not(any(feature = "file", feature = "encryption")),
    allow(dead_code, reason = "helpers for file errors are used by the file backend only")
)]
mod error;
// The file backend. `encryption` compiles it too, without exporting `FileStore`: a key file is
// opened with the same hardened flags as a token file.
#[cfg(any(feature = "file", feature = "encryption"))]
#[cfg_attr(
    not(feature = "file"),
    allow(dead_code, unreachable_pub, reason = "only the open flags are used without `file`")
)]
mod file;
#[cfg(any(feature = "file", feature = "encryption"))]
#[cfg_attr(not(feature = "file"), allow(dead_code, reason = "the file format is used by `FileStore` only"))]
mod format;
mod key;
mod memory;
mod record;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "encryption")]
pub use encrypted::{EncryptedStore, EncryptionKey, is_sealed};
pub use error::{Error, FileKind, Result};
#[cfg(feature = "file")]
pub use file::FileStore;
pub use key::StoreKey;
pub use memory::MemoryStore;
pub use record::{FailureKind, FailureRecord, Record, RefreshState};
pub use store::{StoreLock, TokenStore};
