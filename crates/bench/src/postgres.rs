//! The PostgreSQL store: save, update and load, against the bare statements that move the same
//! bytes through the same driver (sqlx) to the same database.
//!
//! The database comes from `ZOHO_OAUTH_BENCH_POSTGRES_URL`, or else `ZOHO_OAUTH_TEST_POSTGRES_URL`;
//! without either, the benchmark is reported as skipped, never as a figure. It works in schemas of
//! its own (dropped before and after), so it never touches a real store's tables.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use zoho_oauth::postgres::PostgresStore;
use zoho_oauth::postgres::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use zoho_oauth::postgres::sqlx::{self, ConnectOptions as _, Connection as _, PgConnection};
use zoho_oauth::{Environment, Record, StoreKey, TokenStore};

use crate::Plan;
use crate::common::{CLIENT_ID, STORE_USER, Summary, token_set};
use crate::store::Row;

/// The variables that may name the database, in the order they are read.
pub const URL_VARIABLES: [&str; 2] = ["ZOHO_OAUTH_BENCH_POSTGRES_URL", "ZOHO_OAUTH_TEST_POSTGRES_URL"];
/// What the page and the JSON say when no database was given.
pub const SKIPPED: &str = "skipped: no PostgreSQL";
/// The schema of the store under test.
const STORE_SCHEMA: &str = "zoho_oauth_bench";
/// The schema of the bare statements' table.
const BARE_SCHEMA: &str = "zoho_oauth_bench_bare";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Why nothing was measured (`skipped: no PostgreSQL`), or `None` when the figures are real.
    pub skipped: Option<String>,
    /// The server's `version()`, when measured.
    pub server: Option<String>,
    /// The host the URL named (never the rest of the URL, which may hold a password).
    pub host: Option<String>,
    /// The server's `synchronous_commit` setting: `on` means every write waited for its WAL flush.
    pub synchronous_commit: Option<String>,
    /// The size of the token set's JSON both sides write.
    pub tokens_bytes: usize,
    pub save: Vec<Row>,
    pub update: Vec<Row>,
    pub load: Vec<Row>,
    pub load_batch: u64,
}

impl Results {
    fn skipped() -> Results {
        Results {
            skipped: Some(SKIPPED.to_owned()),
            server: None,
            host: None,
            synchronous_commit: None,
            tokens_bytes: 0,
            save: Vec::new(),
            update: Vec::new(),
            load: Vec::new(),
            load_batch: 0,
        }
    }
}

/// The database URL from the environment, if any. It holds a password: never print it.
pub fn database_url() -> Option<String> {
    URL_VARIABLES.iter().find_map(|name| std::env::var(name).ok().filter(|url| !url.trim().is_empty()))
}

pub fn run(plan: &Plan) -> anyhow::Result<Results> {
    let Some(url) = database_url() else { return Ok(Results::skipped()) };
    let runtime = crate::common::runtime()?;
    runtime.block_on(measure(plan, &url))
}

/// The bare side: one table with the store's key, tokens and revision columns and nothing else.
struct Bare {
    pool: PgPool,
    connection: PgConnection,
    upsert: String,
    update: String,
    select: String,
}

async fn measure(plan: &Plan, url: &str) -> anyhow::Result<Results> {
    let options: PgConnectOptions = url.parse().map_err(|_| anyhow::anyhow!("the PostgreSQL URL does not parse"))?;
    let mut admin = options.connect().await?;
    let server: String = sqlx::query_scalar("SELECT version()").fetch_one(&mut admin).await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut admin).await?;
    for schema in [STORE_SCHEMA, BARE_SCHEMA] {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut admin).await?;
    }
    let result = compare(plan, url, &options, &mut admin).await;
    for schema in [STORE_SCHEMA, BARE_SCHEMA] {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut admin).await?;
    }
    admin.close().await?;
    let mut results = result?;
    results.server = Some(server);
    results.host = Some(options.get_host().to_owned());
    results.synchronous_commit = Some(synchronous_commit);
    Ok(results)
}

async fn compare(
    plan: &Plan,
    url: &str,
    options: &PgConnectOptions,
    admin: &mut PgConnection,
) -> anyhow::Result<Results> {
    let store = PostgresStore::builder(url)?.schema(STORE_SCHEMA)?.connect().await?;
    let server = url::Url::parse("http://127.0.0.1:9/")?;
    let tokens = token_set(&server, chrono::Utc::now() + chrono::Duration::hours(1))?;
    let key = StoreKey::new(CLIENT_ID, STORE_USER, tokens.accounts_server(), Environment::Production);
    store.save(&key, &tokens).await?;

    // The bare statements write exactly the bytes the store wrote: its row, read back.
    let (key_hash, key_json, tokens_json): (Vec<u8>, String, String) =
        sqlx::query_as(&format!("SELECT key_hash, key::text, tokens::text FROM {STORE_SCHEMA}.tokens"))
            .fetch_one(&mut *admin)
            .await?;
    sqlx::query(&format!("CREATE SCHEMA {BARE_SCHEMA}")).execute(&mut *admin).await?;
    sqlx::query(&format!(
        "CREATE TABLE {BARE_SCHEMA}.tokens (key_hash bytea PRIMARY KEY, key json NOT NULL, tokens json NOT NULL, revision bigint NOT NULL)"
    ))
    .execute(&mut *admin)
    .await?;
    // The pool as sqlx's documentation builds one (its defaults test each connection before
    // handing it out, as the store's pool does), the same size as the store's.
    let pool = PgPoolOptions::new().max_connections(4).connect_with(options.clone()).await?;
    let mut bare = Bare {
        pool,
        connection: options.connect().await?,
        upsert: format!(
            "INSERT INTO {BARE_SCHEMA}.tokens (key_hash, key, tokens, revision) VALUES ($1, $2::json, $3::json, 1) \
             ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key, tokens = EXCLUDED.tokens, \
             revision = {BARE_SCHEMA}.tokens.revision + 1"
        ),
        update: format!(
            "UPDATE {BARE_SCHEMA}.tokens SET key = $2::json, tokens = $3::json, revision = revision + 1 \
             WHERE key_hash = $1 AND revision = $4 RETURNING revision"
        ),
        select: format!("SELECT tokens::text FROM {BARE_SCHEMA}.tokens WHERE key_hash = $1"),
    };
    let args = (&key_hash[..], key_json.as_str(), tokens_json.as_str());

    // Saves: the store's upsert against the bare upsert, on a pool and on one connection.
    let mut save = Samples::default();
    for round in 0..plan.store_warmup + plan.store_save_samples {
        let started = Instant::now();
        store.save(&key, &tokens).await?;
        let ours = started.elapsed();
        let started = Instant::now();
        sqlx::query(&bare.upsert).bind(args.0).bind(args.1).bind(args.2).execute(&bare.pool).await?;
        let pooled = started.elapsed();
        let started = Instant::now();
        sqlx::query(&bare.upsert).bind(args.0).bind(args.1).bind(args.2).execute(&mut bare.connection).await?;
        let single = started.elapsed();
        if round >= plan.store_warmup {
            save.push(ours, pooled, single, 1);
        }
    }

    // Updates: the store's compare-and-swap on the revision against the bare one.
    let mut record = store.load(&key).await?.ok_or_else(|| anyhow::anyhow!("the store lost the tokens"))?;
    let mut bare_revision: i64 = sqlx::query_scalar(&format!("SELECT revision FROM {BARE_SCHEMA}.tokens"))
        .fetch_one(&mut bare.connection)
        .await?;
    let mut update = Samples::default();
    for round in 0..plan.store_warmup + plan.store_save_samples {
        let started = Instant::now();
        let revision = store.update(&key, &record).await?;
        let ours = started.elapsed();
        record = Record::stored(record.tokens().clone(), record.refresh_state().clone(), revision);
        let started = Instant::now();
        bare_revision = bare_update(&bare.update, args, bare_revision, &bare.pool).await?;
        let pooled = started.elapsed();
        let started = Instant::now();
        bare_revision = bare_update(&bare.update, args, bare_revision, &mut bare.connection).await?;
        let single = started.elapsed();
        if round >= plan.store_warmup {
            update.push(ours, pooled, single, 1);
        }
    }

    // Loads, in batches: the store's select and decode against the bare select of the text.
    let batch = plan.store_load_batch;
    let mut load = Samples::default();
    for round in 0..plan.store_warmup + plan.store_load_samples {
        let started = Instant::now();
        for _ in 0..batch {
            let loaded = store.load(&key).await?;
            anyhow::ensure!(loaded.is_some(), "the store lost the tokens");
            black_box(loaded);
        }
        let ours = started.elapsed();
        let started = Instant::now();
        for _ in 0..batch {
            let text: String = sqlx::query_scalar(&bare.select).bind(args.0).fetch_one(&bare.pool).await?;
            black_box(text);
        }
        let pooled = started.elapsed();
        let started = Instant::now();
        for _ in 0..batch {
            let text: String = sqlx::query_scalar(&bare.select).bind(args.0).fetch_one(&mut bare.connection).await?;
            black_box(text);
        }
        let single = started.elapsed();
        if round >= plan.store_warmup {
            load.push(ours, pooled, single, batch);
        }
    }

    bare.pool.close().await;
    bare.connection.close().await?;
    Ok(Results {
        skipped: None,
        server: None,
        host: None,
        synchronous_commit: None,
        tokens_bytes: tokens_json.len(),
        save: save.rows("`PostgresStore::save`", "INSERT ... ON CONFLICT ... DO UPDATE"),
        update: update.rows("`PostgresStore::update`", "UPDATE ... WHERE key_hash = $1 AND revision = $2"),
        load: load.rows("`PostgresStore::load`", "SELECT tokens::text ... WHERE key_hash = $1"),
        load_batch: batch,
    })
}

async fn bare_update<'e, E>(sql: &str, args: (&[u8], &str, &str), revision: i64, executor: E) -> anyhow::Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let next: Option<i64> =
        sqlx::query_scalar(sql).bind(args.0).bind(args.1).bind(args.2).bind(revision).fetch_optional(executor).await?;
    next.ok_or_else(|| anyhow::anyhow!("the bare compare-and-swap lost its row"))
}

/// Microseconds per operation of the three contenders, sample by sample.
#[derive(Default)]
struct Samples {
    ours: Vec<f64>,
    pooled: Vec<f64>,
    single: Vec<f64>,
}

impl Samples {
    fn push(&mut self, ours: std::time::Duration, pooled: std::time::Duration, single: std::time::Duration, n: u64) {
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
        self.ours.push(per(ours));
        self.pooled.push(per(pooled));
        self.single.push(per(single));
    }

    /// The rows, each divided by the bare statement on a pool, sample by sample.
    fn rows(&self, ours: &str, statement: &str) -> Vec<Row> {
        let row = |id: &str, name: String, role: &str, values: &[f64]| Row {
            id: id.to_owned(),
            name,
            role: role.to_owned(),
            micros: Summary::of(values),
            paired_ratio: crate::common::paired_ratio(values, &self.pooled),
        };
        vec![
            row("bare_pool", format!("bare `{statement}` through a sqlx pool"), "floor", &self.pooled),
            row("bare_connection", "bare, on one connection held throughout".to_owned(), "reference", &self.single),
            row("zoho_oauth", format!("zoho-oauth {ours}"), "ours", &self.ours),
        ]
    }
}
