//! The catalogue: one entry per clause checked, each driving the library's public API the way a
//! user's program would, over real HTTP on loopback.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, bail, ensure};
use zoho_oauth::{AccessToken, AuthorizationCode, Authorized, Error, ErrorCode, Flow, RefreshToken, Scopes, TokenSet};

use crate::target::{ClientKind, Kind, REDIRECT_URI, Target};

type Run = for<'a> fn(&'a Target) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// One checked clause.
pub struct Scenario {
    /// A stable identifier, used in reports.
    pub id: &'static str,
    /// The clause it checks.
    pub clause: &'static str,
    /// What passing means.
    pub passing: &'static str,
    /// Why the scenario does not apply to a target, if it does not.
    pub not_applicable: fn(Kind) -> Option<&'static str>,
    pub run: Run,
}

fn everywhere(_: Kind) -> Option<&'static str> {
    None
}

fn zoho_only(kind: Kind) -> Option<&'static str> {
    (!kind.is_zoho()).then_some("a Zoho behaviour; the target is a generic RFC 6749 server")
}

fn generic_only(kind: Kind) -> Option<&'static str> {
    kind.is_zoho().then_some("Zoho's API takes `Zoho-oauthtoken`, checked by zoho-oauthtoken-header")
}

fn rotating_only(kind: Kind) -> Option<&'static str> {
    kind.is_zoho().then_some("Zoho never rotates refresh tokens")
}

fn issuer_sending_only(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::OidcProvider => None,
        Kind::Emulator => {
            Some("Zoho does not send `iss`; its `accounts-server` is checked by zoho-foreign-accounts-server")
        }
        Kind::Authlib => Some("the server does not send `iss` (RFC 9207 is optional)"),
    }
}

fn public_client_only(kind: Kind) -> Option<&'static str> {
    kind.is_zoho().then_some("Zoho has no public clients")
}

macro_rules! scenario {
    ($id:literal, $clause:literal, $passing:literal, $applies:expr, $body:ident) => {
        Scenario { id: $id, clause: $clause, passing: $passing, not_applicable: $applies, run: |t| Box::pin($body(t)) }
    };
}

/// Every scenario, in report order.
pub fn catalogue() -> Vec<Scenario> {
    vec![
        scenario!(
            "auth-request",
            "RFC 6749 4.1.1, RFC 7636 4.3",
            "the authorization URL carries response_type=code, client_id, redirect_uri, scope, a state of at least 128 bits and an S256 code challenge, and the server answers it with a code",
            everywhere,
            auth_request
        ),
        scenario!(
            "state-round-trip",
            "RFC 6749 4.1.2, 10.12",
            "the callback's state equals the one sent, and the exchange accepts it",
            everywhere,
            state_round_trip
        ),
        scenario!(
            "issuer-mismatch",
            "RFC 9207 2.4",
            "a callback whose `iss` names another issuer fails with IssuerMismatch before any request, and the real `iss` is accepted",
            issuer_sending_only,
            issuer_mismatch
        ),
        scenario!(
            "state-mismatch",
            "RFC 6749 10.12",
            "a callback with another state fails with StateMismatch before any request",
            everywhere,
            state_mismatch
        ),
        scenario!(
            "pkce-s256",
            "RFC 7636 4.2, 4.5",
            "a code bound to an S256 challenge is exchanged with its verifier",
            everywhere,
            pkce_s256
        ),
        scenario!(
            "pkce-wrong-verifier",
            "RFC 7636 4.6",
            "an exchange with another verifier is refused with a typed server error",
            everywhere,
            pkce_wrong_verifier
        ),
        scenario!(
            "code-exchange",
            "RFC 6749 4.1.3, 5.1",
            "the code yields an access token, a refresh token and a future expiry",
            everywhere,
            code_exchange
        ),
        scenario!(
            "code-replay",
            "RFC 6749 4.1.2",
            "a second exchange of one code is refused with invalid_grant (Zoho: invalid_code)",
            everywhere,
            code_replay
        ),
        scenario!(
            "code-expired",
            "RFC 6749 4.1.2",
            "an expired code is refused with invalid_grant (Zoho: invalid_code)",
            everywhere,
            code_expired
        ),
        scenario!(
            "redirect-uri-mismatch",
            "RFC 6749 4.1.3",
            "an exchange naming another redirect_uri is refused with a typed server error",
            everywhere,
            redirect_uri_mismatch
        ),
        scenario!(
            "wrong-client-secret",
            "RFC 6749 2.3.1, 5.2",
            "a wrong secret is refused with invalid_client (Zoho: invalid_client_secret)",
            everywhere,
            wrong_client_secret
        ),
        scenario!(
            "client-auth-basic",
            "RFC 6749 2.3.1",
            "a client authenticating with HTTP Basic is issued tokens",
            everywhere,
            client_auth_basic
        ),
        scenario!(
            "client-auth-form",
            "RFC 6749 2.3.1",
            "a client authenticating in the form body is issued tokens",
            everywhere,
            client_auth_form
        ),
        scenario!(
            "refresh",
            "RFC 6749 6",
            "a refresh yields a new access token and keeps a usable refresh token",
            everywhere,
            refresh
        ),
        scenario!(
            "refresh-rotation",
            "RFC 6749 6, 10.4",
            "a rotated refresh token replaces the old one, and the new one refreshes again",
            rotating_only,
            refresh_rotation
        ),
        scenario!(
            "refresh-revoked",
            "RFC 6749 6, RFC 7009 2",
            "a refresh with a revoked token fails with ReauthorizationRequired and keeps the refresh token",
            everywhere,
            refresh_revoked
        ),
        scenario!(
            "revoke",
            "RFC 7009 2.1, 2.2",
            "revocation succeeds and returns the flow to Unauthorized",
            everywhere,
            revoke
        ),
        scenario!(
            "revoke-unknown",
            "RFC 7009 2.2",
            "revoking a token the server never issued succeeds",
            everywhere,
            revoke_unknown
        ),
        scenario!(
            "public-client",
            "RFC 6749 2.1, RFC 7636",
            "a public client (no secret) completes the flow with PKCE",
            public_client_only,
            public_client
        ),
        scenario!(
            "bearer-resource",
            "RFC 6750 2.1",
            "the protected resource accepts `Authorization: Bearer <token>`",
            generic_only,
            bearer_resource
        ),
        scenario!(
            "denied-consent",
            "RFC 6749 4.1.2.1",
            "a refused consent fails with AuthorizationDenied(access_denied), without a token request",
            everywhere,
            denied_consent
        ),
        scenario!(
            "error-typed",
            "RFC 6749 5.2",
            "an unknown code is a typed server error with a known code, not a parse failure",
            everywhere,
            error_typed
        ),
        scenario!(
            "zoho-multi-dc",
            "Zoho multi-DC",
            "a user of another data center is exchanged and refreshed at its accounts-server, and the API domain is that data center's",
            zoho_only,
            zoho_multi_dc
        ),
        scenario!(
            "zoho-foreign-accounts-server",
            "Zoho multi-DC, RFC 6749 10.6",
            "a callback naming an untrusted accounts-server is refused before the code is sent",
            zoho_only,
            zoho_foreign_accounts_server
        ),
        scenario!(
            "zoho-errors-http-200",
            "Zoho token endpoint",
            "an error sent with HTTP 200 is a typed server error",
            zoho_only,
            zoho_errors_http_200
        ),
        scenario!(
            "zoho-expires-in-sec",
            "Zoho token endpoint",
            "the legacy expires_in_sec response gives a one-hour expiry, not a thousand hours",
            zoho_only,
            zoho_expires_in_sec
        ),
        scenario!(
            "zoho-rate-limit",
            "Zoho limits",
            "the 11th refresh in ten minutes is RateLimited, and no request is sent during the lock-out",
            zoho_only,
            zoho_rate_limit
        ),
        scenario!(
            "zoho-oauthtoken-header",
            "Zoho API",
            "the API accepts `Authorization: Zoho-oauthtoken <token>`",
            zoho_only,
            zoho_oauthtoken_header
        ),
    ]
}

/// The default client for a target: form-body authentication, which every target supports.
const CLIENT: ClientKind = ClientKind::FormBody;

async fn authorize(t: &Target, client: ClientKind) -> anyhow::Result<Flow<Authorized>> {
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    Ok(pending.exchange(&callback).await?)
}

fn server_code(result: Result<impl Sized, Error>) -> anyhow::Result<ErrorCode> {
    match result {
        Err(Error::Server(e)) | Err(Error::ReauthorizationRequired(e)) => Ok(e.error),
        Err(other) => bail!("expected a server error, got: {other}"),
        Ok(_) => bail!("expected a server error, but the request succeeded"),
    }
}

/// `url` with the value of query parameter `name` replaced, as an attacker would forge a callback.
fn with_param(url: &url::Url, name: &str, value: &str) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    let mut forged = url.clone();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    forged
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn auth_request(t: &Target) -> anyhow::Result<()> {
    let (url, _pending) = t.flow(CLIENT)?.authorization_url();
    ensure!(query(&url, "response_type").as_deref() == Some("code"), "response_type is not code");
    ensure!(query(&url, "client_id").is_some(), "no client_id");
    ensure!(query(&url, "redirect_uri").as_deref() == Some(REDIRECT_URI), "redirect_uri differs");
    ensure!(query(&url, "scope").is_some_and(|s| !s.is_empty()), "no scope");
    ensure!(query(&url, "state").is_some_and(|s| s.len() >= 22), "state shorter than 128 bits");
    ensure!(query(&url, "code_challenge_method").as_deref() == Some("S256"), "challenge method is not S256");
    ensure!(query(&url, "code_challenge").is_some_and(|c| c.len() == 43), "challenge is not a base64url SHA-256");
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    ensure!(query(&callback, "code").is_some(), "the server answered without a code: {:?}", query(&callback, "error"));
    Ok(())
}

async fn state_round_trip(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = t.consent(&url).await?;
    let returned = query(&url::Url::parse(&callback)?, "state");
    ensure!(returned == query(&url, "state"), "the state came back changed");
    let _session = pending.exchange(&callback).await?;
    Ok(())
}

async fn state_mismatch(t: &Target) -> anyhow::Result<()> {
    let before = t.emulator().map(|e| e.counters().token_exchange);
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = t.consent(&url).await?;
    let state = query(&url, "state").context("no state")?;
    let forged = callback.replace(&state, "forged-state-0123456789");
    match pending.exchange(&forged).await {
        Err(Error::StateMismatch) => {}
        other => bail!("expected StateMismatch, got {:?}", other.map(|_| "tokens")),
    }
    if let Some(before) = before {
        ensure!(t.emulator().map(|e| e.counters().token_exchange) == Some(before), "a token request was sent");
    }
    Ok(())
}

async fn issuer_mismatch(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    ensure!(query(&callback, "iss").is_some(), "the callback carries no iss");
    let forged = with_param(&callback, "iss", "https://mix-up.example");
    let saved = serde_json::to_string(&pending.into_pending())?;
    let first = t.flow(CLIENT)?.resume(serde_json::from_str(&saved)?)?;
    match first.exchange(forged.as_str()).await {
        Err(Error::IssuerMismatch) => {}
        other => bail!("expected IssuerMismatch, got {:?}", other.map(|_| "tokens")),
    }
    let second = t.flow(CLIENT)?.resume(serde_json::from_str(&saved)?)?;
    let _session = second.exchange(callback.as_str()).await.context("the genuine iss was refused")?;
    Ok(())
}

/// Peers check PKCE with the public client, which cannot authenticate otherwise.
fn pkce_client(t: &Target) -> ClientKind {
    if t.kind.is_zoho() { CLIENT } else { ClientKind::Public }
}

async fn pkce_s256(t: &Target) -> anyhow::Result<()> {
    authorize(t, pkce_client(t)).await.map(drop)
}

async fn pkce_wrong_verifier(t: &Target) -> anyhow::Result<()> {
    let client = pkce_client(t);
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    // A web app stores the pending state between requests; an attacker who swapped the verifier there
    // (or a bug that mixed two users' states) must not get tokens.
    let mut saved = serde_json::to_value(pending.into_pending())?;
    saved["verifier"] = serde_json::Value::String("A".repeat(43));
    let resumed = t.flow(client)?.resume(serde_json::from_value(saved)?)?;
    let code = server_code(resumed.exchange(&callback).await)?;
    ensure!(code.is_invalid_grant(), "refused with {code}, expected invalid_grant or invalid_code");
    Ok(())
}

async fn code_exchange(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let tokens = session.tokens();
    ensure!(!tokens.access_token().expose_secret().is_empty(), "empty access token");
    ensure!(tokens.refresh_token().is_some(), "no refresh token");
    ensure!(tokens.expires_at() > chrono::Utc::now() - chrono::Duration::minutes(1), "the token is already expired");
    Ok(())
}

async fn code_replay(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = t.consent(&url).await?;
    let saved = serde_json::to_string(&pending.into_pending())?;
    let first = t.flow(CLIENT)?.resume(serde_json::from_str(&saved)?)?;
    let second = t.flow(CLIENT)?.resume(serde_json::from_str(&saved)?)?;
    let _session = first.exchange(&callback).await?;
    let code = server_code(second.exchange(&callback).await)?;
    ensure!(code.is_invalid_grant(), "refused with {code}, expected invalid_grant or invalid_code");
    Ok(())
}

async fn code_expired(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = t.consent(&url).await?;
    t.expire_codes().await;
    let code = server_code(pending.exchange(&callback).await)?;
    ensure!(code.is_invalid_grant(), "refused with {code}, expected invalid_grant or invalid_code");
    Ok(())
}

async fn redirect_uri_mismatch(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = t.consent(&url).await?;
    let other = Flow::new(t.config_with(CLIENT, None, "http://127.0.0.1/other-callback")?, t.http.clone());
    let resumed = other.resume(pending.into_pending())?;
    let code = server_code(resumed.exchange(&callback).await)?;
    ensure!(
        code.is_invalid_grant() || matches!(code, ErrorCode::InvalidRedirectUri | ErrorCode::InvalidRequest),
        "refused with {code}"
    );
    Ok(())
}

async fn wrong_client_secret(t: &Target) -> anyhow::Result<()> {
    let flow = Flow::new(t.config_with(CLIENT, Some("not-the-secret"), REDIRECT_URI)?, t.http.clone());
    let (url, pending) = flow.authorization_url();
    let callback = t.consent(&url).await?;
    let code = server_code(pending.exchange(&callback).await)?;
    ensure!(matches!(code, ErrorCode::InvalidClient | ErrorCode::InvalidClientSecret), "refused with {code}");
    Ok(())
}

async fn client_auth_basic(t: &Target) -> anyhow::Result<()> {
    authorize(t, ClientKind::Basic).await.map(drop)
}

async fn client_auth_form(t: &Target) -> anyhow::Result<()> {
    authorize(t, ClientKind::FormBody).await.map(drop)
}

async fn refresh(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let before = session.tokens();
    session.refresh().await?;
    let after = session.tokens();
    ensure!(!before.access_token().ct_eq(after.access_token()), "the access token did not change");
    ensure!(after.refresh_token().is_some(), "the refresh token was lost");
    session.refresh().await.context("a second refresh with the kept refresh token")?;
    Ok(())
}

async fn refresh_rotation(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, ClientKind::Public).await?;
    let before = session.tokens();
    session.refresh().await?;
    let after = session.tokens();
    let (old, new) = (before.refresh_token().context("no refresh token")?, after.refresh_token().context("lost")?);
    ensure!(!old.ct_eq(new), "the server did not rotate the refresh token for this client");
    session.refresh().await.context("refreshing with the rotated token")?;
    Ok(())
}

async fn refresh_revoked(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let saved = session.tokens();
    let _unauthorized = session.revoke().await.map_err(|e| e.error)?;
    let restored = t.flow(CLIENT)?.restore(saved)?;
    match restored.refresh().await {
        Err(Error::ReauthorizationRequired(_)) => {}
        other => bail!("expected ReauthorizationRequired, got {other:?}"),
    }
    ensure!(restored.tokens().refresh_token().is_some(), "the failed refresh dropped the refresh token");
    Ok(())
}

async fn revoke(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let _unauthorized: Flow<zoho_oauth::Unauthorized> = session.revoke().await.map_err(|e| e.error)?;
    Ok(())
}

async fn revoke_unknown(t: &Target) -> anyhow::Result<()> {
    let unknown = TokenSet::new(
        AccessToken::new("unknown-access-token-0123456789"),
        Some(RefreshToken::new("unknown-refresh-token-0123456789")),
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        t.endpoints(CLIENT)?.accounts_server(),
        Scopes::empty(),
    );
    let _unauthorized = t.flow(CLIENT)?.restore(unknown)?.revoke().await.map_err(|e| e.error)?;
    Ok(())
}

async fn public_client(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, ClientKind::Public).await?;
    session.refresh().await?;
    Ok(())
}

async fn bearer_resource(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let header = session.authorization_header().await?;
    ensure!(header.to_str().is_ok_and(|h| h.starts_with("Bearer ")), "not a Bearer header");
    let status = t.call_resource(&session).await?;
    ensure!(status == 200, "the resource answered HTTP {status}");
    Ok(())
}

async fn denied_consent(t: &Target) -> anyhow::Result<()> {
    t.set_consent(false).await?;
    let result = async {
        let (url, pending) = t.flow(CLIENT)?.authorization_url();
        let callback = t.consent(&url).await?;
        anyhow::Ok(pending.exchange(&callback).await)
    }
    .await;
    t.set_consent(true).await?;
    match result? {
        Err(Error::AuthorizationDenied { error, .. }) if error == "access_denied" => Ok(()),
        other => bail!("expected AuthorizationDenied(access_denied), got {:?}", other.map(|_| "tokens")),
    }
}

async fn error_typed(t: &Target) -> anyhow::Result<()> {
    let flow = t.flow(CLIENT)?.self_client(AuthorizationCode::new("never-issued-code-0123456789"));
    let code = server_code(flow.exchange().await)?;
    ensure!(!matches!(code, ErrorCode::Other(_)), "an unknown error code: {code}");
    Ok(())
}

async fn zoho_multi_dc(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_user_data_center("eu");
    let result = authorize(t, CLIENT).await;
    emulator.set_user_data_center("us");
    let session = result?;
    ensure!(session.api_domain() == Some(emulator.api_domain("eu")), "the API domain is not eu's");
    let before = emulator.counters_for("eu").token_refresh;
    session.refresh().await?;
    ensure!(emulator.counters_for("eu").token_refresh == before + 1, "the refresh did not go to eu");
    Ok(())
}

async fn zoho_foreign_accounts_server(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    let before = emulator.counters().token_exchange;
    let (url, pending) = t.flow(CLIENT)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    let forged = with_param(&callback, "accounts-server", "https://accounts.evil.example");
    match pending.exchange(forged.as_str()).await {
        Err(Error::UntrustedAccountsServer) => {}
        other => bail!("expected UntrustedAccountsServer, got {:?}", other.map(|_| "tokens")),
    }
    ensure!(emulator.counters().token_exchange == before, "a token request was sent");
    Ok(())
}

async fn zoho_errors_http_200(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_error_status(200);
    let flow = Flow::new(t.config_with(CLIENT, Some("not-the-secret"), REDIRECT_URI)?, t.http.clone());
    let (url, pending) = flow.authorization_url();
    let code = server_code(pending.exchange(&t.consent(&url).await?).await)?;
    ensure!(code == ErrorCode::InvalidClientSecret, "refused with {code}");
    Ok(())
}

async fn zoho_expires_in_sec(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_legacy_expires(true);
    let result = authorize(t, CLIENT).await;
    emulator.set_legacy_expires(false);
    let session = result?;
    let lifetime = session.tokens().expires_at() - t.now();
    ensure!(lifetime > chrono::Duration::minutes(50), "expiry too soon: {lifetime}");
    ensure!(lifetime <= chrono::Duration::hours(2), "expiry read as milliseconds: {lifetime}");
    Ok(())
}

async fn zoho_rate_limit(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    let session = authorize(t, CLIENT).await?;
    for i in 1..=9 {
        session.refresh().await.with_context(|| format!("refresh {i} of the allowed ten"))?;
    }
    match session.refresh().await {
        Err(Error::RateLimited(_)) => {}
        other => bail!("the 11th access token in ten minutes was not rate limited: {other:?}"),
    }
    let sent = emulator.counters().token_refresh;
    ensure!(matches!(session.refresh().await, Err(Error::RateLimited(_))), "the lock-out did not report RateLimited");
    ensure!(emulator.counters().token_refresh == sent, "a refresh was sent during the lock-out");
    Ok(())
}

async fn zoho_oauthtoken_header(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, CLIENT).await?;
    let header = session.authorization_header().await?;
    ensure!(header.to_str().is_ok_and(|h| h.starts_with("Zoho-oauthtoken ")), "not a Zoho-oauthtoken header");
    let status = t.call_resource(&session).await?;
    ensure!(status == 200, "the CRM endpoint answered HTTP {status}");
    Ok(())
}
