//! The on-disk format of the file backend: parsing with typed errors, and writing.
//!
//! The crate docs' FORMAT section describes the format for people; this module is its definition.
//!
//! Every save rewrites the whole file, so reading and writing it must be cheap even with many keys.
//! A parse therefore decodes only the keys and keeps each entry's token set and timestamp as the
//! JSON text found in the file; a token set is decoded only when its key is loaded, and is copied
//! through unchanged when another key is saved. The writer reproduces `serde_json`'s pretty layout
//! exactly (a test checks it byte for byte), so copied and freshly written entries look alike.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use zoho_oauth_core::TokenSet;

use crate::record::{Record, RefreshState};

use crate::error::{Error, Result};
use crate::key::StoreKey;

/// The format version this crate writes.
///
/// A change that an older reader could misread or silently drop (a new field included) bumps it;
/// a newer reader keeps a parser for every older version and migrates on its next write.
/// Version 2 added each entry's `revision` and `refresh` state; version 1 files are read with
/// revision 1 and no refresh state, and written back as version 2.
pub(crate) const CURRENT_VERSION: u64 = 2;

/// The oldest format version this crate reads.
const OLDEST_VERSION: u64 = 1;

/// Indentation of an entry's fields (depth 3 in the pretty layout).
const FIELD_INDENT: &str = "      ";

/// A parsed token file, borrowing the entries' undecoded parts from the file's bytes.
#[derive(Default)]
pub(crate) struct Document<'a> {
    /// Sorted by key, without duplicates.
    entries: Vec<Entry<'a>>,
}

/// One stored token set. Deliberately not `Debug`: it holds tokens in clear.
struct Entry<'a> {
    key: StoreKey,
    /// The key's JSON text, laid out for its place in the file.
    key_text: Cow<'a, str>,
    /// The token set's JSON text, laid out for its place in the file.
    tokens: Cow<'a, str>,
    /// The refresh state's JSON text, laid out for its place in the file, when there is one.
    refresh: Option<Cow<'a, str>>,
    /// The entry's revision, for compare-and-swap.
    revision: u64,
    /// The `saved_at` timestamp's JSON text. For people reading the file: the store does not use it.
    saved_at: Cow<'a, str>,
}

/// Versions 1 and 2 as they are read (version 1 has neither `refresh` nor `revision`).
#[derive(Deserialize)]
struct RawDocument<'a> {
    version: u64,
    #[serde(borrow)]
    tokens: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    key: &'a RawValue,
    #[serde(borrow)]
    tokens: &'a RawValue,
    #[serde(borrow, default)]
    refresh: Option<&'a RawValue>,
    #[serde(default)]
    revision: Option<u64>,
    #[serde(borrow)]
    saved_at: &'a RawValue,
}

/// Just the version, read when the file did not parse as the current version, so that a newer
/// file is reported as such instead of as a parse error in some field the newer version added.
#[derive(Deserialize)]
struct VersionProbe {
    version: serde_json::Value,
}

/// Prints the keys only: the entries hold tokens in clear.
impl fmt::Debug for Document<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document").field("keys", &self.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl<'a> Document<'a> {
    /// Parses a token file's bytes. `path` is only for the errors.
    pub(crate) fn parse(path: &Path, bytes: &'a [u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt { path: path.to_owned(), reason };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(corrupt("the file is empty".to_owned()));
        }
        // The whole file is parsed once on the happy path; the version is probed separately
        // only when that fails, to tell a newer format from a damaged file.
        let raw: RawDocument<'a> = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            Err(error) => {
                return Err(match probe_version(bytes) {
                    Ok(version) if !(OLDEST_VERSION..=CURRENT_VERSION).contains(&version) => {
                        Error::UnsupportedVersion { path: path.to_owned(), version }
                    }
                    Ok(version) => corrupt(describe(&error, &format!("format version {version}"))),
                    Err(reason) => corrupt(reason),
                });
            }
        };
        if !(OLDEST_VERSION..=CURRENT_VERSION).contains(&raw.version) {
            return Err(Error::UnsupportedVersion { path: path.to_owned(), version: raw.version });
        }
        let mut entries = Vec::with_capacity(raw.tokens.len());
        for (index, e) in raw.tokens.into_iter().enumerate() {
            // The key is decoded from its own text so that the text can be written back as it is.
            let key = serde_json::from_str(e.key.get()).map_err(|error| {
                corrupt(format!("the `key` of entry {} (counting from 1): {}", index + 1, describe(&error, "a key")))
            })?;
            entries.push(Entry {
                key,
                key_text: Cow::Borrowed(e.key.get()),
                tokens: Cow::Borrowed(e.tokens.get()),
                // A `null` refresh state is no refresh state.
                refresh: e.refresh.map(RawValue::get).filter(|text| *text != "null").map(Cow::Borrowed),
                revision: e.revision.unwrap_or(1),
                saved_at: Cow::Borrowed(e.saved_at.get()),
            });
        }
        // A file edited by hand may be out of order; lookups rely on the order.
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        if entries.windows(2).any(|pair| pair[0].key == pair[1].key) {
            // Picking one of two entries for the same key could pick a revoked refresh token
            // and lose the live one, so a person has to choose.
            return Err(corrupt("two entries have the same key".to_owned()));
        }
        Ok(Self { entries })
    }

    /// The keys, in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &StoreKey> {
        self.entries.iter().map(|e| &e.key)
    }

    fn position(&self, key: &StoreKey) -> std::result::Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.cmp(key))
    }

    /// The revision of the entry for `key`, or 0 when there is none.
    pub(crate) fn revision(&self, key: &StoreKey) -> u64 {
        self.position(key).map_or(0, |index| self.entries[index].revision)
    }

    /// Decodes the record stored under `key`. `path` is only for the errors.
    pub(crate) fn get(&self, path: &Path, key: &StoreKey) -> Result<Option<Record>> {
        let Ok(index) = self.position(key) else {
            return Ok(None);
        };
        let entry = &self.entries[index];
        let corrupt = |field: &str, expected: &str, e: &serde_json::Error| Error::Corrupt {
            path: path.to_owned(),
            reason: format!(
                "the `{field}` of entry {} (counting from 1, in key order) do not form {expected}: {}",
                index + 1,
                describe(e, expected),
            ),
        };
        let tokens: TokenSet = serde_json::from_str(&entry.tokens).map_err(|e| corrupt("tokens", "a token set", &e))?;
        let refresh: RefreshState = match &entry.refresh {
            Some(text) => serde_json::from_str(text).map_err(|e| corrupt("refresh", "a refresh state", &e))?,
            None => RefreshState::default(),
        };
        Ok(Some(Record::stored(tokens, refresh, entry.revision)))
    }

    /// Inserts or replaces the entry for `key` at `revision`, stamped with `now`.
    pub(crate) fn upsert(
        &mut self,
        key: &StoreKey,
        tokens: &TokenSet,
        refresh: &RefreshState,
        revision: u64,
        now: DateTime<Utc>,
    ) -> serde_json::Result<()> {
        let refresh =
            if refresh.is_clear() { None } else { Some(Cow::Owned(indent(&serde_json::to_string_pretty(refresh)?))) };
        let entry = Entry {
            key: key.clone(),
            key_text: Cow::Owned(indent(&serde_json::to_string_pretty(key)?)),
            tokens: Cow::Owned(indent(&serde_json::to_string_pretty(tokens)?)),
            refresh,
            revision,
            saved_at: Cow::Owned(serde_json::to_string(&now)?),
        };
        match self.position(key) {
            Ok(index) => self.entries[index] = entry,
            Err(index) => self.entries.insert(index, entry),
        }
        Ok(())
    }

    /// Removes the entry for `key`, returning whether there was one.
    pub(crate) fn remove(&mut self, key: &StoreKey) -> bool {
        match self.position(key) {
            Ok(index) => {
                self.entries.remove(index);
                true
            }
            Err(_) => false,
        }
    }

    /// The file's bytes: the current version, in `serde_json`'s pretty layout, entries sorted by
    /// key, ending in a newline, so that the file reads well and diffs well.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .entries
            .iter()
            .map(|e| {
                e.key_text.len() + e.tokens.len() + e.refresh.as_ref().map_or(0, |r| r.len()) + e.saved_at.len() + 96
            })
            .sum();
        let mut out = String::with_capacity(size + 64);
        out.push_str("{\n  \"version\": ");
        out.push_str(&CURRENT_VERSION.to_string());
        out.push_str(",\n  \"tokens\": [");
        for (i, entry) in self.entries.iter().enumerate() {
            out.push_str(if i == 0 { "\n    {\n" } else { ",\n    {\n" });
            out.push_str(FIELD_INDENT);
            out.push_str("\"key\": ");
            out.push_str(&entry.key_text);
            out.push_str(",\n");
            out.push_str(FIELD_INDENT);
            out.push_str("\"tokens\": ");
            out.push_str(&entry.tokens);
            out.push_str(",\n");
            if let Some(refresh) = &entry.refresh {
                out.push_str(FIELD_INDENT);
                out.push_str("\"refresh\": ");
                out.push_str(refresh);
                out.push_str(",\n");
            }
            out.push_str(FIELD_INDENT);
            out.push_str("\"revision\": ");
            out.push_str(&entry.revision.to_string());
            out.push_str(",\n");
            out.push_str(FIELD_INDENT);
            out.push_str("\"saved_at\": ");
            out.push_str(&entry.saved_at);
            out.push_str("\n    }");
        }
        if !self.entries.is_empty() {
            out.push_str("\n  ");
        }
        out.push_str("]\n}\n");
        out.into_bytes()
    }
}

/// Indents pretty JSON text for an entry's field: every line after the first moves right by
/// [`FIELD_INDENT`]. Inserting after each newline is safe because JSON text never holds a raw
/// newline inside a string.
fn indent(pretty: &str) -> String {
    pretty.replace('\n', &format!("\n{FIELD_INDENT}"))
}

/// Reads just the `version` field of a file that did not parse as the current version.
fn probe_version(bytes: &[u8]) -> Result<u64, String> {
    let probe: VersionProbe =
        serde_json::from_slice(bytes).map_err(|e| describe(&e, "a JSON object with a `version` field"))?;
    probe.version.as_u64().ok_or_else(|| "the `version` field is not a non-negative integer".to_owned())
}

/// Describes a parse error by its kind and position only.
///
/// serde_json's own messages can quote the offending value, which may be a token,
/// so they are never shown.
fn describe(error: &serde_json::Error, expected: &str) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Syntax => "it is not valid JSON".to_owned(),
        Category::Eof => "it ends in the middle of a JSON value".to_owned(),
        Category::Data => format!("it does not match {expected}"),
        Category::Io => "it could not be read".to_owned(),
    };
    format!("{what} (near line {} column {})", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde::Serialize;
    use zoho_oauth_core::{AccessToken, Environment, RefreshToken, Scopes};

    fn parse(text: &str) -> Result<Document<'_>> {
        Document::parse(Path::new("/tmp/t.json"), text.as_bytes())
    }

    fn key(user: &str) -> StoreKey {
        StoreKey::new("1000.C", user, "https://accounts.zoho.com", Environment::Sandbox)
    }

    fn tokens(access: &str) -> TokenSet {
        TokenSet::new(
            AccessToken::new(access),
            Some(RefreshToken::new("r\n\"quoted\"")),
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            Some("https://www.zohoapis.com".parse().unwrap()),
            "https://accounts.zoho.com",
            Scopes::parse_lenient("ZohoCRM.modules.ALL ZohoCRM.users.READ"),
        )
    }

    /// The same document as plain serde types, to compare the hand-written layout against.
    #[derive(Serialize)]
    struct Typed {
        version: u64,
        tokens: Vec<TypedEntry>,
    }

    #[derive(Serialize)]
    struct TypedEntry {
        key: StoreKey,
        tokens: TokenSet,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh: Option<RefreshState>,
        revision: u64,
        saved_at: DateTime<Utc>,
    }

    fn some_state() -> RefreshState {
        RefreshState {
            failures: 2,
            retry_at: Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 5, 0).unwrap()),
            last_failure: Some(crate::FailureRecord {
                kind: crate::FailureKind::RateLimited,
                code: Some("Access Denied".to_owned()),
                at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            }),
            renewed_at: None,
        }
    }

    #[test]
    fn layout_is_serde_json_pretty_byte_for_byte() {
        let now = Utc.with_ymd_and_hms(2025, 5, 6, 7, 8, 9).unwrap();
        for n in 0u64..4 {
            let mut document = Document::default();
            let mut typed = Typed { version: CURRENT_VERSION, tokens: Vec::new() };
            for i in (0..n).rev() {
                let user = format!("user {i} \u{e9}\t");
                // Every other entry carries a refresh state, so both layouts are checked.
                let state = if i % 2 == 0 { RefreshState::default() } else { some_state() };
                document.upsert(&key(&user), &tokens(&format!("a{i}")), &state, i + 7, now).unwrap();
                typed.tokens.insert(
                    0,
                    TypedEntry {
                        key: key(&user),
                        tokens: tokens(&format!("a{i}")),
                        refresh: (!state.is_clear()).then_some(state),
                        revision: i + 7,
                        saved_at: now,
                    },
                );
            }
            let mut expected = serde_json::to_vec_pretty(&typed).unwrap();
            expected.push(b'\n');
            let written = document.encode();
            assert_eq!(String::from_utf8(written.clone()).unwrap(), String::from_utf8(expected).unwrap());

            // Entries copied through from a parsed file come out unchanged.
            let reparsed = Document::parse(Path::new("t"), &written).unwrap();
            assert_eq!(reparsed.encode(), written);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the strings hold, the hand-written layout is serde_json's and parses back.
        #[test]
        fn layout_holds_for_any_text(user in "(?s).{0,16}", access in "(?s).{0,16}", refresh in "(?s).{0,16}") {
            let now = Utc.with_ymd_and_hms(2025, 5, 6, 7, 8, 9).unwrap();
            let tokens = TokenSet::new(
                AccessToken::new(access),
                Some(RefreshToken::new(refresh)),
                now,
                None,
                "https://accounts.zoho.com",
                Scopes::empty(),
            );
            let mut document = Document::default();
            document.upsert(&key(&user), &tokens, &RefreshState::default(), 1, now).unwrap();
            let typed = Typed {
                version: CURRENT_VERSION,
                tokens: vec![TypedEntry { key: key(&user), tokens: tokens.clone(), refresh: None, revision: 1, saved_at: now }],
            };
            let mut expected = serde_json::to_vec_pretty(&typed).unwrap();
            expected.push(b'\n');
            let written = document.encode();
            proptest::prop_assert_eq!(&written, &expected);
            let reparsed = Document::parse(Path::new("t"), &written).unwrap();
            let loaded = reparsed.get(Path::new("t"), &key(&user)).unwrap().unwrap().into_tokens();
            proptest::prop_assert_eq!(serde_json::to_value(&loaded).unwrap(), serde_json::to_value(&tokens).unwrap());
        }
    }

    #[test]
    fn upsert_remove_get_keep_order() {
        let now = Utc::now();
        let mut document = Document::default();
        for user in ["b", "c", "a"] {
            document.upsert(&key(user), &tokens(user), &RefreshState::default(), 1, now).unwrap();
        }
        document.upsert(&key("b"), &tokens("b2"), &some_state(), 2, now).unwrap();
        let keys: Vec<&str> = document.keys().map(StoreKey::user).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let path = Path::new("t");
        let b = document.get(path, &key("b")).unwrap().unwrap();
        assert_eq!(b.tokens().access_token().expose_secret(), "b2");
        assert_eq!(b.refresh_state(), &some_state());
        assert_eq!(b.revision(), 2);
        assert_eq!(document.revision(&key("b")), 2);
        assert_eq!(document.revision(&key("z")), 0);
        assert!(document.remove(&key("b")));
        assert!(!document.remove(&key("b")));
        assert!(document.get(path, &key("b")).unwrap().is_none());
    }

    #[test]
    fn unsorted_file_is_read_in_order() {
        let now = Utc::now();
        let mut document = Document::default();
        document.upsert(&key("a"), &tokens("a"), &RefreshState::default(), 1, now).unwrap();
        document.upsert(&key("b"), &tokens("b"), &RefreshState::default(), 1, now).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&document.encode()).unwrap();
        value["tokens"].as_array_mut().unwrap().reverse();
        let text = serde_json::to_string(&value).unwrap();
        let parsed = parse(&text).unwrap();
        let keys: Vec<&str> = parsed.keys().map(StoreKey::user).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(parsed.get(Path::new("t"), &key("b")).unwrap().is_some());
    }

    #[test]
    fn errors_never_quote_the_file() {
        let secret = "1000.secretsecret.secret";
        let cases = [
            format!(r#"{{"version":1,"tokens":[{{"key":"{secret}"}}]}}"#),
            format!(r#"{{"version":"{secret}","tokens":[]}}"#),
            format!(r#"{{"version":1,"tokens":[{{"key":{{}},"tokens":{{"access_token":"{secret}"}}}}]"#),
            format!(r#"{{"version":1,"tokens":{secret}}}"#),
            secret.to_owned(),
            format!(r#"{{"tokens":"{secret}"}}"#),
        ];
        for text in cases {
            let error = parse(&text).unwrap_err();
            assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
            assert!(!error.to_string().contains("secret"), "{error}");
            assert!(!format!("{error:?}").contains("secret"), "{error:?}");
        }
    }

    #[test]
    fn damaged_token_set_is_reported_when_loaded_and_kept_otherwise() {
        let secret = "1000.secretsecret.secret";
        let text = format!(
            r#"{{"version":1,"tokens":[{{"key":{},"tokens":{{"access_token":{{"oops":"{secret}"}}}},"saved_at":"x"}}]}}"#,
            serde_json::to_string(&key("a")).unwrap()
        );
        let mut document = parse(&text).unwrap();
        let error = document.get(Path::new("t"), &key("a")).unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
        assert!(!format!("{error} {error:?}").contains("secret"), "{error}");
        // Saving another key copies the damaged entry through untouched.
        document.upsert(&key("b"), &tokens("b"), &RefreshState::default(), 1, Utc::now()).unwrap();
        let written = String::from_utf8(document.encode()).unwrap();
        assert!(written.contains(&format!(r#"{{"access_token":{{"oops":"{secret}"}}}}"#)));
    }

    #[test]
    fn version_is_checked_before_the_rest() {
        let error = parse(r#"{"version":3,"tokens":"a shape version 2 does not know"}"#).unwrap_err();
        assert!(matches!(error, Error::UnsupportedVersion { version: 3, .. }), "{error:?}");
        let error = parse(r#"{"version":0,"tokens":[]}"#).unwrap_err();
        assert!(matches!(error, Error::UnsupportedVersion { version: 0, .. }), "{error:?}");
        let error = parse(r#"{"version":-1,"tokens":[]}"#).unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
    }

    #[test]
    fn version_1_files_are_read_and_written_back_as_version_2() {
        let v1 = format!(
            r#"{{"version":1,"tokens":[{{"key":{},"tokens":{},"saved_at":"2025-01-01T00:00:00Z"}}]}}"#,
            serde_json::to_string(&key("a")).unwrap(),
            serde_json::to_string(&tokens("a")).unwrap(),
        );
        let document = parse(&v1).unwrap();
        let record = document.get(Path::new("t"), &key("a")).unwrap().unwrap();
        assert_eq!(record.revision(), 1);
        assert!(record.refresh_state().is_clear());
        let written = String::from_utf8(document.encode()).unwrap();
        assert!(written.starts_with("{\n  \"version\": 2,"), "{written}");
        assert!(written.contains("\"revision\": 1,"), "{written}");
    }

    #[test]
    fn empty_file_is_corrupt() {
        assert!(matches!(parse(""), Err(Error::Corrupt { .. })));
        assert!(matches!(parse("\n "), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn empty_document_round_trips() {
        let bytes = Document::default().encode();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), "{\n  \"version\": 2,\n  \"tokens\": []\n}\n");
        assert_eq!(Document::parse(Path::new("t"), &bytes).unwrap().keys().count(), 0);
    }
}
