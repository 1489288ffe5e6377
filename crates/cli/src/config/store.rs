//! Where the tokens are kept: a token file, or a PostgreSQL database named by URL.

use std::fmt;
use std::path::PathBuf;

use url::Url;

/// Where the tokens are kept.
#[derive(Clone)]
pub enum StoreLocation {
    /// A token file.
    File(PathBuf),
    /// A PostgreSQL database, by URL. The URL may hold a password: it is shown only through
    /// [`Display`](fmt::Display), which leaves the password and the query out.
    Postgres(String),
}

impl StoreLocation {
    /// A `--store` value: a `postgres://` or `postgresql://` URL, or else a file path.
    pub fn parse(value: PathBuf) -> Self {
        match value.to_str() {
            Some(text) if is_postgres_url(text) => StoreLocation::Postgres(text.to_owned()),
            _ => StoreLocation::File(value),
        }
    }
}

/// Whether `text` names a PostgreSQL database.
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The path, or the URL without its password and query (`postgres://zoho@db:5432/app`).
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::File(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => match Url::parse(url) {
                Ok(mut url) => {
                    let _ = url.set_password(None);
                    url.set_query(None);
                    url.set_fragment(None);
                    f.write_str(url.as_str())
                }
                Err(_) => f.write_str("postgres://(unreadable URL)"),
            },
        }
    }
}

/// Like `Display`: never the password.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_shown_without_their_password() {
        let location = StoreLocation::parse(PathBuf::from("postgres://zoho:hunter2@db:5432/app?password=x"));
        assert!(matches!(location, StoreLocation::Postgres(_)));
        assert_eq!(location.to_string(), "postgres://zoho@db:5432/app");
        assert_eq!(format!("{location:?}"), "postgres://zoho@db:5432/app");
        assert!(matches!(StoreLocation::parse(PathBuf::from("PostgreSQL://db/app")), StoreLocation::Postgres(_)));
        assert!(matches!(StoreLocation::parse(PathBuf::from("tokens.json")), StoreLocation::File(_)));
        assert!(matches!(StoreLocation::parse(PathBuf::from("./postgres://x")), StoreLocation::File(_)));
    }
}
