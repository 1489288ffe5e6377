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
    /// The token file (or an encryption key file) can be read or written by its group or by
    /// others.
    ///
    /// Like ssh with a private key, the store refuses to use such a file, because anyone who can
    /// read it can act as the user. Run `chmod 600` on the file, or opt out with
    /// [`FileStore::allow_insecure_permissions`](crate::FileStore::allow_insecure_permissions).
    #[error("{} is accessible by its group or others (mode {mode:04o}); run `chmod 600` on it", path.display())]
    InsecurePermissions {
        /// The token file or key file.
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
    /// A path where the store needs a regular file (the token file, its lock file, its temporary
    /// file or a refresh-lock file) is something else: a directory, a FIFO, a socket, a device, or,
    /// for the files the store creates itself, a symbolic link.
    ///
    /// The store checks before it opens, and never waits on such a file: reading a FIFO would
    /// block until a writer appeared, and following a symbolic link planted in a shared directory
    /// would let another user choose which file the store creates or truncates.
    /// Remove the thing at that path.
    #[error("{} is {kind}, not a regular file; the token store will not use it", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        kind: FileKind,
    },
    /// A path where the store needs a directory it owns (the refresh-lock directory
    /// `<file>.locks`) is something else, such as a symbolic link.
    #[error("{} is {kind}, not a directory; the token store will not use it", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What is there instead.
        kind: FileKind,
    },
    /// The token file, one of the files beside it, or its directory belongs to another user.
    ///
    /// Like ssh, the store refuses files it does not own, because their owner can read or replace
    /// the tokens. A directory owned by root is accepted.
    /// Run `chown` on it, or opt out with
    /// [`FileStore::allow_insecure_permissions`](crate::FileStore::allow_insecure_permissions).
    #[error("{} is owned by another user (uid {uid}); the token store uses only its own files", path.display())]
    ForeignOwner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner's user id.
        uid: u32,
    },
    /// An encryption key could not be read, or is not a key.
    ///
    /// The reason never quotes the key.
    #[error("the encryption key from {origin} is unusable: {reason}")]
    InvalidKey {
        /// Where the key came from: an environment variable, a file, or a key id.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The entry for `key` is sealed with a key whose id is `key_id`, which the
    /// `EncryptedStore` was not given, neither as its current key nor
    /// as an old one. Nothing was changed.
    #[error(
        "the stored tokens of {} at {} are encrypted with key {key_id}, which this store was not given",
        key.user(),
        key.accounts_server()
    )]
    UnknownKey {
        /// The entry.
        key: crate::StoreKey,
        /// The id of the key that sealed it.
        key_id: String,
    },
    /// The entry for `key` names a key this store has, but does not open with it: the key under
    /// that id is not the one that sealed it, or the entry was altered or copied from another key.
    /// Nothing was changed.
    #[error(
        "the stored tokens of {} at {} could not be decrypted with key {key_id}: a different key under that id, or the entry was altered or moved",
        key.user(),
        key.accounts_server()
    )]
    Decrypt {
        /// The entry.
        key: crate::StoreKey,
        /// The id the entry names.
        key_id: String,
    },
    /// The entry for `key` is not encrypted: it was written without an
    /// `EncryptedStore`, or its envelope was replaced.
    /// It is not used, since anyone able to write the store could have planted it.
    /// To encrypt an existing store, load each entry through the plain store and save it through
    /// the encrypted one.
    #[error(
        "the stored tokens of {} at {} are not encrypted; this store reads only encrypted entries",
        key.user(),
        key.accounts_server()
    )]
    NotEncrypted {
        /// The entry.
        key: crate::StoreKey,
    },
    /// A token set could not be encrypted.
    #[error("could not encrypt the tokens: {reason}")]
    Encrypt {
        /// Why.
        reason: String,
    },
    /// A background task doing blocking file work did not complete: the async runtime was shutting
    /// down while the operation was in flight, or the task panicked, which would be a bug.
    #[error("a background token store task did not complete")]
    TaskFailed,
}

/// What kind of thing a path names, for [`Error::NotARegularFile`] and [`Error::NotADirectory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A FIFO, also called a named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A block device.
    BlockDevice,
    /// A character device, such as `/dev/null`.
    CharDevice,
    /// Something else the platform reports.
    Other,
}

impl FileKind {
    /// The kind of a file type as the standard library reports it.
    pub(crate) fn of(file_type: std::fs::FileType) -> Self {
        if file_type.is_symlink() {
            return Self::Symlink;
        }
        if file_type.is_file() {
            return Self::File;
        }
        if file_type.is_dir() {
            return Self::Directory;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Self::Fifo;
            }
            if file_type.is_socket() {
                return Self::Socket;
            }
            if file_type.is_block_device() {
                return Self::BlockDevice;
            }
            if file_type.is_char_device() {
                return Self::CharDevice;
            }
        }
        Self::Other
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::File => "a regular file",
            Self::Directory => "a directory",
            Self::Symlink => "a symbolic link",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::BlockDevice => "a block device",
            Self::CharDevice => "a character device",
            Self::Other => "an unknown kind of file",
        })
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
