//! Encryption at rest for any backend: [`EncryptedStore`] and its [`EncryptionKey`].

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;
use zoho_oauth_core::{AccessToken, BoxFuture, Environment, TokenSet};

use crate::error::{Error, Result};
use crate::key::StoreKey;
use crate::record::Record;
use crate::store::{StoreLock, TokenStore};

/// What every envelope starts with: the format's name and version.
const ENVELOPE_PREFIX: &str = "zoe1:";
/// The length of an XChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 24;
/// The length of a Poly1305 tag.
const TAG_LEN: usize = 16;
/// The largest key file read: a key in any accepted spelling is well under this.
const MAX_KEY_FILE_SIZE: u64 = 1024;

/// A 256-bit key for [`EncryptedStore`], with the id that records name it by.
///
/// The key bytes are wiped from memory when the key is dropped, and `Debug` prints only the id.
/// Make one with `head -c 32 /dev/urandom | base64` (or `openssl rand -base64 32`) and keep it
/// somewhere other than the token file, such as a secret manager or a `0600` file.
///
/// The id is by default the first 8 bytes of SHA-256 over a fixed label and the key, as 16 hex
/// digits: enough to tell keys apart, useless for guessing a random 256-bit key.
/// [`with_id`](Self::with_id) sets a name of your own instead.
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl EncryptionKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut hasher = Sha256::new();
        hasher.update(b"zoho-oauth-store key id v1\0");
        hasher.update(bytes.as_slice());
        let id = hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { bytes, id }
    }

    /// A key from the environment variable `name`, holding the 32 key bytes as 64 hex digits or in
    /// base64 (standard or URL-safe alphabet, padded or not). Spaces and newlines around the
    /// value are ignored.
    pub fn from_env(name: &str) -> Result<Self> {
        let origin = || format!("environment variable {name}");
        let value = Zeroizing::new(std::env::var(name).map_err(|e| {
            let reason = match e {
                std::env::VarError::NotPresent => "it is not set",
                std::env::VarError::NotUnicode(_) => "it is not valid UTF-8",
            };
            Error::InvalidKey { origin: origin(), reason: reason.to_owned() }
        })?);
        decode_text(value.as_bytes()).map_err(|reason| Error::InvalidKey { origin: origin(), reason })
    }

    /// A key from the file at `path`, which must be a regular file that only its owner can access
    /// (mode `0600` or `0400`) and owned by this user, like an ssh private key.
    ///
    /// The file holds the 32 key bytes raw, or as text: 64 hex digits or base64 (standard or
    /// URL-safe, padded or not), with spaces and newlines around it ignored.
    /// A file others can access is refused with [`Error::InsecurePermissions`], one owned by
    /// another user with [`Error::ForeignOwner`]; see
    /// [`from_file_allow_insecure_permissions`](Self::from_file_allow_insecure_permissions).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_key_file(path.as_ref(), false)
    }

    /// Like [`from_file`](Self::from_file), without the permission and owner checks: for setups
    /// where a group or a service account shares the key on purpose.
    pub fn from_file_allow_insecure_permissions(path: impl AsRef<Path>) -> Result<Self> {
        read_key_file(path.as_ref(), true)
    }

    /// The same key under an id of your choosing, such as `"2025-01"`: 1 to 64 ASCII letters,
    /// digits, `.`, `_` or `-`.
    ///
    /// Every process sharing a store must give the key the same id, since records name their key
    /// by it.
    pub fn with_id(mut self, id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(Error::InvalidKey {
                origin: format!("key {}", self.id),
                reason: "a key id is 1 to 64 ASCII letters, digits, `.`, `_` or `-`".to_owned(),
            });
        }
        self.id = id;
        Ok(self)
    }

    /// The key's id, as records name it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // The cipher keeps a copy of the key, which it wipes when dropped (feature `zeroize`).
        XChaCha20Poly1305::new(&(*self.bytes).into())
    }
}

/// Prints the id only, never the key.
impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Decodes a key written as text: 64 hex digits, or base64 of 32 bytes.
fn decode_text(text: &[u8]) -> Result<EncryptionKey, String> {
    let text = text.trim_ascii();
    let mut bytes = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit) {
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        return Ok(EncryptionKey::from_bytes(*bytes));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let mut decoded = Zeroizing::new(Vec::new());
        if engine.decode_vec(text, &mut decoded).is_ok() {
            if decoded.len() != 32 {
                return Err(format!("it decodes to {} bytes; a key is 32 bytes", decoded.len()));
            }
            bytes.copy_from_slice(&decoded);
            return Ok(EncryptionKey::from_bytes(*bytes));
        }
    }
    Err("it is neither 64 hex digits nor base64 of 32 bytes".to_owned())
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

fn read_key_file(path: &Path, allow_insecure: bool) -> Result<EncryptionKey> {
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        return Err(Error::NotARegularFile { path: path.to_owned(), kind: crate::FileKind::of(metadata.file_type()) });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(crate::file::flags::NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    // Checked on the open file, so that a file swapped in after the look above is caught.
    let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        return Err(Error::NotARegularFile { path: path.to_owned(), kind: crate::FileKind::of(metadata.file_type()) });
    }
    #[cfg(unix)]
    if !allow_insecure {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let uid = metadata.uid();
        if uid != rustix::process::geteuid().as_raw() {
            return Err(Error::ForeignOwner { path: path.to_owned(), uid });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecurePermissions { path: path.to_owned(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = allow_insecure;
    let mut contents = Zeroizing::new(Vec::new());
    (&file).take(MAX_KEY_FILE_SIZE + 1).read_to_end(&mut contents).map_err(|e| Error::io(path, e))?;
    let origin = || format!("file {}", path.display());
    if contents.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(Error::InvalidKey { origin: origin(), reason: "it is far too large for a key".to_owned() });
    }
    // 32 bytes of text cannot be a key in hex (64 digits) or base64 (43 or 44 characters),
    // so a 32-byte file is the raw key.
    if let Ok(raw) = <[u8; 32]>::try_from(contents.as_slice()) {
        let raw = Zeroizing::new(raw);
        return Ok(EncryptionKey::from_bytes(*raw));
    }
    decode_text(&contents).map_err(|reason| Error::InvalidKey { origin: origin(), reason })
}

/// A [`TokenStore`] that encrypts every token set before handing it to another store `S`, and
/// decrypts it on the way back, with XChaCha20-Poly1305 under a key the caller supplies.
///
/// It wraps any backend: [`FileStore`](crate::FileStore), [`MemoryStore`](crate::MemoryStore),
/// or a database backend from another crate, which keeps its whole contract (keys, revisions,
/// compare-and-swap, refresh locks) because the wrapper changes only what a token set holds.
///
/// ```
/// use std::sync::Arc;
/// use zoho_oauth_store::{EncryptedStore, EncryptionKey, FileStore, TokenStore};
///
/// # fn main() -> Result<(), zoho_oauth_store::Error> {
/// # let dir = tempfile::tempdir().expect("a temporary directory");
/// # let path = dir.path().join("tokens.json");
/// # let key_file = dir.path().join("tokens.key");
/// # std::fs::write(&key_file, [7u8; 32]).expect("written");
/// # #[cfg(unix)] std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
/// // The key from a `0600` file; `EncryptionKey::from_env("ZOHO_TOKEN_KEY")` reads a variable.
/// let current = EncryptionKey::from_file(&key_file)?;
/// let store: Arc<dyn TokenStore> = Arc::new(EncryptedStore::new(FileStore::new(path), current));
/// # Ok(())
/// # }
/// ```
///
/// # What the inner store sees
///
/// For each entry, the inner store is given a [`TokenSet`] whose access token is an envelope
/// (below), with no refresh token, and with the fields that hold no secret copied in clear:
/// `expires_at`, `api_domain`, `accounts_server` and `scopes`, so that people and tools can
/// still see what a file holds and when it expires. The refresh state and revision stay in
/// clear too: they are counts, instants and error codes. The copies in clear are for show:
/// loading returns the token set from inside the envelope, so editing them changes nothing.
///
/// The envelope is `zoe1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>` (base64 with the
/// URL-safe alphabet, no padding): `zoe1` names this format, the key id names the
/// [`EncryptionKey`] it was sealed with, the nonce is 24 random bytes drawn for every write, and
/// the ciphertext is the whole token set serialized as JSON. The associated data is a fixed label,
/// the key id and the four fields of the [`StoreKey`], so an envelope copied to another key, or
/// relabelled with another key id, fails to decrypt instead of handing one user another's tokens.
///
/// # Keys and rotation
///
/// The store is given one current key, which seals every save and update, and any number of old
/// keys ([`with_old_key`](Self::with_old_key)), which only open. An entry sealed with an old key
/// loads normally and is sealed again with the current key on its next save or update, or at once
/// with [`rotate`](Self::rotate). Once every entry is under the new key, drop the old one.
///
/// # Failures
///
/// An entry sealed with a key the store was not given is [`Error::UnknownKey`]; one that does not
/// open with the key its id names (a wrong key under the same id, a damaged or moved envelope) is
/// [`Error::Decrypt`]; an entry that is not an envelope at all (written without encryption) is
/// [`Error::NotEncrypted`]. None of them is ever reported as a missing entry or as garbage tokens,
/// and none of them changes what is stored.
#[derive(Clone)]
pub struct EncryptedStore<S> {
    inner: S,
    keys: Arc<Keys>,
}

struct Keys {
    current: EncryptionKey,
    old: Vec<EncryptionKey>,
}

impl Keys {
    fn find(&self, id: &str) -> Option<&EncryptionKey> {
        std::iter::once(&self.current).chain(&self.old).find(|k| k.id == id)
    }
}

/// Whether `tokens`, as an inner store holds them, are sealed by an [`EncryptedStore`]: an
/// envelope in place of the access token and no refresh token. A program that reads a store
/// without the key can say "this store is encrypted" instead of handing out the envelope.
pub fn is_sealed(tokens: &zoho_oauth_core::TokenSet) -> bool {
    tokens.refresh_token().is_none() && parse_envelope(tokens.access_token().expose_secret()).is_some()
}

impl<S: TokenStore> EncryptedStore<S> {
    /// Wraps `inner`, sealing everything with `current`.
    pub fn new(inner: S, current: EncryptionKey) -> Self {
        Self { inner, keys: Arc::new(Keys { current, old: Vec::new() }) }
    }

    /// Adds an old key, which opens entries sealed with it but seals nothing.
    ///
    /// Two keys with the same id are refused with [`Error::InvalidKey`]: an entry could not say
    /// which of them sealed it.
    pub fn with_old_key(self, old: EncryptionKey) -> Result<Self> {
        if self.keys.find(&old.id).is_some() {
            return Err(Error::InvalidKey {
                origin: format!("key {}", old.id),
                reason: "the store already has a key with this id".to_owned(),
            });
        }
        let keys = match Arc::try_unwrap(self.keys) {
            Ok(mut keys) => {
                keys.old.push(old);
                keys
            }
            // Clones of this store share their keys; rebuild the list without copying key bytes
            // out of the shared one.
            Err(shared) => {
                let copy = |k: &EncryptionKey| EncryptionKey { bytes: k.bytes.clone(), id: k.id.clone() };
                let mut old_keys: Vec<EncryptionKey> = shared.old.iter().map(copy).collect();
                old_keys.push(old);
                Keys { current: copy(&shared.current), old: old_keys }
            }
        };
        Ok(Self { inner: self.inner, keys: Arc::new(keys) })
    }

    /// The store being wrapped, which holds the sealed entries.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The id of the current key.
    pub fn current_key_id(&self) -> &str {
        &self.keys.current.id
    }

    /// Seals again with the current key every entry sealed with an old one, and returns how many
    /// it sealed again.
    ///
    /// Each entry is rewritten with [`TokenStore::update`], so an entry another writer changed
    /// meanwhile is left to that writer, whose write sealed it with its own current key.
    /// An entry that does not open stops the rotation with its error, and is left as it is.
    pub async fn rotate(&self) -> Result<usize> {
        let mut rotated = 0;
        for key in self.inner.keys().await? {
            let Some(sealed) = self.inner.load(&key).await? else { continue };
            if envelope_key_id(sealed.tokens()) == Some(self.keys.current.id.as_str()) {
                continue;
            }
            let Some(record) = self.open_record(&key, sealed)? else { continue };
            match self.update(&key, &record).await {
                Ok(_) => rotated += 1,
                Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rotated)
    }

    /// The token set the inner store is given for `tokens`.
    fn seal(&self, key: &StoreKey, tokens: &TokenSet) -> Result<TokenSet> {
        let current = &self.keys.current;
        let plaintext = Zeroizing::new(
            serde_json::to_vec(tokens)
                .map_err(|_| Error::Encrypt { reason: "the token set could not be serialized".to_owned() })?,
        );
        let nonce = XNonce::try_generate()
            .map_err(|_| Error::Encrypt { reason: "the system's random number generator failed".to_owned() })?;
        let aad = associated_data(&current.id, key);
        let ciphertext = current
            .cipher()
            .encrypt(&nonce, Payload { msg: &plaintext, aad: &aad })
            .map_err(|_| Error::Encrypt { reason: "the cipher refused the token set".to_owned() })?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        let envelope = format!("{ENVELOPE_PREFIX}{}:{}", current.id, URL_SAFE_NO_PAD.encode(&sealed));
        Ok(TokenSet::new(
            AccessToken::new(envelope),
            None,
            tokens.expires_at(),
            tokens.api_domain().cloned(),
            tokens.accounts_server(),
            tokens.scopes().clone(),
        ))
    }

    /// The token set inside the envelope the inner store holds for `key`.
    fn open(&self, key: &StoreKey, sealed: &TokenSet) -> Result<TokenSet> {
        let envelope = sealed.access_token().expose_secret();
        let Some((key_id, payload)) = parse_envelope(envelope) else {
            return Err(Error::NotEncrypted { key: key.clone() });
        };
        let Some(decryption_key) = self.keys.find(key_id) else {
            return Err(Error::UnknownKey { key: key.clone(), key_id: key_id.to_owned() });
        };
        let decrypt_error = || Error::Decrypt { key: key.clone(), key_id: key_id.to_owned() };
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| decrypt_error())?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(decrypt_error());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| decrypt_error())?;
        let aad = associated_data(key_id, key);
        let plaintext = Zeroizing::new(
            decryption_key
                .cipher()
                .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
                .map_err(|_| decrypt_error())?,
        );
        // Authenticated, so only a bug could make this fail; it is reported all the same,
        // without serde's message, which could quote a token.
        serde_json::from_slice(&plaintext).map_err(|_| decrypt_error())
    }

    fn open_record(&self, key: &StoreKey, sealed: Record) -> Result<Option<Record>> {
        let tokens = self.open(key, sealed.tokens())?;
        Ok(Some(Record::stored(tokens, sealed.refresh_state().clone(), sealed.revision())))
    }
}

/// The envelope's key id and payload, or `None` when `text` is not an envelope.
fn parse_envelope(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix(ENVELOPE_PREFIX)?.split_once(':')
}

fn envelope_key_id(sealed: &TokenSet) -> Option<&str> {
    parse_envelope(sealed.access_token().expose_secret()).map(|(id, _)| id)
}

/// What binds an envelope to its place: a label, the key id and every field of the store key,
/// each prefixed by its length so that no two different lists run together the same way.
fn associated_data(key_id: &str, key: &StoreKey) -> Vec<u8> {
    let environment = match key.environment() {
        Environment::Production => "production",
        Environment::Sandbox => "sandbox",
        Environment::Developer => "developer",
    };
    let mut aad = b"zoho-oauth-store envelope v1\0".to_vec();
    for field in [key_id, key.client_id(), key.user(), key.accounts_server(), environment] {
        aad.extend_from_slice(&(field.len() as u64).to_le_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// Prints the inner store and the key ids, never a key or a token.
impl<S: fmt::Debug> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let old: Vec<&str> = self.keys.old.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("current_key", &self.keys.current.id)
            .field("old_keys", &old)
            .finish()
    }
}

impl<S: TokenStore> TokenStore for EncryptedStore<S> {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            match self.inner.load(key).await? {
                Some(sealed) => self.open_record(key, sealed),
                None => Ok(None),
            }
        })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, tokens: &'a TokenSet) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let sealed = self.seal(key, tokens)?;
            self.inner.save(key, &sealed).await
        })
    }

    fn update<'a>(&'a self, key: &'a StoreKey, record: &'a Record) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let sealed = self.seal(key, record.tokens())?;
            let sealed = Record::stored(sealed, record.refresh_state().clone(), record.revision());
            self.inner.update(key, &sealed).await
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool>> {
        self.inner.delete(key)
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoreKey>>> {
        self.inner.keys()
    }

    fn lock<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Box<dyn StoreLock>>> {
        self.inner.lock(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keys_decode_in_every_spelling() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let id = EncryptionKey::from_bytes(bytes).id().to_owned();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        for text in [
            hex.clone(),
            hex.to_uppercase(),
            format!("  {hex}\n"),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            format!("{}\n", URL_SAFE_NO_PAD.encode(bytes)),
        ] {
            assert_eq!(decode_text(text.as_bytes()).unwrap().id(), id, "{text}");
        }
        for bad in ["", "abc", &hex[..62], &STANDARD.encode([1u8; 31]), "not a key at all, not at all!"] {
            assert!(decode_text(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_stable_distinct_and_checked() {
        let a = EncryptionKey::from_bytes([1; 32]);
        assert_eq!(a.id().len(), 16);
        assert_eq!(a.id(), EncryptionKey::from_bytes([1; 32]).id());
        assert_ne!(a.id(), EncryptionKey::from_bytes([2; 32]).id());
        assert_eq!(a.with_id("2025-01_b.c").unwrap().id(), "2025-01_b.c");
        for bad in ["", "a:b", "with space", &"x".repeat(65)] {
            assert!(EncryptionKey::from_bytes([1; 32]).with_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn envelopes_parse() {
        assert_eq!(parse_envelope("zoe1:abc:xyz"), Some(("abc", "xyz")));
        let set = |access: &str, refresh: Option<&str>| {
            zoho_oauth_core::TokenSet::new(
                zoho_oauth_core::AccessToken::new(access),
                refresh.map(zoho_oauth_core::RefreshToken::new),
                chrono::Utc::now(),
                None,
                "https://accounts.zoho.com",
                zoho_oauth_core::Scopes::empty(),
            )
        };
        assert!(is_sealed(&set("zoe1:abc:xyz", None)));
        assert!(!is_sealed(&set("zoe1:abc:xyz", Some("r"))), "an envelope never comes with a refresh token");
        assert!(!is_sealed(&set("1000.plain", None)));
        assert_eq!(parse_envelope("zoe1:abc"), None);
        assert_eq!(parse_envelope("1000.plain-token"), None);
    }
}
