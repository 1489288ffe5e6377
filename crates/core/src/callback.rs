//! The redirect back from the authorization server
//! ([RFC 6749 section 4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2)).

use std::fmt;

use url::Url;

use crate::error::Error;
use crate::secret::{AuthorizationCode, CsrfState};

/// Whether `text` begins with a URL scheme and `://` (RFC 3986 section 3.1), as a full callback
/// URL does and a bare query (whose values may hold `://`, as `accounts-server` does) does not.
fn starts_with_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once("://") else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// `None` when the bytes are not UTF-8: a value is never silently changed into U+FFFD.
fn decode(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|text| text.into_owned())
}

/// The query parameters of a callback, read but not yet checked.
///
/// The `Debug` output shows which parameters were present, never the code or state.
pub struct Callback {
    code: Option<AuthorizationCode>,
    state: Option<CsrfState>,
    error: Option<String>,
    error_description: Option<String>,
    location: Option<String>,
    accounts_server: Option<String>,
    issuer: Option<String>,
}

/// The longest authorization code accepted from a callback, in bytes.
///
/// Zoho's codes are about 70 characters and other servers' a few hundred at most; anything longer
/// is not a code, and would only be sent to the token endpoint with the client secret.
pub const MAX_CODE_BYTES: usize = 2048;

impl Callback {
    /// Reads a callback from the full redirect URL, or from its query string with or without `?`.
    ///
    /// A parameter that appears twice makes the callback malformed (RFC 6749 section 3.1), as does
    /// a `code` that is empty, longer than [`MAX_CODE_BYTES`], or not valid UTF-8 once
    /// percent-decoded. The fragment is never read: a query is only what comes before `#`.
    pub fn parse(callback: &str) -> Result<Self, Error> {
        Self::parse_for(callback, None)
    }

    /// Like [`parse`](Self::parse), and when `callback` is a full URL and `redirect_uri` is given,
    /// its scheme, host, port and path must be the redirect URI's: a callback that arrived
    /// elsewhere is refused. A bare query is still accepted.
    pub fn parse_for(callback: &str, redirect_uri: Option<&Url>) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedCallback { reason };
        let callback = callback.trim();
        let query = if starts_with_scheme(callback) {
            let url = Url::parse(callback).map_err(|_| malformed("the callback URL does not parse"))?;
            if let Some(expected) = redirect_uri {
                let same = url.scheme() == expected.scheme()
                    && url.host_str() == expected.host_str()
                    && url.port_or_known_default() == expected.port_or_known_default()
                    && url.path() == expected.path();
                if !same {
                    return Err(malformed("the callback URL is not the configured redirect URI"));
                }
            }
            // `Url` keeps the fragment apart, so a `?` inside it is never taken for the query.
            url.query().ok_or_else(|| malformed("the callback URL has no query"))?.to_owned()
        } else {
            let before_fragment = callback.split('#').next().unwrap_or_default();
            before_fragment.strip_prefix('?').unwrap_or(before_fragment).to_owned()
        };
        let mut parsed = Callback {
            code: None,
            state: None,
            error: None,
            error_description: None,
            location: None,
            accounts_server: None,
            issuer: None,
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name).ok_or_else(|| malformed("a parameter name is not valid UTF-8"))?;
            let value = decode(value);
            let text = |value: Option<String>| value.ok_or_else(|| malformed("a parameter is not valid UTF-8"));
            let duplicate = match name.as_str() {
                "code" => {
                    let code = value.ok_or_else(|| malformed("the code is not valid UTF-8"))?;
                    if code.is_empty() {
                        return Err(malformed("the code is empty"));
                    }
                    if code.len() > MAX_CODE_BYTES {
                        return Err(malformed("the code is too long to be a code"));
                    }
                    parsed.code.replace(AuthorizationCode::new(code)).is_some()
                }
                "state" => parsed.state.replace(CsrfState::new(text(value)?)).is_some(),
                "error" => parsed.error.replace(text(value)?).is_some(),
                "error_description" => parsed.error_description.replace(text(value)?).is_some(),
                "location" => parsed.location.replace(text(value)?).is_some(),
                "accounts-server" => parsed.accounts_server.replace(text(value)?).is_some(),
                "iss" => parsed.issuer.replace(text(value)?).is_some(),
                _ => false,
            };
            if duplicate {
                return Err(malformed("a parameter appears more than once"));
            }
        }
        Ok(parsed)
    }

    /// The authorization code, if the user consented.
    pub fn code(&self) -> Option<&AuthorizationCode> {
        self.code.as_ref()
    }

    /// Takes the authorization code out of the callback.
    pub fn take_code(&mut self) -> Option<AuthorizationCode> {
        self.code.take()
    }

    /// The `state` parameter.
    pub fn state(&self) -> Option<&CsrfState> {
        self.state.as_ref()
    }

    /// The `error` parameter, e.g. `access_denied`.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The `error_description` parameter.
    pub fn error_description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }

    /// Zoho's `location` parameter, the user's data center (e.g. `eu`).
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The `iss` parameter (RFC 9207): the issuer that sent the response.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Zoho's `accounts-server` parameter: where the code must be exchanged.
    pub fn accounts_server(&self) -> Option<&str> {
        self.accounts_server.as_deref()
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("code", &self.code)
            .field("state", &self.state)
            .field("error", &self.error)
            .field("location", &self.location)
            .field("accounts_server", &self.accounts_server)
            .field("issuer", &self.issuer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zoho_redirect() {
        let cb = Callback::parse(
            "http://127.0.0.1/cb?code=1000.abc&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu&state=xyz",
        )
        .unwrap();
        assert_eq!(cb.code().unwrap().expose_secret(), "1000.abc");
        assert_eq!(cb.state().unwrap().expose_secret(), "xyz");
        assert_eq!(cb.location(), Some("eu"));
        assert_eq!(cb.accounts_server(), Some("https://accounts.zoho.eu"));
        let debug = format!("{cb:?}");
        assert!(!debug.contains("1000.abc") && !debug.contains("xyz"), "{debug}");
    }

    #[test]
    fn reads_bare_query_and_errors() {
        let cb = Callback::parse("?error=access_denied&state=s").unwrap();
        assert_eq!(cb.error(), Some("access_denied"));
        assert!(cb.code().is_none());
        let cb = Callback::parse("code=c&state=s&iss=https%3A%2F%2Fas.example#frag").unwrap();
        assert_eq!(cb.issuer(), Some("https://as.example"));
        assert_eq!(cb.state().unwrap().expose_secret(), "s");
    }

    #[test]
    fn bad_codes_are_refused_before_anything_is_sent() {
        for callback in ["code=&state=s", "code&state=s", "code=%FF%FE&state=s", "code=%C3&state=s"] {
            assert!(matches!(Callback::parse(callback), Err(Error::MalformedCallback { .. })), "{callback}");
        }
        let long = format!("code={}&state=s", "a".repeat(MAX_CODE_BYTES + 1));
        assert!(matches!(Callback::parse(&long), Err(Error::MalformedCallback { .. })));
        let fine = format!("code={}&state=s", "a".repeat(MAX_CODE_BYTES));
        assert!(Callback::parse(&fine).is_ok());
        // Percent-encoded UTF-8 is fine, and `+` is a space.
        let cb = Callback::parse("code=caf%C3%A9+x&state=s").unwrap();
        assert_eq!(cb.code().unwrap().expose_secret(), "caf\u{e9} x");
    }

    #[test]
    fn a_bare_query_may_carry_unencoded_urls() {
        let cb = Callback::parse("code=c&state=s&accounts-server=https://accounts.zoho.eu").unwrap();
        assert_eq!(cb.accounts_server(), Some("https://accounts.zoho.eu"));
        let cb = Callback::parse("?state=s&accounts-server=http://127.0.0.1:9&code=c").unwrap();
        assert_eq!(cb.state().unwrap().expose_secret(), "s");
    }

    #[test]
    fn the_fragment_is_never_read() {
        let error = Callback::parse("https://app.example/callback#x?code=C&state=S").unwrap_err();
        assert!(matches!(error, Error::MalformedCallback { reason: "the callback URL has no query" }), "{error:?}");
        let cb = Callback::parse("https://app.example/callback?state=S#code=C").unwrap();
        assert!(cb.code().is_none());
        let cb = Callback::parse("state=S#&code=C").unwrap();
        assert!(cb.code().is_none());
    }

    #[test]
    fn a_full_callback_must_arrive_at_the_redirect_uri() {
        let redirect = Url::parse("https://app.example/oauth/callback").unwrap();
        let ok = Callback::parse_for("https://app.example:443/oauth/callback?code=c&state=s", Some(&redirect));
        assert!(ok.is_ok());
        for elsewhere in [
            "http://app.example/oauth/callback?code=c&state=s",
            "https://evil.example/oauth/callback?code=c&state=s",
            "https://app.example:8443/oauth/callback?code=c&state=s",
            "https://app.example/oauth/other?code=c&state=s",
        ] {
            assert!(
                matches!(Callback::parse_for(elsewhere, Some(&redirect)), Err(Error::MalformedCallback { .. })),
                "{elsewhere}"
            );
        }
        assert!(Callback::parse_for("code=c&state=s", Some(&redirect)).is_ok(), "a bare query is accepted");
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        assert!(Callback::parse("code=a&code=b&state=s").is_err());
        assert!(Callback::parse("https://host/cb").is_err());
    }
}
