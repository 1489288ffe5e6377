//! Helpers shared by the integration tests: the sample values and comparisons of the behaviour suite.

#![allow(unused_imports)] // Each test binary uses a different subset of these helpers.

pub(crate) use zoho_oauth_store::testing::{arb_key, arb_tokens, assert_same, key, same, tokens};
