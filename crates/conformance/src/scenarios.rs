//! The catalogue: one entry per clause checked, each driving the library's public API the way a
//! user's program would, over real HTTP on loopback.
//!
//! A scenario that needs something its target's description does not declare returns
//! [`NotApplicable`](crate::target::NotApplicable) with the reason, never a pass. Where a server
//! answers a MUST of the RFCs with something else, the scenario records a deviation and still
//! checks that the library classifies the answer usefully.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, bail, ensure};
use zoho_oauth::core::transport::BoxFuture;
use zoho_oauth::{
    AccessToken, AuthorizationCode, Authorized, DeviceCodeIssued, Flow, Poll, RefreshToken, Renewal, Scopes, Sleeper,
    TokenSet, Waiting,
};

use crate::library::{self, Exchange, Failure};
use crate::report::ScenarioInfo;
use crate::spec::{AuthMethod, ClientSet, TargetSpec};
use crate::target::{Target, not_applicable};

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
    pub not_applicable: fn(&TargetSpec) -> Option<&'static str>,
    pub run: Run,
}

impl Scenario {
    pub fn info(&self) -> ScenarioInfo {
        ScenarioInfo { id: self.id, clause: self.clause, passing: self.passing }
    }
}

fn everywhere(_: &TargetSpec) -> Option<&'static str> {
    None
}

fn zoho_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.is_zoho()).then_some("a Zoho behaviour; the target is a generic RFC 6749 server")
}

fn generic_only(spec: &TargetSpec) -> Option<&'static str> {
    spec.is_zoho().then_some("Zoho's API takes `Zoho-oauthtoken`, checked by zoho-oauthtoken-header")
}

fn rotating_only(spec: &TargetSpec) -> Option<&'static str> {
    match spec.expect.refresh_token_rotation {
        _ if spec.is_zoho() => Some("Zoho never rotates refresh tokens"),
        ClientSet::None => Some("the description declares expect.refresh_token_rotation = \"none\""),
        _ => refreshing_only(spec),
    }
}

fn refreshing_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.expect.refresh_tokens).then_some("the description declares expect.refresh_tokens = false")
}

fn revoking_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.expect.revocation).then_some("the description does not declare expect.revocation")
}

fn revoking_refreshing_only(spec: &TargetSpec) -> Option<&'static str> {
    revoking_only(spec).or_else(|| refreshing_only(spec))
}

fn issuer_sending_only(spec: &TargetSpec) -> Option<&'static str> {
    if spec.expect.iss_parameter {
        None
    } else if spec.is_zoho() {
        Some("Zoho does not send `iss`; its `accounts-server` is checked by zoho-foreign-accounts-server")
    } else {
        Some("the description does not declare expect.iss_parameter (RFC 9207 is optional)")
    }
}

fn public_client_only(spec: &TargetSpec) -> Option<&'static str> {
    if spec.is_zoho() {
        Some("Zoho has no public clients")
    } else if spec.client(AuthMethod::None).is_none() {
        Some("the description declares no public client (auth = \"none\")")
    } else {
        None
    }
}

fn pkce_enforcing_only(spec: &TargetSpec) -> Option<&'static str> {
    (spec.expect.pkce_enforced == ClientSet::None)
        .then_some("the description declares expect.pkce_enforced = \"none\": a wrong verifier may be ignored")
}

fn device_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.expect.device_flow).then_some("the description does not declare expect.device_flow")
}

fn slowing_device_only(spec: &TargetSpec) -> Option<&'static str> {
    device_only(spec).or_else(|| {
        (!spec.expect.device_slow_down).then_some("the description does not declare expect.device_slow_down (RFC 8628 lets a server keep answering authorization_pending)")
    })
}

fn zoho_device_only(spec: &TargetSpec) -> Option<&'static str> {
    zoho_only(spec).or_else(|| device_only(spec))
}

fn client_credentials_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.expect.client_credentials).then_some("the description does not declare expect.client_credentials")
}

fn discovering_only(spec: &TargetSpec) -> Option<&'static str> {
    (!spec.endpoints.discovery || spec.endpoints.issuer.is_none())
        .then_some("the description does not declare endpoints.issuer with endpoints.discovery")
}

fn zoho_client_credentials_only(spec: &TargetSpec) -> Option<&'static str> {
    zoho_only(spec).or_else(|| client_credentials_only(spec))
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
            "a callback whose `iss` names another issuer fails with IssuerMismatch and no request is sent, and the real `iss` is accepted",
            issuer_sending_only,
            issuer_mismatch
        ),
        scenario!(
            "state-mismatch",
            "RFC 6749 10.12",
            "a callback with another state fails with StateMismatch and no request is sent",
            everywhere,
            state_mismatch
        ),
        scenario!(
            "malformed-callback",
            "RFC 6749 4.1.2",
            "a callback without a code, or with the code twice, fails with MalformedCallback and no request is sent",
            everywhere,
            malformed_callback
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
            "an exchange with another verifier is refused, and the library reports a refusal (the RFC requires invalid_grant)",
            pkce_enforcing_only,
            pkce_wrong_verifier
        ),
        scenario!(
            "code-exchange",
            "RFC 6749 4.1.3, 5.1",
            "the code yields an access token, a refresh token (when the description expects one) and a future expiry",
            everywhere,
            code_exchange
        ),
        scenario!(
            "code-replay",
            "RFC 6749 4.1.2, 5.2",
            "a second exchange of one code is refused, and the library reports a refusal (the RFC requires invalid_grant)",
            everywhere,
            code_replay
        ),
        scenario!(
            "code-expired",
            "RFC 6749 4.1.2, 5.2",
            "an expired code is refused, and the library reports a refusal (the RFC requires invalid_grant)",
            everywhere,
            code_expired
        ),
        scenario!(
            "redirect-uri-mismatch",
            "RFC 6749 4.1.3, 5.2",
            "an exchange naming another redirect_uri is refused, and the library reports a refusal (the RFC requires invalid_grant)",
            everywhere,
            redirect_uri_mismatch
        ),
        scenario!(
            "wrong-client-secret",
            "RFC 6749 2.3.1, 5.2",
            "a wrong secret in the form body is refused, and the library reports a refusal (the RFC requires invalid_client, HTTP 400 or 401)",
            everywhere,
            wrong_client_secret
        ),
        scenario!(
            "wrong-client-secret-basic",
            "RFC 6749 5.2",
            "a wrong secret over HTTP Basic is refused, and the library reports a refusal (the RFC requires invalid_client with HTTP 401 and WWW-Authenticate)",
            everywhere,
            wrong_client_secret_basic
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
            refreshing_only,
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
            "RFC 6749 6, 5.2, RFC 7009 2",
            "a refresh with a revoked token fails with ReauthorizationRequired (or, from a server that deviates, another refusal) and keeps the refresh token",
            revoking_refreshing_only,
            refresh_revoked
        ),
        scenario!(
            "revoke",
            "RFC 7009 2.1, 2.2",
            "revocation succeeds and returns the flow to Unauthorized",
            revoking_only,
            revoke
        ),
        scenario!(
            "revoke-unknown",
            "RFC 7009 2.2",
            "revoking a token the server never issued succeeds",
            revoking_only,
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
            "a refused consent fails with AuthorizationDenied(access_denied) and no request is sent",
            everywhere,
            denied_consent
        ),
        scenario!(
            "error-typed",
            "RFC 6749 5.2",
            "an unknown code is refused and the library reads the server's error code, not a parse failure (the RFC requires a JSON body with `error`, here invalid_grant)",
            everywhere,
            error_typed
        ),
        scenario!(
            "device-flow",
            "RFC 8628 3.1-3.5, Zoho devices",
            "a device authorization gives a user code and a verification URI, a poll before the interval sends nothing, a poll before approval is authorization_pending, and after approval polling yields tokens",
            device_only,
            device_flow
        ),
        scenario!(
            "device-denied",
            "RFC 8628 3.5",
            "a user code the user refuses ends polling with AuthorizationDenied(access_denied)",
            device_only,
            device_denied
        ),
        scenario!(
            "device-slow-down",
            "RFC 8628 3.5",
            "a second poll of one device code within the interval is slow_down, and the interval grows by 5 seconds",
            slowing_device_only,
            device_slow_down
        ),
        scenario!(
            "callback-elsewhere",
            "RFC 6749 3.1.2, RFC 9700 4.1",
            "a full callback URL whose scheme, host, port or path is not the redirect URI fails with MalformedCallback and no request is sent",
            everywhere,
            callback_elsewhere
        ),
        scenario!(
            "discovery",
            "RFC 8414 3, OpenID Connect Discovery 4",
            "the library's discovery reads the server's metadata, checks that its issuer is the one asked for, finds the same endpoints the description names, and refuses another issuer",
            discovering_only,
            discovery
        ),
        scenario!(
            "client-credentials",
            "RFC 6749 4.4, Zoho self client",
            "the client's own credentials yield an access token without a refresh token, and renewing asks again the same way",
            client_credentials_only,
            client_credentials
        ),
        scenario!(
            "zoho-device-other-dc",
            "Zoho devices, multi-DC",
            "a user of another data center approves: the poll answers other_dc with user_location, and polling moves to that data center's accounts server",
            zoho_device_only,
            zoho_device_other_dc
        ),
        scenario!(
            "zoho-missing-org-info",
            "Zoho self client",
            "client credentials without soid are refused with missing_org_info",
            zoho_client_credentials_only,
            zoho_missing_org_info
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
            "a callback naming an untrusted accounts-server fails with UntrustedAccountsServer and no request is sent",
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

async fn authorize(t: &Target, client: AuthMethod) -> anyhow::Result<Flow<Authorized>> {
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    Ok(pending.exchange(&callback).await?)
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

/// `url` without query parameter `name`.
fn without_param(url: &url::Url, name: &str) -> url::Url {
    let pairs: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut forged = url.clone();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    forged
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Checks that `result` is a refusal the library classified usefully, and that the server's answer
/// (the last request sent since `since`) is what RFC 6749 section 5.2 requires, with `code` as the
/// error; every difference is recorded as a deviation under `clause`. Returns the classification.
fn expect_refusal<T, E: Into<zoho_oauth::Error>>(
    t: &Target,
    since: usize,
    result: library::FlowResult<T, E>,
    clause: &str,
    code: &str,
) -> anyhow::Result<Failure> {
    let failure = match library::outcome(result) {
        Ok(_) => bail!("expected a refusal ({code}), but the request succeeded"),
        Err(failure) => failure,
    };
    let sent = t.http.since(since);
    let last: &Exchange = sent.last().context("expected a refusal from the server, but no request was sent")?;
    check_error_response(t, last, code);
    ensure!(
        failure.is_refusal(),
        "the library reported {failure}, not a refusal: a refused grant would be taken for a transient or other failure"
    );
    if let (Failure::Malformed { status }, Some(error)) = (&failure, last.error_field()) {
        bail!("the library could not read an error response with `error` = {error:?} (HTTP {status})");
    }
    if let Some(got) = failure.code() {
        if got != code {
            t.deviate(clause, format!("`{code}`"), format!("`{got}`"));
        }
    }
    Ok(failure)
}

/// RFC 6749 section 5.2: HTTP 400 (401 with `WWW-Authenticate` for `invalid_client` over HTTP
/// Basic), an `application/json` body with an `error` member.
fn check_error_response(t: &Target, exchange: &Exchange, code: &str) {
    let Some(status) = exchange.status else { return };
    if code == "invalid_client" && exchange.basic_auth {
        if status != 401 {
            t.deviate("RFC 6749 5.2", "HTTP 401 for invalid_client over HTTP Basic", format!("HTTP {status}"));
        } else if exchange.www_authenticate.is_none() {
            t.deviate("RFC 6749 5.2", "`WWW-Authenticate` with the 401", "no `WWW-Authenticate`");
        }
    } else if code == "invalid_client" {
        if status != 400 && status != 401 {
            t.deviate("RFC 6749 5.2", "HTTP 400 (or 401) for invalid_client", format!("HTTP {status}"));
        }
    } else if status != 400 {
        t.deviate("RFC 6749 5.2", format!("HTTP 400 for {code}"), format!("HTTP {status}"));
    }
    if !exchange.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json")) {
        let observed = exchange.content_type.as_deref().map_or("no Content-Type".to_owned(), |c| format!("`{c}`"));
        t.deviate("RFC 6749 5.2", "an `application/json` error body", observed);
    }
    if exchange.error_field().is_none() {
        let observed = if exchange.body.is_empty() {
            "an empty body"
        } else if exchange.is_json_object() {
            "a JSON object without a string `error`"
        } else {
            "a body that is not JSON"
        };
        t.deviate("RFC 6749 5.2", "a JSON object with an `error` member", observed);
    }
}

/// Checks that `result` failed with `expected` and that nothing was sent since `since`.
fn expect_local_refusal<T, E: Into<zoho_oauth::Error>>(
    t: &Target,
    since: usize,
    result: library::FlowResult<T, E>,
    expected: Failure,
) -> anyhow::Result<()> {
    match library::outcome(result) {
        Err(failure) if failure == expected => {}
        Err(failure) => bail!("expected {expected}, got {failure}"),
        Ok(_) => bail!("expected {expected}, but tokens were issued"),
    }
    let sent = t.http.sent() - since;
    ensure!(sent == 0, "{sent} request(s) were sent to the server after the callback was refused");
    Ok(())
}

async fn auth_request(t: &Target) -> anyhow::Result<()> {
    let (url, _pending) = t.flow(t.confidential()?)?.authorization_url();
    ensure!(query(&url, "response_type").as_deref() == Some("code"), "response_type is not code");
    ensure!(query(&url, "client_id").is_some(), "no client_id");
    ensure!(query(&url, "redirect_uri").as_deref() == Some(t.redirect_uri()), "redirect_uri differs");
    ensure!(query(&url, "scope").is_some_and(|s| !s.is_empty()), "no scope");
    ensure!(query(&url, "state").is_some_and(|s| s.len() >= 22), "state shorter than 128 bits");
    ensure!(query(&url, "code_challenge_method").as_deref() == Some("S256"), "challenge method is not S256");
    ensure!(query(&url, "code_challenge").is_some_and(|c| c.len() == 43), "challenge is not a base64url SHA-256");
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    ensure!(query(&callback, "code").is_some(), "the server answered without a code: {:?}", query(&callback, "error"));
    Ok(())
}

async fn state_round_trip(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(t.confidential()?)?.authorization_url();
    let callback = t.consent(&url).await?;
    let returned = query(&url::Url::parse(&callback)?, "state");
    ensure!(returned == query(&url, "state"), "the state came back changed");
    let _session = pending.exchange(&callback).await?;
    Ok(())
}

async fn state_mismatch(t: &Target) -> anyhow::Result<()> {
    let (url, pending) = t.flow(t.confidential()?)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    let forged = with_param(&callback, "state", "forged-state-0123456789");
    let since = t.http.sent();
    expect_local_refusal(t, since, pending.exchange(forged.as_str()).await, Failure::StateMismatch)
}

async fn malformed_callback(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    let saved = serde_json::to_string(&pending.into_pending())?;
    let since = t.http.sent();
    let no_code = without_param(&callback, "code");
    let first = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    expect_local_refusal(t, since, first.exchange(no_code.as_str()).await, Failure::MalformedCallback)
        .context("a callback without a code")?;
    let mut twice = callback.clone();
    twice.query_pairs_mut().append_pair("code", "a-second-code");
    let second = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    expect_local_refusal(t, since, second.exchange(twice.as_str()).await, Failure::MalformedCallback)
        .context("a callback with two codes")
}

async fn issuer_mismatch(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    ensure!(query(&callback, "iss").is_some(), "the callback carries no iss");
    let forged = with_param(&callback, "iss", "https://mix-up.example");
    let saved = serde_json::to_string(&pending.into_pending())?;
    let first = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    let since = t.http.sent();
    expect_local_refusal(t, since, first.exchange(forged.as_str()).await, Failure::IssuerMismatch)?;
    let second = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    let _session = second.exchange(callback.as_str()).await.context("the genuine iss was refused")?;
    Ok(())
}

/// The client PKCE is checked with: the public one where the server enforces PKCE for public
/// clients, a confidential one where it enforces it for all.
fn pkce_client(t: &Target) -> anyhow::Result<AuthMethod> {
    let enforced = t.spec.expect.pkce_enforced;
    if enforced.covers(AuthMethod::None) && t.spec.client(AuthMethod::None).is_some() {
        return Ok(AuthMethod::None);
    }
    if enforced == ClientSet::All {
        return t.confidential();
    }
    not_applicable("no declared client for which the description says PKCE is enforced")
}

async fn pkce_s256(t: &Target) -> anyhow::Result<()> {
    let client = pkce_client(t).or_else(|_| t.confidential())?;
    authorize(t, client).await.map(drop)
}

async fn pkce_wrong_verifier(t: &Target) -> anyhow::Result<()> {
    let client = pkce_client(t)?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    // A web app stores the pending state between requests; an attacker who swapped the verifier there
    // (or a bug that mixed two users' states) must not get tokens.
    let mut saved = serde_json::to_value(pending.into_pending())?;
    saved["verifier"] = serde_json::Value::String("A".repeat(43));
    let resumed = t.flow(client)?.resume(serde_json::from_value(saved)?)?;
    let since = t.http.sent();
    expect_refusal(t, since, resumed.exchange(&callback).await, "RFC 7636 4.6", "invalid_grant").map(drop)
}

async fn code_exchange(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, t.confidential()?).await?;
    let tokens = session.tokens();
    ensure!(!tokens.access_token().expose_secret().is_empty(), "empty access token");
    if t.spec.expect.refresh_tokens {
        ensure!(tokens.refresh_token().is_some(), "no refresh token");
    }
    ensure!(tokens.expires_at() > t.now() - chrono::Duration::minutes(1), "the token is already expired");
    Ok(())
}

async fn code_replay(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    let saved = serde_json::to_string(&pending.into_pending())?;
    let first = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    let second = t.flow(client)?.resume(serde_json::from_str(&saved)?)?;
    let _session = first.exchange(&callback).await?;
    let since = t.http.sent();
    expect_refusal(t, since, second.exchange(&callback).await, "RFC 6749 5.2", "invalid_grant").map(drop)
}

async fn code_expired(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    // Ask first, so that a target without a declared lifetime is "n/a" before anything is sent.
    if t.emulator().is_none() && t.spec.expect.code_lifetime_secs.is_none() {
        return not_applicable("the description declares no expect.code_lifetime_secs");
    }
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    t.expire_codes().await?;
    let since = t.http.sent();
    expect_refusal(t, since, pending.exchange(&callback).await, "RFC 6749 5.2", "invalid_grant").map(drop)
}

async fn redirect_uri_mismatch(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = t.consent(&url).await?;
    let other = t.flow_with(client, None, "http://127.0.0.1/other-callback")?;
    let resumed = other.resume(pending.into_pending())?;
    // The library itself refuses a full callback URL that arrived elsewhere than its redirect URI
    // (see `callback-elsewhere`); the bare query reaches the server, whose check this is.
    let query = url::Url::parse(&callback)?.query().unwrap_or_default().to_owned();
    let since = t.http.sent();
    expect_refusal(t, since, resumed.exchange(&query).await, "RFC 6749 4.1.3, 5.2", "invalid_grant").map(drop)
}

async fn wrong_secret(t: &Target, client: AuthMethod) -> anyhow::Result<()> {
    let (url, pending) = t.flow_with(client, Some("not-the-secret"), t.redirect_uri())?.authorization_url();
    let callback = t.consent(&url).await?;
    let since = t.http.sent();
    expect_refusal(t, since, pending.exchange(&callback).await, "RFC 6749 5.2", "invalid_client").map(drop)
}

async fn wrong_client_secret(t: &Target) -> anyhow::Result<()> {
    t.client(AuthMethod::ClientSecretPost)?;
    wrong_secret(t, AuthMethod::ClientSecretPost).await
}

async fn wrong_client_secret_basic(t: &Target) -> anyhow::Result<()> {
    t.client(AuthMethod::ClientSecretBasic)?;
    wrong_secret(t, AuthMethod::ClientSecretBasic).await
}

async fn client_auth_basic(t: &Target) -> anyhow::Result<()> {
    t.client(AuthMethod::ClientSecretBasic)?;
    authorize(t, AuthMethod::ClientSecretBasic).await.map(drop)
}

async fn client_auth_form(t: &Target) -> anyhow::Result<()> {
    t.client(AuthMethod::ClientSecretPost)?;
    authorize(t, AuthMethod::ClientSecretPost).await.map(drop)
}

async fn refresh(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, t.confidential()?).await?;
    let before = session.tokens();
    session.refresh().await?;
    let after = session.tokens();
    ensure!(!before.access_token().ct_eq(after.access_token()), "the access token did not change");
    ensure!(after.refresh_token().is_some(), "the refresh token was lost");
    session.refresh().await.context("a second refresh with the kept refresh token")?;
    Ok(())
}

async fn refresh_rotation(t: &Target) -> anyhow::Result<()> {
    let rotation = t.spec.expect.refresh_token_rotation;
    let client = if rotation.covers(AuthMethod::None) && t.spec.client(AuthMethod::None).is_some() {
        AuthMethod::None
    } else if rotation == ClientSet::All {
        t.confidential()?
    } else {
        return not_applicable("no declared client for which the description says refresh tokens rotate");
    };
    let session = authorize(t, client).await?;
    let before = session.tokens();
    session.refresh().await?;
    let after = session.tokens();
    let (old, new) = (before.refresh_token().context("no refresh token")?, after.refresh_token().context("lost")?);
    ensure!(!old.ct_eq(new), "the server did not rotate the refresh token for this client");
    session.refresh().await.context("refreshing with the rotated token")?;
    Ok(())
}

async fn refresh_revoked(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let session = authorize(t, client).await?;
    let saved = session.tokens();
    let _unauthorized = library::revoke(session).await?;
    let restored = t.flow(client)?.restore(saved)?;
    let since = t.http.sent();
    let failure = expect_refusal(t, since, restored.refresh().await, "RFC 6749 5.2", "invalid_grant")?;
    if failure.code().is_some_and(library::is_invalid_grant) {
        ensure!(matches!(failure, Failure::Reauthorize(_)), "expected ReauthorizationRequired, got {failure}");
    }
    ensure!(restored.tokens().refresh_token().is_some(), "the failed refresh dropped the refresh token");
    Ok(())
}

async fn revoke(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, t.confidential()?).await?;
    let _unauthorized = library::revoke(session).await?;
    Ok(())
}

async fn revoke_unknown(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let unknown = TokenSet::new(
        AccessToken::new("unknown-access-token-0123456789"),
        Some(RefreshToken::new("unknown-refresh-token-0123456789")),
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        t.endpoints(client)?.accounts_server(),
        Scopes::empty(),
    );
    let _unauthorized = library::revoke(t.flow(client)?.restore(unknown)?).await?;
    Ok(())
}

async fn public_client(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, AuthMethod::None).await?;
    if t.spec.expect.refresh_tokens {
        session.refresh().await?;
    }
    Ok(())
}

async fn bearer_resource(t: &Target) -> anyhow::Result<()> {
    if t.spec.endpoints.resource.is_none() && t.emulator().is_none() {
        return not_applicable("the description declares no endpoints.resource");
    }
    let session = authorize(t, t.confidential()?).await?;
    let header = session.authorization_header().await?;
    ensure!(header.to_str().is_ok_and(|h| h.starts_with("Bearer ")), "not a Bearer header");
    let status = t.call_resource(&session).await?;
    ensure!(status == 200, "the resource answered HTTP {status}");
    Ok(())
}

async fn denied_consent(t: &Target) -> anyhow::Result<()> {
    if !t.can_deny() {
        return not_applicable("the description does not say how consent is refused (consent.deny)");
    }
    let (url, pending) = t.flow(t.confidential()?)?.authorization_url();
    let callback = t.deny(&url).await?;
    let since = t.http.sent();
    expect_local_refusal(t, since, pending.exchange(&callback).await, Failure::Denied("access_denied".to_owned()))
}

async fn error_typed(t: &Target) -> anyhow::Result<()> {
    let flow = t.flow(t.confidential()?)?.self_client(AuthorizationCode::new("never-issued-code-0123456789"));
    let since = t.http.sent();
    let failure = expect_refusal(t, since, flow.exchange().await, "RFC 6749 5.2", "invalid_grant")?;
    if let Some(code) = failure.code() {
        if !library::is_known_code(code) {
            t.deviate("RFC 6749 5.2", "one of the error codes of section 5.2", format!("`{code}`"));
        }
    }
    Ok(())
}

async fn zoho_multi_dc(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_user_data_center("eu");
    let result = authorize(t, t.confidential()?).await;
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
    let (url, pending) = t.flow(t.confidential()?)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    let forged = with_param(&callback, "accounts-server", "https://accounts.evil.example");
    let since = t.http.sent();
    expect_local_refusal(t, since, pending.exchange(forged.as_str()).await, Failure::UntrustedAccountsServer)?;
    ensure!(emulator.counters().token_exchange == before, "the emulator saw a token request");
    Ok(())
}

async fn zoho_errors_http_200(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_error_status(200);
    let (url, pending) = t.flow_with(t.confidential()?, Some("not-the-secret"), t.redirect_uri())?.authorization_url();
    let callback = t.consent(&url).await?;
    match library::outcome(pending.exchange(&callback).await) {
        Err(Failure::Refused(code)) if code == "invalid_client_secret" => Ok(()),
        Err(other) => bail!("expected Server(invalid_client_secret), got {other}"),
        Ok(_) => bail!("expected Server(invalid_client_secret), but tokens were issued"),
    }
}

async fn zoho_expires_in_sec(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    emulator.set_legacy_expires(true);
    let result = authorize(t, t.confidential()?).await;
    emulator.set_legacy_expires(false);
    let session = result?;
    let lifetime = session.tokens().expires_at() - t.now();
    ensure!(lifetime > chrono::Duration::minutes(50), "expiry too soon: {lifetime}");
    ensure!(lifetime <= chrono::Duration::hours(2), "expiry read as milliseconds: {lifetime}");
    Ok(())
}

async fn zoho_rate_limit(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    let session = authorize(t, t.confidential()?).await?;
    // Each refresh comes after the floor between renewals (30 seconds), which would otherwise
    // keep the fresh token instead of asking; ten of them still fit in Zoho's ten-minute window.
    let after_floor = || t.sleep_until(t.now() + chrono::Duration::seconds(31));
    for i in 1..=9 {
        after_floor().await;
        session.refresh().await.with_context(|| format!("refresh {i} of the allowed ten"))?;
    }
    after_floor().await;
    match library::outcome(session.refresh().await) {
        Err(Failure::RateLimited) => {}
        other => bail!("the 11th access token in ten minutes was not rate limited: {:?}", other.map(|_| "refreshed")),
    }
    let (sent, recorded) = (emulator.counters().token_refresh, t.http.sent());
    let during = library::outcome(session.refresh().await);
    ensure!(during == Err(Failure::RateLimited), "the lock-out did not report RateLimited");
    ensure!(emulator.counters().token_refresh == sent, "the emulator saw a refresh during the lock-out");
    ensure!(t.http.sent() == recorded, "a request was sent during the lock-out");
    Ok(())
}

async fn zoho_oauthtoken_header(t: &Target) -> anyhow::Result<()> {
    let session = authorize(t, t.confidential()?).await?;
    let header = session.authorization_header().await?;
    ensure!(header.to_str().is_ok_and(|h| h.starts_with("Zoho-oauthtoken ")), "not a Zoho-oauthtoken header");
    let status = t.call_resource(&session).await?;
    ensure!(status == 200, "the CRM endpoint answered HTTP {status}");
    Ok(())
}

/// Sleeps on the target's clock, so the device flow's waits move the emulator's manual clock and
/// really wait on a server.
struct TargetSleeper<'a>(&'a Target);

impl Sleeper for TargetSleeper<'_> {
    fn sleep_until(&self, at: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, ()> {
        Box::pin(self.0.sleep_until(at))
    }
}

/// The longest a device scenario polls a server.
const DEVICE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn start_device(t: &Target) -> anyhow::Result<Flow<DeviceCodeIssued>> {
    let flow = t.flow(t.confidential()?)?.device_authorization().await.context("the device authorization")?;
    ensure!(!flow.user_code().trim().is_empty(), "an empty user code");
    ensure!(flow.expires_at() > t.now(), "the device code has already expired");
    Ok(flow)
}

/// Polls until the user's decision, for at most [`DEVICE_WAIT`].
async fn wait_device(
    t: &Target,
    flow: Flow<DeviceCodeIssued>,
) -> anyhow::Result<Result<Flow<Authorized>, zoho_oauth::DeviceError>> {
    let sleeper = TargetSleeper(t);
    tokio::time::timeout(DEVICE_WAIT, flow.wait_with(&sleeper))
        .await
        .map_err(|_| anyhow::anyhow!("no decision within {DEVICE_WAIT:?}"))
}

fn pending(poll: Poll) -> anyhow::Result<(Flow<DeviceCodeIssued>, Waiting)> {
    match poll {
        Poll::Pending { flow, waiting } => Ok((flow, waiting)),
        Poll::Approved(_) => bail!("tokens were issued before the user approved"),
    }
}

async fn device_flow(t: &Target) -> anyhow::Result<()> {
    let flow = start_device(t).await?;
    let since = t.http.sent();
    let (flow, waiting) = pending(flow.poll_once().await?)?;
    ensure!(waiting == Waiting::TooEarly && t.http.sent() == since, "a poll was sent before the interval");
    t.sleep_until(flow.next_poll_at()).await;
    let (flow, waiting) = pending(flow.poll_once().await?)?;
    ensure!(waiting == Waiting::AuthorizationPending, "expected authorization_pending, got {waiting:?}");
    t.decide_device(flow.user_code(), true).await?;
    let session = wait_device(t, flow).await??;
    ensure!(!session.tokens().access_token().expose_secret().is_empty(), "empty access token");
    Ok(())
}

async fn device_denied(t: &Target) -> anyhow::Result<()> {
    let flow = start_device(t).await?;
    t.decide_device(flow.user_code(), false).await?;
    match library::outcome(wait_device(t, flow).await?) {
        Err(Failure::Denied(code)) if code == "access_denied" => Ok(()),
        Err(other) => bail!("expected AuthorizationDenied(access_denied), got {other}"),
        Ok(_) => bail!("tokens were issued for a refused user code"),
    }
}

async fn device_slow_down(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let flow = start_device(t).await?;
    let saved = serde_json::to_string(flow.pending())?;
    let twin = t.flow(client)?.resume_device(serde_json::from_str(&saved)?)?;
    t.sleep_until(flow.next_poll_at()).await;
    let (_flow, first) = pending(flow.poll_once().await?)?;
    ensure!(first == Waiting::AuthorizationPending, "expected authorization_pending, got {first:?}");
    let before = twin.interval();
    let (twin, second) = pending(twin.poll_once().await?)?;
    ensure!(second == Waiting::SlowDown, "a second poll within the interval was answered {second:?}, not slow_down");
    ensure!(twin.interval() >= before + chrono::Duration::seconds(5), "the interval did not grow by 5 seconds");
    Ok(())
}

async fn client_credentials(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let soid = t.spec.is_zoho().then_some("ZohoCRM.749281044");
    let config = t.config_with(client, None, t.redirect_uri())?.scopes(t.client_credentials_scopes()?);
    let session = t.http.flow(config).client_credentials(soid).await?;
    let before = session.tokens();
    ensure!(!before.access_token().expose_secret().is_empty(), "empty access token");
    ensure!(
        before.refresh_token().is_none(),
        "a refresh token came with client credentials (RFC 6749 4.4.3 says it should not)"
    );
    ensure!(
        matches!(before.renewal(), Renewal::ClientCredentials { .. }),
        "the session does not renew with client credentials"
    );
    session.refresh().await.context("renewing with client credentials")?;
    ensure!(
        !before.access_token().ct_eq(session.tokens().access_token()),
        "the renewal did not yield a new access token"
    );
    Ok(())
}

async fn callback_elsewhere(t: &Target) -> anyhow::Result<()> {
    let client = t.confidential()?;
    let (url, pending) = t.flow(client)?.authorization_url();
    let callback = url::Url::parse(&t.consent(&url).await?)?;
    let mut elsewhere = callback.clone();
    elsewhere.set_path("/not-the-redirect-uri");
    let since = t.http.sent();
    expect_local_refusal(t, since, pending.exchange(elsewhere.as_str()).await, Failure::MalformedCallback)
}

async fn discovery(t: &Target) -> anyhow::Result<()> {
    let (issuer, authorization, token, revocation) =
        t.resolved_issuer().context("the target was resolved from an issuer")?;
    let endpoints = zoho_oauth::discover(&*t.http, &issuer).await.context("the library's discovery")?;
    ensure!(
        endpoints.authorization_url().as_str() == url::Url::parse(&authorization)?.as_str(),
        "authorization endpoint"
    );
    ensure!(endpoints.token_url().as_str() == url::Url::parse(&token)?.as_str(), "token endpoint");
    if let Some(revocation) = revocation {
        ensure!(
            endpoints.revocation_url().map(url::Url::as_str) == Some(url::Url::parse(&revocation)?.as_str()),
            "revocation endpoint"
        );
    }
    // The same metadata asked for under another issuer is refused (RFC 8414 section 3.3).
    let mut other = url::Url::parse(&issuer)?;
    other.set_path(&format!("{}/other", other.path().trim_end_matches('/')));
    ensure!(zoho_oauth::discover(&*t.http, other.as_str()).await.is_err(), "another issuer's discovery was accepted");
    Ok(())
}

async fn zoho_device_other_dc(t: &Target) -> anyhow::Result<()> {
    let emulator = t.emulator().context("emulator only")?;
    let flow = start_device(t).await?;
    ensure!(emulator.approve_device(flow.user_code(), "bruno@example.eu"), "the emulator has no such user code");
    t.sleep_until(flow.next_poll_at()).await;
    let (flow, waiting) = pending(flow.poll_once().await?)?;
    ensure!(waiting == Waiting::OtherDataCenter, "expected other_dc, got {waiting:?}");
    let eu = emulator.accounts_url("eu").origin().ascii_serialization();
    ensure!(flow.accounts_server() == eu, "polling did not move to eu");
    let before = emulator.counters_for("eu").device_token;
    let session = wait_device(t, flow).await??;
    ensure!(emulator.counters_for("eu").device_token == before + 1, "the approved poll did not go to eu");
    ensure!(session.api_domain() == Some(emulator.api_domain("eu")), "the API domain is not eu's");
    Ok(())
}

async fn zoho_missing_org_info(t: &Target) -> anyhow::Result<()> {
    let since = t.http.sent();
    let result = t.flow(t.confidential()?)?.client_credentials(None).await;
    match library::outcome(result) {
        Err(Failure::Refused(code)) if code == "missing_org_info" => {}
        Err(other) => bail!("expected Server(missing_org_info), got {other}"),
        Ok(_) => bail!("tokens were issued without soid"),
    }
    ensure!(t.http.sent() == since + 1, "expected exactly one request");
    Ok(())
}
