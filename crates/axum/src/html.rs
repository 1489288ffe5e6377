//! The pages the crate itself renders: the sign-in error pages.
//!
//! Each page is one self-contained document (inline style, no script, nothing loaded from
//! elsewhere) with fixed wording per error: no server text, no callback parameter and no token
//! is ever echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::LoginError;

/// Escapes text for an HTML element or a quoted attribute value.
///
/// Public so that an app's own pages can show the [`SignedInUser`](crate::SignedInUser)'s name
/// and e-mail address, which come from Zoho, safely.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// What the error page says for `error`: a title and one explanation.
fn wording(error: &LoginError) -> (&'static str, &'static str) {
    match error {
        LoginError::NoPendingLogin => (
            "No sign-in in progress",
            "This browser has no sign-in waiting for Zoho's answer: it was already completed, or it was started in another browser.",
        ),
        LoginError::Expired => ("Sign-in expired", "The sign-in took too long to complete. Please start it again."),
        LoginError::StateMismatch => (
            "Sign-in link not valid",
            "This answer from Zoho does not belong to the sign-in started in this browser, so it was ignored. Nothing was sent to Zoho.",
        ),
        LoginError::Denied { .. } => {
            ("Sign-in cancelled", "Access was not granted on Zoho's consent page, so you are not signed in.")
        }
        LoginError::Failed(crate::Error::TooManyPendingLogins) => {
            ("Too many sign-ins", "Too many sign-ins are in progress right now. Please try again in a few minutes.")
        }
        LoginError::Failed(_) => (
            "Sign-in failed",
            "Zoho's answer could not be completed into a sign-in. Please try again; if it keeps failing, contact the site's administrators.",
        ),
    }
}

/// The error page for a failed sign-in, with links to try again and to go back.
pub(crate) fn login_error(error: &LoginError, login: &str, home: &str) -> Response {
    let (title, text) = wording(error);
    let body = format!(
        "<h1>{}</h1>\n<p id=\"error\" data-kind=\"{}\">{}</p>\n<p><a href=\"{}\">Sign in again</a> · <a href=\"{}\">Back to the app</a></p>\n",
        escape_html(title),
        kind(error),
        escape_html(text),
        escape_html(login),
        escape_html(home),
    );
    page(error.status(), title, &body)
}

/// A short page with a title and one paragraph.
pub(crate) fn notice(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, &format!("<h1>{}</h1>\n<p>{}</p>\n", escape_html(title), escape_html(text)))
}

/// A stable name for the error, for tests and for the app's own styling.
fn kind(error: &LoginError) -> &'static str {
    match error {
        LoginError::NoPendingLogin => "no-pending-login",
        LoginError::Expired => "expired",
        LoginError::StateMismatch => "state-mismatch",
        LoginError::Denied { .. } => "denied",
        LoginError::Failed(_) => "failed",
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>body {{ font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; }}</style>\n\
         </head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape_html(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    harden(headers);
    response
}

/// Headers for every response of the crate's routes: never cached (they set or clear cookies and
/// answer a URL that carried a code), never framed, and never followed by a `Referer` that would
/// carry the callback's code to another site.
pub(crate) fn harden(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[tokio::test]
    async fn the_error_page_never_echoes_the_server_text() {
        let error = LoginError::Denied { error: "evil-server-text".to_owned() };
        let response = login_error(&error, "/auth/login", "/");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("a small body");
        let body = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(body.contains("Sign-in cancelled"), "{body}");
        assert!(!body.contains("evil-server-text"), "{body}");
    }
}
