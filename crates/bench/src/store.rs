//! The file store: a durable save and a load, against the same bytes written and read by hand.

use std::fs::File;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use zoho_oauth::{Environment, FileStore, StoreKey, TokenStore};

use crate::Plan;
use crate::common::{CLIENT_ID, STORE_USER, Summary, token_set};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Microseconds per operation.
    pub micros: Summary,
    /// This contender's time over the bare one's, sample by sample.
    pub paired_ratio: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The size of the token file both sides write.
    pub file_bytes: usize,
    pub save: Vec<Row>,
    pub load: Vec<Row>,
    pub load_batch: u64,
}

pub fn run(plan: &Plan, scratch: &Path) -> anyhow::Result<Results> {
    let runtime = crate::common::runtime()?;
    let dir = tempfile::Builder::new().prefix("store-").tempdir_in(scratch)?;
    let path = dir.path().join("tokens.json");
    let server = url::Url::parse("http://127.0.0.1:9/")?;
    let tokens = token_set(&server, chrono::Utc::now() + chrono::Duration::hours(1))?;
    let key = StoreKey::new(CLIENT_ID, STORE_USER, tokens.accounts_server(), Environment::Production);

    runtime.block_on(async {
        let store = FileStore::open(&path).await?;
        store.save(&key, &tokens).await?;
        // The baseline writes exactly what the store writes, to a file of its own.
        let bytes: Arc<Vec<u8>> = Arc::new(std::fs::read(&path)?);
        let bare = Arc::new(BarePaths::new(dir.path().join("bare.json")));
        bare_save(&bare, &bytes)?;

        let (mut ours_save, mut bare_saves) = (Vec::new(), Vec::new());
        for _ in 0..plan.store_warmup {
            store.save(&key, &tokens).await?;
            blocking_bare_save(&bare, &bytes).await?;
        }
        for _ in 0..plan.store_save_samples {
            let started = Instant::now();
            store.save(&key, &tokens).await?;
            ours_save.push(started.elapsed().as_secs_f64() * 1e6);
            let started = Instant::now();
            blocking_bare_save(&bare, &bytes).await?;
            bare_saves.push(started.elapsed().as_secs_f64() * 1e6);
        }

        let (mut ours_load, mut bare_loads) = (Vec::new(), Vec::new());
        let batch = plan.store_load_batch;
        for _ in 0..plan.store_warmup {
            black_box(store.load(&key).await?);
            black_box(blocking_bare_load(&bare.file).await?);
        }
        for _ in 0..plan.store_load_samples {
            let started = Instant::now();
            for _ in 0..batch {
                let loaded = store.load(&key).await?;
                anyhow::ensure!(loaded.is_some(), "the store lost the tokens");
                black_box(loaded);
            }
            ours_load.push(started.elapsed().as_secs_f64() * 1e6 / batch as f64);
            let started = Instant::now();
            for _ in 0..batch {
                black_box(blocking_bare_load(&bare.file).await?);
            }
            bare_loads.push(started.elapsed().as_secs_f64() * 1e6 / batch as f64);
        }

        let row = |id: &str, name: &str, role: &str, values: &[f64], bare: &[f64]| Row {
            id: id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            micros: Summary::of(values),
            paired_ratio: crate::common::paired_ratio(values, bare),
        };
        anyhow::Ok(Results {
            file_bytes: bytes.len(),
            save: vec![
                row(
                    "bare",
                    "bare: write temp file, fsync, rename, fsync directory (in `spawn_blocking`)",
                    "floor",
                    &bare_saves,
                    &bare_saves,
                ),
                row("zoho_oauth", "zoho-oauth `FileStore::save`", "ours", &ours_save, &bare_saves),
            ],
            load: vec![
                row(
                    "bare",
                    "bare: read the file and parse its JSON (in `spawn_blocking`)",
                    "floor",
                    &bare_loads,
                    &bare_loads,
                ),
                row("zoho_oauth", "zoho-oauth `FileStore::load`", "ours", &ours_load, &bare_loads),
            ],
            load_batch: batch,
        })
    })
}

struct BarePaths {
    file: PathBuf,
    temp: PathBuf,
    dir: PathBuf,
}

impl BarePaths {
    fn new(file: PathBuf) -> BarePaths {
        let temp = file.with_extension("json.tmp");
        let dir = file.parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from("."));
        BarePaths { file, temp, dir }
    }
}

/// What any durable file save must do: a complete new file, flushed, renamed over the old one,
/// and the directory flushed so the rename survives a crash.
fn bare_save(paths: &BarePaths, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(&paths.temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&paths.temp, &paths.file)?;
    File::open(&paths.dir)?.sync_all()
}

async fn blocking_bare_save(paths: &Arc<BarePaths>, bytes: &Arc<Vec<u8>>) -> anyhow::Result<()> {
    let (paths, bytes) = (paths.clone(), bytes.clone());
    Ok(tokio::task::spawn_blocking(move || bare_save(&paths, &bytes)).await??)
}

async fn blocking_bare_load(file: &Path) -> anyhow::Result<serde_json::Value> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&std::fs::read(file)?)?)
    })
    .await?
}
