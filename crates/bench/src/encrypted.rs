//! The encrypted file store: `EncryptedStore<FileStore>` against the plain `FileStore`, so the
//! figure is what encryption at rest adds to a durable save and to a load.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zoho_oauth::{EncryptedStore, EncryptionKey, Environment, FileStore, StoreKey, TokenStore};

use crate::Plan;
use crate::common::{CLIENT_ID, STORE_USER, Summary, token_set};
use crate::store::Row;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The size of the plain token file and of the encrypted one.
    pub plain_bytes: usize,
    pub encrypted_bytes: usize,
    pub save: Vec<Row>,
    pub load: Vec<Row>,
    pub load_batch: u64,
}

pub fn run(plan: &Plan, scratch: &Path) -> anyhow::Result<Results> {
    let runtime = crate::common::runtime()?;
    let dir = tempfile::Builder::new().prefix("encrypted-").tempdir_in(scratch)?;
    let server = url::Url::parse("http://127.0.0.1:9/")?;
    let tokens = token_set(&server, chrono::Utc::now() + chrono::Duration::hours(1))?;
    let key = StoreKey::new(CLIENT_ID, STORE_USER, tokens.accounts_server(), Environment::Production);

    runtime.block_on(async {
        let plain = FileStore::open(dir.path().join("plain.json")).await?;
        // A fixed key: the benchmark protects nothing, and any 32 bytes cost the same.
        let sealed = EncryptedStore::new(
            FileStore::open(dir.path().join("sealed.json")).await?,
            EncryptionKey::from_bytes([7; 32]),
        );
        plain.save(&key, &tokens).await?;
        sealed.save(&key, &tokens).await?;

        let (mut plain_saves, mut sealed_saves) = (Vec::new(), Vec::new());
        for round in 0..plan.store_warmup + plan.store_save_samples {
            let (p, s) = (timed(plain.save(&key, &tokens)).await?, timed(sealed.save(&key, &tokens)).await?);
            if round >= plan.store_warmup {
                plain_saves.push(micros(p, 1));
                sealed_saves.push(micros(s, 1));
            }
        }

        let batch = plan.store_load_batch;
        let (mut plain_loads, mut sealed_loads) = (Vec::new(), Vec::new());
        for round in 0..plan.store_warmup + plan.store_load_samples {
            let p = timed(async {
                for _ in 0..batch {
                    let loaded = plain.load(&key).await?;
                    anyhow::ensure!(loaded.is_some(), "the plain store lost the tokens");
                    black_box(loaded);
                }
                anyhow::Ok(())
            })
            .await?;
            let s = timed(async {
                for _ in 0..batch {
                    let loaded = sealed.load(&key).await?;
                    // The decrypted tokens must be the ones saved, or the figure times a failure.
                    anyhow::ensure!(
                        loaded.as_ref().is_some_and(
                            |r| r.tokens().access_token().expose_secret() == tokens.access_token().expose_secret()
                        ),
                        "the encrypted store did not give back the tokens"
                    );
                    black_box(loaded);
                }
                anyhow::Ok(())
            })
            .await?;
            if round >= plan.store_warmup {
                plain_loads.push(micros(p, batch));
                sealed_loads.push(micros(s, batch));
            }
        }

        let row = |id: &str, name: &str, role: &str, values: &[f64], base: &[f64]| Row {
            id: id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            micros: Summary::of(values),
            paired_ratio: crate::common::paired_ratio(values, base),
        };
        anyhow::Ok(Results {
            plain_bytes: std::fs::metadata(dir.path().join("plain.json"))?.len().try_into()?,
            encrypted_bytes: std::fs::metadata(dir.path().join("sealed.json"))?.len().try_into()?,
            save: vec![
                row("file_store", "`FileStore::save`", "floor", &plain_saves, &plain_saves),
                row("encrypted", "`EncryptedStore<FileStore>::save`", "ours", &sealed_saves, &plain_saves),
            ],
            load: vec![
                row("file_store", "`FileStore::load`", "floor", &plain_loads, &plain_loads),
                row("encrypted", "`EncryptedStore<FileStore>::load`", "ours", &sealed_loads, &plain_loads),
            ],
            load_batch: batch,
        })
    })
}

async fn timed<T, E>(work: impl std::future::Future<Output = Result<T, E>>) -> anyhow::Result<Duration>
where
    anyhow::Error: From<E>,
{
    let started = Instant::now();
    black_box(work.await?);
    Ok(started.elapsed())
}

fn micros(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}
