//! The HTTP face of one data center: the accounts endpoints and the emulated CRM endpoint.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use url::{Url, form_urlencoded};
use zoho_oauth_core::SharedClock;

use crate::Consent;
use crate::state::{Authorization, Dc, Grant, State, TokenError};

/// One data center's name and base URL.
#[derive(Debug)]
pub(crate) struct DataCenter {
    pub(crate) name: String,
    pub(crate) url: Url,
}

/// What every listener shares: the state, the clock and the map of data centers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) clock: SharedClock,
    pub(crate) data_centers: Vec<DataCenter>,
}

impl Shared {
    /// Locks the state; a poisoned lock still holds consistent maps, because every mutation
    /// completes before anything that could panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The base URL of a data center with the path dropped, as Zoho writes its servers.
    fn origin(&self, dc: Dc) -> String {
        self.data_centers[dc].url.origin().ascii_serialization()
    }
}

/// The router state of one listener: the shared state plus which data center it is.
#[derive(Debug, Clone)]
struct Ctx {
    shared: Arc<Shared>,
    dc: Dc,
}

/// The router for data center `dc`.
pub(crate) fn router(shared: Arc<Shared>, dc: Dc) -> Router {
    Router::new()
        .route("/oauth/v2/auth", get(authorize))
        .route("/oauth/v2/token", post(token))
        .route("/oauth/v2/token/revoke", post(revoke))
        .route("/crm/v8/users", get(crm_users))
        .with_state(Ctx { shared, dc })
}

/// Request parameters from the query string and a urlencoded body, merged.
///
/// A parameter sent twice with different values is refused, as RFC 6749 section 3.1 asks.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, ()> {
        let mut params = HashMap::new();
        let pairs = form_urlencoded::parse(body).chain(form_urlencoded::parse(query.unwrap_or_default().as_bytes()));
        for (name, value) in pairs {
            match params.entry(name.into_owned()) {
                Entry::Vacant(slot) => {
                    slot.insert(value.into_owned());
                }
                Entry::Occupied(slot) if *slot.get() == value => {}
                Entry::Occupied(_) => return Err(()),
            }
        }
        Ok(Self(params))
    }

    /// A parameter's value; an empty value counts as absent.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// `GET /oauth/v2/auth`: the consent page, answered at once without any HTML.
///
/// Errors about the client or the redirect URI are shown to the user and never redirected
/// (RFC 6749 section 4.1.2.1); every other error goes back to the client in the redirect.
async fn authorize(AxumState(ctx): AxumState<Ctx>, RawQuery(query): RawQuery) -> Response {
    let now = ctx.shared.clock.now();
    let mut state = ctx.shared.lock();
    state.counters[ctx.dc].authorize += 1;
    let Ok(params) = Params::parse(query.as_deref(), b"") else {
        return error_page("a parameter was sent twice");
    };
    let Some(client_id) = params.get("client_id") else {
        return error_page("client_id is missing");
    };
    let Some(client) = state.client(client_id) else {
        return error_page("the client_id is not registered");
    };
    let Some(redirect_uri) = params.get("redirect_uri").filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
    else {
        return error_page("the redirect_uri is missing or not registered for this client");
    };
    let state_param = params.get("state");
    let refuse = |error: &str| redirect(redirect_uri, &[("error", error)], state_param);

    match params.get("response_type") {
        Some("code") => {}
        Some(_) => return refuse("unsupported_response_type"),
        None => return refuse("invalid_request"),
    }
    // Zoho joins scopes with commas; spaces, the RFC 6749 separator, are accepted too.
    let scopes: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return refuse("invalid_scope");
    }
    // Only S256 is supported: a missing method means `plain` (RFC 7636 section 4.3), which is refused.
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Some(challenge.to_owned()),
        _ => return refuse("invalid_request"),
    };
    if state.settings.consent == Consent::Deny {
        return refuse("access_denied");
    }

    let user_dc = state.settings.user_dc;
    let authorization = Authorization {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        // Anything but `offline` is online access, Zoho's default.
        offline: params.get("access_type") == Some("offline"),
        prompt_consent: params.get("prompt") == Some("consent"),
        code_challenge,
    };
    let code = state.mint_browser_code(authorization, now);
    drop(state);
    let location = &ctx.shared.data_centers[user_dc].name;
    let server = ctx.shared.origin(user_dc);
    redirect(redirect_uri, &[("code", &code), ("location", location), ("accounts-server", &server)], state_param)
}

/// `POST /oauth/v2/token`: code exchange and refresh.
async fn token(AxumState(ctx): AxumState<Ctx>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let now = ctx.shared.clock.now();
    let fault = ctx.shared.lock().settings.fault;
    if let Some(fault) = fault {
        return fault_response(&ctx, fault).await;
    }
    let mut state = ctx.shared.lock();
    let outcome = token_outcome(&ctx, &mut state, now, &headers, query.as_deref(), &body);
    let legacy = state.settings.legacy_expires;
    let error_status = state.settings.error_status;
    match outcome {
        Ok(grant) => {
            drop(state);
            json_response(StatusCode::OK, token_body(&ctx, grant, legacy))
        }
        Err(error) => {
            state.counters[ctx.dc].token_errors += 1;
            drop(state);
            tracing::debug!(dc = %ctx.shared.data_centers[ctx.dc].name, error = error.code(), "token request refused");
            let body = if error == TokenError::RateLimited {
                json!({
                    "error_description": "You have made too many requests continuously. Please try again after some time.",
                    "error": error.code(),
                    "status": "failure",
                })
            } else {
                json!({ "error": error.code() })
            };
            json_response(error_status, body)
        }
    }
}

fn token_outcome(
    ctx: &Ctx,
    state: &mut State,
    now: chrono::DateTime<chrono::Utc>,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Grant, TokenError> {
    let params = Params::parse(query, body).map_err(|()| TokenError::InvalidRequest)?;
    let grant_type = params.get("grant_type").ok_or(TokenError::InvalidRequest)?;
    let counters = &mut state.counters[ctx.dc];
    match grant_type {
        "authorization_code" => counters.token_exchange += 1,
        "refresh_token" => counters.token_refresh += 1,
        _ => return Err(TokenError::UnsupportedGrantType),
    }
    let (client_id, client_secret) = client_credentials(headers, &params)?;
    state.authenticate(&client_id, &client_secret)?;
    if grant_type == "authorization_code" {
        let code = params.get("code").ok_or(TokenError::InvalidRequest)?;
        state.exchange_code(ctx.dc, now, &client_id, code, params.get("redirect_uri"), params.get("code_verifier"))
    } else {
        let refresh_token = params.get("refresh_token").ok_or(TokenError::InvalidRequest)?;
        state.refresh(ctx.dc, now, &client_id, refresh_token)
    }
}

/// What the token endpoint answers while a fault is switched on; the request is counted but not run.
async fn fault_response(ctx: &Ctx, fault: crate::Fault) -> Response {
    ctx.shared.lock().counters[ctx.dc].token_errors += 1;
    match fault {
        crate::Fault::Silent => {
            // Longer than any client timeout; the connection is dropped when the emulator stops.
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        crate::Fault::BadGatewayHtml => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>",
        )
            .into_response(),
        crate::Fault::HugeBody => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], vec![b' '; 10 * 1024 * 1024]).into_response()
        }
        crate::Fault::EmptyBody => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "").into_response(),
    }
}

/// The client's id and secret from HTTP Basic authentication (RFC 6749 section 2.3.1) or the
/// parameters.
fn client_credentials(headers: &HeaderMap, params: &Params) -> Result<(String, String), TokenError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let encoded = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, credentials)| credentials.trim())
            .ok_or(TokenError::InvalidClient)?;
        let decoded = STANDARD.decode(encoded).ok().and_then(|d| String::from_utf8(d).ok());
        let (id, secret) = decoded.as_deref().and_then(|d| d.split_once(':')).ok_or(TokenError::InvalidClient)?;
        // RFC 6749 section 2.3.1 form-urlencodes both halves before joining them.
        return Ok((form_decode(id), form_decode(secret)));
    }
    let id = params.get("client_id").ok_or(TokenError::InvalidRequest)?;
    let secret = params.get("client_secret").ok_or(TokenError::InvalidRequest)?;
    Ok((id.to_owned(), secret.to_owned()))
}

/// Decodes one application/x-www-form-urlencoded value.
fn form_decode(value: &str) -> String {
    // Parsing `value` as the name of a lone pair decodes it; `=` and `&` cannot appear raw in an
    // encoded value, so the first pair holds all of it.
    form_urlencoded::parse(value.as_bytes()).next().map(|(name, _)| name.into_owned()).unwrap_or_default()
}

/// The success body in Zoho's shape, or its older `expires_in_sec` variant.
fn token_body(ctx: &Ctx, grant: Grant, legacy: bool) -> Value {
    let seconds = grant.expires_in.num_seconds();
    let mut body = json!({
        "access_token": grant.access_token,
        "scope": grant.scopes.join(" "),
        "api_domain": ctx.shared.origin(ctx.dc),
        "token_type": "Bearer",
        "expires_in": seconds,
    });
    if let Some(refresh_token) = grant.refresh_token {
        body["refresh_token"] = Value::String(refresh_token);
    }
    if legacy {
        // In the legacy shape `expires_in` is in milliseconds and `expires_in_sec` in seconds.
        body["expires_in_sec"] = json!(seconds);
        body["expires_in"] = json!(seconds.saturating_mul(1000));
    }
    body
}

/// `POST /oauth/v2/token/revoke`: revokes a refresh token with its access tokens, or one access token.
async fn revoke(AxumState(ctx): AxumState<Ctx>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let mut state = ctx.shared.lock();
    state.counters[ctx.dc].revoke += 1;
    // Client authentication and `token_type_hint` are accepted but not needed: Zoho revokes by
    // the token alone.
    let token = Params::parse(query.as_deref(), &body).ok().and_then(|p| p.get("token").map(str::to_owned));
    let Some(token) = token else {
        let status = state.settings.error_status;
        drop(state);
        return json_response(status, json!({ "error": "invalid_request" }));
    };
    state.revoke(ctx.dc, &token);
    drop(state);
    json_response(StatusCode::OK, json!({ "status": "success" }))
}

/// `GET /crm/v8/users?type=CurrentUser`: the smallest API call that proves a token works.
async fn crm_users(AxumState(ctx): AxumState<Ctx>, headers: HeaderMap) -> Response {
    let now = ctx.shared.clock.now();
    let mut state = ctx.shared.lock();
    state.counters[ctx.dc].api += 1;
    let accept_bearer = state.settings.accept_bearer;
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' ')).and_then(
            |(scheme, token)| {
                let accepted = scheme.eq_ignore_ascii_case("Zoho-oauthtoken")
                    || (accept_bearer && scheme.eq_ignore_ascii_case("Bearer"));
                accepted.then(|| token.trim())
            },
        );
    let live = token.is_some_and(|token| state.access_token_is_live(ctx.dc, now, token));
    drop(state);
    if live {
        let user = json!({
            "id": crate::state::USER_ID,
            "full_name": "Emulated User",
            "email": "user@example.com",
            "role": { "name": "CEO" },
        });
        json_response(StatusCode::OK, json!({ "users": [user] }))
    } else {
        let body =
            json!({ "code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error" });
        json_response(StatusCode::UNAUTHORIZED, body)
    }
}

/// Whether `challenge` looks like an S256 challenge: 43 base64url characters (RFC 7636 section 4.2).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A `302 Found` back to the client with `params` and `state` appended to its redirect URI.
fn redirect(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{separator}{}", query.finish());
    match HeaderValue::try_from(location) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        // A registered redirect URI with characters a header cannot carry is a set-up mistake;
        // it is reported to the "user" instead of failing the connection.
        Err(_) => error_page("the registered redirect_uri cannot be sent in a Location header"),
    }
}

/// The page a browser would show for an authorization request that must not be redirected.
fn error_page(reason: &str) -> Response {
    let body = format!("400 Bad Request: {reason}.\n");
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A JSON answer with the content type Zoho sends.
fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_handles_plus_and_percent() {
        assert_eq!(form_decode("a+b%3Ac%26d%3D"), "a b:c&d=");
    }

    #[test]
    fn conflicting_duplicates_are_refused() {
        assert!(Params::parse(Some("a=1"), b"a=2").is_err());
        let params = Params::parse(Some("a=1&b="), b"a=1").expect("identical duplicates are fine");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
    }

    #[test]
    fn redirect_appends_to_an_existing_query() {
        let response = redirect("http://x/cb?k=v", &[("code", "c")], Some("s t"));
        assert_eq!(response.headers()[header::LOCATION], "http://x/cb?k=v&code=c&state=s+t");
    }
}
