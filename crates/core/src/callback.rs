//! The redirect back from the authorization server
//! ([RFC 6749 section 4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2)).

use std::fmt;

use crate::error::Error;
use crate::secret::{AuthorizationCode, CsrfState};

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

impl Callback {
    /// Reads a callback from the full redirect URL, or from its query string with or without `?`.
    ///
    /// A parameter that appears twice makes the callback malformed (RFC 6749 section 3.1).
    pub fn parse(callback: &str) -> Result<Self, Error> {
        let query = match callback.find('?') {
            Some(at) => &callback[at + 1..],
            None if callback.contains("://") => {
                return Err(Error::MalformedCallback { reason: "the callback URL has no query" });
            }
            None => callback,
        };
        // A fragment is not part of the query.
        let query = query.split('#').next().unwrap_or_default();
        let mut parsed = Callback {
            code: None,
            state: None,
            error: None,
            error_description: None,
            location: None,
            accounts_server: None,
            issuer: None,
        };
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let duplicate = match name.as_ref() {
                "code" => parsed.code.replace(AuthorizationCode::new(value.into_owned())).is_some(),
                "state" => parsed.state.replace(CsrfState::new(value.into_owned())).is_some(),
                "error" => parsed.error.replace(value.into_owned()).is_some(),
                "error_description" => parsed.error_description.replace(value.into_owned()).is_some(),
                "location" => parsed.location.replace(value.into_owned()).is_some(),
                "accounts-server" => parsed.accounts_server.replace(value.into_owned()).is_some(),
                "iss" => parsed.issuer.replace(value.into_owned()).is_some(),
                _ => false,
            };
            if duplicate {
                return Err(Error::MalformedCallback { reason: "a parameter appears more than once" });
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
    fn duplicate_parameters_are_refused() {
        assert!(Callback::parse("code=a&code=b&state=s").is_err());
        assert!(Callback::parse("https://host/cb").is_err());
    }
}
