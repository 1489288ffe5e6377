//! The file backend: one JSON file, replaced atomically, guarded by advisory locks.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;
use zoho_oauth_core::{BoxFuture, Environment, TokenSet};

use crate::error::{Error, FileKind, Result};
use crate::format::Document;
use crate::key::StoreKey;
use crate::memory::RefreshLocks;
use crate::record::{Record, RefreshState};
use crate::store::{StoreLock, TokenStore};

/// The largest token file the store reads. A token set takes well under a kilobyte, so a file
/// this large is not a token file, and reading it whole could exhaust memory.
const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// A store that keeps every token set in one JSON file.
///
/// See the crate docs' FORMAT section for the file's layout and the sibling files it uses.
///
/// - **Crash safety.** Every change writes a complete new file beside the old one, flushes it to
///   disk, renames it over the old one and flushes the directory, so a crash at any moment leaves
///   either the old or the new file, never a mix.
/// - **Concurrency.** Each change reads, modifies and writes the file while holding an exclusive
///   advisory lock on `<file>.lock`, so threads and processes writing different keys at once lose
///   nothing. Reads need no lock: a rename replaces the file whole, so a reader sees the old or the
///   new file.
/// - **Permissions.** The file is created with mode `0600`, and a directory the store creates gets
///   `0700`. A token file that its group or others can access is refused with
///   [`Error::InsecurePermissions`], unless [`allow_insecure_permissions`](Self::allow_insecure_permissions)
///   was called.
/// - **Ownership.** A token file, lock file or lock directory owned by another user, or a
///   directory owned by neither this user nor root, is refused with [`Error::ForeignOwner`]
///   (the same opt-out applies).
/// - **File types.** A token path that is not a regular file (a directory, a FIFO, a socket, a
///   device) is refused at once with [`Error::NotARegularFile`], before any lock is taken, rather
///   than waited on. The lock and temporary files are opened with `O_NOFOLLOW` (the temporary one
///   also with `O_EXCL`), so a symbolic link planted in their place is refused, never followed.
/// - **Damage.** A file that does not parse is reported as [`Error::Corrupt`] and is never replaced;
///   a file from a newer version is reported as [`Error::UnsupportedVersion`] and is never replaced.
///
/// Cloning is cheap; clones share one set of in-process refresh locks.
/// Creating a `FileStore` does no I/O: the directory and file appear on the first save.
/// If the token path itself is a symbolic link, it is read through (the file it points to is
/// what the checks above see), and the first save replaces the link with a regular file,
/// because the new file is renamed over the path.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    paths: Paths,
    allow_insecure_permissions: bool,
    /// Shared with the store this one was derived from by
    /// [`FileStore::allow_insecure_permissions`], so that both queue on the same locks.
    refresh_locks: Arc<RefreshLocks>,
}

/// The token file and the files beside it.
#[derive(Debug, Clone)]
struct Paths {
    /// The token file.
    file: PathBuf,
    /// The directory holding it, to create and to flush after a rename.
    dir: PathBuf,
    /// Locked exclusively around every read-modify-write of the token file.
    write_lock: PathBuf,
    /// Written in full, then renamed over the token file.
    temp: PathBuf,
    /// Holds one refresh-lock file per key.
    refresh_lock_dir: PathBuf,
}

impl Paths {
    fn new(file: PathBuf) -> Self {
        let dir = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let sibling = |suffix: &str| {
            let mut name = OsString::from(file.as_os_str());
            name.push(suffix);
            PathBuf::from(name)
        };
        Self { write_lock: sibling(".lock"), temp: sibling(".tmp"), refresh_lock_dir: sibling(".locks"), dir, file }
    }

    /// The refresh-lock file for `key`: named by a hash of the key, so that user names and
    /// email addresses do not appear in file names and any key makes a valid file name.
    fn refresh_lock(&self, key: &StoreKey) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(b"zoho-oauth-store refresh lock v1\0");
        let environment = match key.environment() {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
            Environment::Developer => "developer",
        };
        for field in [key.client_id(), key.user(), key.accounts_server(), environment] {
            // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        let digest = hasher.finalize();
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.refresh_lock_dir.join(format!("{name}.lock"))
    }
}

impl FileStore {
    /// A store backed by the token file at `path`.
    ///
    /// Nothing is read or created until the first operation.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                paths: Paths::new(path.into()),
                allow_insecure_permissions: false,
                refresh_locks: Arc::default(),
            }),
        }
    }

    /// Opens the token file at `path` now, so that a missing directory is created and a corrupt,
    /// insecure or too-new file is reported at startup rather than at the first refresh.
    ///
    /// A missing file is not an error: it is created by the first save.
    /// To open a file with [insecure permissions](Self::allow_insecure_permissions) on purpose,
    /// use `FileStore::new(path).allow_insecure_permissions()` and then [`check`](Self::check).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let store = Self::new(path);
        store.check().await?;
        Ok(store)
    }

    /// Lets the store use a token file that its group or others can access.
    ///
    /// Only for setups where that is deliberate, such as a file shared with a service account
    /// through a group. The store keeps the file's existing permission bits when it rewrites it.
    #[must_use]
    pub fn allow_insecure_permissions(self) -> Self {
        Self {
            inner: Arc::new(Inner {
                paths: self.inner.paths.clone(),
                allow_insecure_permissions: true,
                refresh_locks: Arc::clone(&self.inner.refresh_locks),
            }),
        }
    }

    /// The token file's path.
    pub fn path(&self) -> &Path {
        &self.inner.paths.file
    }

    /// Creates the directory if needed and reads the token file if there is one,
    /// reporting whatever would make later operations fail.
    pub async fn check(&self) -> Result<()> {
        self.blocking(|inner| {
            inner.prepare_dir()?;
            if let Some((bytes, _)) = inner.read()? {
                Document::parse(&inner.paths.file, &bytes)?;
            }
            Ok(())
        })
        .await
    }

    /// Runs `f` on a blocking thread, so that file I/O and lock waits do not stall the runtime.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|_| Error::TaskFailed)?
    }
}

/// Prints the path and options, never the tokens.
impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.inner.paths.file)
            .field("allow_insecure_permissions", &self.inner.allow_insecure_permissions)
            .finish_non_exhaustive()
    }
}

impl TokenStore for FileStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>> {
        let key = key.clone();
        Box::pin(self.blocking(move |inner| {
            let Some((bytes, _)) = inner.read()? else {
                return Ok(None);
            };
            let path = &inner.paths.file;
            Document::parse(path, &bytes)?.get(path, &key)
        }))
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>> {
        let key = key.clone();
        let tokens = tokens.clone();
        Box::pin(self.blocking(move |inner| {
            inner.modify(|document| {
                let revision = document.revision(&key) + 1;
                document
                    .upsert(&key, &tokens, &RefreshState::default(), revision, Utc::now())
                    .map_err(|_| encode_error(&inner.paths.file))?;
                Ok((revision, true))
            })
        }))
    }

    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>> {
        let key = key.clone();
        let record = record.clone();
        Box::pin(self.blocking(move |inner| {
            inner.modify(|document| {
                let stored = document.revision(&key);
                if stored != record.revision() {
                    return Err(Error::Conflict { key: key.clone() });
                }
                let revision = stored + 1;
                document
                    .upsert(&key, record.tokens(), record.refresh_state(), revision, Utc::now())
                    .map_err(|_| encode_error(&inner.paths.file))?;
                Ok((revision, true))
            })
        }))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>> {
        let key = key.clone();
        Box::pin(self.blocking(move |inner| {
            // Without a token file there is nothing to delete, and taking the write lock would
            // create a directory and a lock file for nothing. A save racing with this delete may
            // be ordered either way, as with any two concurrent calls.
            if !exists(&inner.paths.file)? {
                return Ok(false);
            }
            inner.modify(|document| {
                let existed = document.remove(&key);
                Ok((existed, existed))
            })
        }))
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>> {
        Box::pin(self.blocking(|inner| {
            let Some((bytes, _)) = inner.read()? else {
                return Ok(Vec::new());
            };
            let document = Document::parse(&inner.paths.file, &bytes)?;
            Ok(document.keys().cloned().collect())
        }))
    }

    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>> {
        Box::pin(async move {
            // Tasks of this process queue on an async mutex first, so that only one of them at a
            // time waits on the lock file and ties up a blocking thread doing so.
            let local = self.inner.refresh_locks.acquire(key).await;
            let path = self.inner.paths.refresh_lock(key);
            let file = self
                .blocking(move |inner| {
                    inner.prepare_dir()?;
                    inner.ensure_private_dir(&inner.paths.refresh_lock_dir)?;
                    inner.lock_exclusive(&path)
                })
                .await?;
            Ok(Box::new(FileLock { key: key.clone(), _file: file, _local: local }) as Box<dyn StoreLock>)
        })
    }
}

impl Inner {
    /// Reads the token file, returning its bytes and permission bits, or `None` when there is no file.
    fn read(&self) -> Result<Option<(Vec<u8>, Option<u32>)>> {
        let path = &self.paths.file;
        if !self.check_dir()? {
            return Ok(None);
        }
        // Look before opening: opening a FIFO waits for a writer, which may never come, and
        // opening a device can have effects of its own. The token file may be a symbolic link
        // (to a file in a dotfiles repository, say): the file it points to is what is checked.
        match fs::metadata(path) {
            Ok(metadata) => check_regular(path, &metadata)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        }
        let mut options = OpenOptions::new();
        options.read(true);
        // Something swapped in between the look and the open must not block the open either.
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(flags::NONBLOCK);
        }
        let file = match options.open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        // Type, owner and permissions are checked on the open file, not the path, so that a file
        // swapped in between the check and the read cannot slip through.
        let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
        check_regular(path, &metadata)?;
        self.check_owner(path, &metadata)?;
        let mode = self.check_permissions(&metadata)?;
        if metadata.len() > MAX_FILE_SIZE {
            return Err(Error::Corrupt {
                path: path.clone(),
                reason: format!("it is larger than {} MiB", MAX_FILE_SIZE / 1024 / 1024),
            });
        }
        let mut bytes = Vec::new();
        (&file).take(MAX_FILE_SIZE).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
        Ok(Some((bytes, mode)))
    }

    /// Creates the token file's directory if needed, and checks who owns it.
    fn prepare_dir(&self) -> Result<()> {
        ensure_dir(&self.paths.dir)?;
        self.check_dir()?;
        Ok(())
    }

    /// Checks that the token file's directory belongs to this user or to root, returning whether
    /// it exists.
    fn check_dir(&self) -> Result<bool> {
        let dir = &self.paths.dir;
        let metadata = match fs::metadata(dir) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(dir, e)),
        };
        // Like ssh, a directory owned by root is trusted: root can read everything anyway.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if metadata.uid() != 0 {
                self.check_owner(dir, &metadata)?;
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        Ok(true)
    }

    /// Creates `dir` (mode `0700`) if it is missing, and checks that it is a real directory, not
    /// a symbolic link, owned by this user.
    fn ensure_private_dir(&self, dir: &Path) -> Result<()> {
        let metadata = match fs::symlink_metadata(dir) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(0o700);
                }
                match builder.create(dir) {
                    // Another process may have created it meanwhile; what is there is checked below.
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io(dir, e)),
                }
                fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?
            }
            Err(e) => return Err(Error::io(dir, e)),
        };
        if !metadata.is_dir() {
            return Err(Error::NotADirectory { path: dir.to_owned(), kind: FileKind::of(metadata.file_type()) });
        }
        self.check_owner(dir, &metadata)
    }

    /// Refuses a file or directory that another user owns, unless the caller opted out.
    #[cfg(unix)]
    fn check_owner(&self, path: &Path, metadata: &fs::Metadata) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let uid = metadata.uid();
        if uid != rustix::process::geteuid().as_raw() && !self.allow_insecure_permissions {
            return Err(Error::ForeignOwner { path: path.to_owned(), uid });
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_owner(&self, _path: &Path, _metadata: &fs::Metadata) -> Result<()> {
        Ok(())
    }

    /// Opens (creating if needed) the lock file at `path` and waits for an exclusive lock on it.
    ///
    /// The lock is an `flock`-style lock, which belongs to the open file: it excludes other open
    /// files in this process as well as other processes, and the kernel releases it when the
    /// process dies. A symbolic link at `path` is never followed, so nobody can make the store
    /// create a file elsewhere, and a FIFO there is refused rather than waited on.
    fn lock_exclusive(&self, path: &Path) -> Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(flags::NOFOLLOW | flags::NONBLOCK);
        }
        let file = options.open(path).map_err(|e| not_regular_or(path, e))?;
        let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
        check_regular(path, &metadata)?;
        self.check_owner(path, &metadata)?;
        // Called through the trait by name: newer standard libraries have an inherent `File::lock`,
        // which is newer than this crate's minimum Rust version. `O_NONBLOCK` does not make
        // `flock` return early: only `LOCK_NB` would.
        fs4::FileExt::lock(&file).map_err(|e| Error::io(path, e))?;
        Ok(file)
    }

    #[cfg(unix)]
    fn check_permissions(&self, metadata: &fs::Metadata) -> Result<Option<u32>> {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        // Like ssh for private keys: any access for group or others is too much.
        if mode & 0o077 != 0 && !self.allow_insecure_permissions {
            return Err(Error::InsecurePermissions { path: self.paths.file.clone(), mode });
        }
        Ok(Some(mode))
    }

    #[cfg(not(unix))]
    fn check_permissions(&self, _metadata: &fs::Metadata) -> Result<Option<u32>> {
        Ok(None)
    }

    /// Reads the token file, applies `change`, and writes the result back if `change` says it
    /// changed anything, all under the exclusive write lock.
    fn modify<R>(&self, change: impl FnOnce(&mut Document<'_>) -> Result<(R, bool)>) -> Result<R> {
        self.prepare_dir()?;
        // A token path that is not a regular file is refused before the write lock is taken,
        // so that nothing can hold the lock for everyone while stuck on it.
        match fs::metadata(&self.paths.file) {
            Ok(metadata) => check_regular(&self.paths.file, &metadata)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&self.paths.file, e)),
        }
        // The lock is released when this file is closed at the end of the function,
        // and by the kernel if the process dies first.
        let _lock = self.lock_exclusive(&self.paths.write_lock)?;
        let existing = self.read()?;
        let mode = existing.as_ref().and_then(|(_, mode)| *mode);
        let mut document = match &existing {
            Some((bytes, _)) => Document::parse(&self.paths.file, bytes)?,
            None => Document::default(),
        };
        let (result, changed) = change(&mut document)?;
        if changed {
            self.write(&document, mode)?;
        }
        Ok(result)
    }

    /// Replaces the token file with `document`: write a temporary file, flush it, rename it over
    /// the token file, flush the directory. Called only with the write lock held, which is what
    /// makes the fixed temporary name safe.
    fn write(&self, document: &Document<'_>, existing_mode: Option<u32>) -> Result<()> {
        let paths = &self.paths;
        let bytes = document.encode();
        // A temporary file left by a writer that crashed is stale: the write lock we hold proves
        // nobody is writing it now. Removing it, rather than opening it, also means a symlink
        // planted there is never followed.
        match fs::remove_file(&paths.temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&paths.temp, e)),
        }
        let result = write_new_file(&paths.temp, &bytes, existing_mode)
            .and_then(|()| fs::rename(&paths.temp, &paths.file).map_err(|e| Error::io(&paths.file, e)));
        if let Err(e) = result {
            // Best effort: the error that matters is the one already in hand.
            let _ = fs::remove_file(&paths.temp);
            return Err(e);
        }
        // Without this, a power cut soon after the rename could bring back the old directory
        // entry, and with it the old file, after the caller was told the save succeeded.
        sync_dir(&paths.dir)
    }
}

/// A refresh lock held on a [`FileStore`]: the lock file's exclusive lock excludes other
/// processes, the in-process mutex other tasks.
struct FileLock {
    key: StoreKey,
    // Fields drop in order: the lock file is unlocked before the next task of this process is let in.
    _file: File,
    _local: OwnedMutexGuard<()>,
}

impl fmt::Debug for FileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLock").field("key", &self.key).finish_non_exhaustive()
    }
}

impl StoreLock for FileLock {
    fn key(&self) -> &StoreKey {
        &self.key
    }
}

/// The error for a token set or key that could not be encoded as JSON.
///
/// That cannot happen for these types; the error is mapped rather than unwrapped all the same,
/// without serde's message, which could quote a value.
fn encode_error(path: &Path) -> Error {
    Error::io(path, io::Error::new(io::ErrorKind::InvalidData, "could not encode the token file"))
}

/// Whether `path` exists, with errors other than "not found" reported.
fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Creates `dir` and any missing parents, with mode `0700` for the ones it creates.
fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::io(dir, e))
}

/// Refuses anything but a regular file at `path`.
fn check_regular(path: &Path, metadata: &fs::Metadata) -> Result<()> {
    if metadata.is_file() {
        Ok(())
    } else {
        Err(Error::NotARegularFile { path: path.to_owned(), kind: FileKind::of(metadata.file_type()) })
    }
}

/// The error for a failed open of a file the store creates: [`Error::NotARegularFile`] when a
/// symbolic link or something else that is not a regular file is in the way (`O_NOFOLLOW` makes
/// the open fail on a link), [`Error::Io`] otherwise.
fn not_regular_or(path: &Path, error: io::Error) -> Error {
    match fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.is_file() => {
            Error::NotARegularFile { path: path.to_owned(), kind: FileKind::of(metadata.file_type()) }
        }
        _ => Error::io(path, error),
    }
}

/// `open` flags from rustix, which offers them (and `geteuid`) without `unsafe` code, which this
/// workspace forbids.
#[cfg(unix)]
pub(crate) mod flags {
    use rustix::fs::OFlags;

    /// Fail instead of following a symbolic link in the last component.
    // The cast only changes the type: the flag is a small positive bit.
    #[allow(clippy::cast_possible_wrap)]
    pub(crate) const NOFOLLOW: i32 = OFlags::NOFOLLOW.bits() as i32;
    /// Never wait in `open`, as opening a FIFO without a writer would.
    #[allow(clippy::cast_possible_wrap)]
    pub(crate) const NONBLOCK: i32 = OFlags::NONBLOCK.bits() as i32;
}

/// Writes `bytes` to a new file at `path` with mode `0600` (or the replaced file's mode, with
/// owner read and write added) and flushes it to disk.
fn write_new_file(path: &Path, bytes: &[u8], existing_mode: Option<u32>) -> Result<()> {
    let io_error = |e| Error::io(path, e);
    let mut options = OpenOptions::new();
    // `create_new` is `O_CREAT | O_EXCL`, which fails on anything already there, a dangling
    // symbolic link included; `O_NOFOLLOW` says the same again for the reader.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(flags::NOFOLLOW);
    }
    let mut file = options.open(path).map_err(|e| not_regular_or(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Set the mode explicitly: the one given to `open` is reduced by the umask, and a rewrite
        // keeps the mode of the file it replaces (which passed the permission check, or was
        // allowed by the opt-out).
        let mode = existing_mode.map_or(0o600, |mode| (mode & 0o777) | 0o600);
        file.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_error)?;
    }
    #[cfg(not(unix))]
    let _ = existing_mode;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Flushes a directory's entries to disk, making a rename in it durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Directories cannot be opened as files on every platform; there the rename is as durable as
/// the platform makes it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}
