//! OAuth scopes, in Zoho's `Service.scope.OPERATION` form and free-form for other providers.
//!
//! Zoho joins scopes with commas in the authorization request and returns them space-separated
//! in token responses ([RFC 6749 section 3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)
//! asks for spaces); [`Scopes::parse`] accepts both.
//!
//! Scopes a person or a program asks for are checked strictly ([`Scopes::parse`], [`Scope::new`],
//! [`Scopes::zoho`]): a typo is an error, never a scope silently left out of the request.
//! Scopes a server answers with are read leniently ([`Scopes::parse_lenient`]): the granted scopes
//! are informative, and the access token is what matters.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// One scope.
///
/// Build one with [`Scope::zoho`] (validated against Zoho's grammar) or [`Scope::new`]
/// (any RFC 6749 `scope-token`).
///
/// ```
/// use zoho_oauth_core::Scope;
///
/// let zoho = Scope::zoho("ZohoCRM.modules.ALL")?;
/// let openid = Scope::new("openid")?;
/// assert_eq!(zoho.as_str(), "ZohoCRM.modules.ALL");
/// assert_eq!(openid.to_string(), "openid");
/// assert!(Scope::zoho("ZohoCRM.modules.all").is_err()); // the operation is upper case
/// assert!(Scope::new("two words").is_err());
/// # Ok::<(), zoho_oauth_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// A free-form scope, as any RFC 6749 server defines them.
    ///
    /// Fails on an empty string or one holding characters outside RFC 6749's `scope-token`
    /// (spaces, quotes, backslashes, controls) or a comma, which would split it in Zoho's request.
    pub fn new(scope: impl Into<String>) -> Result<Self, Error> {
        let scope = scope.into();
        if scope.is_empty() {
            return Err(Error::InvalidScope { reason: "a scope cannot be empty" });
        }
        let valid = scope.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid || scope.contains(',') {
            return Err(Error::InvalidScope {
                reason: "a scope may hold only visible ASCII characters other than '\"', '\\' and ','",
            });
        }
        Ok(Self(scope))
    }

    /// A Zoho scope such as `ZohoCRM.modules.ALL` or `ZohoCRM.modules.leads.READ`.
    ///
    /// The grammar is `Service.scope[.sub]*.OPERATION`: at least three dot-separated parts,
    /// a service name of letters and digits, scope parts of letters, digits and `_`,
    /// and an upper-case operation such as `ALL`, `READ`, `CREATE`, `UPDATE`, `DELETE`.
    pub fn zoho(scope: impl Into<String>) -> Result<Self, Error> {
        let scope = scope.into();
        let parts: Vec<&str> = scope.split('.').collect();
        if parts.len() < 3 {
            return Err(Error::InvalidScope { reason: "a Zoho scope has the form Service.scope.OPERATION" });
        }
        let service = parts[0];
        let operation = parts[parts.len() - 1];
        let middle = &parts[1..parts.len() - 1];
        if service.is_empty() || !service.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidScope { reason: "a Zoho scope's service name holds only letters and digits" });
        }
        if middle.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
            return Err(Error::InvalidScope { reason: "a Zoho scope's inner parts hold only letters, digits and '_'" });
        }
        if operation.is_empty() || !operation.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidScope {
                reason: "a Zoho scope ends with an upper-case operation such as ALL or READ",
            });
        }
        Ok(Self(scope))
    }

    /// The scope as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// An ordered set of scopes without duplicates.
///
/// ```
/// use zoho_oauth_core::{Scope, Scopes};
///
/// // Zoho scopes, checked against Zoho's grammar.
/// let zoho = Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?;
/// assert_eq!(zoho.join(","), "ZohoCRM.modules.ALL,ZohoCRM.users.READ");
///
/// // Free-form scopes for any RFC 6749 server, from user input: a bad one is an error.
/// let mut generic = Scopes::parse("openid profile")?;
/// generic.insert(Scope::new("offline_access")?);
/// assert_eq!(generic.join(" "), "openid profile offline_access");
/// assert!(Scopes::parse("openid pro\"file").is_err());
///
/// // A server's answer is read leniently: what is not a scope is skipped.
/// assert_eq!(Scopes::parse_lenient("openid pro\"file").join(" "), "openid");
/// # Ok::<(), zoho_oauth_core::Error>(())
/// ```
///
/// Shared: a clone (each renewed token set takes its scopes from the one before) counts a
/// reference rather than copying every scope.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<Vec<Scope>>);

impl Scopes {
    /// No scopes.
    pub fn empty() -> Self {
        Self(Arc::default())
    }

    /// Parses Zoho scopes from strings, validating each with [`Scope::zoho`].
    pub fn zoho<I, S>(scopes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        scopes.into_iter().map(Scope::zoho).collect()
    }

    /// Parses scopes a person or a program asks for, split on commas and on whitespace.
    ///
    /// Every part must be a valid RFC 6749 `scope-token` (see [`Scope::new`]); the first that is
    /// not fails the whole string with [`Error::InvalidScope`], so a typo never silently narrows
    /// the request. Empty parts (doubled separators) are skipped.
    pub fn parse(value: &str) -> Result<Self, Error> {
        split(value).map(Scope::new).collect()
    }

    /// Parses a scope string as a server returns it, split on commas and on whitespace.
    ///
    /// Parts that are not valid RFC 6749 scopes are skipped rather than failing the whole
    /// response: the granted scopes are informative, and the access token is what matters.
    /// Use [`Scopes::parse`] for input that is a request.
    pub fn parse_lenient(value: &str) -> Self {
        split(value).filter_map(|s| Scope::new(s).ok()).collect()
    }

    /// Whether `value`, split as [`parse_lenient`](Self::parse_lenient) splits it, names exactly
    /// these scopes in this order: a renewal's answer usually repeats the scopes held, which are
    /// then kept rather than parsed again.
    ///
    /// Only ASCII separators are recognised here, byte by byte; a string with any other
    /// whitespace is not "spelled" and is parsed instead, which gives the same scopes, slower.
    pub(crate) fn spelled_by(&self, value: &str) -> bool {
        let is_separator = |byte: u8| byte == b',' || byte.is_ascii_whitespace();
        let mut rest = value.as_bytes();
        for scope in self.0.iter() {
            while let [first, tail @ ..] = rest {
                if !is_separator(*first) {
                    break;
                }
                rest = tail;
            }
            let Some(after) = rest.strip_prefix(scope.as_str().as_bytes()) else { return false };
            if after.first().is_some_and(|&byte| !is_separator(byte)) {
                return false;
            }
            rest = after;
        }
        rest.iter().all(|&byte| is_separator(byte))
    }

    /// Adds a scope unless it is already present.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            Arc::make_mut(&mut self.0).push(scope);
        }
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// The scopes, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes joined with `separator`: `","` for Zoho's authorization request, `" "` for RFC 6749.
    pub fn join(&self, separator: &str) -> String {
        let parts: Vec<&str> = self.0.iter().map(Scope::as_str).collect();
        parts.join(separator)
    }
}

/// The non-empty parts of a scope string, split on commas and on whitespace.
fn split(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty())
}

/// Strict, like [`Scopes::parse`].
impl FromStr for Scopes {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut scopes = Vec::new();
        for scope in iter {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Self(Arc::new(scopes))
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// Serialized as one space-separated string, the RFC 6749 wire form.
impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.join(" "))
    }
}

/// Lenient, like [`Scopes::parse_lenient`]: serialized scopes are a server's answer kept in a store.
impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse_lenient(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zoho_grammar() {
        for ok in [
            "ZohoCRM.modules.ALL",
            "ZohoCRM.settings.READ",
            "ZohoCRM.modules.leads.READ",
            "ZohoCRM.settings.custom_views.ALL",
            "aaaserver.profile.READ",
        ] {
            assert!(Scope::zoho(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ZohoCRM",
            "ZohoCRM.ALL",
            "ZohoCRM.modules.all",
            "ZohoCRM..ALL",
            "Zoho CRM.modules.ALL",
            "ZohoCRM.modules.ALL,ZohoCRM.users.ALL",
            "ZohoCRM.mod-ules.ALL",
        ] {
            assert!(Scope::zoho(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_form_scopes() {
        assert!(Scope::new("openid").is_ok());
        assert!(Scope::new("https://example.com/read").is_ok());
        assert!(Scope::new("a b").is_err());
        assert!(Scope::new("a,b").is_err());
        assert!(Scope::new("").is_err());
    }

    #[test]
    fn parses_both_separators() {
        let spaced = Scopes::parse("ZohoCRM.modules.ALL ZohoCRM.users.ALL").unwrap();
        let commas = Scopes::parse("ZohoCRM.modules.ALL,ZohoCRM.users.ALL").unwrap();
        let mixed = Scopes::parse(" ZohoCRM.modules.ALL , ZohoCRM.users.ALL ").unwrap();
        assert_eq!(spaced.len(), 2);
        assert_eq!(spaced, commas);
        assert_eq!(spaced, mixed);
        assert_eq!(commas.join(","), "ZohoCRM.modules.ALL,ZohoCRM.users.ALL");
    }

    #[test]
    fn duplicates_are_dropped() {
        let scopes = Scopes::parse("a b a").unwrap();
        assert_eq!(scopes.join(" "), "a b");
    }

    #[test]
    fn strict_parse_refuses_what_lenient_parse_skips() {
        for bad in ["openid pro\"file", "a\\b", "caf\u{e9}", "read\u{7f}"] {
            assert!(matches!(Scopes::parse(bad), Err(Error::InvalidScope { .. })), "{bad:?}");
            assert!(bad.parse::<Scopes>().is_err(), "{bad:?}");
        }
        assert_eq!(Scopes::parse_lenient("openid pro\"file").join(" "), "openid");
        assert!(Scopes::parse("").unwrap().is_empty());
        assert_eq!(Scopes::parse("a,,b  c").unwrap().join(" "), "a b c");
    }

    #[test]
    fn stored_scopes_are_read_leniently() {
        let scopes: Scopes = serde_json::from_str("\"openid pro\\\"file\"").unwrap();
        assert_eq!(scopes.join(" "), "openid");
    }

    #[test]
    fn held_scopes_are_spelled_in_order_and_in_full() {
        let held = Scopes::parse("ZohoCRM.modules.ALL ZohoCRM.users.READ").unwrap();
        assert!(held.spelled_by("ZohoCRM.modules.ALL,ZohoCRM.users.READ"));
        assert!(!held.spelled_by("ZohoCRM.users.READ ZohoCRM.modules.ALL"));
        assert!(!held.spelled_by("ZohoCRM.modules.ALL"));
        assert!(!held.spelled_by("ZohoCRM.modules.ALL ZohoCRM.users.READ ZohoCRM.org.READ"));
        assert!(!held.spelled_by(""));
        assert!(Scopes::empty().spelled_by(" , "));
        assert!(!held.spelled_by("ZohoCRM.modules.ALLx ZohoCRM.users.READ"));
        // Other whitespace is left to the parse, which reads the same scopes.
        let wide = "ZohoCRM.modules.ALL\u{3000}ZohoCRM.users.READ";
        assert!(!held.spelled_by(wide));
        assert_eq!(Scopes::parse_lenient(wide), held);
    }

    proptest! {
        #[test]
        fn zoho_scopes_round_trip(
            service in "[A-Za-z][A-Za-z0-9]{0,10}",
            parts in proptest::collection::vec("[a-z_][a-z0-9_]{0,8}", 1..3),
            op in "(ALL|READ|CREATE|UPDATE|DELETE)",
            n in 1usize..5,
        ) {
            let name = format!("{service}.{}.{op}", parts.join("."));
            let scope = Scope::zoho(name.clone()).unwrap();
            let scopes: Scopes = std::iter::repeat_n(scope, n).collect();
            prop_assert_eq!(scopes.len(), 1);
            prop_assert_eq!(Scopes::parse(&scopes.join(",")).unwrap(), scopes.clone());
            prop_assert_eq!(Scopes::parse(&scopes.join(" ")).unwrap(), scopes);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let lenient = Scopes::parse_lenient(&s);
            for scope in &lenient {
                prop_assert!(Scope::new(scope.as_str()).is_ok());
            }
            // The strict parse accepts exactly the strings the lenient one reads in full.
            if let Ok(strict) = Scopes::parse(&s) {
                prop_assert_eq!(strict, lenient);
            }
        }

        #[test]
        fn held_scopes_are_kept_only_when_the_answer_spells_them(
            held in proptest::collection::vec("[a-zA-Z.]{1,6}", 0..4),
            answer in "[a-zA-Z., ]{0,20}",
        ) {
            let held: Scopes = held.iter().map(|s| Scope::new(s.as_str()).unwrap()).collect();
            // Keeping the held scopes must give what parsing the answer would give.
            if held.spelled_by(&answer) {
                prop_assert_eq!(Scopes::parse_lenient(&answer), held.clone());
            }
            prop_assert!(held.spelled_by(&held.join(" ")));
            let padded = format!(" ,{}, ", held.join(","));
            prop_assert!(held.spelled_by(&padded));
        }
    }
}
