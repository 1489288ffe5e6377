//! The whole flow against the Zoho accounts emulator over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::Duration;
use common::{CLIENT_ID, Harness};
use zoho_accounts_emulator::Consent;
use zoho_oauth::{AuthorizationCode, Clock, Error, ErrorCode, Flow, TokenSet};

#[tokio::test]
async fn happy_path_exchange_call_refresh_revoke() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["scope"], "ZohoCRM.modules.ALL,ZohoCRM.users.READ");
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["state"].len() >= 16);

    let callback = h.consent(&url).await;
    let session = pending.exchange(&callback).await.expect("the exchange succeeds");
    let tokens = session.tokens();
    assert!(tokens.refresh_token().is_some(), "access_type=offline yields a refresh token");
    assert_eq!(tokens.expires_at(), h.clock.now() + Duration::hours(1));
    let api = session.api_domain().expect("the emulator names an API domain");
    assert_eq!(api, h.emulator.api_domain("us"));

    let (status, body) = h.call_crm(&api, session.authorization_header().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["users"][0]["full_name"], "Emulated User");

    let before = session.tokens().access_token().clone();
    session.refresh().await.expect("the refresh succeeds");
    let after = session.tokens();
    assert!(!before.ct_eq(after.access_token()), "a refresh yields a new access token");
    assert_eq!(
        after.refresh_token().unwrap().expose_secret(),
        tokens.refresh_token().unwrap().expose_secret(),
        "the refresh token is kept when the response carries none"
    );
    let (status, _) = h.call_crm(&api, session.authorization_header().await.unwrap()).await;
    assert_eq!(status, 200);

    let header = session.authorization_header().await.unwrap();
    let _unauthorized = session.revoke().await.expect("the revocation succeeds");
    let (status, body) = h.call_crm(&api, header).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "INVALID_TOKEN");

    let counters = h.emulator.counters();
    assert_eq!((counters.token_exchange, counters.token_refresh, counters.revoke), (1, 1, 1));
}

#[tokio::test]
async fn multi_dc_redirect_exchanges_and_refreshes_at_the_users_data_center() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let (url, pending) = h.flow().authorization_url();
    assert_eq!(url.origin(), h.emulator.accounts_url("us").origin(), "the flow starts at us");
    let callback = h.consent(&url).await;
    assert!(callback.contains("location=eu"));
    let session = pending.exchange(&callback).await.expect("the exchange at eu succeeds");
    assert_eq!(session.api_domain().unwrap(), h.emulator.api_domain("eu"));
    assert_eq!(session.accounts_server(), h.emulator.accounts_url("eu").origin().ascii_serialization());

    h.clock.advance(Duration::minutes(56));
    let header = session.authorization_header().await.expect("a refresh at eu succeeds");
    assert_eq!(h.emulator.counters_for("eu").token_refresh, 1);
    assert_eq!(h.emulator.counters_for("us").token_exchange + h.emulator.counters_for("us").token_refresh, 0);
    let (status, _) = h.call_crm(&session.api_domain().unwrap(), header).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_state_is_refused_before_any_request() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let forged = callback.replace(&state, "forged-state-value");
    let err = pending.exchange(&forged).await.unwrap_err().into_error();
    assert!(matches!(err, Error::StateMismatch), "{err:?}");

    let (_, pending) = h.flow().authorization_url();
    let missing = callback.split("&state=").next().unwrap().to_owned();
    assert!(matches!(pending.exchange(&missing).await.map_err(Error::from), Err(Error::StateMissing)));
    assert_eq!(h.emulator.counters().token_exchange, 0, "no code was sent anywhere");
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    // A web app saves the pending state between requests; a replay resumes it twice.
    let saved = serde_json::to_string(&pending.into_pending()).unwrap();
    let first = h.flow().resume(serde_json::from_str(&saved).unwrap()).unwrap();
    let second = h.flow().resume(serde_json::from_str(&saved).unwrap()).unwrap();
    let _session = first.exchange(&callback).await.expect("the first exchange succeeds");
    let err = second.exchange(&callback).await.unwrap_err().into_error();
    assert!(matches!(&err, Error::Server(e) if e.error == ErrorCode::InvalidCode), "{err:?}");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    h.clock.advance(Duration::minutes(10));
    let err = pending.exchange(&callback).await.unwrap_err().into_error();
    assert!(matches!(&err, Error::Server(e) if e.error == ErrorCode::InvalidCode), "{err:?}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_typed_error_even_with_http_200() {
    let h = Harness::start().await;
    for status in [200, 400] {
        h.emulator.set_error_status(status);
        let flow = Flow::new(h.config_with_secret("not-the-secret"), h.http.clone());
        let (url, pending) = flow.authorization_url();
        let callback = h.consent(&url).await;
        let err = pending.exchange(&callback).await.unwrap_err().into_error();
        assert!(matches!(&err, Error::Server(e) if e.error == ErrorCode::InvalidClientSecret), "{status}: {err:?}");
    }
}

#[tokio::test]
async fn denied_consent_is_a_typed_error() {
    let h = Harness::start().await;
    h.emulator.set_consent(Consent::Deny);
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    let err = pending.exchange(&callback).await.unwrap_err().into_error();
    assert!(matches!(&err, Error::AuthorizationDenied { error, .. } if error == "access_denied"), "{err:?}");
    assert_eq!(h.emulator.counters().token_exchange, 0);
}

#[tokio::test]
async fn a_revoked_refresh_token_requires_reauthorization_and_is_not_lost() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let session = pending.exchange(&h.consent(&url).await).await.unwrap();
    let saved: TokenSet = serde_json::from_str(&serde_json::to_string(&session.tokens()).unwrap()).unwrap();
    let _unauthorized = session.revoke().await.expect("the revocation succeeds");

    // Another process restored the same tokens before the revocation.
    let restored = h.flow().restore(saved).unwrap();
    let err = restored.refresh().await.unwrap_err();
    let cause = match &err {
        Error::Refresh(failure) => failure.cause(),
        _ => None,
    };
    assert!(matches!(cause, Some(Error::Server(e)) if e.error == ErrorCode::InvalidCode), "{err:?}");
    assert!(err.needs_reauthorization());
    assert!(restored.tokens().refresh_token().is_some(), "a failed refresh keeps the refresh token");
}

/// A callback refused before any request (wrong `state`, untrusted `accounts-server`, no code)
/// gives the pending flow back, and that flow still takes the right callback.
#[tokio::test]
async fn a_refused_callback_gives_the_pending_flow_back() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let us =
        url::form_urlencoded::byte_serialize(h.emulator.accounts_url("us").origin().ascii_serialization().as_bytes())
            .collect::<String>();
    let refused = [
        callback.replace(&state, "forged-state-value"),
        callback.replace(&us, "http%3A%2F%2F127.0.0.1%3A9"),
        format!("state={state}"),
    ];
    let mut pending = pending;
    for forged in refused {
        let failure = pending.exchange(&forged).await.unwrap_err();
        assert!(failure.sent_nothing(), "{failure:?}");
        pending = failure.into_flow().expect("nothing was sent, so the pending flow comes back");
    }
    assert_eq!(h.emulator.counters().token_exchange, 0);
    let session = pending.exchange(&callback).await.expect("the right callback still works");
    assert!(session.access_token().await.is_ok());
    assert_eq!(h.emulator.counters().token_exchange, 1);

    // Once a request was sent, the code is spent and no flow comes back: replay a used code.
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    let saved = serde_json::to_string(&pending.into_pending()).unwrap();
    let first = h.flow().resume(serde_json::from_str(&saved).unwrap()).unwrap();
    let _session = first.exchange(&callback).await.unwrap();
    let replay = h.flow().resume(serde_json::from_str(&saved).unwrap()).unwrap();
    let failure = replay.exchange(&callback).await.unwrap_err();
    assert!(!failure.sent_nothing(), "{failure:?}");
    assert!(failure.into_flow().is_none());
}

#[tokio::test]
async fn a_foreign_accounts_server_is_refused() {
    let h = Harness::start().await;
    let (url, pending) = h.flow().authorization_url();
    let callback = h.consent(&url).await;
    let us =
        url::form_urlencoded::byte_serialize(h.emulator.accounts_url("us").origin().ascii_serialization().as_bytes())
            .collect::<String>();
    let forged = callback.replace(&us, "http%3A%2F%2F127.0.0.1%3A9");
    assert_ne!(forged, callback);
    let err = pending.exchange(&forged).await.unwrap_err().into_error();
    assert!(matches!(&err, Error::UntrustedAccountsServer { server } if server == "http://127.0.0.1:9"), "{err:?}");
    assert!(err.to_string().contains("http://127.0.0.1:9"), "the message names the server: {err}");
    assert_eq!(h.emulator.counters().token_exchange, 0);
}

#[tokio::test]
async fn legacy_expires_in_sec_is_read_as_seconds() {
    let h = Harness::start().await;
    h.emulator.set_legacy_expires(true);
    let (url, pending) = h.flow().authorization_url();
    let session = pending.exchange(&h.consent(&url).await).await.unwrap();
    assert_eq!(session.tokens().expires_at(), h.clock.now() + Duration::hours(1));
}

#[tokio::test]
async fn a_self_client_code_is_exchanged_without_a_browser() {
    let h = Harness::start().await;
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(10));
    let session = h.flow().self_client(AuthorizationCode::new(code)).exchange().await.unwrap();
    let (status, _) = h.call_crm(&session.api_domain().unwrap(), session.authorization_header().await.unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_at_expiry_share_one_refresh() {
    let h = Harness::start().await;
    for n in [1usize, 10, 1000] {
        let (url, pending) = h.flow().authorization_url();
        let session = std::sync::Arc::new(pending.exchange(&h.consent(&url).await).await.unwrap());
        h.clock.advance(Duration::minutes(58));
        let before = h.emulator.counters().token_refresh;
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let session = session.clone();
                tokio::spawn(async move { session.access_token().await.map(|t| t.expose_secret().to_owned()) })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap().unwrap());
        }
        tokens.dedup();
        assert_eq!(tokens.len(), 1, "n = {n}: every caller got the same fresh token");
        assert_eq!(h.emulator.counters().token_refresh - before, 1, "n = {n}: exactly one refresh request");
    }
}

#[tokio::test]
async fn a_restored_session_refreshes_at_its_own_accounts_server() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let (url, pending) = h.flow().authorization_url();
    let saved = pending.exchange(&h.consent(&url).await).await.unwrap().tokens();
    let json = serde_json::to_string(&saved).unwrap();
    let restored = h.flow().restore(serde_json::from_str(&json).unwrap()).unwrap();
    restored.refresh().await.unwrap();
    assert_eq!(h.emulator.counters_for("eu").token_refresh, 1);
}
