//! The order in which a setting's sources are asked, and the record of which one answered.
//!
//! Flags and environment variables both reach the tool through clap (an argument's `env`), so
//! clap's value source says which of the two it was; the config file and the defaults come after.

use std::fmt;
use std::path::Path;

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::error::CliError;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A flag on the command line.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File,
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Flag => "command line",
            Origin::Env => "environment",
            Origin::File => "config file",
            Origin::Default => "default",
        })
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// `value` from `origin`.
    pub fn new(value: T, origin: Origin) -> Self {
        Self { value, origin }
    }
}

/// Where a value given to clap came from, or `None` if it was not given.
fn clap_origin(matches: &ArgMatches, id: &str) -> Option<Origin> {
    match matches.value_source(id)? {
        ValueSource::CommandLine => Some(Origin::Flag),
        ValueSource::EnvVariable => Some(Origin::Env),
        _ => None,
    }
}

/// A clap value with its origin (flag or environment), or `None` when neither gave it.
pub fn from_clap<T>(matches: &ArgMatches, id: &str, value: Option<T>) -> Option<Setting<T>> {
    let origin = clap_origin(matches, id)?;
    value.map(|value| Setting { value, origin })
}

/// Empty strings count as unset, so `ZOHO_DC=` falls through to the next source.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// An invalid value: a usage error when it came from the command line or environment,
/// a configuration error when it came from the config file.
pub fn invalid(origin: Origin, config_path: Option<&Path>, message: String) -> CliError {
    match (origin, config_path) {
        (Origin::File, Some(path)) => CliError::config(format!("config file {}: {message}", path.display())),
        _ => CliError::usage(message),
    }
}
