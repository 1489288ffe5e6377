//! Token-endpoint responses and the token set the flow keeps.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::scope::Scopes;
use crate::secret::{AccessToken, RefreshToken};

/// The lifetime assumed when a response carries no `expires_in`: Zoho's access tokens live one hour.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(1);

/// A successful token response ([RFC 6749 section 5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1)),
/// read as leniently as Zoho's variants require.
///
/// It is built by [`dialect::read_token_answer`](crate::dialect::read_token_answer) from one
/// parse of the body. It tolerates:
/// - the legacy variant with `expires_in_sec`, where `expires_in` is then in milliseconds;
/// - a missing `expires_in` (the caller falls back to [`DEFAULT_ACCESS_TOKEN_LIFETIME`]);
/// - numbers sent as strings;
/// - a missing `token_type` (Bearer is assumed);
/// - `scope` separated by spaces or commas.
///
/// `Debug` redacts the tokens.
#[derive(Debug)]
pub struct TokenResponse {
    pub(crate) access_token: AccessToken,
    pub(crate) token_type: Option<String>,
    pub(crate) lifetime_seconds: Option<u64>,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) api_domain: Option<String>,
    pub(crate) scope: Option<String>,
}

impl TokenResponse {
    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The refresh token, when the server sent a non-blank one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// The `token_type` as sent (Bearer when absent).
    pub fn token_type(&self) -> &str {
        self.token_type.as_deref().unwrap_or("Bearer")
    }

    /// The API domain the server returned, e.g. `https://www.zohoapis.eu`.
    pub fn api_domain(&self) -> Option<&str> {
        self.api_domain.as_deref()
    }

    /// The access-token lifetime in seconds, whichever variant the server used.
    pub fn lifetime_seconds(&self) -> Option<u64> {
        self.lifetime_seconds
    }

    /// The granted scopes as sent, if the server listed them.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

pub(crate) fn lenient_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct Seconds;

    impl<'de> Visitor<'de> for Seconds {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative number of seconds, as a number or a string")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            // A negative lifetime means "already expired".
            Ok(Some(u64::try_from(v).unwrap_or(0)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() {
                // Saturating float-to-int conversion is what we want for an out-of-range lifetime.
                Ok(Some(v.max(0.0) as u64))
            } else {
                Err(E::custom("lifetime is not a finite number"))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            if let Ok(n) = v.parse::<u64>() {
                return Ok(Some(n));
            }
            v.parse::<f64>().map_err(|_| E::custom("lifetime string is not a number")).and_then(|f| self.visit_f64(f))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<E: Deserializer<'de>>(self, d: E) -> Result<Self::Value, E::Error> {
            d.deserialize_any(self)
        }
    }

    deserializer.deserialize_any(Seconds)
}

/// The tokens one authorization holds: what the flow keeps and a token store persists.
///
/// Expiry is absolute (`expires_at`), so a stored set stays meaningful after a restart.
/// `Debug` redacts the tokens; serializing writes them in clear, for storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    expires_at: DateTime<Utc>,
    // The API domain, the accounts server and the scopes are shared with the set this one renews
    // (as are the secrets, which wipe themselves when the last holder drops them), so a renewal
    // copies none of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_domain: Option<Arc<Url>>,
    accounts_server: Arc<str>,
    #[serde(default)]
    scopes: Scopes,
    /// How a new access token is obtained; absent (a refresh token) in sets written before it existed.
    #[serde(default, skip_serializing_if = "Renewal::is_refresh_token")]
    renewal: Renewal,
}

/// How a token set's access token is renewed when it expires.
///
/// It is kept in the token set, and so in every store, because a session restored after a restart
/// must renew the way it was obtained: a client-credentials grant has no refresh token, and asks
/// again with the same scopes (the set's) and org (`soid`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "grant", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Renewal {
    /// With the refresh token (RFC 6749 section 6): codes, self clients and the device flow.
    #[default]
    RefreshToken,
    /// By asking again with the client's own credentials
    /// ([RFC 6749 section 4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)), for Zoho with
    /// the org `soid` (`ZohoCRM.<org id>`) when one was given.
    ClientCredentials {
        /// Zoho's `soid`, `{service}.{org id}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        soid: Option<String>,
    },
}

impl Renewal {
    /// Whether renewal uses the refresh token (the default).
    pub fn is_refresh_token(&self) -> bool {
        *self == Renewal::RefreshToken
    }
}

impl TokenSet {
    /// A token set from its parts.
    pub fn new(
        access_token: AccessToken,
        refresh_token: Option<RefreshToken>,
        expires_at: DateTime<Utc>,
        api_domain: Option<Url>,
        accounts_server: impl Into<String>,
        scopes: Scopes,
    ) -> Self {
        Self {
            access_token,
            refresh_token,
            expires_at,
            api_domain: api_domain.map(Arc::new),
            accounts_server: Arc::from(accounts_server.into()),
            scopes,
            renewal: Renewal::RefreshToken,
        }
    }

    /// The same set, renewed as `renewal` says.
    pub fn with_renewal(mut self, renewal: Renewal) -> Self {
        self.renewal = renewal;
        self
    }

    /// How the access token is renewed.
    pub fn renewal(&self) -> &Renewal {
        &self.renewal
    }

    /// Builds a token set from a fresh token response received at `now` from `accounts_server`.
    ///
    /// `fallback_api_domain` is used when the response names none; `requested` scopes are used when
    /// the response does not list the granted ones. A refresh response without a refresh token keeps
    /// `previous_refresh_token`; one with a new token (rotation) replaces it.
    pub fn from_response(
        response: TokenResponse,
        now: DateTime<Utc>,
        accounts_server: impl Into<String>,
        fallback_api_domain: Option<&Url>,
        requested: &Scopes,
        previous_refresh_token: Option<RefreshToken>,
    ) -> Self {
        let api_domain = match (response.api_domain.as_deref(), fallback_api_domain) {
            (Some(named), Some(held)) if names_the_same_url(named, held) => Some(Arc::new(held.clone())),
            (named, held) => read_api_domain(named).or_else(|| held.cloned().map(Arc::new)),
        };
        let accounts_server = Arc::from(accounts_server.into());
        let parts =
            Parts { accounts_server, api_domain, requested, previous_refresh_token, renewal: Renewal::RefreshToken };
        Self::assemble(response, now, parts)
    }

    /// The set that replaces this one after a renewal answered with `response` at `now`: the same
    /// grant (accounts server, renewal, and the refresh token unless the server sent a new one),
    /// with this set's API domain and scopes wherever the answer names none.
    ///
    /// What the answer repeats is kept from this set rather than read again, so a renewal copies
    /// nothing but the new access token.
    pub fn renewed(&self, response: TokenResponse, now: DateTime<Utc>) -> Self {
        let api_domain = match (response.api_domain.as_deref(), &self.api_domain) {
            // The usual answer names the API domain already held: no need to parse it again.
            (Some(named), Some(held)) if names_the_same_url(named, held) => Some(held.clone()),
            (named, held) => read_api_domain(named).or_else(|| held.clone()),
        };
        let parts = Parts {
            accounts_server: self.accounts_server.clone(),
            api_domain,
            requested: &self.scopes,
            previous_refresh_token: self.refresh_token.clone(),
            renewal: self.renewal.clone(),
        };
        Self::assemble(response, now, parts)
    }

    fn assemble(response: TokenResponse, now: DateTime<Utc>, parts: Parts<'_>) -> Self {
        let lifetime = response
            .lifetime_seconds
            .and_then(|s| i64::try_from(s).ok())
            .and_then(Duration::try_seconds)
            .unwrap_or(DEFAULT_ACCESS_TOKEN_LIFETIME);
        let expires_at = now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let scopes = match &response.scope {
            Some(granted) if parts.requested.spelled_by(granted) => parts.requested.clone(),
            // Granted scopes are informative: the lenient parse keeps what it can read.
            Some(granted) => Scopes::parse_lenient(granted),
            None => parts.requested.clone(),
        };
        // A blank refresh token is no refresh token: the held one stays (RFC 6749 section 6
        // lets the server keep the old one, and a blank value cannot be a new one).
        let refresh_token = response.refresh_token.or(parts.previous_refresh_token);
        Self {
            access_token: response.access_token,
            refresh_token,
            expires_at,
            api_domain: parts.api_domain,
            accounts_server: parts.accounts_server,
            scopes,
            renewal: parts.renewal,
        }
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The refresh token, if the grant included one (`access_type=offline`).
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// When the access token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The API domain to call with this token, e.g. `https://www.zohoapis.eu`.
    pub fn api_domain(&self) -> Option<&Url> {
        self.api_domain.as_deref()
    }

    /// The accounts server that issued the tokens; refreshes and revocation go there.
    pub fn accounts_server(&self) -> &str {
        &self.accounts_server
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Whether the access token is still good at `now` with `margin` to spare.
    pub fn is_fresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        now.checked_add_signed(margin).is_some_and(|t| t < self.expires_at)
    }
}

/// Whether `named` is the text `held` serializes to, with or without the path `/` that a URL with
/// an `http` or `https` scheme always has: parsing `named` would then give `held` again.
/// What a token set takes from the grant rather than from the answer.
struct Parts<'a> {
    accounts_server: Arc<str>,
    api_domain: Option<Arc<Url>>,
    requested: &'a Scopes,
    previous_refresh_token: Option<RefreshToken>,
    renewal: Renewal,
}

/// An API domain an answer names, if it is an `http` or `https` URL.
fn read_api_domain(named: Option<&str>) -> Option<Arc<Url>> {
    named.and_then(|d| Url::parse(d).ok()).filter(|u| matches!(u.scheme(), "http" | "https")).map(Arc::new)
}

fn names_the_same_url(named: &str, held: &Url) -> bool {
    matches!(held.scheme(), "http" | "https")
        && (held.as_str() == named || (held.path() == "/" && held.as_str().strip_suffix('/') == Some(named)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> TokenResponse {
        let response = http::Response::builder().status(200).body(json.as_bytes().to_vec()).unwrap();
        crate::dialect::read_token_answer(crate::Dialect::Zoho, &response).unwrap()
    }

    #[test]
    fn a_named_api_domain_is_read_as_a_parse_would_read_it() {
        let held = Url::parse("https://www.zohoapis.eu").unwrap();
        let other = Url::parse("https://www.zohoapis.com/").unwrap();
        for named in [
            "https://www.zohoapis.eu",
            "https://www.zohoapis.eu/",
            "https://WWW.zohoapis.eu",
            "https://www.zohoapis.eu:443",
            "https://www.zohoapis.eu/x",
            "http://www.zohoapis.eu",
            "ftp://www.zohoapis.eu",
            "not a url",
        ] {
            for fallback in [&held, &other] {
                let parsed = Url::parse(named).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
                let expected = parsed.unwrap_or_else(|| fallback.clone());
                let json = format!(r#"{{"access_token":"x","api_domain":"{named}"}}"#);
                let set =
                    TokenSet::from_response(parse(&json), Utc::now(), "a", Some(fallback), &Scopes::empty(), None);
                assert_eq!(set.api_domain(), Some(&expected), "{named} with {fallback} held");
                assert_eq!(set.renewed(parse(&json), Utc::now()).api_domain(), Some(&expected), "{named} renewed");
            }
        }
    }

    #[test]
    fn a_renewed_set_keeps_the_grant_and_takes_the_answer() {
        let now = Utc::now();
        let scopes = Scopes::parse("ZohoCRM.modules.ALL").unwrap();
        let api = Url::parse("https://www.zohoapis.eu").unwrap();
        let renewal = Renewal::ClientCredentials { soid: Some("ZohoCRM.1".to_owned()) };
        let held = TokenSet::new(
            AccessToken::new("old"),
            Some(RefreshToken::new("refresh")),
            now,
            Some(api.clone()),
            "https://accounts.zoho.eu",
            scopes.clone(),
        )
        .with_renewal(renewal.clone());
        let renewed = held.renewed(parse(r#"{"access_token":"new","expires_in":3600}"#), now);
        assert_eq!(renewed.access_token().expose_secret(), "new");
        assert_eq!(renewed.refresh_token().map(RefreshToken::expose_secret), Some("refresh"));
        assert_eq!(renewed.expires_at(), now + Duration::hours(1));
        assert_eq!(renewed.api_domain(), Some(&api));
        assert_eq!(renewed.accounts_server(), "https://accounts.zoho.eu");
        assert_eq!(renewed.scopes(), &scopes);
        assert_eq!(renewed.renewal(), &renewal);
        // A rotated refresh token, other granted scopes and another API domain are taken.
        let answer = r#"{"access_token":"n2","refresh_token":"r2","scope":"ZohoCRM.users.READ","api_domain":"https://www.zohoapis.com"}"#;
        let rotated = held.renewed(parse(answer), now);
        assert_eq!(rotated.refresh_token().map(RefreshToken::expose_secret), Some("r2"));
        assert_eq!(rotated.scopes(), &Scopes::parse("ZohoCRM.users.READ").unwrap());
        assert_eq!(rotated.api_domain().map(Url::as_str), Some("https://www.zohoapis.com/"));
        // The held set is untouched.
        assert_eq!(held.access_token().expose_secret(), "old");
        assert_eq!(held.refresh_token().map(RefreshToken::expose_secret), Some("refresh"));
    }

    #[test]
    fn a_blank_refresh_token_keeps_the_held_one() {
        let now = Utc::now();
        let r = parse(r#"{"access_token":"x","refresh_token":"  "}"#);
        let set = TokenSet::from_response(r, now, "a", None, &Scopes::empty(), Some(RefreshToken::new("held")));
        assert_eq!(set.refresh_token().unwrap().expose_secret(), "held");
    }

    #[test]
    fn token_set_from_response() {
        let now = Utc::now();
        let r = parse(r#"{"access_token":"x","scope":"ZohoCRM.users.ALL ZohoCRM.modules.ALL"}"#);
        let set = TokenSet::from_response(
            r,
            now,
            "https://accounts.zoho.com",
            None,
            &Scopes::empty(),
            Some(RefreshToken::new("old")),
        );
        assert_eq!(set.expires_at(), now + DEFAULT_ACCESS_TOKEN_LIFETIME);
        assert_eq!(set.refresh_token().unwrap().expose_secret(), "old");
        assert_eq!(set.scopes().len(), 2);
        assert!(set.is_fresh(now, Duration::minutes(5)));
        assert!(!set.is_fresh(now + Duration::minutes(56), Duration::minutes(5)));
        let rotated = parse(r#"{"access_token":"y","refresh_token":"new","expires_in":10}"#);
        let set = TokenSet::from_response(rotated, now, "a", None, &Scopes::empty(), Some(RefreshToken::new("old")));
        assert_eq!(set.refresh_token().unwrap().expose_secret(), "new");
        assert_eq!(set.expires_at(), now + Duration::seconds(10));
    }

    #[test]
    fn token_set_round_trips_through_json() {
        let set = TokenSet::new(
            AccessToken::new("a"),
            Some(RefreshToken::new("r")),
            Utc::now(),
            Some(Url::parse("https://www.zohoapis.eu").unwrap()),
            "https://accounts.zoho.eu",
            Scopes::parse_lenient("ZohoCRM.modules.ALL"),
        );
        let json = serde_json::to_string(&set).unwrap();
        let back: TokenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back.access_token().expose_secret(), "a");
        assert_eq!(back.expires_at(), set.expires_at());
        assert_eq!(back.scopes(), set.scopes());
        assert!(!format!("{set:?}").contains("\"a\""));
        assert!(!json.contains("renewal"), "a refresh-token set is written as before");
        assert_eq!(back.renewal(), &Renewal::RefreshToken);
    }

    #[test]
    fn client_credentials_renewal_round_trips() {
        let set =
            TokenSet::new(AccessToken::new("a"), None, Utc::now(), None, "https://accounts.zoho.eu", Scopes::empty())
                .with_renewal(Renewal::ClientCredentials { soid: Some("ZohoCRM.123".to_owned()) });
        let json = serde_json::to_string(&set).unwrap();
        let back: TokenSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back.renewal(), set.renewal());
    }
}
