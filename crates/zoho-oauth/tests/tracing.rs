//! Every span and event the library emits, at TRACE level, holds no secret.
//!
//! A capturing subscriber records each field of each span and event while the test runs an
//! exchange, API calls, a refresh, failed refreshes and a revocation against the emulator; then no
//! secret the test saw (tokens, code, client secret, PKCE verifier, state) may appear anywhere.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error; that is its job")]

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::{CLIENT_SECRET, Harness};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use zoho_accounts_emulator::Fault;

/// Every span name, event target and field, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\nspan {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut out));
    }

    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nrecord");
        values.record(&mut Fields(&mut out));
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\nevent {} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut out));
    }
}

#[test]
fn no_secret_in_any_span_or_event() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: every task of the runtime runs where the subscriber is installed.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut secrets: Vec<String> = vec![CLIENT_SECRET.to_owned()];
    runtime.block_on(async {
        let h = Harness::start().await;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(zoho_oauth::FileStore::open(dir.path().join("tokens.json")).await.unwrap());
        let (url, pending) = h.flow().with_store(store, "alice").authorization_url();
        let saved = serde_json::to_value(pending.into_pending()).unwrap();
        secrets.push(saved["state"].as_str().unwrap().to_owned());
        secrets.push(saved["verifier"].as_str().unwrap().to_owned());
        let pending = h
            .flow()
            .with_store(Arc::new(zoho_oauth::FileStore::open(dir.path().join("tokens.json")).await.unwrap()), "alice");
        let pending = pending.resume(serde_json::from_value(saved).unwrap()).unwrap();
        let callback = h.consent(&url).await;
        let code = url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        secrets.push(code);

        // A refused callback first, then the exchange.
        let forged = callback.replace("state=", "state=forged");
        let pending = pending.exchange(&forged).await.unwrap_err().into_flow().unwrap();
        let session = pending.exchange(&callback).await.unwrap();
        let tokens = session.tokens();
        secrets.push(tokens.access_token().expose_secret().to_owned());
        secrets.push(tokens.refresh_token().unwrap().expose_secret().to_owned());

        let api = session.api_domain().unwrap();
        let request = || {
            http::Request::get(api.join("/crm/v8/users?type=CurrentUser").unwrap().as_str()).body(Vec::new()).unwrap()
        };
        assert_eq!(session.send(request()).await.unwrap().status(), 200);

        // A renewal, then failed renewals (a proxy's 502, a backoff), then a good one.
        h.clock.advance(chrono::Duration::minutes(58));
        session.access_token().await.unwrap();
        secrets.push(session.tokens().access_token().expose_secret().to_owned());
        h.clock.advance(chrono::Duration::minutes(61));
        h.emulator.set_fault(Some(Fault::BadGatewayHtml));
        assert!(session.access_token().await.is_err());
        assert!(session.access_token().await.is_err());
        h.emulator.set_fault(None);
        h.clock.advance(chrono::Duration::seconds(3));
        session.access_token().await.unwrap();
        secrets.push(session.tokens().access_token().expose_secret().to_owned());
        assert_eq!(session.send(request()).await.unwrap().status(), 200);

        session.revoke_shared().await.unwrap();
        assert!(session.access_token().await.is_err());
    });
    let captured = capture.0.lock().unwrap().clone();
    // For a person who wants to read what one run logs: ZOHO_OAUTH_TRACE_DUMP=path.
    if let Ok(path) = std::env::var("ZOHO_OAUTH_TRACE_DUMP") {
        std::fs::write(path, &captured).unwrap();
    }
    for expected in ["span renew", "span exchange", "span revoke", "renewal failed", "outcome"] {
        assert!(captured.contains(expected), "the trace has {expected:?}:\n{captured}");
    }
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(!captured.contains(secret.as_str()), "a secret reached the trace:\n{captured}");
    }
}
