//! No secret ever appears in the `Debug` output of a public type or error, nor in an error's `Display`.
//!
//! Secrets are generated as random strings of 16 to 64 token characters: long enough that a
//! match in the output can only mean a leak.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use zoho_oauth::core::dialect::{read_revocation_answer, read_token_answer};
use zoho_oauth::{
    AccessToken, AuthorizationCode, Callback, ClientConfig, ClientSecret, CsrfState, DataCenter, Endpoints,
    Environment, Flow, HttpClient, HttpRequest, ManualClock, PkceVerifier, RefreshToken, RequestKind, ReqwestClient,
    Scopes, StreamingResponse, TokenSet, TransportError,
};

/// Answers every request with one canned response, and remembers the last request.
#[derive(Debug)]
struct Canned {
    status: u16,
    content_type: &'static str,
    body: String,
    last: Mutex<Option<HttpRequest>>,
}

impl HttpClient for Canned {
    fn execute(
        &self,
        request: HttpRequest,
        _kind: RequestKind,
    ) -> zoho_oauth::core::BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        *self.last.lock().unwrap() = Some(request);
        let response = http::Response::builder()
            .status(self.status)
            .header("content-type", self.content_type)
            .body(self.body.clone().into())
            .unwrap();
        Box::pin(async move { Ok(response) })
    }
}

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{16,64}"
}

fn assert_clean(output: &str, secrets: &[&str]) -> Result<(), TestCaseError> {
    for secret in secrets {
        prop_assert!(!output.contains(secret), "secret leaked into: {output}");
    }
    Ok(())
}

fn tokens(access: &str, refresh: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access),
        Some(RefreshToken::new(refresh)),
        chrono::Utc::now(),
        None,
        "https://accounts.zoho.com",
        Scopes::empty(),
    )
}

fn config(client_secret: &str) -> ClientConfig {
    ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production))
        .client_secret(ClientSecret::new(client_secret))
        .redirect_uri("http://127.0.0.1/cb")
        .unwrap()
        .clock(Arc::new(ManualClock::starting_now()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn secret_types_and_containers_redact(a in secret(), r in secret(), c in secret(), s in secret(), v in secret(), k in secret()) {
        let all = [a.as_str(), r.as_str(), c.as_str(), s.as_str(), v.as_str(), k.as_str()];
        let outputs = [
            format!("{:?}", AccessToken::new(&a)),
            format!("{:?}", RefreshToken::new(&r)),
            format!("{:?}", AuthorizationCode::new(&c)),
            format!("{:?}", CsrfState::new(&s)),
            format!("{:?}", PkceVerifier::new(&v)),
            format!("{:?}", ClientSecret::new(&k)),
            format!("{:?}", tokens(&a, &r)),
            format!("{:?}", Callback::parse(&format!("code={c}&state={s}")).unwrap()),
            format!("{:?}", config(&k)),
            {
                let source = zoho_oauth::store::Error::Io { path: "/full/tokens.json".into(), source: std::io::Error::other("disk full") };
                let error = zoho_oauth::Error::NotSaved { source: Box::new(source), tokens: Box::new(tokens(&a, &r)) };
                format!("{error} {error:?}")
            },
            {
                let store = zoho_oauth::MemoryStore::new();
                let key = zoho_oauth::StoreKey::new("1000.CLIENT", "me", "https://accounts.zoho.com", zoho_oauth::Environment::Production);
                runtime().block_on(zoho_oauth::TokenStore::save(&store, &key, &tokens(&a, &r))).unwrap();
                format!("{store:?} {key:?}")
            },
        ];
        for output in outputs {
            assert_clean(&output, &all)?;
        }
    }

    #[test]
    fn flows_in_every_state_redact(a in secret(), r in secret(), k in secret()) {
        let http = Arc::new(Canned { status: 200, content_type: "application/json", body: String::new(), last: Mutex::new(None) });
        let flow = Flow::new(config(&k), http);
        assert_clean(&format!("{flow:?}"), &[&k])?;
        let (url, pending) = flow.clone().authorization_url();
        let state = url.query_pairs().find(|(n, _)| n == "state").unwrap().1.into_owned();
        assert_clean(&format!("{pending:?}"), &[&k, &state])?;
        let pending_state = pending.into_pending();
        assert_clean(&format!("{pending_state:?}"), &[&k, &state])?;
        let authorized = flow.restore(tokens(&a, &r)).unwrap();
        assert_clean(&format!("{authorized:?}"), &[&a, &r, &k])?;
    }

    #[test]
    fn errors_from_hostile_responses_redact(
        a in secret(),
        r in secret(),
        k in secret(),
        code in secret(),
        shape in 0usize..6,
        status in prop::sample::select(vec![200u16, 400, 401, 500, 502]),
    ) {
        // Bodies that echo secrets back, in every shape the normalizer distinguishes.
        let body = match shape {
            0 => format!(r#"{{"error":"invalid_code","error_description":"code {code} with secret {k} is used"}}"#),
            1 => format!(r#"<html><body>proxy error for {a} {r}</body></html>"#),
            2 => format!(r#"{{"access_token":"{a}","refresh_token":"{r}","expires_in":"#),
            3 => format!(r#"{{"error":"{code}"}}"#),
            4 => format!(r#"["{a}","{r}"]"#),
            _ => format!(r#"{{"access_token":{{"nested":"{a}"}},"refresh_token":"{r}"}}"#),
        };
        let secrets = [a.as_str(), r.as_str(), k.as_str(), code.as_str()];
        for dialect in [zoho_oauth::Dialect::Zoho, zoho_oauth::Dialect::Standard] {
            let response = http::Response::builder().status(status).header("content-type", "application/json").body(body.clone().into_bytes()).unwrap();
            if let Err(error) = read_token_answer(dialect, &response) {
                assert_clean(&format!("{error} {error:?}"), &secrets)?;
            }
            if let Err(error) = read_revocation_answer(dialect, &response) {
                assert_clean(&format!("{error} {error:?}"), &secrets)?;
            }
        }
        let http = Arc::new(Canned { status, content_type: "application/json", body: body.clone(), last: Mutex::new(None) });
        let flow = Flow::new(config(&k), http.clone());
        let rt = runtime();
        let exchanged = rt.block_on(flow.clone().self_client(AuthorizationCode::new(&code)).exchange());
        if let Err(error) = exchanged {
            assert_clean(&format!("{error} {error:?}"), &secrets)?;
        }
        let authorized = flow.restore(tokens(&a, &r)).unwrap();
        if let Err(error) = rt.block_on(authorized.refresh()) {
            assert_clean(&format!("{error} {error:?}"), &secrets)?;
        }
        if let Err(error) = rt.block_on(authorized.revoke()) {
            assert_clean(&format!("{error} {error:?}"), &secrets)?;
        }
    }

    #[test]
    fn callback_errors_redact(s in secret(), c in secret(), description in secret()) {
        let http = Arc::new(Canned { status: 200, content_type: "application/json", body: String::new(), last: Mutex::new(None) });
        let (_, pending) = Flow::new(config("k"), http).authorization_url();
        let rt = runtime();
        for callback in [
            format!("code={c}&state={s}"),
            format!("error={c}&error_description={description}"),
            format!("code={c}&code={c}&state={s}"),
            format!("code={c}&state={s}&accounts-server=https%3A%2F%2F{c}.example"),
        ] {
            let (_, pending) = Flow::new(config("k"), Arc::new(Canned { status: 200, content_type: "application/json", body: String::new(), last: Mutex::new(None) })).authorization_url();
            let error = rt.block_on(pending.exchange(&callback)).unwrap_err();
            assert_clean(&format!("{error} {error:?}"), &[&s, &c, &description])?;
        }
        drop(pending);
    }
}

/// A transport failure on a Zoho revocation, whose URL carries the token, does not name the URL.
#[test]
fn transport_errors_do_not_carry_urls() {
    let rt = runtime();
    // Bind a port and release it, so that nothing listens there and the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let token = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210";
    let client = ReqwestClient::new().unwrap();
    let request = http::Request::post(format!("http://127.0.0.1:{port}/oauth/v2/token/revoke?token={token}"))
        .body(format!("token={token}").into_bytes())
        .unwrap();
    let error = rt.block_on(client.execute(request, RequestKind::Revoke)).unwrap_err();
    let output = format!("{error} {error:?}");
    assert!(!output.contains(token), "{output}");
    assert!(!output.contains("0123456789abcdef"), "{output}");
    assert_eq!(error.kind(), zoho_oauth::TransportErrorKind::Connect, "{output}");
}

/// Short secrets with any printable characters: long-run masking alone would not catch them.
fn short_secret() -> impl Strategy<Value = String> {
    // A `~` keeps a generated value from spelling a word of the library's own messages.
    "[A-Za-z0-9/\"\\\\ +%=&.:_-]{3,12}".prop_map(|s| format!("~{s}"))
}

/// Every spelling a server could echo a secret in.
fn spellings(secret: &str) -> Vec<String> {
    // The quotes around the JSON string, and only those: a secret may itself end in a quote.
    let quoted = serde_json::to_string(secret).unwrap();
    let json = quoted[1..quoted.len() - 1].to_owned();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    vec![secret.to_owned(), json.clone(), json.replace('/', "\\/"), form.clone(), form.replace('+', "%20")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Errors mask every secret the library knows by value: short ones, ones with any printable
    /// character, and JSON-escaped or form-encoded echoes of them.
    #[test]
    fn errors_mask_known_secrets_by_value(
        a in short_secret(),
        r in short_secret(),
        k in short_secret(),
        code in short_secret(),
        escaping in 0usize..5,
        shape in 0usize..4,
        status in prop::sample::select(vec![200u16, 400, 502]),
    ) {
        let echo = |secret: &str| spellings(secret)[escaping].clone();
        let json_echo = |secret: &str| {
            // Inside a JSON string the raw spelling must itself be escaped to stay valid JSON.
            let quoted = serde_json::to_string(&echo(secret)).unwrap();
            quoted[1..quoted.len() - 1].to_owned()
        };
        let body = match shape {
            0 => format!(r#"{{"error":"invalid_code","error_description":"{} {} {} {}"}}"#, json_echo(&code), json_echo(&k), json_echo(&a), json_echo(&r)),
            1 => format!("<html>{} {} {} {}</html>", echo(&code), echo(&k), echo(&a), echo(&r)),
            2 => format!(r#"{{"error":"{}"}}"#, json_echo(&r)),
            _ => format!(r#"{{"access_token":{{"x":"{}"}},"refresh_token":"{}""#, json_echo(&a), json_echo(&k)),
        };
        // Each call is checked against the secrets the library knows at that moment.
        let check = |output: &str, known: &[&String]| -> Result<(), TestCaseError> {
            for secret in known {
                for spelling in spellings(secret) {
                    prop_assert!(!output.contains(spelling.as_str()), "{spelling:?} leaked into: {output}");
                }
            }
            Ok(())
        };
        let http = Arc::new(Canned { status, content_type: "application/json", body, last: Mutex::new(None) });
        let flow = Flow::new(config(&k), http);
        let rt = runtime();
        if let Err(error) = rt.block_on(flow.clone().self_client(AuthorizationCode::new(&code)).exchange()) {
            check(&format!("{error} {error:?}"), &[&code, &k])?;
        }
        let authorized = flow.restore(tokens(&a, &r)).unwrap();
        if let Err(error) = rt.block_on(authorized.refresh()) {
            check(&format!("{error} {error:?} {}", error.cause()), &[&a, &r, &k])?;
        }
        if let Err(error) = rt.block_on(authorized.revoke_shared()) {
            check(&format!("{error} {error:?}"), &[&r, &k])?;
        }
    }
}
