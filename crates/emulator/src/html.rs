//! The pages a person sees: the consent page, the device verification page, and short notices.
//!
//! Every page is one self-contained HTML document: inline style, no script, no image, no link to
//! anything outside the emulator, so it works offline and leaks nothing to a third party.
//! Everything a page echoes goes through [`escape`], even values the emulator chose itself,
//! because client ids, scopes and user names come from tests and command lines.
//! No page ever holds a client secret, a code, a device code or a token; the only hidden value
//! is the per-page anti-forgery value the form sends back.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One user offered on the consent page.
#[derive(Debug)]
pub(crate) struct UserChoice<'a> {
    pub(crate) id: &'a str,
    pub(crate) full_name: &'a str,
    pub(crate) email: &'a str,
    pub(crate) data_center: &'a str,
}

/// What a consent page asks the person about.
#[derive(Debug)]
pub(crate) struct ConsentPage<'a> {
    /// Where the form is posted: the path of the page itself.
    pub(crate) action: &'a str,
    /// The anti-forgery value that identifies this page's request.
    pub(crate) request: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) offline: bool,
    /// The name of the data center whose listener shows the page.
    pub(crate) data_center: &'a str,
    pub(crate) users: Vec<UserChoice<'a>>,
    /// A line shown above the form, such as why the last submission was not accepted.
    pub(crate) notice: Option<&'a str>,
}

/// Escapes text for an HTML element or a double- or single-quoted attribute value.
pub(crate) fn escape(text: &str) -> String {
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

/// The consent page: who asks for what, a choice of user, and Accept or Deny.
pub(crate) fn consent(page: &ConsentPage<'_>) -> String {
    let mut body = String::new();
    body.push_str("<h1>Sign in and allow access</h1>\n");
    if let Some(notice) = page.notice {
        body.push_str(&format!("<p class=\"notice\" role=\"alert\">{}</p>\n", escape(notice)));
    }
    body.push_str(&format!(
        "<p>The application <code>{}</code> asks for access to your Zoho account:</p>\n<ul>\n",
        escape(page.client_id)
    ));
    for scope in page.scopes {
        body.push_str(&format!("<li><code>{}</code></li>\n", escape(scope)));
    }
    body.push_str("</ul>\n");
    if page.offline {
        body.push_str("<p>It also asks to keep this access while you are away (a refresh token).</p>\n");
    }
    body.push_str(&format!("<form method=\"post\" action=\"{}\">\n", escape(page.action)));
    body.push_str(&format!("<input type=\"hidden\" name=\"request\" value=\"{}\">\n", escape(page.request)));
    body.push_str("<fieldset>\n<legend>Sign in as</legend>\n");
    for user in &page.users {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"user\" value=\"{}\" required> {} &lt;{}&gt;, data center {}</label>\n",
            escape(user.id),
            escape(user.full_name),
            escape(user.email),
            escape(&user.data_center.to_uppercase()),
        ));
    }
    body.push_str("</fieldset>\n");
    // Deny needs no user, so it skips the browser's check of the required radio buttons.
    body.push_str(
        "<p><button type=\"submit\" name=\"decision\" value=\"accept\">Accept</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></p>\n</form>\n",
    );
    body.push_str(&format!(
        "<p class=\"small\">This is the Zoho accounts emulator's {} data center on 127.0.0.1, not Zoho. \
         A user whose account lives in another data center is sent back with that data center's accounts server.</p>\n",
        escape(&page.data_center.to_uppercase())
    ));
    document("Sign in and allow access", &body)
}

/// The device verification page: a field for the code the device shows.
pub(crate) fn device_entry(notice: Option<&str>, typed: &str) -> String {
    let mut body = String::new();
    body.push_str("<h1>Connect a device</h1>\n");
    if let Some(notice) = notice {
        body.push_str(&format!("<p class=\"notice\" role=\"alert\">{}</p>\n", escape(notice)));
    }
    // The code travels in a GET query: it is shown on the device's screen anyway, and a link with
    // it filled in works as RFC 8628's verification_uri_complete does.
    body.push_str(&format!(
        "<form method=\"get\" action=\"/oauth/v3/device\">\n\
         <p><label>Enter the code your device shows: \
         <input type=\"text\" name=\"user_code\" value=\"{}\" autocomplete=\"off\" autocapitalize=\"characters\" required></label></p>\n\
         <p><button type=\"submit\">Continue</button></p>\n</form>\n",
        escape(typed)
    ));
    document("Connect a device", &body)
}

/// A short page that only tells the person something, such as that a device was approved.
pub(crate) fn notice(title: &str, text: &str) -> String {
    document(title, &format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(text)))
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} - Zoho accounts emulator</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

const STYLE: &str = "body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d1d1f; margin: 0; }
main { max-width: 34rem; margin: 3rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 8px; }
h1 { font-size: 1.4rem; }
fieldset { border: 1px solid #ccc; border-radius: 6px; }
label { display: block; margin: 0.4rem 0; }
button { font-size: 1rem; padding: 0.4rem 1.2rem; margin-right: 0.5rem; }
.notice { background: #fff4e5; border-left: 4px solid #e8a33d; padding: 0.5rem; }
.small { font-size: 0.85rem; color: #555; }
";

/// An HTML answer that no browser caches, frames, or lets load anything from elsewhere.
pub(crate) fn response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // No `form-action`: browsers apply it to the redirect after the form too, which goes to the
    // client's redirect URI on another port.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with the
    // consent form's POST, which the same-origin check must refuse; other sites still get no referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_consent_page_escapes_what_it_echoes() {
        let scopes = ["<script>alert(1)</script>".to_owned()];
        let page = ConsentPage {
            action: "/oauth/v2/auth",
            request: "\"><b>",
            client_id: "1000.<i>",
            scopes: &scopes,
            offline: true,
            data_center: "us",
            users: vec![UserChoice { id: "1", full_name: "<Eve>", email: "e@x", data_center: "eu" }],
            notice: Some("<notice>"),
        };
        let html = consent(&page);
        for raw in ["<script>", "<i>", "<Eve>", "\"><b>", "<notice>"] {
            assert!(!html.contains(raw), "{raw} is not escaped");
        }
        assert!(html.contains("&lt;script&gt;"));
    }
}
