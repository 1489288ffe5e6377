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

use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::Deserialize;
use url::Url;

use crate::endpoints::Dialect;
use crate::error::{Error, ErrorCode, MalformedKind, ServerError};
use crate::redact::{self, Known};
use crate::secret::{AccessToken, RefreshToken};
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
    match serde_json::from_slice::<Answer>(body) {
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
}
