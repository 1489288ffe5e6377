//! Newtypes for every secret the flow handles.
//!
//! Each one has a redacted `Debug`, no `Display`, shares its value between clones (a renewed
//! token set keeps the refresh token without copying it) and is wiped from memory when the last
//! clone is dropped, and reveals its value only through `expose_secret`, whose name makes every
//! use easy to audit.
//! Modelled on oauth2-rs's `new_secret_type!`, with wiping added.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints only the type name; there is deliberately no `Display`.
        /// A clone shares the value, which is overwritten with zeros when the last clone is dropped.
        #[derive(Clone)]
        pub struct $name(Arc<Zeroizing<String>>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::new(Zeroizing::new(value.into())))
            }

            /// Returns the secret value.
            ///
            /// # Security
            ///
            /// The returned string is the secret itself. Do not log it, print it, put it in an
            /// error message or a URL, or keep copies of it longer than needed:
            /// copies made from it are not wiped on drop.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Compares two secrets in time that does not depend on where they first differ.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        /// Serializes the secret in clear text.
        ///
        /// Serialization exists so that tokens can be persisted and a pending flow restored;
        /// whatever receives the output holds a secret.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// The client secret issued with the client id in Zoho's API console
    /// ([RFC 6749 section 2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)).
    ClientSecret
);
secret_type!(
    /// A single-use authorization code, valid for a few minutes
    /// ([RFC 6749 section 4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2)).
    AuthorizationCode
);
secret_type!(
    /// A short-lived access token, sent as `Authorization: Zoho-oauthtoken <token>`
    /// ([RFC 6749 section 1.4](https://www.rfc-editor.org/rfc/rfc6749#section-1.4)).
    AccessToken
);
secret_type!(
    /// A long-lived refresh token; losing it means the user must consent again
    /// ([RFC 6749 section 1.5](https://www.rfc-editor.org/rfc/rfc6749#section-1.5)).
    RefreshToken
);
secret_type!(
    /// The opaque `state` value that binds a callback to the request that started the flow
    /// ([RFC 6749 section 10.12](https://www.rfc-editor.org/rfc/rfc6749#section-10.12)).
    CsrfState
);
secret_type!(
    /// The device code of a device authorization request: what the device exchanges for tokens
    /// once the user approved, so as secret as an authorization code
    /// ([RFC 8628 section 3.2](https://www.rfc-editor.org/rfc/rfc8628#section-3.2)).
    DeviceCode
);
secret_type!(
    /// The PKCE code verifier kept while the user consents
    /// ([RFC 7636 section 4.1](https://www.rfc-editor.org/rfc/rfc7636#section-4.1)).
    PkceVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::new("1000.abcdef.ghijkl");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        assert_eq!(token.expose_secret(), "1000.abcdef.ghijkl");
    }

    #[test]
    fn constant_time_equality() {
        assert!(CsrfState::new("abc").ct_eq(&CsrfState::new("abc")));
        assert!(!CsrfState::new("abc").ct_eq(&CsrfState::new("abd")));
        assert!(!CsrfState::new("abc").ct_eq(&CsrfState::new("abcd")));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&RefreshToken::new("r")).unwrap();
        assert_eq!(json, "\"r\"");
        let back: RefreshToken = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose_secret(), "r");
    }
}
