//! Normalization of token and revocation responses before `oauth2` parses them.
//!
//! Zoho answers errors with HTTP 200, proxies answer HTML, and networks truncate bodies.
//! `oauth2` would report all of these as one opaque parse failure; this module turns each into
//! a distinct, typed [`Error`] first, and hands `oauth2` only responses it can parse as intended.

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::error::{Error, ErrorCode, MalformedKind, ServerError};
use crate::redact;
use crate::transport::HttpResponse;

/// Which endpoint answered: an empty 200 is a valid revocation answer but not a valid token answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The token endpoint (code exchange, refresh).
    Token,
    /// The revocation endpoint (RFC 7009).
    Revocation,
}

/// Checks a response from `endpoint` and rewrites it into the shape `oauth2` expects.
///
/// - A 2xx body carrying `"error"` becomes HTTP 400, so it is read as the server error it is.
/// - Any other 2xx becomes 200 (RFC 6749 says 200; some servers send 201).
/// - A JSON body with a non-JSON content type is accepted, with the content type corrected.
/// - HTTP 429, or Zoho's `"Access Denied"`, becomes [`Error::RateLimited`].
/// - An empty, HTML, non-JSON or truncated body becomes [`Error::MalformedResponse`]
///   with its own [`MalformedKind`] and a masked excerpt.
pub fn normalize(endpoint: Endpoint, mut response: HttpResponse) -> Result<HttpResponse, Error> {
    let status = response.status();
    let malformed =
        |kind, body: &[u8]| Error::MalformedResponse { status: status.as_u16(), kind, excerpt: redact::excerpt(body) };
    let body = response.body();

    if body.iter().all(u8::is_ascii_whitespace) {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(rate_limited(None));
        }
        if endpoint == Endpoint::Revocation && status.is_success() {
            *response.status_mut() = StatusCode::OK;
            return Ok(response);
        }
        return Err(malformed(MalformedKind::EmptyBody, body));
    }

    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => {
            if status == StatusCode::TOO_MANY_REQUESTS || looks_rate_limited(body) {
                return Err(rate_limited(Some(redact::excerpt(body))));
            }
            let kind = if looks_like_html(&response) {
                MalformedKind::Html
            } else if content_type_is_json(&response) {
                MalformedKind::InvalidJson
            } else {
                MalformedKind::UnexpectedContentType
            };
            return Err(malformed(kind, body));
        }
    };
    let Some(object) = value.as_object() else {
        return Err(malformed(MalformedKind::UnexpectedShape, body));
    };

    if !content_type_is_json(&response) {
        // The body is JSON whatever the header says; real servers get the header wrong.
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }

    match object.get("error") {
        Some(serde_json::Value::String(code)) => {
            if ErrorCode::parse(code) == ErrorCode::TooManyRequests {
                let description =
                    object.get("error_description").and_then(serde_json::Value::as_str).map(str::to_owned);
                return Err(rate_limited(description));
            }
            if status.is_success() {
                *response.status_mut() = StatusCode::BAD_REQUEST;
            }
            Ok(response)
        }
        Some(_) => Err(malformed(MalformedKind::UnexpectedShape, response.body())),
        None if status == StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(None)),
        None if status.is_success() => {
            *response.status_mut() = StatusCode::OK;
            Ok(response)
        }
        None => Err(malformed(MalformedKind::UnexpectedStatus, response.body())),
    }
}

fn rate_limited(description: Option<String>) -> Error {
    Error::RateLimited(ServerError {
        error: ErrorCode::TooManyRequests,
        error_description: description,
        error_uri: None,
    })
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
    let start: Vec<u8> = response.body().iter().copied().skip_while(u8::is_ascii_whitespace).take(1).collect();
    declared || start == b"<"
}

fn looks_rate_limited(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("too many requests") || text.contains("access denied")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
        let mut builder = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(body.as_bytes().to_vec()).unwrap()
    }

    fn kind(result: Result<HttpResponse, Error>) -> MalformedKind {
        match result {
            Err(Error::MalformedResponse { kind, .. }) => kind,
            other => panic!("expected a malformed response, got {other:?}"),
        }
    }

    const JSON: Option<&str> = Some("application/json;charset=UTF-8");

    #[test]
    fn error_with_200_becomes_400() {
        let r = normalize(Endpoint::Token, response(200, JSON, r#"{"error":"invalid_code"}"#)).unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn success_passes() {
        let r = normalize(Endpoint::Token, response(200, JSON, r#"{"access_token":"x"}"#)).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = normalize(Endpoint::Token, response(201, Some("text/plain"), r#"{"access_token":"x"}"#)).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn rate_limit_answers() {
        let body = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;
        for status in [200, 400] {
            assert!(matches!(normalize(Endpoint::Token, response(status, JSON, body)), Err(Error::RateLimited(_))));
        }
        assert!(matches!(normalize(Endpoint::Token, response(429, None, "")), Err(Error::RateLimited(_))));
        assert!(matches!(
            normalize(Endpoint::Token, response(429, Some("text/plain"), "Too Many Requests")),
            Err(Error::RateLimited(_))
        ));
    }

    #[test]
    fn malformed_kinds() {
        assert_eq!(kind(normalize(Endpoint::Token, response(200, JSON, ""))), MalformedKind::EmptyBody);
        assert_eq!(
            kind(normalize(Endpoint::Token, response(502, Some("text/html"), "<html>Bad Gateway</html>"))),
            MalformedKind::Html
        );
        assert_eq!(
            kind(normalize(Endpoint::Token, response(200, JSON, r#"{"access_tok"#))),
            MalformedKind::InvalidJson
        );
        assert_eq!(
            kind(normalize(Endpoint::Token, response(200, Some("text/plain"), "hello"))),
            MalformedKind::UnexpectedContentType
        );
        assert_eq!(kind(normalize(Endpoint::Token, response(200, JSON, "[1,2]"))), MalformedKind::UnexpectedShape);
        assert_eq!(kind(normalize(Endpoint::Token, response(500, JSON, "{}"))), MalformedKind::UnexpectedStatus);
        assert_eq!(
            kind(normalize(Endpoint::Token, response(200, JSON, r#"{"error":42}"#))),
            MalformedKind::UnexpectedShape
        );
    }

    #[test]
    fn empty_revocation_answer_is_success() {
        assert!(normalize(Endpoint::Revocation, response(200, None, "")).is_ok());
        assert!(normalize(Endpoint::Revocation, response(200, JSON, r#"{"status":"success"}"#)).is_ok());
        assert!(
            normalize(Endpoint::Revocation, response(200, JSON, r#"{"error":"invalid_request"}"#)).unwrap().status()
                == 400
        );
    }

    #[test]
    fn excerpts_are_masked() {
        let body =
            r#"{"access_token":"1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef","expires_in":"#;
        let err = normalize(Endpoint::Token, response(200, JSON, body)).unwrap_err();
        assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
    }
}
