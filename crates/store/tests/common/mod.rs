//! Helpers shared by the integration tests: sample values, proptest strategies and comparisons.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.
#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use url::Url;
use zoho_oauth_core::{AccessToken, Environment, RefreshToken, Scope, Scopes, TokenSet};
use zoho_oauth_store::StoreKey;

/// A key for `user` at the EU accounts server in production.
pub(crate) fn key(user: &str) -> StoreKey {
    StoreKey::new("1000.TESTCLIENT", user, "https://accounts.zoho.eu", Environment::Production)
}

/// A complete token set whose access token is `access`.
pub(crate) fn tokens(access: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access),
        Some(RefreshToken::new(format!("refresh-for-{access}"))),
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).single().expect("a valid date") + Duration::nanoseconds(123_456_789),
        Some(Url::parse("https://www.zohoapis.eu").expect("a valid URL")),
        "https://accounts.zoho.eu",
        Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"]).expect("valid scopes"),
    )
}

/// Whether two token sets hold the same values in every field.
pub(crate) fn same(a: &TokenSet, b: &TokenSet) -> bool {
    serde_json::to_value(a).unwrap() == serde_json::to_value(b).unwrap()
}

/// Asserts that two token sets hold the same values, field by field for a readable failure.
#[track_caller]
pub(crate) fn assert_same(actual: &TokenSet, expected: &TokenSet) {
    assert_eq!(actual.access_token().expose_secret(), expected.access_token().expose_secret());
    assert_eq!(
        actual.refresh_token().map(RefreshToken::expose_secret),
        expected.refresh_token().map(RefreshToken::expose_secret)
    );
    assert_eq!(actual.expires_at(), expected.expires_at());
    assert_eq!(actual.api_domain(), expected.api_domain());
    assert_eq!(actual.accounts_server(), expected.accounts_server());
    assert_eq!(actual.scopes(), expected.scopes());
    assert!(same(actual, expected));
}

/// Any string, control characters and non-ASCII included.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("(?s).{{0,{max}}}")).unwrap()
}

/// Arbitrary keys.
pub(crate) fn arb_key() -> impl Strategy<Value = StoreKey> {
    (
        any_text(24),
        any_text(24),
        any_text(32),
        prop_oneof![Just(Environment::Production), Just(Environment::Sandbox), Just(Environment::Developer),],
    )
        .prop_map(|(client, user, server, environment)| StoreKey::new(client, user, server, environment))
}

/// Arbitrary token sets, with expiry anywhere from 1970 to 9999 at nanosecond precision.
pub(crate) fn arb_tokens() -> impl Strategy<Value = TokenSet> {
    (
        any_text(64),
        proptest::option::of(any_text(64)),
        0i64..253_402_300_799,
        0u32..1_000_000_000,
        proptest::option::of("[a-z]{1,10}(\\.[a-z]{1,6}){0,2}"),
        any_text(32),
        proptest::collection::vec("[A-Za-z0-9._:/-]{1,16}", 0..5),
    )
        .prop_map(|(access, refresh, secs, nanos, host, server, scopes)| {
            let expires_at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos).expect("in range");
            let api_domain = host.map(|h| Url::parse(&format!("https://{h}/")).expect("a valid URL"));
            let scopes: Scopes = scopes.into_iter().map(|s| Scope::new(s).expect("a valid scope")).collect();
            TokenSet::new(
                AccessToken::new(access),
                refresh.map(RefreshToken::new),
                expires_at,
                api_domain,
                server,
                scopes,
            )
        })
}
