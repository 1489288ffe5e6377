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
use crate::html::{self, ConsentPage, UserChoice};
use crate::state::{Authorization, BUILT_IN_USER, ConsentSubject, Dc, DeviceRequest, Grant, State, TokenError, UserIx};

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
        .route("/oauth/v2/auth", get(authorize).post(consent_form))
        .route("/oauth/v2/token", post(token))
        .route("/oauth/v2/token/revoke", post(revoke))
        .route("/oauth/v3/device/code", post(device_code))
        .route("/oauth/v3/device/token", post(device_token))
        .route("/oauth/v3/device", get(device_page).post(consent_form))
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

/// `GET /oauth/v2/auth`: the consent page, as HTML for a person or answered at once (headless).
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
    let scopes = scope_list(params.get("scope"));
    if scopes.is_empty() {
        return refuse("invalid_scope");
    }
    // Only S256 is supported: a missing method means `plain` (RFC 7636 section 4.3), which is refused.
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Some(challenge.to_owned()),
        _ => return refuse("invalid_request"),
    };
    let authorization = Authorization {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        // Anything but `offline` is online access, Zoho's default.
        offline: params.get("access_type") == Some("offline"),
        prompt_consent: params.get("prompt") == Some("consent"),
        code_challenge,
    };
    if state.settings.consent_page {
        let (client_id, scopes, offline) =
            (authorization.client_id.clone(), authorization.scopes.clone(), authorization.offline);
        let subject = ConsentSubject::Authorize { authorization, state: state_param.map(str::to_owned) };
        let request = state.open_consent(ctx.dc, subject, now);
        let page = consent_page(&ctx, &state, "/oauth/v2/auth", &request, &client_id, &scopes, offline, None);
        drop(state);
        return html::response(StatusCode::OK, page);
    }
    if state.settings.consent == Consent::Deny {
        return refuse("access_denied");
    }
    let code = state.mint_browser_code(authorization, BUILT_IN_USER, now);
    let user_dc = state.users[BUILT_IN_USER].dc;
    drop(state);
    code_redirect(&ctx, redirect_uri, &code, user_dc, state_param)
}

/// The redirect back with a code minted for a user whose account lives at `user_dc`, which the
/// redirect names in `location` and `accounts-server` as Zoho's multi-DC sign-in does.
fn code_redirect(ctx: &Ctx, redirect_uri: &str, code: &str, user_dc: Dc, state: Option<&str>) -> Response {
    let location = &ctx.shared.data_centers[user_dc].name;
    let server = ctx.shared.origin(user_dc);
    redirect(redirect_uri, &[("code", code), ("location", location), ("accounts-server", &server)], state)
}

/// The consent page HTML for one open request, offering every user but the built-in one.
#[allow(clippy::too_many_arguments)] // Each is one thing the page shows; a struct would only rename them.
fn consent_page(
    ctx: &Ctx,
    state: &State,
    action: &str,
    request: &str,
    client_id: &str,
    scopes: &[String],
    offline: bool,
    notice: Option<&str>,
) -> String {
    let users = state.users[BUILT_IN_USER + 1..]
        .iter()
        .map(|u| UserChoice {
            id: &u.id,
            full_name: &u.full_name,
            email: &u.email,
            data_center: &ctx.shared.data_centers[u.dc].name,
        })
        .collect();
    html::consent(&ConsentPage {
        action,
        request,
        client_id,
        scopes,
        offline,
        data_center: &ctx.shared.data_centers[ctx.dc].name,
        users,
        notice,
    })
}

/// `POST /oauth/v2/auth` and `POST /oauth/v3/device`: the answer to a consent page.
///
/// The form carries the page's anti-forgery value (`request`), the chosen user's id (`user`)
/// and `decision=accept` or `decision=deny`. The value is unguessable, single use, bound to
/// the listener that showed the page and valid for ten minutes; a form a browser posts from
/// another origin is refused as well, so another site cannot answer for the person.
async fn consent_form(AxumState(ctx): AxumState<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let now = ctx.shared.clock.now();
    let own_port = ctx.shared.data_centers[ctx.dc].url.port();
    // A person may have typed `localhost` for `127.0.0.1`; any other origin is another site.
    let same_origin = |origin: &HeaderValue| {
        let origin = origin.to_str().ok().and_then(|o| Url::parse(o).ok());
        origin.is_some_and(|o| {
            o.scheme() == "http" && matches!(o.host_str(), Some("127.0.0.1" | "localhost")) && o.port() == own_port
        })
    };
    let foreign_origin = headers.get(header::ORIGIN).is_some_and(|origin| !same_origin(origin));
    let cross_site = headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() == b"cross-site");
    if foreign_origin || cross_site {
        return notice_page(StatusCode::FORBIDDEN, "Refused", "This form was sent from another site.");
    }
    let Ok(params) = Params::parse(None, &body) else {
        return notice_page(StatusCode::BAD_REQUEST, "Bad request", "A field was sent twice.");
    };
    let accept = match params.get("decision") {
        Some("accept") => true,
        Some("deny") => false,
        _ => return notice_page(StatusCode::BAD_REQUEST, "Bad request", "Choose Accept or Deny."),
    };
    let expired = || {
        notice_page(
            StatusCode::BAD_REQUEST,
            "This page has expired",
            "This sign-in page was already answered or is too old. Start again from the application.",
        )
    };
    let mut state = ctx.shared.lock();
    let request = params.get("request").unwrap_or_default();
    let Some(subject) = state.consent(ctx.dc, request, now) else {
        return expired();
    };
    // Only the users the page offers can be chosen, whatever a hand-made form says.
    let user = params.get("user").and_then(|id| state.user_by_id(id)).filter(|u| *u != BUILT_IN_USER);
    if accept && user.is_none() {
        let Some((client_id, scopes, offline)) = describe(&state, subject, now) else {
            return expired();
        };
        let action = match subject {
            ConsentSubject::Authorize { .. } => "/oauth/v2/auth",
            ConsentSubject::Device { .. } => "/oauth/v3/device",
        };
        let notice = Some("Choose the user to sign in as, then Accept.");
        let page = consent_page(&ctx, &state, action, request, &client_id, &scopes, offline, notice);
        return html::response(StatusCode::BAD_REQUEST, page);
    }
    let Some(subject) = state.close_consent(ctx.dc, request, now) else {
        return expired();
    };
    let chosen = if accept { user } else { None };
    match subject {
        ConsentSubject::Authorize { authorization, state: state_param } => {
            let redirect_uri = authorization.redirect_uri.clone();
            match chosen {
                Some(user) => {
                    let code = state.mint_browser_code(authorization, user, now);
                    let user_dc = state.users[user].dc;
                    drop(state);
                    code_redirect(&ctx, &redirect_uri, &code, user_dc, state_param.as_deref())
                }
                None => {
                    drop(state);
                    redirect(&redirect_uri, &[("error", "access_denied")], state_param.as_deref())
                }
            }
        }
        ConsentSubject::Device { device_code } => {
            if !state.decide_device(&device_code, chosen, now) {
                return expired();
            }
            drop(state);
            match chosen {
                Some(_) => notice_page(
                    StatusCode::OK,
                    "Device connected",
                    "You can close this page and return to your device.",
                ),
                None => notice_page(
                    StatusCode::OK,
                    "Access denied",
                    "The device was not given access. You can close this page.",
                ),
            }
        }
    }
}

/// What an open consent page asks: the client, the scopes, and whether offline access is asked.
fn describe(
    state: &State,
    subject: &ConsentSubject,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(String, Vec<String>, bool)> {
    match subject {
        ConsentSubject::Authorize { authorization, .. } => {
            Some((authorization.client_id.clone(), authorization.scopes.clone(), authorization.offline))
        }
        ConsentSubject::Device { device_code } => {
            state.device_view(device_code, now).map(|d| (d.client_id, d.scopes, d.offline))
        }
    }
}

/// `GET /oauth/v3/device`: the verification page, where a person types the code a device shows,
/// then picks a user and accepts or denies on the consent page it leads to.
async fn device_page(AxumState(ctx): AxumState<Ctx>, RawQuery(query): RawQuery) -> Response {
    let now = ctx.shared.clock.now();
    let params = Params::parse(query.as_deref(), b"").unwrap_or_else(|()| Params(HashMap::new()));
    let Some(typed) = params.get("user_code") else {
        return html::response(StatusCode::OK, html::device_entry(None, ""));
    };
    let mut state = ctx.shared.lock();
    let Some(device) = state.pending_device(typed, now) else {
        drop(state);
        let notice = Some("That code is unknown, already used or expired. Check the code on your device.");
        return html::response(StatusCode::NOT_FOUND, html::device_entry(notice, typed));
    };
    let subject = ConsentSubject::Device { device_code: device.device_code };
    let request = state.open_consent(ctx.dc, subject, now);
    let page = consent_page(
        &ctx,
        &state,
        "/oauth/v3/device",
        &request,
        &device.client_id,
        &device.scopes,
        device.offline,
        None,
    );
    drop(state);
    html::response(StatusCode::OK, page)
}

fn notice_page(status: StatusCode, title: &str, text: &str) -> Response {
    html::response(status, html::notice(title, text))
}

/// `POST /oauth/v3/device/code`: starts Zoho's device flow.
async fn device_code(AxumState(ctx): AxumState<Ctx>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let now = ctx.shared.clock.now();
    let mut state = ctx.shared.lock();
    state.counters[ctx.dc].device_code += 1;
    let error_status = state.settings.error_status;
    let outcome = device_request(&mut state, query.as_deref(), &body);
    let request = match outcome {
        Ok(request) => request,
        Err(error) => {
            drop(state);
            return json_response(error_status, error_body(&ctx, error));
        }
    };
    let (device_code, user_code) = state.start_device(ctx.dc, request, now);
    let settings = &state.settings;
    let (mut interval, mut expires_in) =
        (settings.device_poll_interval.num_seconds(), settings.device_code_lifetime.num_seconds());
    if settings.device_times_in_milliseconds {
        // An older page of Zoho's documentation gives both in milliseconds.
        interval = settings.device_poll_interval.num_milliseconds();
        expires_in = settings.device_code_lifetime.num_milliseconds();
    }
    drop(state);
    let verification_url = format!("{}/oauth/v3/device", ctx.shared.origin(ctx.dc));
    let body = json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_url": verification_url,
        "interval": interval,
        "expires_in": expires_in,
    });
    json_response(StatusCode::OK, body)
}

/// Checks a device request's parameters; no client secret is asked at this step.
fn device_request(state: &mut State, query: Option<&str>, body: &[u8]) -> Result<DeviceRequest, TokenError> {
    let params = Params::parse(query, body).map_err(|()| TokenError::InvalidRequest)?;
    match params.get("grant_type") {
        Some("device_request") => {}
        Some(_) => return Err(TokenError::UnsupportedGrantType),
        None => return Err(TokenError::InvalidRequest),
    }
    let client_id = params.get("client_id").ok_or(TokenError::InvalidRequest)?;
    if state.client(client_id).is_none() {
        return Err(TokenError::InvalidClient);
    }
    let scopes = scope_list(params.get("scope"));
    if scopes.is_empty() {
        return Err(TokenError::InvalidScope);
    }
    Ok(DeviceRequest {
        client_id: client_id.to_owned(),
        scopes,
        offline: params.get("access_type") == Some("offline"),
        prompt_consent: params.get("prompt") == Some("consent"),
    })
}

/// `POST /oauth/v3/device/token`: one poll of a device request.
async fn device_token(
    AxumState(ctx): AxumState<Ctx>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let now = ctx.shared.clock.now();
    let mut state = ctx.shared.lock();
    state.counters[ctx.dc].device_token += 1;
    let outcome = (|| {
        let params = Params::parse(query.as_deref(), &body).map_err(|()| TokenError::InvalidRequest)?;
        match params.get("grant_type") {
            Some("device_token") => {}
            Some(_) => return Err(TokenError::UnsupportedGrantType),
            None => return Err(TokenError::InvalidRequest),
        }
        let (client_id, client_secret) = client_credentials(&headers, &params)?;
        state.authenticate(&client_id, &client_secret)?;
        let device_code = params.get("code").ok_or(TokenError::InvalidRequest)?;
        state.poll_device(ctx.dc, now, &client_id, device_code)
    })();
    let (legacy, error_status) = (state.settings.legacy_expires, state.settings.error_status);
    drop(state);
    match outcome {
        Ok(grant) => json_response(StatusCode::OK, token_body(&ctx, grant, legacy)),
        Err(error) => json_response(error_status, error_body(&ctx, error)),
    }
}

/// Scopes as Zoho joins them, with commas; spaces, the RFC 6749 separator, are accepted too.
fn scope_list(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /oauth/v2/token`: code exchange, refresh and client credentials.
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
            json_response(error_status, error_body(&ctx, error))
        }
    }
}

/// Zoho's error body for `error`.
fn error_body(ctx: &Ctx, error: TokenError) -> Value {
    match error {
        TokenError::RateLimited => json!({
            "error_description": "You have made too many requests continuously. Please try again after some time.",
            "error": error.code(),
            "status": "failure",
        }),
        TokenError::OtherDc(user_dc) => {
            json!({ "error": error.code(), "user_location": ctx.shared.data_centers[user_dc].name })
        }
        _ => json!({ "error": error.code() }),
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
        "client_credentials" => counters.token_client_credentials += 1,
        _ => return Err(TokenError::UnsupportedGrantType),
    }
    let (client_id, client_secret) = client_credentials(headers, &params)?;
    state.authenticate(&client_id, &client_secret)?;
    match grant_type {
        "authorization_code" => {
            let code = params.get("code").ok_or(TokenError::InvalidRequest)?;
            state.exchange_code(ctx.dc, now, &client_id, code, params.get("redirect_uri"), params.get("code_verifier"))
        }
        "refresh_token" => {
            let refresh_token = params.get("refresh_token").ok_or(TokenError::InvalidRequest)?;
            state.refresh(ctx.dc, now, &client_id, refresh_token)
        }
        _ => {
            // The org is `{service}.{org id}`, for CRM `ZohoCRM.<zsoid>`; Zoho answers
            // missing_org_info without it, and the emulator gives a malformed one the same answer.
            let soid = params
                .get("soid")
                .filter(|soid| {
                    soid.split_once('.').is_some_and(|(service, org)| !service.is_empty() && !org.is_empty())
                })
                .ok_or(TokenError::MissingOrgInfo)?;
            let scopes = scope_list(params.get("scope"));
            if scopes.is_empty() {
                return Err(TokenError::InvalidScope);
            }
            state.client_credentials(ctx.dc, now, &client_id, scopes, soid)
        }
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

/// `GET /crm/v8/users?type=CurrentUser`: the smallest API call that proves a token works, and
/// whose it is.
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
    let user: Option<UserIx> = token.and_then(|token| state.access_token_user(ctx.dc, now, token));
    if let Some(user) = user {
        let user = &state.users[user];
        // `data_center` is the emulator's own addition: it names where the account lives, so a
        // test or a web app can show it; Zoho's record has no such field.
        let record = json!({
            "id": user.id,
            "full_name": user.full_name,
            "email": user.email,
            "status": "active",
            "role": { "name": "CEO" },
            "data_center": ctx.shared.data_centers[user.dc].name,
        });
        drop(state);
        json_response(StatusCode::OK, json!({ "users": [record] }))
    } else {
        drop(state);
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
