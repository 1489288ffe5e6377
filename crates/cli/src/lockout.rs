//! Zoho's rate-limit lock-out, remembered across runs.
//!
//! After ten access tokens in ten minutes Zoho refuses refreshes for a while, and asking during
//! the lock-out is reported to prolong it. The library's token manager waits out the lock-out
//! within one process; a cron job starts a new process every time, so the tool writes the end of
//! the lock-out beside the token file and does not ask Zoho again before then.
//!
//! The file (`<token file>.rate-limited.json`) holds store keys and times, no secret. Failing to
//! read or write it is logged and otherwise ignored: it only saves requests.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use zoho_oauth::StoreKey;

use crate::log::{debug, info};

/// How long the tool waits after a rate-limit answer: the library's default lock-out.
pub fn lockout() -> Duration {
    zoho_oauth::RefreshPolicy::default().rate_limit_lockout
}

/// The lock-out file beside a token file.
#[derive(Debug, Clone)]
pub struct Lockouts {
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: StoreKey,
    until: DateTime<Utc>,
}

impl Lockouts {
    /// The lock-out file for the token file at `store`.
    pub fn beside(store: &Path) -> Self {
        let mut name = store.as_os_str().to_owned();
        name.push(".rate-limited.json");
        Self { path: PathBuf::from(name) }
    }

    /// When the lock-out for `key` ends, if it has not ended by `now`.
    pub fn until(&self, key: &StoreKey, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.read().entries.into_iter().find(|e| &e.key == key).map(|e| e.until).filter(|until| *until > now)
    }

    /// Records that `key` is locked out until `until`.
    pub fn record(&self, key: &StoreKey, until: DateTime<Utc>) {
        let mut document = self.read();
        document.entries.retain(|e| &e.key != key && e.until > Utc::now());
        document.entries.push(Entry { key: key.clone(), until });
        self.write(&document);
    }

    /// Forgets the lock-outs of every key `matches` accepts (after a new login, a logout or a revocation).
    pub fn clear(&self, matches: impl Fn(&StoreKey) -> bool) {
        let mut document = self.read();
        let before = document.entries.len();
        document.entries.retain(|e| !matches(&e.key) && e.until > Utc::now());
        if document.entries.len() != before {
            self.write(&document);
        }
    }

    fn read(&self) -> Document {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                info!("ignoring the unreadable lock-out file {}: {error}", self.path.display());
                Document::default()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Document::default(),
            Err(error) => {
                info!("ignoring the lock-out file {}: {error}", self.path.display());
                Document::default()
            }
        }
    }

    fn write(&self, document: &Document) {
        if let Err(error) = self.try_write(document) {
            info!("could not write the lock-out file {}: {error}", self.path.display());
        }
    }

    fn try_write(&self, document: &Document) -> std::io::Result<()> {
        if document.entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            };
        }
        let json = serde_json::to_vec_pretty(document).map_err(std::io::Error::other)?;
        let mut temp = self.path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &self.path)?;
        debug!("wrote the lock-out file {}", self.path.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

    use super::*;
    use zoho_oauth::Environment;

    #[test]
    fn lockouts_are_remembered_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let lockouts = Lockouts::beside(&dir.path().join("tokens.json"));
        let key = StoreKey::new("c", "default", "https://accounts.zoho.com", Environment::Production);
        let other = StoreKey::new("c", "work", "https://accounts.zoho.com", Environment::Production);
        let now = Utc::now();
        assert_eq!(lockouts.until(&key, now), None);
        lockouts.record(&key, now + Duration::minutes(15));
        lockouts.record(&other, now + Duration::minutes(10));
        assert_eq!(lockouts.until(&key, now), Some(now + Duration::minutes(15)));
        assert_eq!(lockouts.until(&key, now + Duration::minutes(16)), None);
        lockouts.clear(|k| k.user() == "default");
        assert_eq!(lockouts.until(&key, now), None);
        assert!(lockouts.until(&other, now).is_some());
        lockouts.clear(|_| true);
        assert!(!dir.path().join("tokens.json.rate-limited.json").exists());
        std::fs::write(dir.path().join("tokens.json.rate-limited.json"), "not json").unwrap();
        assert_eq!(lockouts.until(&key, now), None, "a damaged file is ignored");
    }
}
