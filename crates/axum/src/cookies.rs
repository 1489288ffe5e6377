//! The crate's two cookies: the pending sign-in and the signed-in user.
//!
//! Both hold only an opaque random id that the server maps to what it keeps; neither is signed or
//! encrypted, because there is nothing in them to protect but their unguessability.
//! Both are `HttpOnly` (no script reads them), `SameSite=Lax` (sent on the top-level GET that
//! Zoho's redirect makes, and on same-site requests, never on cross-site subrequests or POSTs),
//! `Path=/`, and `Secure` whenever the app is served over https, which also earns them the
//! `__Host-` name prefix: the browser then refuses them without `Secure`, with a `Domain`, or
//! from a sibling subdomain.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use rand::RngCore as _;

/// Which of the crate's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jar {
    /// The pending sign-in, between the login route and the callback.
    Pending,
    /// The signed-in user.
    SignedIn,
}

/// How the crate's cookies are named and flagged.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    pub(crate) secure: bool,
}

impl CookieSettings {
    pub(crate) fn name(&self, jar: Jar) -> &'static str {
        match (jar, self.secure) {
            (Jar::Pending, true) => "__Host-zoho-oauth-login",
            (Jar::Pending, false) => "zoho-oauth-login",
            (Jar::SignedIn, true) => "__Host-zoho-oauth-session",
            (Jar::SignedIn, false) => "zoho-oauth-session",
        }
    }

    /// The `Set-Cookie` value that stores `id` for `max_age`.
    pub(crate) fn set(&self, jar: Jar, id: &str, max_age: chrono::Duration) -> HeaderValue {
        let cookie = Cookie::build((self.name(jar), id.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(max_age.num_seconds().max(0)));
        HeaderValue::from_str(&cookie.to_string()).expect("a cookie of base64url characters is a valid header value")
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub(crate) fn clear(&self, jar: Jar) -> HeaderValue {
        self.set(jar, "", chrono::Duration::zero())
    }

    /// The cookie's value in the request, if it has the shape of one of our ids.
    ///
    /// Anything else (a value from another app, a truncated or edited cookie) counts as absent,
    /// so no map is ever searched with an attacker's arbitrary string.
    pub(crate) fn get(&self, jar: Jar, headers: &HeaderMap) -> Option<String> {
        let name = self.name(jar);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == name && is_id(cookie.value()))
            .map(|cookie| cookie.value().to_owned())
    }
}

/// The length of an id: 32 random bytes in base64url without padding.
const ID_LEN: usize = 43;

/// A new opaque id: 256 bits from the operating system's generator, base64url.
pub(crate) fn new_id() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_id(value: &str) -> bool {
    value.len() == ID_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let secure = CookieSettings { secure: true };
        let value = secure.set(Jar::SignedIn, &new_id(), chrono::Duration::hours(1));
        let value = value.to_str().expect("ascii");
        assert!(value.starts_with("__Host-zoho-oauth-session="), "{value}");
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=3600"] {
            assert!(value.contains(flag), "{flag} missing from {value}");
        }
        assert!(!value.contains("Domain"), "{value}");

        let plain = CookieSettings { secure: false };
        let value = plain.set(Jar::Pending, &new_id(), chrono::Duration::minutes(10));
        let value = value.to_str().expect("ascii");
        assert!(value.starts_with("zoho-oauth-login="), "{value}");
        assert!(value.contains("HttpOnly") && value.contains("SameSite=Lax"), "{value}");
        assert!(!value.contains("Secure"), "{value}");
    }

    #[test]
    fn a_cleared_cookie_expires_at_once() {
        let value = CookieSettings { secure: false }.clear(Jar::Pending);
        assert!(value.to_str().expect("ascii").contains("Max-Age=0"));
    }

    #[test]
    fn only_well_formed_ids_are_read_back() {
        let settings = CookieSettings { secure: false };
        let id = new_id();
        assert_eq!(id.len(), ID_LEN);
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("other=1; zoho-oauth-session=short"));
        headers.append(header::COOKIE, HeaderValue::from_str(&format!("a=b; zoho-oauth-session={id}")).expect("ascii"));
        assert_eq!(settings.get(Jar::SignedIn, &headers), Some(id));
        assert_eq!(settings.get(Jar::Pending, &headers), None);
    }
}
