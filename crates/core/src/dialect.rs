//! Where Zoho differs from the RFCs, in one place.
//!
//! Every decision that depends on whether the server is Zoho's accounts server or a
//! standards-compliant one is made here, and the Zoho-only rules live in the private `zoho`
//! module below, so a generic server's answers never pass through Zoho-only code.
//! `ARCHITECTURE.md` has a table ("How Zoho differs") that points into this module.
//!
//! | Zoho does | RFC says | handled by |
//! |---|---|---|
//! | errors with HTTP 200 | 400 (RFC 6749 section 5.2) | [`read_token_answer`] |
//! | `"error":"Access Denied"` for rate limits | 429 or `temporarily_unavailable` | `zoho::rate_limited` |
//! | `invalid_code` for a dead refresh token | `invalid_grant` (section 5.2) | [`grant_is_invalid`] |
//! | `expires_in_sec`, with `expires_in` then in milliseconds | `expires_in` in seconds (section 5.1) | `zoho::lifetime` |
//! | revocation token in the query | in the form body (RFC 7009 section 2.1) | [`revocation_url`] |
//! | `Authorization: Zoho-oauthtoken` | `Bearer` (RFC 6750 section 2.1) | [`authorization_scheme`] |
//! | 401 with `"code":"INVALID_TOKEN"` | `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 section 3) | [`token_rejected`] |
//! | scopes joined with commas | spaces (RFC 6749 section 3.3) | [`scope_separator`] |
//! | `access_type=offline&prompt=consent` for a refresh token | a server's own policy | `ClientConfig::new` in the flow crate |
//! | `accounts-server` in the callback names where to exchange | one token endpoint | [`Endpoints::redirected_to`](crate::Endpoints::redirected_to) |
//! | `api_domain` in the token answer names where to call | not specified | [`TokenSet::from_response`](crate::TokenSet::from_response) |
//! | device flow at `/oauth/v3/device/*`, `verification_url`, times maybe in milliseconds | RFC 8628 section 3.2, seconds | [`read_device_authorization`] |
//! | device polls answer `expired` and `other_dc` with `user_location` | `expired_token` (RFC 8628 section 3.5) | [`read_device_poll`] |

use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use url::Url;

use crate::endpoints::Dialect;
use crate::error::{Error, ErrorCode, MalformedKind, ServerError};
use crate::redact::{self, Known};
use crate::secret::{AccessToken, DeviceCode, RefreshToken};
use crate::token::{TokenResponse, lenient_seconds};
use crate::transport::HttpResponse;

/// Every field any token answer may carry, read in one pass.
///
/// The secrets are read straight into their wiping types; a blank refresh token is dropped.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    access_token: Option<AccessToken>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in_sec: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    api_domain: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
}

/// Reads a token endpoint's answer (code exchange, refresh) with one parse of the body.
///
/// - A body carrying `"error"` is the server's refusal whatever the status (Zoho sends them with
///   HTTP 200): [`Error::Server`], or [`Error::RateLimited`] for a rate limit.
/// - HTTP 429 is a rate limit.
/// - A 2xx body with a non-blank `access_token` is a [`TokenResponse`]; any 2xx is accepted
///   (RFC 6749 says 200; some servers send 201).
/// - An empty, HTML, non-JSON or truncated body, or a success without an access token, is
///   [`Error::MalformedResponse`] with its own [`MalformedKind`], the status received, and a
///   masked excerpt.
pub fn read_token_answer(dialect: Dialect, response: &HttpResponse) -> Result<TokenResponse, Error> {
    read_token_answer_masking(dialect, response, &Known::new())
}

/// Like [`read_token_answer`], and every secret in `known` (the client secret, the code or refresh
/// token sent) is removed by value from anything the answer puts in an error.
pub fn read_token_answer_masking(
    dialect: Dialect,
    response: &HttpResponse,
    known: &Known<'_>,
) -> Result<TokenResponse, Error> {
    let status = response.status();
    let body = response.body();
    let answer = read_answer(dialect, response, known)?;
    if let Some(refusal) = refusal(dialect, status, &answer, body, known) {
        return Err(refusal);
    }
    if !status.is_success() {
        return Err(malformed(status, MalformedKind::UnexpectedStatus, body, known));
    }
    let Some(access_token) = answer.access_token.filter(|t| !t.expose_secret().trim().is_empty()) else {
        return Err(malformed(status, MalformedKind::UnexpectedShape, body, known));
    };
    let lifetime_seconds = match dialect {
        Dialect::Zoho => zoho::lifetime(answer.expires_in, answer.expires_in_sec),
        Dialect::Standard => answer.expires_in,
    };
    Ok(TokenResponse {
        access_token,
        token_type: answer.token_type,
        lifetime_seconds,
        refresh_token: answer.refresh_token.filter(|t| !t.expose_secret().trim().is_empty()),
        api_domain: answer.api_domain,
        scope: answer.scope,
    })
}

/// A device authorization answer
/// ([RFC 8628 section 3.2](https://www.rfc-editor.org/rfc/rfc8628#section-3.2), or Zoho's
/// `/oauth/v3/device/code`), with its times in seconds whatever unit the server used.
///
/// `Debug` redacts the device code.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The code the device polls with: secret.
    pub device_code: DeviceCode,
    /// The code the user types at the verification URL: shown to the user.
    pub user_code: String,
    /// Where the user goes (RFC 8628 `verification_uri`, Zoho's `verification_url`).
    pub verification_uri: Url,
    /// The verification URL with the user code in it, when the server sends one.
    pub verification_uri_complete: Option<Url>,
    /// How long the device code lives, in seconds.
    pub expires_in_seconds: u64,
    /// The shortest wait between two polls, in seconds.
    pub interval_seconds: u64,
}

/// The device code's lifetime when the answer names none: Zoho's user codes live about five
/// minutes, and RFC 8628 requires the field, so this is only a fallback.
const DEVICE_CODE_LIFETIME_SECONDS: u64 = 300;

/// The poll interval when the answer names none: five seconds (RFC 8628 section 3.2), thirty for
/// Zoho, which allows one poll per thirty seconds.
pub fn default_poll_interval_seconds(dialect: Dialect) -> u64 {
    match dialect {
        Dialect::Zoho => 30,
        Dialect::Standard => 5,
    }
}

/// Every field a device authorization answer may carry.
#[derive(Deserialize)]
struct DeviceAnswer {
    #[serde(default)]
    device_code: Option<DeviceCode>,
    #[serde(default)]
    user_code: Option<String>,
    #[serde(default)]
    verification_uri: Option<String>,
    #[serde(default)]
    verification_url: Option<String>,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    interval: Option<u64>,
}

/// Reads a device authorization answer.
///
/// Errors are read as in [`read_token_answer`] (a body with `"error"` is a refusal whatever the
/// status). The verification URL is `verification_uri` (RFC 8628) or `verification_url` (Zoho,
/// and some other servers), and must be an `http` or `https` URL. For Zoho, `interval` and
/// `expires_in` are read as milliseconds when either is too large to be seconds (see
/// `zoho::device_times`); for other servers they are seconds, as the RFC says.
pub fn read_device_authorization(dialect: Dialect, response: &HttpResponse) -> Result<DeviceAuthorization, Error> {
    let status = response.status();
    let body = response.body();
    let known = Known::new();
    let answer = read_answer(dialect, response, &known)?;
    if let Some(refusal) = refusal(dialect, status, &answer, body, &known) {
        return Err(refusal);
    }
    if !status.is_success() {
        return Err(malformed(status, MalformedKind::UnexpectedStatus, body, &known));
    }
    let shape = || malformed(status, MalformedKind::UnexpectedShape, body, &known);
    let device: DeviceAnswer = serde_json::from_slice(body).map_err(|_| shape())?;
    let device_code = device.device_code.filter(|c| !c.expose_secret().trim().is_empty()).ok_or_else(shape)?;
    let user_code = device.user_code.filter(|c| !c.trim().is_empty()).ok_or_else(shape)?;
    let web_url = |value: &str| Url::parse(value.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
    let verification_uri =
        device.verification_uri.or(device.verification_url).as_deref().and_then(web_url).ok_or_else(shape)?;
    let verification_uri_complete = device.verification_uri_complete.as_deref().and_then(web_url);
    let (interval, expires_in) = match dialect {
        Dialect::Zoho => zoho::device_times(device.interval, device.expires_in),
        Dialect::Standard => (device.interval, device.expires_in),
    };
    Ok(DeviceAuthorization {
        device_code,
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in_seconds: expires_in.unwrap_or(DEVICE_CODE_LIFETIME_SECONDS),
        interval_seconds: interval.unwrap_or_else(|| default_poll_interval_seconds(dialect)),
    })
}

/// What one poll of a device authorization answered
/// ([RFC 8628 section 3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.5)).
#[derive(Debug)]
#[non_exhaustive]
pub enum DevicePoll {
    /// The user approved: the token answer.
    Approved(TokenResponse),
    /// `authorization_pending`: not decided yet; poll again after the interval.
    Pending,
    /// `slow_down`: polled too often; wait longer.
    SlowDown,
    /// `access_denied`: the user refused.
    Denied(ServerError),
    /// `expired_token` (Zoho: `expired`): the device code expired; start again.
    Expired(ServerError),
    /// Zoho's `other_dc`: the user approved at another data center, named by its location code
    /// (`user_location`); polls go to that data center's accounts server from now on.
    OtherDataCenter {
        /// The location code, or an accounts-server origin if the server sent one instead.
        location: String,
    },
}

/// Reads one device-flow poll's answer: a token answer as [`read_token_answer`] reads it, or one
/// of the device flow's own answers. Any other refusal is an error as usual.
pub fn read_device_poll(dialect: Dialect, response: &HttpResponse) -> Result<DevicePoll, Error> {
    read_device_poll_masking(dialect, response, &Known::new())
}

/// Like [`read_device_poll`], masking every secret in `known` (the client secret, the device code)
/// by value.
pub fn read_device_poll_masking(
    dialect: Dialect,
    response: &HttpResponse,
    known: &Known<'_>,
) -> Result<DevicePoll, Error> {
    let error = match read_token_answer_masking(dialect, response, known) {
        Ok(tokens) => return Ok(DevicePoll::Approved(tokens)),
        Err(Error::Server(error)) => error,
        Err(other) => return Err(other),
    };
    match error.error.as_str() {
        "authorization_pending" => Ok(DevicePoll::Pending),
        "slow_down" => Ok(DevicePoll::SlowDown),
        "access_denied" => Ok(DevicePoll::Denied(error)),
        "expired_token" => Ok(DevicePoll::Expired(error)),
        code if dialect == Dialect::Zoho && zoho::device_expired(code) => Ok(DevicePoll::Expired(error)),
        code if dialect == Dialect::Zoho && zoho::other_data_center(code) => match zoho::user_location(response.body())
        {
            Some(location) => Ok(DevicePoll::OtherDataCenter { location }),
            None => Err(malformed(response.status(), MalformedKind::UnexpectedShape, response.body(), known)),
        },
        _ => Err(Error::Server(error)),
    }
}

/// Reads a revocation endpoint's answer (RFC 7009 section 2.2).
///
/// Any 2xx without an `"error"` is success, an empty body included: the RFC lets the server answer
/// 200 with any content, and Zoho answers `{"status":"success"}`.
pub fn read_revocation_answer(dialect: Dialect, response: &HttpResponse) -> Result<(), Error> {
    read_revocation_answer_masking(dialect, response, &Known::new())
}

/// Like [`read_revocation_answer`], masking every secret in `known` by value.
pub fn read_revocation_answer_masking(
    dialect: Dialect,
    response: &HttpResponse,
    known: &Known<'_>,
) -> Result<(), Error> {
    let status = response.status();
    let body = response.body();
    if status.is_success() && !looks_like_json(body) {
        return Ok(());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(rate_limited(None));
        }
        return Err(malformed(status, MalformedKind::EmptyBody, body, known));
    }
    let answer = read_answer(dialect, response, known)?;
    if let Some(refusal) = refusal(dialect, status, &answer, body, known) {
        return Err(refusal);
    }
    if status.is_success() { Ok(()) } else { Err(malformed(status, MalformedKind::UnexpectedStatus, body, known)) }
}

/// Parses the body into an [`Answer`], or says what kind of malformed answer it is.
fn read_answer(dialect: Dialect, response: &HttpResponse, known: &Known<'_>) -> Result<Answer, Error> {
    let status = response.status();
    let body = response.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(rate_limited(None));
        }
        return Err(malformed(status, MalformedKind::EmptyBody, body, known));
    }
    // The body is checked as UTF-8 once, in one pass, so that the strings in it are not each
    // checked again as they are read; a body that is not UTF-8 is left to the slice reader, whose
    // error is the one classified below.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<Answer>(text),
        Err(_) => serde_json::from_slice::<Answer>(body),
    };
    match parsed {
        Ok(answer) => Ok(answer),
        Err(error) => {
            if status == StatusCode::TOO_MANY_REQUESTS || (dialect == Dialect::Zoho && zoho::looks_rate_limited(body)) {
                return Err(rate_limited(Some(redact::excerpt_masking(body, known))));
            }
            // Only on this failure path is the body looked at again, to say what it was.
            let kind = if looks_like_html(response) {
                MalformedKind::Html
            } else if error.is_data() {
                MalformedKind::UnexpectedShape
            } else if content_type_is_json(response) {
                MalformedKind::InvalidJson
            } else if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                MalformedKind::UnexpectedShape
            } else {
                MalformedKind::UnexpectedContentType
            };
            Err(malformed(status, kind, body, known))
        }
    }
}

/// The refusal an answer carries, if any: an `error` field, or HTTP 429.
fn refusal(dialect: Dialect, status: StatusCode, answer: &Answer, body: &[u8], known: &Known<'_>) -> Option<Error> {
    match &answer.error {
        Some(serde_json::Value::String(code)) => {
            // The server's words are kept for the caller, with every known secret removed first.
            let error = ServerError {
                error: ErrorCode::parse(&known.mask(code)),
                error_description: answer.error_description.as_deref().map(|d| known.mask(d)),
                error_uri: answer.error_uri.as_deref().map(|u| known.mask(u)),
            };
            let limited = status == StatusCode::TOO_MANY_REQUESTS
                || (dialect == Dialect::Zoho && zoho::rate_limited(&error.error));
            Some(if limited { Error::RateLimited(error) } else { Error::Server(error) })
        }
        Some(serde_json::Value::Null) | None if status == StatusCode::TOO_MANY_REQUESTS => Some(rate_limited(None)),
        Some(serde_json::Value::Null) | None => None,
        Some(_) => Some(malformed(status, MalformedKind::UnexpectedShape, body, known)),
    }
}

/// Whether an error code says the grant itself (the code or the refresh token) is dead, so that
/// no retry can help and only a new authorization can.
///
/// RFC 6749 section 5.2 defines `invalid_grant` for "invalid, expired, revoked" grants; Zoho
/// answers `invalid_code` for a used or expired code and for a revoked refresh token.
pub fn grant_is_invalid(code: &ErrorCode) -> bool {
    matches!(code, ErrorCode::InvalidGrant | ErrorCode::InvalidCode)
}

/// The scheme of the `Authorization` header for API calls.
pub fn authorization_scheme(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Zoho => "Zoho-oauthtoken",
        Dialect::Standard => "Bearer",
    }
}

/// How scopes are joined in an authorization request.
pub fn scope_separator(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Zoho => ",",
        Dialect::Standard => " ",
    }
}

/// The URL a revocation request is sent to: for Zoho, the token in the query as well as in the
/// form body, because Zoho documents `POST /oauth/v2/token/revoke?token=...` while RFC 7009 puts
/// it in the body, and either reading must find it.
///
/// The result holds a secret for Zoho: never log it, and keep it out of errors.
pub fn revocation_url(dialect: Dialect, url: &Url, token: &str) -> Url {
    match dialect {
        Dialect::Zoho => {
            let mut url = url.clone();
            url.query_pairs_mut().append_pair("token", token);
            url
        }
        Dialect::Standard => url.clone(),
    }
}

/// Whether a resource server's response says the access token itself was rejected, so that a
/// refresh can help.
///
/// Other 401s, such as Zoho's `OAUTH_SCOPE_MISMATCH` or RFC 6750's `insufficient_scope`, are not:
/// a new token would not help, and a refresh would spend the rate budget.
pub fn token_rejected(dialect: Dialect, response: &HttpResponse) -> bool {
    if response.status() != StatusCode::UNAUTHORIZED {
        return false;
    }
    match dialect {
        Dialect::Zoho => zoho::token_rejected(response.body()),
        Dialect::Standard => match response.headers().get(http::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok())
        {
            // RFC 6750 section 3: no error attribute means the request lacked valid credentials.
            Some(challenge) => challenge.contains("invalid_token") || !challenge.contains("error="),
            None => true,
        },
    }
}

/// The Zoho-only rules. Nothing outside this module decides anything for Zoho alone.
mod zoho {
    use crate::error::ErrorCode;

    /// Zoho's rate-limit answer: `{"error":"Access Denied","error_description":"You have made too
    /// many requests continuously..."}`, seen with HTTP 200 and 400.
    pub(super) fn rate_limited(code: &ErrorCode) -> bool {
        *code == ErrorCode::TooManyRequests
    }

    /// The same answer when it arrives as text rather than JSON.
    pub(super) fn looks_rate_limited(body: &[u8]) -> bool {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        text.contains("too many requests") || text.contains("access denied")
    }

    /// The lifetime in seconds: when the legacy `expires_in_sec` is present, `expires_in` is in
    /// milliseconds and must be ignored.
    pub(super) fn lifetime(expires_in: Option<u64>, expires_in_sec: Option<u64>) -> Option<u64> {
        expires_in_sec.or(expires_in)
    }

    /// The device answer's `interval` and `expires_in` as seconds.
    ///
    /// An older page of Zoho's documentation gives both in milliseconds, the newer ones do not say.
    /// Both come from one server, so one unit is decided for both: milliseconds when the interval
    /// is 1000 or more (no server asks a device to wait a quarter of an hour between polls) or the
    /// lifetime is over a day (Zoho's user codes live about five minutes). Read as seconds, a
    /// lifetime in milliseconds of a day or less would only make the device poll until the server
    /// answers `expired`.
    pub(super) fn device_times(interval: Option<u64>, expires_in: Option<u64>) -> (Option<u64>, Option<u64>) {
        let milliseconds = interval.is_some_and(|i| i >= 1000) || expires_in.is_some_and(|e| e > 86_400);
        if milliseconds {
            // Round up, so that a wait is never shorter than the server asked.
            let seconds = |v: Option<u64>| v.map(|ms| ms.div_ceil(1000));
            (seconds(interval), seconds(expires_in))
        } else {
            (interval, expires_in)
        }
    }

    /// Zoho's name for RFC 8628's `expired_token`.
    pub(super) fn device_expired(code: &str) -> bool {
        code == "expired"
    }

    /// Zoho's answer to a poll at the wrong data center.
    pub(super) fn other_data_center(code: &str) -> bool {
        code == "other_dc"
    }

    /// Where an `other_dc` answer sends the polls: `user_location` (a location code such as `eu`),
    /// or, should Zoho send one as it does in the redirect, an `accounts-server` origin.
    pub(super) fn user_location(body: &[u8]) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct OtherDc {
            #[serde(default, rename = "accounts-server", alias = "accounts_server")]
            accounts_server: Option<String>,
            #[serde(default, alias = "location")]
            user_location: Option<String>,
        }
        let answer: OtherDc = serde_json::from_slice(body).ok()?;
        answer.accounts_server.or(answer.user_location).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// An expired or invalid token: HTTP 401 with
    /// `{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}`.
    pub(super) fn token_rejected(body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct ApiError<'a> {
            #[serde(borrow, default)]
            code: Option<&'a str>,
        }
        serde_json::from_slice::<ApiError<'_>>(body).is_ok_and(|e| e.code == Some("INVALID_TOKEN"))
    }
}

fn rate_limited(description: Option<String>) -> Error {
    Error::RateLimited(ServerError {
        error: ErrorCode::TooManyRequests,
        error_description: description,
        error_uri: None,
    })
}

fn malformed(status: StatusCode, kind: MalformedKind, body: &[u8], known: &Known<'_>) -> Error {
    Error::MalformedResponse { status: status.as_u16(), kind, excerpt: redact::excerpt_masking(body, known) }
}

fn looks_like_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn content_type_is_json(response: &HttpResponse) -> bool {
    response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.starts_with("application/json") || (v.starts_with("application/") && v.contains("+json"))
    })
}

fn looks_like_html(response: &HttpResponse) -> bool {
    let declared = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    declared || response.body().iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
        let mut builder = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(body.as_bytes().to_vec()).expect("a valid response")
    }

    const JSON: Option<&str> = Some("application/json;charset=UTF-8");

    fn token(status: u16, body: &str) -> Result<TokenResponse, Error> {
        read_token_answer(Dialect::Zoho, &response(status, JSON, body))
    }

    fn kind(result: Result<TokenResponse, Error>) -> (u16, MalformedKind) {
        match result {
            Err(Error::MalformedResponse { status, kind, .. }) => (status, kind),
            other => panic!("expected a malformed response, got {other:?}"),
        }
    }

    #[test]
    fn standard_zoho_response() {
        let r = token(
            200,
            r#"{"access_token":"1000.a.b","refresh_token":"1000.c.d","api_domain":"https://www.zohoapis.com","token_type":"Bearer","expires_in":3600}"#,
        )
        .expect("a token answer");
        assert_eq!(r.lifetime_seconds(), Some(3600));
        assert_eq!(r.refresh_token().expect("a refresh token").expose_secret(), "1000.c.d");
        assert_eq!(r.api_domain(), Some("https://www.zohoapis.com"));
    }

    #[test]
    fn legacy_expires_in_sec_means_milliseconds_for_zoho_only() {
        let body = r#"{"access_token":"x","expires_in_sec":3600,"token_type":"Bearer","expires_in":3600000}"#;
        assert_eq!(token(200, body).expect("a token answer").lifetime_seconds(), Some(3600));
        let standard = read_token_answer(Dialect::Standard, &response(200, JSON, body)).expect("a token answer");
        assert_eq!(standard.lifetime_seconds(), Some(3_600_000));
    }

    #[test]
    fn lenient_fields() {
        let r = token(200, r#"{"access_token":"x","expires_in":"3600","scope":"A.b.ALL,C.d.READ"}"#).expect("ok");
        assert_eq!(r.lifetime_seconds(), Some(3600));
        assert_eq!(r.token_type(), "Bearer");
        let r = token(200, r#"{"access_token":"x","token_type":"bearer","expires_in":null}"#).expect("ok");
        assert_eq!(r.lifetime_seconds(), None);
        assert_eq!(kind(token(200, r#"{"access_token":"x","expires_in":"soon"}"#)).1, MalformedKind::UnexpectedShape);
    }

    #[test]
    fn blank_refresh_token_is_none_and_blank_access_token_is_malformed() {
        for blank in ["", " ", "\t\n"] {
            let body = format!(r#"{{"access_token":"x","refresh_token":{}}}"#, serde_json::json!(blank));
            assert!(token(200, &body).expect("ok").refresh_token().is_none(), "{blank:?}");
            let body = format!(r#"{{"access_token":{}}}"#, serde_json::json!(blank));
            assert_eq!(kind(token(200, &body)), (200, MalformedKind::UnexpectedShape), "{blank:?}");
        }
        assert_eq!(kind(token(200, r#"{"token_type":"Bearer"}"#)), (200, MalformedKind::UnexpectedShape));
    }

    #[test]
    fn errors_with_200_are_refusals() {
        match token(200, r#"{"error":"invalid_code"}"#) {
            Err(Error::Server(e)) => assert!(grant_is_invalid(&e.error)),
            other => panic!("{other:?}"),
        }
        match token(400, r#"{"error":"invalid_grant","error_description":"expired"}"#) {
            Err(Error::Server(e)) => assert_eq!(e.error, ErrorCode::InvalidGrant),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limit_answers() {
        let body = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;
        for status in [200, 400] {
            assert!(matches!(token(status, body), Err(Error::RateLimited(_))));
        }
        assert!(matches!(read_token_answer(Dialect::Zoho, &response(429, None, "")), Err(Error::RateLimited(_))));
        assert!(matches!(
            read_token_answer(Dialect::Standard, &response(429, Some("text/plain"), "Too Many Requests")),
            Err(Error::RateLimited(_))
        ));
        // "Access Denied" is Zoho's word for a rate limit only: from a generic server it is a refusal.
        assert!(matches!(
            read_token_answer(Dialect::Standard, &response(400, JSON, r#"{"error":"Access Denied"}"#)),
            Err(Error::Server(_))
        ));
    }

    #[test]
    fn malformed_kinds_keep_the_status_received() {
        assert_eq!(kind(token(200, "")), (200, MalformedKind::EmptyBody));
        assert_eq!(kind(token(400, "")), (400, MalformedKind::EmptyBody));
        assert_eq!(
            kind(read_token_answer(Dialect::Zoho, &response(502, Some("text/html"), "<html>Bad Gateway</html>"))),
            (502, MalformedKind::Html)
        );
        assert_eq!(kind(token(200, r#"{"access_tok"#)), (200, MalformedKind::InvalidJson));
        assert_eq!(
            kind(read_token_answer(Dialect::Zoho, &response(200, Some("text/plain"), "hello"))),
            (200, MalformedKind::UnexpectedContentType)
        );
        assert_eq!(kind(token(200, "[1,2]")), (200, MalformedKind::UnexpectedShape));
        assert_eq!(kind(token(500, "{}")), (500, MalformedKind::UnexpectedStatus));
        assert_eq!(kind(token(200, r#"{"error":42}"#)), (200, MalformedKind::UnexpectedShape));
    }

    #[test]
    fn revocation_answers() {
        assert!(read_revocation_answer(Dialect::Zoho, &response(200, None, "")).is_ok());
        assert!(read_revocation_answer(Dialect::Zoho, &response(200, JSON, r#"{"status":"success"}"#)).is_ok());
        assert!(read_revocation_answer(Dialect::Standard, &response(200, JSON, "{}")).is_ok());
        assert!(matches!(
            read_revocation_answer(Dialect::Standard, &response(200, JSON, r#"{"error":"invalid_request"}"#)),
            Err(Error::Server(_))
        ));
        assert!(read_revocation_answer(Dialect::Standard, &response(503, None, "")).is_err());
    }

    #[test]
    fn excerpts_are_masked() {
        let body =
            r#"{"access_token":"1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef","expires_in":"#;
        let err = token(200, body).expect_err("truncated");
        assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
    }

    #[test]
    fn zoho_revocation_carries_the_token_in_the_query() {
        let url = Url::parse("https://accounts.zoho.eu/oauth/v2/token/revoke").expect("a URL");
        assert_eq!(revocation_url(Dialect::Zoho, &url, "1000.abc").query(), Some("token=1000.abc"));
        assert_eq!(revocation_url(Dialect::Standard, &url, "1000.abc").query(), None);
    }

    #[test]
    fn which_401s_mean_a_rejected_token() {
        let with = |status: u16, header: Option<&str>, body: &str| {
            let mut builder = http::Response::builder().status(status);
            if let Some(challenge) = header {
                builder = builder.header(http::header::WWW_AUTHENTICATE, challenge);
            }
            builder.body(body.as_bytes().to_vec()).expect("a valid response")
        };
        let invalid = r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}"#;
        let scope = r#"{"code":"OAUTH_SCOPE_MISMATCH","details":{},"message":"invalid oauth scope","status":"error"}"#;
        assert!(token_rejected(Dialect::Zoho, &with(401, None, invalid)));
        assert!(!token_rejected(Dialect::Zoho, &with(401, None, scope)));
        assert!(!token_rejected(Dialect::Zoho, &with(200, None, invalid)));
        assert!(token_rejected(Dialect::Standard, &with(401, Some(r#"Bearer error="invalid_token""#), "")));
        assert!(token_rejected(Dialect::Standard, &with(401, Some(r#"Bearer realm="api""#), "")));
        assert!(token_rejected(Dialect::Standard, &with(401, None, "")));
        assert!(!token_rejected(Dialect::Standard, &with(401, Some(r#"Bearer error="insufficient_scope""#), "")));
    }

    fn device(dialect: Dialect, body: &str) -> Result<DeviceAuthorization, Error> {
        read_device_authorization(dialect, &response(200, JSON, body))
    }

    fn poll(dialect: Dialect, status: u16, body: &str) -> Result<DevicePoll, Error> {
        read_device_poll(dialect, &response(status, JSON, body))
    }

    #[test]
    fn zoho_device_answer_in_seconds_and_milliseconds() {
        let seconds = r#"{"user_code":"ABCD-EFGH","device_code":"1004.dc","verification_url":"https://accounts.zoho.com/oauth/v3/device","interval":30,"expires_in":300}"#;
        let d = device(Dialect::Zoho, seconds).expect("a device answer");
        assert_eq!((d.interval_seconds, d.expires_in_seconds), (30, 300));
        assert_eq!(d.user_code, "ABCD-EFGH");
        assert_eq!(d.verification_uri.as_str(), "https://accounts.zoho.com/oauth/v3/device");
        assert!(!format!("{d:?}").contains("1004.dc"), "the device code is redacted");
        let millis = r#"{"user_code":"A","device_code":"d","verification_url":"https://x.example/v","interval":30000,"expires_in":300000}"#;
        let d = device(Dialect::Zoho, millis).expect("a device answer");
        assert_eq!((d.interval_seconds, d.expires_in_seconds), (30, 300));
        // A standard server's answer is read as the RFC says: seconds.
        let d = device(Dialect::Standard, millis).expect("a device answer");
        assert_eq!(d.interval_seconds, 30000);
        let rfc = r#"{"user_code":"A","device_code":"d","verification_uri":"https://x.example/v","verification_uri_complete":"https://x.example/v?u=A","expires_in":600}"#;
        let d = device(Dialect::Standard, rfc).expect("a device answer");
        assert_eq!((d.interval_seconds, d.expires_in_seconds), (5, 600), "RFC 8628's default interval is 5 s");
        assert_eq!(d.verification_uri_complete.expect("complete").as_str(), "https://x.example/v?u=A");
    }

    #[test]
    fn zoho_device_times_decide_one_unit_for_both() {
        assert_eq!(zoho::device_times(Some(5), Some(600)), (Some(5), Some(600)));
        assert_eq!(zoho::device_times(Some(1000), Some(600)), (Some(1), Some(1)));
        assert_eq!(zoho::device_times(None, Some(300_000)), (None, Some(300)));
        assert_eq!(zoho::device_times(Some(1500), None), (Some(2), None), "a wait is rounded up");
    }

    #[test]
    fn device_answer_without_code_or_url_is_malformed() {
        for body in [
            r#"{"user_code":"A","verification_url":"https://x.example/v"}"#,
            r#"{"device_code":"d","verification_url":"https://x.example/v"}"#,
            r#"{"device_code":"d","user_code":"A","verification_url":"javascript:alert(1)"}"#,
        ] {
            assert!(matches!(device(Dialect::Zoho, body), Err(Error::MalformedResponse { .. })), "{body}");
        }
        assert!(matches!(device(Dialect::Zoho, r#"{"error":"invalid_client"}"#), Err(Error::Server(_))));
    }

    #[test]
    fn device_poll_answers() {
        assert!(matches!(poll(Dialect::Zoho, 200, r#"{"error":"authorization_pending"}"#), Ok(DevicePoll::Pending)));
        assert!(matches!(poll(Dialect::Standard, 400, r#"{"error":"slow_down"}"#), Ok(DevicePoll::SlowDown)));
        assert!(matches!(poll(Dialect::Zoho, 200, r#"{"error":"access_denied"}"#), Ok(DevicePoll::Denied(_))));
        assert!(matches!(poll(Dialect::Zoho, 200, r#"{"error":"expired"}"#), Ok(DevicePoll::Expired(_))));
        assert!(matches!(poll(Dialect::Standard, 400, r#"{"error":"expired_token"}"#), Ok(DevicePoll::Expired(_))));
        assert!(matches!(poll(Dialect::Standard, 400, r#"{"error":"expired"}"#), Err(Error::Server(_))));
        match poll(Dialect::Zoho, 200, r#"{"error":"other_dc","user_location":"eu"}"#) {
            Ok(DevicePoll::OtherDataCenter { location }) => assert_eq!(location, "eu"),
            other => panic!("expected other_dc, got {other:?}"),
        }
        assert!(matches!(poll(Dialect::Zoho, 200, r#"{"error":"other_dc"}"#), Err(Error::MalformedResponse { .. })));
        assert!(matches!(poll(Dialect::Zoho, 200, r#"{"error":"Access Denied"}"#), Err(Error::RateLimited(_))));
        assert!(matches!(
            poll(Dialect::Zoho, 200, r#"{"access_token":"a","expires_in":3600}"#),
            Ok(DevicePoll::Approved(_))
        ));
    }
}
