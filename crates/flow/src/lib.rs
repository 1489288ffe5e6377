//! The compile-checked OAuth 2.0 authorization-code flow for Zoho and any RFC 6749 server.
//!
//! `Flow<Unauthorized>` becomes `Flow<CodeIssued>` when it builds the authorization URL, and
//! `Flow<Authorized>` when it exchanges the callback. Every transition consumes the flow, so
//! exchanging a code that was never requested, calling the API before authorization, or reusing a
//! consumed state does not compile.
//!
//! The protocol mechanics (PKCE, `state`, request building, error codes) come from
//! [`oauth2`]; Zoho's quirks plug in at its seams (see `zoho-oauth-core`).

mod authorized;
mod config;
mod error;
mod glue;
mod state;

pub use authorized::{Authorized, RevokeError};
pub use config::{AccessType, ClientConfig, DEFAULT_REFRESH_MARGIN, Prompt, RefreshPolicy};
pub use error::{Error, Result};
pub use state::{CodeIssued, Flow, FlowState, Redirect, SelfClient, Unauthorized};
