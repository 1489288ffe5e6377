//! The headless consent page, `GET /oauth/v2/auth`, over real loopback HTTP.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use common::{Harness, get, pkce_pair};
use zoho_accounts_emulator::{Consent, DEMO_CLIENT_ID, DEMO_REDIRECT_URI};

#[tokio::test]
async fn consent_redirects_with_code_state_location_and_accounts_server() {
    let h = Harness::start().await;
    let reply = get(&h.auth_url("us", &[("state", "opaque state/+&=")])).await;
    assert_eq!(reply.status, 302);
    let location = reply.header("location").unwrap();
    assert!(location.starts_with(&format!("{DEMO_REDIRECT_URI}?code=1000.")), "{location}");
    let origin = h.emulator.accounts_url("us").origin().ascii_serialization();
    let encoded: String = url::form_urlencoded::byte_serialize(origin.as_bytes()).collect();
    assert!(location.contains(&format!("&accounts-server={encoded}")), "{location}");

    let params = reply.location_params();
    assert_eq!(params["location"], "us");
    assert_eq!(params["accounts-server"], origin);
    assert_eq!(params["state"], "opaque state/+&=");
    assert_eq!(params["code"].split('.').count(), 3);
}

#[tokio::test]
async fn no_state_means_no_state_parameter() {
    let h = Harness::start().await;
    let params = get(&h.auth_url("us", &[])).await.location_params();
    assert!(params.contains_key("code"));
    assert!(!params.contains_key("state"));
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied() {
    let h = Harness::start().await;
    h.emulator.set_consent(Consent::Deny);
    let reply = get(&h.auth_url("us", &[("state", "s1")])).await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(format!("{DEMO_REDIRECT_URI}?error=access_denied&state=s1").as_str()));
}

#[tokio::test]
async fn an_unknown_client_or_redirect_uri_is_never_redirected() {
    let h = Harness::start().await;
    let mut unknown_client = h.url("us", "/oauth/v2/auth");
    unknown_client
        .query_pairs_mut()
        .append_pair("client_id", "1000.NOBODY")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", DEMO_REDIRECT_URI)
        .append_pair("scope", "ZohoCRM.modules.ALL");
    let mut foreign_redirect = h.url("us", "/oauth/v2/auth");
    foreign_redirect
        .query_pairs_mut()
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", "http://127.0.0.1/callback/")
        .append_pair("scope", "ZohoCRM.modules.ALL");
    for url in [unknown_client, foreign_redirect] {
        let reply = get(&url).await;
        assert_eq!(reply.status, 400, "{url}");
        assert!(reply.header("location").is_none());
    }
}

#[tokio::test]
async fn request_errors_go_back_in_the_redirect() {
    let h = Harness::start().await;
    let (_, challenge) = pkce_pair();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", " , ")], "invalid_scope"),
        (&[("code_challenge", &challenge), ("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge", &challenge)], "invalid_request"),
    ];
    for (extra, error) in cases {
        let mut url = h.url("us", "/oauth/v2/auth");
        let mut pairs = vec![
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "ZohoCRM.modules.ALL"),
            ("state", "s"),
        ];
        // The case's parameters replace the defaults of the same name.
        pairs.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        url.query_pairs_mut().extend_pairs(pairs).extend_pairs(extra);
        let reply = get(&url).await;
        assert_eq!(reply.status, 302, "{url}");
        let params = reply.location_params();
        assert_eq!(params["error"], error, "{url}");
        assert_eq!(params["state"], "s");
        assert!(!params.contains_key("code"));
    }
    assert_eq!(h.emulator.counters().authorize, 4);
}

#[tokio::test]
async fn a_redirect_uri_with_a_query_gets_parameters_appended() {
    let h = Harness::start().await;
    let redirect = "http://127.0.0.1/cb?tenant=7";
    h.emulator.register_client(zoho_accounts_emulator::ClientRegistration::new("1000.OTHER", "s", redirect));
    let mut url = h.url("us", "/oauth/v2/auth");
    url.query_pairs_mut()
        .append_pair("client_id", "1000.OTHER")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "ZohoCRM.modules.ALL ZohoCRM.users.READ");
    let reply = get(&url).await;
    assert_eq!(reply.status, 302);
    assert!(reply.header("location").unwrap().starts_with("http://127.0.0.1/cb?tenant=7&code="));
}
