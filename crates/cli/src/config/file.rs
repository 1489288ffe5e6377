//! The config file: TOML, top-level keys for every profile and `[profiles.NAME]` for one.
//!
//! A file that holds a `client_secret` must be readable by its owner only, like an ssh key, and
//! no error ever quotes the file's text (it may hold the secret).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zoho_oauth::ClientSecret;

use crate::error::{CliError, Result};
use crate::log::{debug, info};

/// One profile's keys in the config file; the top level has the same keys plus the top-level-only ones.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProfile {
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub dc: Option<String>,
    pub environment: Option<String>,
    pub accounts_url: Option<String>,
    pub trust_accounts_urls: Option<Vec<String>>,
    pub scopes: Option<FileScopes>,
    /// The org of a client-credentials login, `ZohoCRM.<org id>`.
    pub soid: Option<String>,
    pub redirect_host: Option<String>,
    pub redirect_port: Option<u16>,
    pub redirect_path: Option<String>,
    pub refresh_margin: Option<u32>,
    /// Top level only: the token store is shared by every profile.
    pub token_file: Option<PathBuf>,
    /// Top level only, like the store it opens.
    pub encryption_key_file: Option<PathBuf>,
    /// Top level only.
    pub profiles: Option<BTreeMap<String, FileProfile>>,
}

/// Scopes as a list or as one comma- or space-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum FileScopes {
    /// `scopes = ["A", "B"]`.
    List(Vec<String>),
    /// `scopes = "A,B"` or `"A B"`.
    Text(String),
}

impl FileScopes {
    /// The scopes, one per element.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            FileScopes::List(list) => list,
            FileScopes::Text(text) => text
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The config file, read.
pub struct FileConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// The top-level keys.
    pub top: FileProfile,
    /// The table of the profile in use (empty if it has none).
    pub profile: FileProfile,
}

impl FileConfig {
    /// Reads the config file at `path`, keeping the top level and `profile`'s table.
    ///
    /// A missing file is `None` unless `explicit` (named by flag or environment).
    pub fn load(path: &Path, explicit: bool, profile: &str) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {
                debug!("no config file at {}", path.display());
                return Ok(None);
            }
            Err(error) => {
                return Err(CliError::config(format!("cannot read the config file {}: {error}", path.display())));
            }
        };
        let mut top: FileProfile = toml::from_str(&text).map_err(|error| parse_error(path, &text, &error))?;
        let mut profiles = top.profiles.take().unwrap_or_default();
        for (name, table) in &profiles {
            if table.profiles.is_some() || table.token_file.is_some() || table.encryption_key_file.is_some() {
                return Err(CliError::config(format!(
                    "config file {}: [profiles.{name}] cannot hold `profiles`, `token_file` or \
                     `encryption_key_file`; move them to the top level",
                    path.display()
                )));
            }
        }
        let holds_secret = top.client_secret.is_some() || profiles.values().any(|p| p.client_secret.is_some());
        if holds_secret {
            check_private(path)?;
        }
        let profile = profiles.remove(profile).unwrap_or_default();
        info!("read the config file {}", path.display());
        Ok(Some(Self { path: path.to_owned(), top, profile }))
    }

    /// A key's value from the profile's table, else from the top level.
    pub fn get<T>(&mut self, take: impl Fn(&mut FileProfile) -> Option<T>) -> Option<T> {
        take(&mut self.profile).or_else(|| take(&mut self.top))
    }

    /// A path from the top level, made relative to the file: a relative path in the config file
    /// means the same file wherever the tool runs.
    pub fn top_path(&mut self, take: impl Fn(&mut FileProfile) -> Option<PathBuf>) -> Option<PathBuf> {
        let path = take(&mut self.top)?;
        let base = self.path.parent().unwrap_or(Path::new("."));
        Some(base.join(path))
    }
}

/// A TOML error as one line with its position, never quoting the file (it may hold the secret).
fn parse_error(path: &Path, text: &str, error: &toml::de::Error) -> CliError {
    let position = error
        .span()
        .map(|span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        })
        .unwrap_or_default();
    let message = error.message();
    // Serde's type errors quote the offending value, which could be a mistyped secret.
    let message = if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "a value has the wrong type"
    } else {
        message.lines().next().unwrap_or("invalid TOML")
    };
    CliError::config(format!("config file {}{position}: {message}", path.display()))
}

/// Refuses a file that its group or others can access, as ssh does with a private key.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|error| CliError::config(format!("cannot read the config file {}: {error}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(CliError::config(format!(
            "config file {} holds a client secret but can be read by group or others (mode {:04o}); \
             run `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    Ok(())
}

/// Windows has no mode bits; the file inherits the ACL of the user's profile directory.
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

    use super::*;

    #[test]
    fn config_file_profiles_override_the_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "client_id = \"1000.TOP\"\ndc = \"eu\"\nscopes = \"A.b.ALL, C.d.READ\"\n\n[profiles.work]\nclient_id = \"1000.WORK\"\n",
        )
        .unwrap();
        let mut work = FileConfig::load(&path, true, "work").unwrap().unwrap();
        assert_eq!(work.get(|p| p.client_id.take()).as_deref(), Some("1000.WORK"));
        assert_eq!(work.get(|p| p.dc.take()).as_deref(), Some("eu"));
        assert_eq!(work.get(|p| p.scopes.take()).unwrap().into_vec(), ["A.b.ALL", "C.d.READ"]);
        let mut other = FileConfig::load(&path, true, "other").unwrap().unwrap();
        assert_eq!(other.get(|p| p.client_id.take()).as_deref(), Some("1000.TOP"));
        assert!(FileConfig::load(&dir.path().join("missing.toml"), false, "x").unwrap().is_none());
        assert!(FileConfig::load(&dir.path().join("missing.toml"), true, "x").is_err());
    }

    #[test]
    fn top_level_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "token_file = \"t.json\"\nencryption_key_file = \"/abs/key\"\n").unwrap();
        let mut file = FileConfig::load(&path, true, "x").unwrap().unwrap();
        assert_eq!(file.top_path(|p| p.token_file.take()), Some(dir.path().join("t.json")));
        assert_eq!(file.top_path(|p| p.encryption_key_file.take()), Some(PathBuf::from("/abs/key")));
    }

    #[test]
    fn config_errors_never_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for text in [
            "client_secret = 123456789\n",
            "redirect_port = \"top-secret-value\"\n",
            "client_secret = \"top-secret-value\n",
            "clientsecret = \"top-secret-value\"\n",
            "[profiles.x]\ntoken_file = \"top-secret-value\"\n",
        ] {
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let error = FileConfig::load(&path, true, "x").err().unwrap().message();
            assert!(!error.contains("top-secret-value") && !error.contains("123456789"), "{text}: {error}");
            assert!(error.starts_with("config file "), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_config_file_with_a_secret_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[profiles.x]\nclient_secret = \"s\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = FileConfig::load(&path, true, "x").err().unwrap().message();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(FileConfig::load(&path, true, "x").is_ok());
        // Without a secret the mode does not matter.
        std::fs::write(&path, "client_id = \"1000.X\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(FileConfig::load(&path, true, "x").is_ok());
    }
}
