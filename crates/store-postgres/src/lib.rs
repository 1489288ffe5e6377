//! A PostgreSQL [`TokenStore`](zoho_oauth_store::TokenStore) for fleets: many processes on many
//! machines share one Zoho authorization, refresh it once per expiry, and respect one backoff.
//!
//! Zoho allows ten access tokens per refresh token per ten minutes, then locks the client out.
//! A fleet whose workers each refresh on their own spends that budget in one expiry. With
//! [`PostgresStore`], the workers coordinate through the database: one takes the key's refresh
//! lock (a PostgreSQL advisory lock), refreshes and writes the new tokens; the others wait on the
//! lock, wake when it is released, and read what it wrote.
//!
//! It is its own crate so that applications that keep tokens in a file or in memory never
//! compile sqlx. See `docs/fleet.md` for running a fleet.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use zoho_oauth_store::TokenStore;
//! use zoho_oauth_store_postgres::PostgresStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The password comes from PGPASSWORD or ~/.pgpass, not from the URL.
//! let store = PostgresStore::builder("postgres://zoho@db.internal/app?sslmode=verify-full")?
//!     .schema("zoho_oauth")?
//!     .lock_timeout(Duration::from_secs(30))
//!     .connect() // creates or migrates the schema
//!     .await?;
//! let store: Arc<dyn TokenStore> = Arc::new(store);
//! // Hand it to the flow: `zoho_oauth::flow(config).with_store(store, "me@example.com")`.
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! Everything lives in one schema (`zoho_oauth` by default, see
//! [`PostgresStoreBuilder::schema`]), created and migrated by [`PostgresStoreBuilder::connect`]
//! or [`PostgresStore::migrate`] with the migrations embedded in the crate
//! (`crates/store-postgres/migrations`):
//!
//! ```sql
//! CREATE SEQUENCE token_revisions AS bigint;
//! CREATE TABLE tokens (
//!     key_hash bytea PRIMARY KEY,   -- SHA-256 of the key fields (32 bytes)
//!     key json NOT NULL,            -- {"client_id", "user", "accounts_server", "environment"}
//!     tokens json NOT NULL,         -- the TokenSet, as the file store writes it: SECRET
//!     failures integer NOT NULL DEFAULT 0,
//!     retry_at timestamptz,         -- no renewal before this instant
//!     last_failure_kind text,       -- rate_limited, transient, rejected or grant_invalid
//!     last_failure_code text,       -- the server's error code
//!     last_failure_at timestamptz,
//!     renewed_at timestamptz,       -- when any worker last renewed the tokens
//!     revision bigint NOT NULL,     -- from token_revisions; update() is a compare-and-swap on it
//!     saved_at timestamptz NOT NULL DEFAULT now()
//! );
//! ```
//!
//! plus sqlx's migration history, `_sqlx_migrations`, in the same schema.
//!
//! - The key and the tokens are `json` (not `jsonb`), which keeps text exactly, NUL escapes
//!   included, and keeps the expiry's nanoseconds; rows are found by `key_hash`, so any text is a
//!   valid key. `SELECT key->>'user', tokens->>'expires_at', failures, retry_at FROM
//!   zoho_oauth.tokens` shows the state of a fleet.
//! - The refresh state has typed columns, so operators can query backoffs. `timestamptz` keeps
//!   microseconds: `retry_at` is rounded up to the next microsecond (never earlier than decided),
//!   the other instants are truncated.
//! - A database migrated by a newer version of this crate is refused by an older one
//!   ([`Error::Migrate`]), so an old program never rewrites rows it does not fully understand.
//!
//! # Locks and waiting
//!
//! [`TokenStore::lock`](zoho_oauth_store::TokenStore::lock) opens a connection of its own (not
//! from the pool, so a refresh waiting on Zoho never starves loads and saves) and runs
//! `pg_advisory_lock(id)`, where `id` is a hash of the schema and the key. The guard owns that
//! connection: dropping it unlocks and closes it. Only a live session holds the lock, so a worker
//! that crashes or is killed releases it the moment its socket closes. Within one process, tasks
//! queue on an in-process mutex first, so at most one connection per key waits at the server.
//!
//! Waiters learn of new tokens through the lock itself: a waiter blocked in `pg_advisory_lock`
//! wakes as soon as the holder releases it, then loads the row the holder wrote. There is no
//! polling, and no LISTEN/NOTIFY: the trait has no "watch" operation, and a worker that is not
//! waiting for a refresh has a valid cached token and nothing to learn.
//!
//! The wait is bounded by [`PostgresStoreBuilder::lock_timeout`], enforced by the server
//! (`lock_timeout`) and by the client, and ends with [`Error::LockTimeout`].

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod error;
mod lock;
mod schema;
mod store;

pub use error::{Error, Result};
pub use store::{PostgresStore, PostgresStoreBuilder};

/// sqlx, whose [`PgConnectOptions`](sqlx::postgres::PgConnectOptions) configure the connection
/// ([`PostgresStore::builder_with`]) and whose errors are this crate's errors' sources.
pub use sqlx;
