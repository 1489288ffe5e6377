//! What a store keeps under one key: the tokens, the refresh state every sharer respects, and a
//! revision for compare-and-swap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zoho_oauth_core::TokenSet;

/// One stored authorization: its [`TokenSet`], the [`RefreshState`] shared by every process that
/// uses the store, and the store's revision of the entry.
///
/// The refresh state lives next to the tokens so that a backoff or a rate-limit lock-out decided
/// by one process is respected by every other process sharing the store, and so that saving new
/// tokens clears it in the same atomic write.
#[derive(Debug, Clone)]
pub struct Record {
    tokens: TokenSet,
    refresh: RefreshState,
    revision: u64,
}

impl Record {
    /// A record of freshly issued tokens: no refresh history, not yet stored (revision 0).
    pub fn new(tokens: TokenSet) -> Self {
        Self { tokens, refresh: RefreshState::default(), revision: 0 }
    }

    /// A record as a store read it, at `revision`. For backends.
    pub fn stored(tokens: TokenSet, refresh: RefreshState, revision: u64) -> Self {
        Self { tokens, refresh, revision }
    }

    /// The tokens.
    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    /// The refresh state shared by everyone using the store.
    pub fn refresh_state(&self) -> &RefreshState {
        &self.refresh
    }

    /// The store's revision of this entry when it was read; 0 for a record never stored.
    ///
    /// [`TokenStore::update`](crate::TokenStore::update) writes only if the stored entry still has
    /// this revision, so a writer that read an older entry never overwrites a newer one.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The same entry with new tokens, keeping the revision it was read at.
    #[must_use]
    pub fn with_tokens(mut self, tokens: TokenSet) -> Self {
        self.tokens = tokens;
        self
    }

    /// The same entry with a new refresh state, keeping the revision it was read at.
    #[must_use]
    pub fn with_refresh_state(mut self, refresh: RefreshState) -> Self {
        self.refresh = refresh;
        self
    }

    /// The tokens, taken out.
    pub fn into_tokens(self) -> TokenSet {
        self.tokens
    }
}

/// What the token managers sharing a store know about renewing one authorization.
///
/// It holds no secret: counts, instants and the server's error code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshState {
    /// Consecutive failed renewals since the last success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// No renewal request is sent before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    /// Why the last renewal failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<FailureRecord>,
    /// When the tokens were last renewed, by any process: the floor between two renewals of one
    /// grant is measured from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<DateTime<Utc>>,
}

impl RefreshState {
    /// Whether nothing is recorded.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A failed renewal as the store remembers it: its kind, the server's error code, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The server's `error` code, when the server sent one (never a token: codes are short words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// The kinds of failed renewal a store remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The server is rate limiting the client (Zoho's "Access Denied", HTTP 429).
    RateLimited,
    /// The network, a timeout, a 5xx or a response that did not parse: a later attempt may work.
    Transient,
    /// The server refused the request (a 4xx other than 408 and 429) in a way a later attempt is
    /// unlikely to change, such as a wrong client secret.
    Rejected,
    /// The grant is dead (`invalid_grant`, Zoho's `invalid_code`), or there is nothing to renew
    /// with: only a new authorization helps.
    GrantInvalid,
}
