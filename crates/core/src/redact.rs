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
    let text = String::from_utf8_lossy(body);
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
