//! The key that says whose tokens a stored token set is.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use zoho_oauth_core::Environment;

/// Identifies one stored token set: which client, for which user or organisation,
/// at which accounts server, in which environment.
///
/// One store can hold tokens for many users, organisations, data centers and environments at once,
/// because Zoho issues separate tokens for each: a token from `accounts.zoho.eu` is useless in the US
/// data center, and a production token fails in the sandbox.
///
/// None of the fields is a secret: the client id is public (it appears in every authorization URL),
/// so `Debug` prints the key in full, and keys may appear in logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "KeyFields")]
pub struct StoreKey {
    client_id: String,
    user: String,
    accounts_server: String,
    environment: Environment,
}

impl StoreKey {
    /// A key from its parts.
    ///
    /// - `client_id`: the client id from Zoho's API console.
    /// - `user`: whatever the application uses to tell authorizations apart: a user's email or id,
    ///   an organisation id, or a fixed name such as `"default"` for a single-user application.
    /// - `accounts_server`: the accounts server that issued the tokens, e.g. `https://accounts.zoho.eu`,
    ///   as [`TokenSet::accounts_server`](zoho_oauth_core::TokenSet::accounts_server) reports it.
    ///   A trailing `/` is removed, so that `https://accounts.zoho.eu/` names the same key.
    /// - `environment`: production, sandbox or developer.
    pub fn new(
        client_id: impl Into<String>,
        user: impl Into<String>,
        accounts_server: impl Into<String>,
        environment: Environment,
    ) -> Self {
        let mut accounts_server = accounts_server.into();
        // Zoho's callback sends the accounts server without a trailing slash, while `Url`
        // prints one; both spellings must find the same tokens.
        while accounts_server.ends_with('/') {
            accounts_server.pop();
        }
        Self { client_id: client_id.into(), user: user.into(), accounts_server, environment }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The user, account or organisation the tokens belong to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The accounts server that issued the tokens, without a trailing `/`.
    pub fn accounts_server(&self) -> &str {
        &self.accounts_server
    }

    /// The environment the tokens belong to.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The fields in comparison order, with the environment as a rank because
    /// [`Environment`] itself is not ordered.
    fn ordering_tuple(&self) -> (&str, &str, &str, u8) {
        let environment = match self.environment {
            Environment::Production => 0,
            Environment::Sandbox => 1,
            Environment::Developer => 2,
        };
        (&self.client_id, &self.user, &self.accounts_server, environment)
    }
}

/// The serialized fields, read through [`StoreKey::new`] so that a key read from a file edited by
/// hand is normalised like one built in code.
#[derive(Deserialize)]
struct KeyFields {
    client_id: String,
    user: String,
    accounts_server: String,
    environment: Environment,
}

impl From<KeyFields> for StoreKey {
    fn from(fields: KeyFields) -> Self {
        Self::new(fields.client_id, fields.user, fields.accounts_server, fields.environment)
    }
}

/// Keys sort by client id, then user, then accounts server, then environment
/// (production, sandbox, developer), which is the order the file backend writes them in.
impl Ord for StoreKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ordering_tuple().cmp(&other.ordering_tuple())
    }
}

impl PartialOrd for StoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_ignored() {
        let a = StoreKey::new("c", "u", "https://accounts.zoho.eu/", Environment::Sandbox);
        let b = StoreKey::new("c", "u", "https://accounts.zoho.eu", Environment::Sandbox);
        assert_eq!(a, b);
        assert_eq!(a.accounts_server(), "https://accounts.zoho.eu");
    }

    #[test]
    fn order_is_total_and_follows_fields() {
        let p = StoreKey::new("c", "u", "a", Environment::Production);
        let s = StoreKey::new("c", "u", "a", Environment::Sandbox);
        let d = StoreKey::new("c", "u", "a", Environment::Developer);
        let other_user = StoreKey::new("c", "v", "a", Environment::Production);
        let mut keys = vec![other_user.clone(), d.clone(), s.clone(), p.clone()];
        keys.sort();
        assert_eq!(keys, vec![p, s, d, other_user]);
    }

    #[test]
    fn deserializing_normalises_like_new() {
        let json = r#"{"client_id":"c","user":"u","accounts_server":"https://a/","environment":"sandbox"}"#;
        let key: StoreKey = serde_json::from_str(json).unwrap();
        assert_eq!(key, StoreKey::new("c", "u", "https://a", Environment::Sandbox));
    }

    #[test]
    fn serializes_with_named_fields() {
        let key = StoreKey::new("1000.ABC", "me@example.com", "https://accounts.zoho.com", Environment::Production);
        let json = serde_json::to_value(&key).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "client_id": "1000.ABC",
                "user": "me@example.com",
                "accounts_server": "https://accounts.zoho.com",
                "environment": "production",
            })
        );
    }
}
