//! Where each setting comes from: flags, then environment variables, then the config file, then defaults.
//!
//! One module per concern: `precedence` (the order of sources and the record of which one
//! answered), `env` (the variables read outside clap), `file` (the TOML config file), `secret`
//! (the client secret, loaded only when needed), `store` (where tokens are kept), `login` (the
//! settings only `login` uses) and `settings` (every setting, resolved).
//!
//! The config file is TOML. Top-level keys apply to every profile; `[profiles.NAME]` tables
//! override them for one profile:
//!
//! ```toml
//! client_id = "1000.ABC"
//! dc = "eu"
//!
//! [profiles.sandbox]
//! environment = "sandbox"
//! ```
//!
//! A file that holds a `client_secret` must be readable by its owner only, like an ssh key.

mod env;
mod file;
mod login;
mod precedence;
mod secret;
mod settings;
mod store;

pub use env::SECRET_VAR;
pub use precedence::Origin;
pub use settings::{Settings, environment_name};
pub use store::StoreLocation;
