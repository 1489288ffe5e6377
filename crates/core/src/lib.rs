//! Core types for Zoho OAuth 2.0: secrets, scopes, data centers, token sets, response parsing,
//! and the HTTP seam the flow talks through.
//!
//! **This crate does no I/O and names no HTTP library.** Where Zoho differs from the RFCs is
//! decided in one module, [`dialect`]: token and revocation answers are read there in one parse,
//! into a [`TokenResponse`] or a typed [`Error`].
//!
//! ```
//! use zoho_oauth_core::{DataCenter, Endpoints, Environment, Scopes};
//!
//! let endpoints = Endpoints::zoho(DataCenter::Eu, Environment::Sandbox);
//! assert_eq!(endpoints.token_url().as_str(), "https://accounts.zoho.eu/oauth/v2/token");
//! assert_eq!(endpoints.api_domain().unwrap().as_str(), "https://sandbox.zohoapis.eu/");
//!
//! let scopes = Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?;
//! assert_eq!(scopes.join(","), "ZohoCRM.modules.ALL,ZohoCRM.users.READ");
//! # Ok::<(), zoho_oauth_core::Error>(())
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod callback;
pub mod clock;
pub mod dialect;
pub mod endpoints;
pub mod error;
pub mod redact;
pub mod scope;
pub mod secret;
pub mod token;
pub mod transport;

pub use callback::Callback;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use dialect::{DeviceAuthorization, DevicePoll};
pub use endpoints::{ClientAuth, DataCenter, Dialect, Endpoints, Environment};
pub use error::{Error, ErrorCode, MalformedKind, Result, ServerError};
pub use scope::{Scope, Scopes};
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, CsrfState, DeviceCode, PkceVerifier, RefreshToken};
pub use token::{DEFAULT_ACCESS_TOKEN_LIFETIME, Renewal, TokenResponse, TokenSet};
pub use transport::{
    BodyStream, BoxFuture, Bytes, HttpClient, HttpRequest, HttpResponse, Redirected, RequestKind, RequestUrl,
    ResponseBody, StreamingResponse, TransportError, TransportErrorKind,
};
