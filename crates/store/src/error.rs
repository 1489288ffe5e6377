//! The store crate's error type.

use std::io;
use std::path::PathBuf;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while storing tokens.
///
/// No variant ever holds a token or any other content of a token file:
/// [`Error::Corrupt`] says where the file stopped making sense, never what it held.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading, writing, locking or renaming a file failed.
    #[error("token store i/o failed on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on: the token file, its temporary file,
        /// its lock file or its directory.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
    /// The token file exists but is not a token file this crate can read.
    ///
    /// The file is left as it is: it may hold the only copy of a refresh token,
    /// so it is never replaced or truncated. Move it aside or repair it by hand.
    #[error("token file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The token file.
        path: PathBuf,
        /// What is wrong, with a line and column where there is one.
        /// It never quotes the file, which holds tokens.
        reason: String,
    },
    /// The token file can be read or written by its group or by others.
    ///
    /// Like ssh with a private key, the store refuses to use such a file, because anyone who can
    /// read it can act as the user. Run `chmod 600` on the file, or opt out with
    /// [`FileStore::allow_insecure_permissions`](crate::FileStore::allow_insecure_permissions).
    #[error(
        "token file {} is accessible by group or others (mode {mode:04o}); run `chmod 600` on it",
        path.display()
    )]
    InsecurePermissions {
        /// The token file.
        path: PathBuf,
        /// The file's permission bits, e.g. `0o644`.
        mode: u32,
    },
    /// The token file was written in a format version this version of the crate does not know,
    /// most likely by a newer version of it.
    ///
    /// The file is left as it is, so the newer version's data is not lost.
    #[error(
        "token file {} has format version {version}, which this version of zoho-oauth-store cannot read",
        path.display()
    )]
    UnsupportedVersion {
        /// The token file.
        path: PathBuf,
        /// The version the file declares.
        version: u64,
    },
    /// The entry changed or disappeared since it was read, so
    /// [`TokenStore::update`](crate::TokenStore::update) wrote nothing: another writer got there
    /// first. Load the entry again.
    #[error(
        "the stored tokens of {} at {} changed since they were read; nothing was written",
        key.user(),
        key.accounts_server()
    )]
    Conflict {
        /// The key whose entry changed.
        key: crate::StoreKey,
    },
    /// A store backend outside this crate (a database, say) failed: it could not be reached, it
    /// timed out, or it answered with an error.
    ///
    /// `source` is the backend's own typed error, to downcast for details.
    /// Backends never put a token or a password in it.
    #[error("the {backend} token store failed: {source}")]
    Backend {
        /// Which backend failed, e.g. `"postgres"`.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A background task doing blocking file work did not complete: the async runtime was shutting
    /// down while the operation was in flight, or the task panicked, which would be a bug.
    #[error("a background token store task did not complete")]
    TaskFailed,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
