//! The store: its builder, its statements, and the `TokenStore` implementation.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use zoho_oauth_core::{BoxFuture, Environment, TokenSet};
use zoho_oauth_store::{FailureKind, FailureRecord, Record, RefreshState, StoreKey, StoreLock, TokenStore};

use crate::error::{Error, Result};
use crate::lock::{LocalLocks, PostgresLock};
use crate::schema::{DEFAULT_SCHEMA, Schema};

/// The embedded, versioned migrations (`crates/store-postgres/migrations`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// SQLSTATE `lock_not_available`: `lock_timeout` passed while waiting for a lock.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// A [`TokenStore`] in a PostgreSQL database, shared by every process of a fleet.
///
/// - **Tokens** live in one row per key, in the table `tokens` of the store's schema
///   (`zoho_oauth` unless [configured](PostgresStoreBuilder::schema)), with the
///   [`RefreshState`] every worker respects and a revision; see the crate docs for the schema.
/// - **[`update`](TokenStore::update)** is a compare-and-swap on the revision
///   (`UPDATE ... WHERE key_hash = $1 AND revision = $2`), so a worker that lost a race never
///   overwrites newer tokens; **[`save`](TokenStore::save)** is an upsert that takes a new
///   revision and clears the refresh state. Revisions come from one sequence and never repeat.
/// - **[`lock`](TokenStore::lock)** takes a session-level advisory lock
///   (`pg_advisory_lock`) on a connection of its own, held by the returned guard. Only a live
///   session holds it: a worker that crashes, is killed or loses its network loses its session and
///   with it the lock. The wait is bounded by the [lock timeout](PostgresStoreBuilder::lock_timeout).
/// - **Failures** are typed: every method returns [`zoho_oauth_store::Error::Backend`] around this
///   crate's [`Error`] (see [`Error::from_store`]), and every operation is bounded by the
///   [operation timeout](PostgresStoreBuilder::operation_timeout). After the database comes back,
///   the pool reconnects by itself: no need to rebuild the store.
///
/// Cloning is cheap; clones share the connection pool and the in-process lock queue.
/// `Debug` prints the host, port, database, user and schema, never the password.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    schema: Schema,
    max_connections: u32,
    operation_timeout: Duration,
    lock_timeout: Duration,
    /// Created on first use, on the runtime that first uses the store, because sqlx's pool starts
    /// background tasks on the runtime it is created on.
    pool: OnceLock<PgPool>,
    local_locks: LocalLocks,
    sql: Statements,
}

/// The statements, with the validated schema name in them, built once.
struct Statements {
    load: String,
    keys: String,
    save: String,
    insert_new: String,
    update: String,
    delete: String,
}

impl Statements {
    fn new(schema: &Schema) -> Self {
        let table = schema.tokens_table();
        let next_revision = format!("nextval({})", schema.revisions_sequence());
        let state_columns = "failures, retry_at, last_failure_kind, last_failure_code, last_failure_at, renewed_at";
        Self {
            load: format!("SELECT tokens::text, {state_columns}, revision FROM {table} WHERE key_hash = $1"),
            keys: format!("SELECT key::text FROM {table}"),
            save: format!(
                "INSERT INTO {table} AS t (key_hash, key, tokens, revision) \
                 VALUES ($1, $2::json, $3::json, {next_revision}) \
                 ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key, tokens = EXCLUDED.tokens, \
                 failures = 0, retry_at = NULL, last_failure_kind = NULL, last_failure_code = NULL, \
                 last_failure_at = NULL, renewed_at = NULL, revision = EXCLUDED.revision, saved_at = now() \
                 RETURNING revision"
            ),
            insert_new: format!(
                "INSERT INTO {table} (key_hash, key, tokens, {state_columns}, revision) \
                 VALUES ($1, $2::json, $3::json, $4, $5, $6, $7, $8, $9, {next_revision}) \
                 ON CONFLICT (key_hash) DO NOTHING RETURNING revision"
            ),
            update: format!(
                "UPDATE {table} SET key = $2::json, tokens = $3::json, failures = $4, retry_at = $5, \
                 last_failure_kind = $6, last_failure_code = $7, last_failure_at = $8, renewed_at = $9, \
                 revision = {next_revision}, saved_at = now() \
                 WHERE key_hash = $1 AND revision = $10 RETURNING revision"
            ),
            delete: format!("DELETE FROM {table} WHERE key_hash = $1"),
        }
    }
}

/// Configures a [`PostgresStore`]: where the database is, which schema, how many connections and
/// how long to wait. From [`PostgresStore::builder`] or [`PostgresStore::builder_with`].
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    options: PgConnectOptions,
    schema: Schema,
    max_connections: u32,
    operation_timeout: Duration,
    lock_timeout: Duration,
}

impl PostgresStoreBuilder {
    /// The schema that holds the store's table, sequence and migration history
    /// (default `zoho_oauth`).
    ///
    /// Give each application, or each tenant that must not see another's tokens, a schema of its
    /// own, and keep other tables out of it: the store's migration history (`_sqlx_migrations`)
    /// lives there too. The name must be lowercase ASCII letters, digits and `_`, start with a
    /// letter or `_`, be at most 63 bytes and not start with `pg_`; anything else is refused
    /// with [`Error::InvalidSchema`], so no text from outside ever reaches SQL unchecked.
    pub fn schema(mut self, name: &str) -> Result<Self> {
        self.schema = Schema::new(name)?;
        Ok(self)
    }

    /// The most connections the pool opens for loads and saves (default 4).
    ///
    /// Each held or awaited refresh lock uses one more connection of its own, at most one per key
    /// per process, so a fleet of `n` processes uses at most `n * (max_connections + keys)`.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long one load, save, update, delete or key listing may take, waiting for a connection
    /// included (default 10 seconds). Past it the operation fails with [`Error::Timeout`], or
    /// [`Error::Unavailable`] when no connection could be made.
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long [`lock`](TokenStore::lock) waits for another worker's refresh before failing with
    /// [`Error::LockTimeout`] (default 30 seconds, far longer than one refresh takes).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The store, without touching the database: no connection is made until the first
    /// operation, and the schema is not created or migrated (call [`PostgresStore::migrate`],
    /// or use [`connect`](Self::connect)).
    pub fn build(self) -> PostgresStore {
        let sql = Statements::new(&self.schema);
        PostgresStore {
            inner: Arc::new(Inner {
                options: self.options,
                schema: self.schema,
                max_connections: self.max_connections,
                operation_timeout: self.operation_timeout,
                lock_timeout: self.lock_timeout,
                pool: OnceLock::new(),
                local_locks: LocalLocks::default(),
                sql,
            }),
        }
    }

    /// The store, with its schema created or migrated to this version of the crate.
    ///
    /// Fails with [`Error::Migrate`] when the database was migrated by a newer version of the
    /// crate, so an old program never writes rows it does not fully understand.
    pub async fn connect(self) -> Result<PostgresStore> {
        let store = self.build();
        store.migrate().await?;
        Ok(store)
    }
}

/// Prints where the database is and how the store is configured, never the password.
impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PostgresStoreBuilder");
        describe(&mut d, &self.options, &self.schema);
        d.field("max_connections", &self.max_connections)
            .field("operation_timeout", &self.operation_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// Prints where the database is and how the store is configured, never the password or a token.
impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut d = f.debug_struct("PostgresStore");
        describe(&mut d, &inner.options, &inner.schema);
        d.field("max_connections", &inner.max_connections)
            .field("operation_timeout", &inner.operation_timeout)
            .field("lock_timeout", &inner.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// The connection fields that are not secret. `PgConnectOptions`'s own `Debug` prints the
/// password, so it is never used.
fn describe(d: &mut fmt::DebugStruct<'_, '_>, options: &PgConnectOptions, schema: &Schema) {
    d.field("host", &options.get_host())
        .field("port", &options.get_port())
        .field("database", &options.get_database())
        .field("user", &options.get_username())
        .field("schema", &schema.as_str());
}

impl PostgresStore {
    /// A builder for a store at `url`, such as `postgres://app@db.internal/app?sslmode=verify-full`.
    ///
    /// Every parameter sqlx understands may be given (see [`PgConnectOptions`]), and the usual
    /// `PG*` environment variables fill in what the URL leaves out. A password is better given in
    /// `PGPASSWORD` or a `.pgpass` file than in a URL that may end up in a log.
    pub fn builder(url: &str) -> Result<PostgresStoreBuilder> {
        let options = PgConnectOptions::from_str(url).map_err(|source| Error::InvalidUrl { source })?;
        Ok(Self::builder_with(options))
    }

    /// A builder for a store with connection options built in code.
    pub fn builder_with(options: PgConnectOptions) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            options,
            schema: Schema::new(DEFAULT_SCHEMA).expect("the default schema name is valid"),
            max_connections: 4,
            operation_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(30),
        }
    }

    /// A store at `url` with the default settings, migrated: `builder(url)?.connect().await`.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url)?.connect().await
    }

    /// The schema that holds the store's table.
    pub fn schema(&self) -> &str {
        self.inner.schema.as_str()
    }

    /// Creates the schema if it does not exist and applies the migrations this version of the
    /// crate embeds that the database does not have yet.
    ///
    /// Safe to run from many processes at once: it runs under an advisory lock of its own, on a
    /// connection of its own. It needs the `CREATE` privilege on the database only when the schema
    /// does not exist yet, and on the schema otherwise.
    pub async fn migrate(&self) -> Result<()> {
        let inner = &self.inner;
        let limit = inner.operation_timeout + inner.lock_timeout;
        let work = async {
            let mut connection =
                inner.options.connect().await.map_err(|e| Error::sqlx("connect to migrate the schema", e))?;
            let lock_id = hash_id(b"zoho-oauth-store-postgres migrate v1\0", inner.schema.as_str().as_bytes(), &[]);
            let operation = "migrate the schema";
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(lock_id)
                .execute(&mut connection)
                .await
                .map_err(|e| Error::sqlx(operation, e))?;
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(inner.schema.as_str())
                .fetch_one(&mut connection)
                .await
                .map_err(|e| Error::sqlx(operation, e))?;
            if !exists {
                sqlx::query(&format!("CREATE SCHEMA {}", inner.schema.quoted()))
                    .execute(&mut connection)
                    .await
                    .map_err(|e| Error::sqlx(operation, e))?;
            }
            // The migrations name their objects without a schema, so they land in this one, and
            // so does the migrator's history table.
            sqlx::query(&format!("SET search_path TO {}", inner.schema.quoted()))
                .execute(&mut connection)
                .await
                .map_err(|e| Error::sqlx(operation, e))?;
            MIGRATOR.run_direct(&mut connection).await.map_err(|source| Error::Migrate { source })?;
            // Closing the session releases the advisory lock.
            connection.close().await.map_err(|e| Error::sqlx(operation, e))
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::Timeout { operation: "migrate the schema", after: limit })?
    }

    /// The pool, created on first use.
    fn pool(&self) -> &PgPool {
        let inner = &self.inner;
        inner.pool.get_or_init(|| {
            PgPoolOptions::new()
                .max_connections(inner.max_connections)
                .acquire_timeout(inner.operation_timeout)
                // A connection the server closed (a restart, a failover) is noticed here and replaced.
                .test_before_acquire(true)
                .connect_lazy_with(inner.options.clone())
        })
    }

    /// Runs one database operation within the operation timeout, sorting its errors.
    async fn run<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        let after = self.inner.operation_timeout;
        match tokio::time::timeout(after, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Error::sqlx(operation, error)),
            Err(_) => Err(Error::Timeout { operation, after }),
        }
    }

    async fn load_record(&self, key: &StoreKey) -> Result<Option<Record>> {
        let hash = key_hash(key);
        let row = self
            .run("load tokens", sqlx::query(&self.inner.sql.load).bind(&hash[..]).fetch_optional(self.pool()))
            .await?;
        row.map(|row| decode_record(&row)).transpose()
    }

    async fn save_tokens(&self, key: &StoreKey, tokens: &TokenSet) -> Result<u64> {
        let hash = key_hash(key);
        let (key_json, tokens_json) = (encode_key(key)?, encode_tokens(tokens)?);
        let revision: i64 = self
            .run(
                "save tokens",
                sqlx::query_scalar(&self.inner.sql.save)
                    .bind(&hash[..])
                    .bind(key_json)
                    .bind(tokens_json)
                    .fetch_one(self.pool()),
            )
            .await?;
        decode_revision(revision)
    }

    async fn update_record(&self, key: &StoreKey, record: &Record) -> Result<Option<u64>> {
        let hash = key_hash(key);
        let (key_json, tokens_json) = (encode_key(key)?, encode_tokens(record.tokens())?);
        let state = EncodedState::new(record.refresh_state());
        let sql = &self.inner.sql;
        let revision: Option<i64> = if record.revision() == 0 {
            let query = sqlx::query_scalar(&sql.insert_new).bind(&hash[..]).bind(key_json).bind(tokens_json);
            self.run("insert tokens", state.bind(query).fetch_optional(self.pool())).await?
        } else {
            // A revision beyond i64 was never handed out, so it cannot match.
            let Ok(expected) = i64::try_from(record.revision()) else { return Ok(None) };
            let query = sqlx::query_scalar(&sql.update).bind(&hash[..]).bind(key_json).bind(tokens_json);
            self.run("update tokens", state.bind(query).bind(expected).fetch_optional(self.pool())).await?
        };
        revision.map(decode_revision).transpose()
    }

    async fn delete_key(&self, key: &StoreKey) -> Result<bool> {
        let hash = key_hash(key);
        let done =
            self.run("delete tokens", sqlx::query(&self.inner.sql.delete).bind(&hash[..]).execute(self.pool())).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_keys(&self) -> Result<Vec<StoreKey>> {
        let rows: Vec<String> =
            self.run("list keys", sqlx::query_scalar(&self.inner.sql.keys).fetch_all(self.pool())).await?;
        let mut keys = rows
            .iter()
            .map(|text| {
                serde_json::from_str::<StoreKey>(text).map_err(|e| Error::Corrupt {
                    reason: format!(
                        "a key column does not decode ({:?} at line {}, column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The database's collation is not Rust's order; the trait promises `StoreKey`'s.
        keys.sort();
        Ok(keys)
    }

    async fn acquire_lock(&self, key: &StoreKey) -> Result<PostgresLock> {
        let inner = &self.inner;
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + inner.lock_timeout);
        let timed_out = || Error::LockTimeout { waited: started.elapsed() };

        // Tasks of this process queue here, so at most one connection per key waits at the server.
        let local = tokio::time::timeout_at(deadline, inner.local_locks.acquire(key)).await.map_err(|_| timed_out())?;

        let connect_limit = inner.operation_timeout;
        let mut connection = tokio::time::timeout(connect_limit, inner.options.connect())
            .await
            .map_err(|_| Error::Timeout { operation: "connect for the refresh lock", after: connect_limit })?
            .map_err(|e| Error::sqlx("connect for the refresh lock", e))?;

        let id = lock_id(&inner.schema, key);
        // The server gives up waiting at the same deadline, so an abandoned wait does not queue
        // at the server after this worker stopped waiting. `lock_timeout = 0` would mean "forever".
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(1));
        let wait = async {
            sqlx::query("SELECT set_config('lock_timeout', $1, false)")
                .bind(format!("{}ms", remaining.as_millis().max(1)))
                .execute(&mut connection)
                .await?;
            sqlx::query("SELECT pg_advisory_lock($1)").bind(id).execute(&mut connection).await?;
            // Back to no limit for anything else this session might wait on.
            sqlx::query("SELECT set_config('lock_timeout', '0', false)").execute(&mut connection).await.map(drop)
        };
        // A little grace over the server's own timeout, which is the one expected to fire.
        match tokio::time::timeout_at(deadline + Duration::from_millis(500), wait).await {
            Ok(Ok(())) => Ok(PostgresLock::new(key.clone(), id, connection, local)),
            Ok(Err(sqlx::Error::Database(db))) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => Err(timed_out()),
            Ok(Err(error)) => Err(Error::sqlx("take the refresh lock", error)),
            // Dropping the connection (with the future) ends the session and its wait.
            Err(_) => Err(timed_out()),
        }
    }
}

impl TokenStore for PostgresStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, zoho_oauth_store::Result<Option<Record>>> {
        Box::pin(async move { Ok(self.load_record(key).await?) })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, zoho_oauth_store::Result<u64>> {
        Box::pin(async move { Ok(self.save_tokens(key, tokens).await?) })
    }

    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, zoho_oauth_store::Result<u64>> {
        Box::pin(async move {
            match self.update_record(key, record).await? {
                Some(revision) => Ok(revision),
                None => Err(zoho_oauth_store::Error::Conflict { key: key.clone() }),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, zoho_oauth_store::Result<bool>> {
        Box::pin(async move { Ok(self.delete_key(key).await?) })
    }

    fn keys(&self) -> BoxFuture<'_, zoho_oauth_store::Result<Vec<StoreKey>>> {
        Box::pin(async move { Ok(self.list_keys().await?) })
    }

    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, zoho_oauth_store::Result<Box<dyn StoreLock>>> {
        Box::pin(async move { Ok(Box::new(self.acquire_lock(key).await?) as Box<dyn StoreLock>) })
    }
}

/// The refresh state as bound to the statements' `$4` to `$9`.
struct EncodedState {
    failures: i32,
    retry_at: Option<DateTime<Utc>>,
    kind: Option<String>,
    code: Option<String>,
    at: Option<DateTime<Utc>>,
    renewed_at: Option<DateTime<Utc>>,
}

impl EncodedState {
    fn new(state: &RefreshState) -> Self {
        let failure = state.last_failure.as_ref();
        Self {
            failures: i32::try_from(state.failures).unwrap_or(i32::MAX),
            // `timestamptz` keeps microseconds. Rounding `retry_at` up keeps its promise
            // ("nothing before this instant"); the other instants are history and are truncated.
            retry_at: state.retry_at.map(ceil_to_micros),
            kind: failure.map(|f| kind_name(f.kind)),
            // `text` cannot hold NUL; an error code never has one, but a hostile server could send it.
            code: failure.and_then(|f| f.code.as_ref()).map(|code| code.replace('\0', "\u{fffd}")),
            at: failure.map(|f| f.at),
            renewed_at: state.renewed_at,
        }
    }

    fn bind<'q, O>(
        self,
        query: sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(self.failures)
            .bind(self.retry_at)
            .bind(self.kind)
            .bind(self.code)
            .bind(self.at)
            .bind(self.renewed_at)
    }
}

fn ceil_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let sub_micro = i64::from(at.timestamp_subsec_nanos() % 1000);
    if sub_micro == 0 { at } else { at + chrono::Duration::nanoseconds(1000 - sub_micro) }
}

fn kind_name(kind: FailureKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        // Every kind serializes as its snake_case name; this arm is never taken.
        _ => "transient".to_owned(),
    }
}

fn decode_record(row: &PgRow) -> Result<Record> {
    let column = |e: sqlx::Error| Error::Corrupt { reason: format!("a column does not decode: {e}") };
    let tokens_text: String = row.try_get(0).map_err(column)?;
    let tokens: TokenSet = serde_json::from_str(&tokens_text).map_err(|e| Error::Corrupt {
        // serde's message may quote the value, which is a token: only its position is given.
        reason: format!(
            "the tokens column does not decode ({:?} at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let failures: i32 = row.try_get(1).map_err(column)?;
    let kind: Option<String> = row.try_get(3).map_err(column)?;
    let code: Option<String> = row.try_get(4).map_err(column)?;
    let at: Option<DateTime<Utc>> = row.try_get(5).map_err(column)?;
    let last_failure = match (kind, at) {
        (Some(kind), Some(at)) => {
            let kind: FailureKind = serde_json::from_value(serde_json::Value::String(kind.clone()))
                .map_err(|_| Error::Corrupt { reason: format!("unknown failure kind {kind:?}") })?;
            Some(FailureRecord { kind, code, at })
        }
        _ => None,
    };
    let state = RefreshState {
        failures: u32::try_from(failures).unwrap_or(0),
        retry_at: row.try_get(2).map_err(column)?,
        last_failure,
        renewed_at: row.try_get(6).map_err(column)?,
    };
    let revision = decode_revision(row.try_get(7).map_err(column)?)?;
    Ok(Record::stored(tokens, state, revision))
}

fn decode_revision(revision: i64) -> Result<u64> {
    u64::try_from(revision).map_err(|_| Error::Corrupt { reason: format!("negative revision {revision}") })
}

fn encode_key(key: &StoreKey) -> Result<String> {
    serde_json::to_string(key).map_err(|e| Error::Corrupt { reason: format!("a key does not serialize: {e}") })
}

fn encode_tokens(tokens: &TokenSet) -> Result<String> {
    serde_json::to_string(tokens)
        .map_err(|e| Error::Corrupt { reason: format!("a token set does not serialize ({:?})", e.classify()) })
}

fn environment_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "production",
        Environment::Sandbox => "sandbox",
        Environment::Developer => "developer",
    }
}

/// The primary key of `key`'s row: SHA-256 of its fields, each prefixed with its length so that
/// ("ab", "c") and ("a", "bc") differ.
fn key_hash(key: &StoreKey) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"zoho-oauth-store-postgres key v1\0");
    for field in [key.client_id(), key.user(), key.accounts_server(), environment_name(key.environment())] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().into()
}

/// The advisory lock id of `key`'s refresh lock. Advisory locks are database-wide, so the schema
/// is part of it: two stores in one database do not hold each other up.
fn lock_id(schema: &Schema, key: &StoreKey) -> i64 {
    hash_id(b"zoho-oauth-store-postgres refresh lock v1\0", schema.as_str().as_bytes(), &key_hash(key))
}

fn hash_id(domain: &[u8], schema: &[u8], rest: &[u8]) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    hasher.update((schema.len() as u64).to_le_bytes());
    hasher.update(schema);
    hasher.update(rest);
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_at_is_rounded_up_to_the_microsecond() {
        let at = DateTime::from_timestamp(1_900_000_000, 123_456_789).expect("in range");
        assert_eq!(ceil_to_micros(at).timestamp_subsec_nanos(), 123_457_000);
        let exact = DateTime::from_timestamp(1_900_000_000, 5_000).expect("in range");
        assert_eq!(ceil_to_micros(exact), exact);
    }

    #[test]
    fn every_key_field_changes_the_hash_and_the_lock() {
        let schema = Schema::new("s").expect("valid");
        let base = StoreKey::new("ab", "c", "x", Environment::Production);
        let others = [
            StoreKey::new("a", "bc", "x", Environment::Production),
            StoreKey::new("ab", "c", "x", Environment::Sandbox),
            StoreKey::new("ab", "c", "y", Environment::Production),
        ];
        for other in &others {
            assert_ne!(key_hash(&base), key_hash(other));
            assert_ne!(lock_id(&schema, &base), lock_id(&schema, other));
        }
        let elsewhere = Schema::new("t").expect("valid");
        assert_ne!(lock_id(&schema, &base), lock_id(&elsewhere, &base));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let builder =
            PostgresStore::builder("postgres://app:hunter2-sekrit@db.internal:6432/tokens").expect("a valid URL");
        let store = builder.clone().build();
        let printed = format!("{builder:?} {store:?} {store:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("db.internal") && printed.contains("6432"), "{printed}");
    }

    #[test]
    fn an_invalid_url_is_reported_without_repeating_it() {
        let error =
            PostgresStore::builder("postgres://app:hunter2-sekrit@db.internal:notaport/x").expect_err("invalid");
        let printed = format!("{error} {error:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
