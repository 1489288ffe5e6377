//! Short, masked excerpts of server bodies for error messages.

/// Longest excerpt kept, in characters.
const MAX_CHARS: usize = 120;

/// Shortest run of token-like characters that is masked.
///
/// Zoho's tokens and codes are `1000.` followed by two 32-character hex parts, and other servers'
/// are longer still; words in error pages and JSON keys are shorter.
const MASK_FROM: usize = 16;

/// Returns a short excerpt of `body` that is safe to put in an error message.
///
/// Every run of 16 or more characters that could belong to a token (letters, digits and
/// `-._~+/=`) is replaced by `[masked]`, control characters become spaces, and the result is
/// cut to 120 characters. Masking happens before cutting, so a cut never exposes a token's prefix.
pub fn excerpt(body: &[u8]) -> String {
    excerpt_of(&String::from_utf8_lossy(body))
}

/// Like [`excerpt`], after first removing every value in `known` from the body, whatever its
/// length and in every spelling a server could echo it in: as is, JSON-escaped (with or without
/// `\/` for `/`), and form- or percent-encoded.
pub fn excerpt_masking(body: &[u8], known: &Known<'_>) -> String {
    excerpt_of(&known.mask(&String::from_utf8_lossy(body)))
}

/// The secrets the library knows at one moment (the client secret, the code or refresh token it
/// sent, the tokens it holds), to be removed by value from anything a server says back.
///
/// A request knows up to four secrets, held inline: building one allocates nothing, since it is
/// built for every request and read only when the answer is an error.
#[derive(Default, Clone)]
pub struct Known<'a> {
    inline: [&'a str; 4],
    held: usize,
    more: Vec<&'a str>,
}

impl<'a> Known<'a> {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret; empty values are ignored.
    #[must_use]
    pub fn with(mut self, secret: &'a str) -> Self {
        if secret.is_empty() {
            return self;
        }
        match self.inline.get_mut(self.held) {
            Some(slot) => {
                *slot = secret;
                self.held += 1;
            }
            None => self.more.push(secret),
        }
        self
    }

    fn secrets(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.inline[..self.held].iter().chain(&self.more).copied()
    }

    /// `text` with every spelling of every known secret replaced by `[masked]`.
    pub fn mask(&self, text: &str) -> String {
        let mut spellings: Vec<String> = Vec::new();
        for secret in self.secrets() {
            // Inside the quotes only: a secret ending in a quote keeps its escaped quote.
            let quoted = serde_json::to_string(secret).unwrap_or_default();
            let json = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned();
            let json_slashes = json.replace('/', "\\/");
            let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            let percent = form.replace('+', "%20");
            for spelling in [secret.to_string(), json, json_slashes, form, percent] {
                if !spelling.is_empty() && !spellings.contains(&spelling) {
                    spellings.push(spelling);
                }
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut masked = text.to_owned();
        for spelling in &spellings {
            if masked.contains(spelling.as_str()) {
                masked = masked.replace(spelling.as_str(), "[masked]");
            }
        }
        masked
    }
}

/// Prints how many secrets are known, never them.
impl std::fmt::Debug for Known<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known").field("secrets", &self.secrets().count()).finish()
    }
}

fn excerpt_of(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= MASK_FROM {
            out.push_str("[masked]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "-._~+/=".contains(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut run, &mut out);
    let trimmed = out.trim();
    if trimmed.chars().count() > MAX_CHARS {
        let cut: String = trimmed.chars().take(MAX_CHARS).collect();
        format!("{cut}...")
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_secrets_are_masked_by_value_in_every_spelling() {
        let known = Known::new().with("sh/rt").with("a b\"c").with("x");
        for body in [
            r#"{"error":"bad sh/rt"}"#,
            r#"{"error":"bad sh\/rt"}"#,
            "token=sh%2Frt&other=1",
            r#"{"e":"a b\"c"}"#,
            "a+b%22c",
            "a%20b%22c",
        ] {
            let e = excerpt_masking(body.as_bytes(), &known);
            assert!(!e.contains("sh/rt") && !e.contains("sh\\/rt") && !e.contains("sh%2Frt"), "{body} -> {e}");
            assert!(!e.contains("b\"c") && !e.contains("a+b") && !e.contains("a%20b"), "{body} -> {e}");
            assert!(e.contains("[masked]"), "{body} -> {e}");
        }
        assert_eq!(format!("{known:?}"), "Known { secrets: 3 }");
    }

    #[test]
    fn a_secret_ending_in_a_quote_is_masked_whole_and_many_secrets_are_kept() {
        let known = Known::new().with("one~q\"").with("2").with("3").with("4").with("five~s").with("");
        assert_eq!(format!("{known:?}"), "Known { secrets: 5 }");
        let masked = known.mask(r#"{"e":"one~q\"", "f":"five~s"}"#);
        assert_eq!(masked, r#"{"e":"[masked]", "f":"[masked]"}"#);
    }

    #[test]
    fn masks_tokens_and_keeps_words() {
        let body = br#"{"access_token":"1000.0123456789abcdef0123456789abcdef.fedcba","token_type":"Bearer"}"#;
        let e = excerpt(body);
        assert!(e.contains("access_token"), "{e}");
        assert!(e.contains("[masked]"), "{e}");
        assert!(!e.contains("0123456789abcdef"), "{e}");
        assert_eq!(excerpt(b"<html><body>502 Bad Gateway</body></html>"), "<html><body>502 Bad Gateway</body></html>");
    }

    proptest! {
        #[test]
        fn never_contains_a_token(
            prefix in "[ -~]{0,200}",
            token in "[A-Za-z0-9._~+/=-]{16,80}",
            suffix in "[ -~]{0,200}",
        ) {
            let body = format!("{prefix} {token} {suffix}");
            let e = excerpt(body.as_bytes());
            prop_assert!(!e.contains(&token));
            prop_assert!(e.chars().count() <= MAX_CHARS + 3);
        }
    }
}
