//! The schema name, validated once, and the SQL names derived from it.

use crate::error::{Error, Result};

/// The schema used when none is configured.
pub(crate) const DEFAULT_SCHEMA: &str = "zoho_oauth";

/// A schema name that is safe to put in SQL text.
///
/// The rule is deliberately narrower than PostgreSQL's: lowercase ASCII letters, digits and `_`,
/// starting with a letter or `_`, at most 63 bytes (PostgreSQL's identifier limit), and not
/// starting with `pg_` (reserved for system schemas). Such a name means the same quoted or
/// unquoted, so what people type in `psql` finds what the store created; and it is quoted in
/// every statement anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schema(String);

impl Schema {
    pub(crate) fn new(name: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidSchema { name: name.to_owned(), reason };
        let first = name.chars().next().ok_or_else(|| invalid("it is empty"))?;
        if name.len() > 63 {
            return Err(invalid("it is longer than 63 bytes"));
        }
        if !(first.is_ascii_lowercase() || first == '_') {
            return Err(invalid("it must start with a lowercase ASCII letter or `_`"));
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(invalid("only lowercase ASCII letters, digits and `_` are allowed"));
        }
        if name.starts_with("pg_") {
            return Err(invalid("names starting with `pg_` are reserved for system schemas"));
        }
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The schema as a quoted identifier.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The tokens table, schema-qualified and quoted.
    pub(crate) fn tokens_table(&self) -> String {
        format!("{}.tokens", self.quoted())
    }

    /// The revision sequence as a `regclass` literal, for `nextval`.
    pub(crate) fn revisions_sequence(&self) -> String {
        format!("'{}.token_revisions'", self.quoted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_lowercase_names() {
        for name in ["zoho_oauth", "_private", "tenant42", "a"] {
            assert_eq!(Schema::new(name).expect("valid").as_str(), name);
        }
        assert!(Schema::new(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn refuses_anything_that_would_need_quoting_or_could_inject() {
        for name in [
            "",
            "Zoho",
            "1abc",
            "zoho-oauth",
            "zoho oauth",
            "x\"; DROP TABLE users; --",
            "x'y",
            "pg_catalog",
            "naïve",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(matches!(Schema::new(name), Err(Error::InvalidSchema { .. })), "{name:?} must be refused");
        }
    }

    #[test]
    fn names_are_quoted_in_sql() {
        let schema = Schema::new("tenant").expect("valid");
        assert_eq!(schema.tokens_table(), "\"tenant\".tokens");
        assert_eq!(schema.revisions_sequence(), "'\"tenant\".token_revisions'");
    }
}
