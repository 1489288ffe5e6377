//! The [`ZohoSession`] extractor: the signed-in user and their authorized session.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::form_urlencoded;
use zoho_oauth::{Authorized, Flow};

use crate::auth::{LOGIN_PATH, LOGOUT_PATH, SignedInUser, ZohoAuth};
use crate::cookies::Jar;
use crate::html::{self, escape_html};

/// The signed-in user of this request and their authorized session, shared (one per user) by
/// every request and browser of that user.
///
/// Take it in a handler to require a signed-in user (others are sent to the login route and
/// brought back), or take `Option<ZohoSession>` for a page that works either way. The app's
/// state must give a [`ZohoAuth`] through [`FromRef`].
///
/// The session refreshes its access token through the store by itself: call
/// [`Flow::send`] or [`Flow::authorization_header`] on [`session`](Self::session).
#[derive(Clone)]
pub struct ZohoSession {
    user: Arc<SignedInUser>,
    session: Arc<Flow<Authorized>>,
    csrf: String,
    logout_url: String,
}

impl ZohoSession {
    /// Who is signed in.
    pub fn user(&self) -> &SignedInUser {
        &self.user
    }

    /// The user's authorized session.
    pub fn session(&self) -> &Arc<Flow<Authorized>> {
        &self.session
    }

    /// The token the logout form must send as the field `csrf`; it belongs to this browser's
    /// sign-in and is not a Zoho token.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// A ready logout form (a POST with the `csrf` field and one "Sign out" button), to put in the
    /// app's page.
    pub fn logout_form(&self) -> String {
        format!(
            "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
            escape_html(&self.logout_url),
            escape_html(&self.csrf)
        )
    }
}

impl std::fmt::Debug for ZohoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZohoSession").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Why a request has no [`ZohoSession`].
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// Nobody is signed in in this browser, or the user's grant is gone (revoked, deleted from
    /// the store). A GET is sent to the login route (and back afterwards); anything else gets 401.
    NotSignedIn {
        /// Where a GET is sent: the login route with `next` set to the request's path.
        login: String,
        /// Whether the request was a GET or HEAD.
        navigable: bool,
    },
    /// The token store failed while restoring the user's session.
    Unavailable,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            Self::NotSignedIn { login, navigable: true } => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(value) = header::HeaderValue::from_str(&login) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                html::harden(response.headers_mut());
                response
            }
            Self::NotSignedIn { navigable: false, .. } => {
                html::notice(StatusCode::UNAUTHORIZED, "Not signed in", "Sign in with Zoho to continue.")
            }
            Self::Unavailable => html::notice(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Your sign-in could not be checked just now. Please try again.",
            ),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for ZohoSession
where
    ZohoAuth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let auth = ZohoAuth::from_ref(state);
        let Some(id) = auth.inner.cookies.get(Jar::SignedIn, &parts.headers) else {
            return Ok(None);
        };
        let Some(sign_in) = auth.sign_in(&id) else {
            return Ok(None);
        };
        match auth.session_for(&sign_in.user.id).await {
            Ok(Some(session)) => Ok(Some(ZohoSession {
                user: sign_in.user,
                session,
                csrf: sign_in.csrf,
                logout_url: auth.public_url(LOGOUT_PATH).to_string(),
            })),
            Ok(None) => {
                // The grant is gone (revoked or deleted elsewhere): this browser is signed out.
                auth.remove_sign_in(&id);
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(%error, user = %sign_in.user.id, "could not restore a user's session");
                Err(SessionRejection::Unavailable)
            }
        }
    }
}

impl<S> FromRequestParts<S> for ZohoSession
where
    ZohoAuth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(session) = <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await? {
            return Ok(session);
        }
        let auth = ZohoAuth::from_ref(state);
        let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish();
        let login = format!("{}?{query}", auth.public_url(LOGIN_PATH));
        Err(SessionRejection::NotSignedIn { login, navigable: matches!(parts.method, Method::GET | Method::HEAD) })
    }
}
