//! The three routes: login, callback and logout.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::auth::{CALLBACK_PATH, LOGIN_PATH, LOGOUT_PATH, ZohoAuth};
use crate::cookies::Jar;
use crate::error::LoginError;
use crate::html;

impl ZohoAuth {
    /// The login, callback and logout routes ([`LOGIN_PATH`], [`CALLBACK_PATH`],
    /// [`LOGOUT_PATH`]), to merge into the app's router.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route(LOGIN_PATH, get(login))
            .route(CALLBACK_PATH, get(callback))
            .route(LOGOUT_PATH, post(logout))
            .with_state(self.clone())
    }
}

/// `next` is the only parameter of the login route.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/login`: sends the browser to Zoho's consent page and keeps the pending sign-in.
async fn login(State(auth): State<ZohoAuth>, query: Result<Query<LoginQuery>, QueryRejection>) -> Response {
    let next = query.as_ref().ok().and_then(|q| q.next.as_deref());
    let (url, pending) = auth.start_login(next);
    let id = match auth.keep_pending(pending) {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(%error, "refused a sign-in");
            return html::login_error(&LoginError::Failed(error), LOGIN_PATH, "/");
        }
    };
    let cookie = auth.inner.cookies.set(Jar::Pending, &id, auth.inner.pending_lifetime);
    redirect(url.as_str(), &[cookie])
}

/// `GET /auth/callback`: checks the answer against this browser's pending sign-in and signs in.
async fn callback(State(auth): State<ZohoAuth>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let cookies = &auth.inner.cookies;
    let home = auth.public_url("/").to_string();
    let login = auth.public_url(LOGIN_PATH).to_string();
    let Some((id, pending)) =
        cookies.get(Jar::Pending, &headers).and_then(|id| auth.take_pending(&id).map(|p| (id, p)))
    else {
        let mut response = html::login_error(&LoginError::NoPendingLogin, &login, &home);
        response.headers_mut().append(header::SET_COOKIE, cookies.clear(Jar::Pending));
        return response;
    };
    match auth.finish_login(pending, query.as_deref().unwrap_or_default()).await {
        Ok(signed_in) => {
            // A new id at every sign-in, and the browser's old one forgotten: no session fixation.
            if let Some(old) = cookies.get(Jar::SignedIn, &headers) {
                auth.remove_sign_in(&old);
            }
            let session_id = auth.add_sign_in(signed_in.user);
            let target = auth.public_url(&signed_in.return_to);
            redirect(
                target.as_str(),
                &[cookies.clear(Jar::Pending), cookies.set(Jar::SignedIn, &session_id, auth.inner.sign_in_lifetime)],
            )
        }
        Err(failure) => {
            tracing::warn!(error = %failure.error, "a sign-in callback was refused");
            let mut response = html::login_error(&failure.error, &login, &home);
            // After a forged answer the browser's sign-in still waits for the real one, under the same cookie.
            let kept = failure.pending.is_some_and(|pending| auth.keep_pending_as(id, pending).is_ok());
            if !kept {
                response.headers_mut().append(header::SET_COOKIE, cookies.clear(Jar::Pending));
            }
            response
        }
    }
}

/// The logout form: the per-browser token that proves the form came from the app's own page.
#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: String,
}

/// `POST /auth/logout`: checks the form's origin and token, signs the browser out, and by default
/// revokes the user's grant.
async fn logout(
    State(auth): State<ZohoAuth>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let cookies = &auth.inner.cookies;
    let forbidden = || {
        html::notice(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "The sign-out request did not come from this app's own page.",
        )
    };
    // Browsers send `Origin` with every POST; a different one is another site's form or script.
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.as_bytes() != auth.public_origin().as_bytes() {
            return forbidden();
        }
    }
    let after = auth.public_url(&auth.inner.after_logout).to_string();
    let Some(id) = cookies.get(Jar::SignedIn, &headers) else {
        return redirect(&after, &[cookies.clear(Jar::SignedIn)]);
    };
    let Some(sign_in) = auth.sign_in(&id) else {
        return redirect(&after, &[cookies.clear(Jar::SignedIn)]);
    };
    let Ok(Form(form)) = form else {
        return forbidden();
    };
    if !bool::from(form.csrf.as_bytes().ct_eq(sign_in.csrf.as_bytes())) {
        return forbidden();
    }
    auth.remove_sign_in(&id);
    if auth.inner.revoke_on_logout {
        if let Err(error) = auth.sign_out_user(&sign_in.user.id, true).await {
            tracing::warn!(%error, user = %sign_in.user.id, "signed out, but the grant could not be revoked");
        }
    }
    tracing::info!(user = %sign_in.user.id, "signed out");
    redirect(&after, &[cookies.clear(Jar::SignedIn)])
}

/// A `303 See Other` to `location` with cookies set, hardened like every page of these routes.
fn redirect(location: &str, cookies: &[HeaderValue]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    html::harden(headers);
    response
}

/// `path` if it is a path of this app (`/` followed by no `/` or `\`, no control character),
/// else `/`: what a login's `next` may name, so the login route is no open redirect.
pub(crate) fn safe_return_path(path: Option<&str>) -> &str {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control)
                && p.len() <= 2048 =>
        {
            p
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn only_local_paths_are_return_targets() {
        assert_eq!(safe_return_path(Some("/reports?year=2025")), "/reports?year=2025");
        for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "/a\nb", ""] {
            assert_eq!(safe_return_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_path(None), "/");
    }
}
