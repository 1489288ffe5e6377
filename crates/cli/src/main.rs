//! `zoho-oauth`: log in to Zoho once, then hand fresh access tokens to scripts, cron jobs and CI.
//!
//! ```text
//! zoho-oauth login --dc eu
//! curl -H "Authorization: Zoho-oauthtoken $(zoho-oauth token)" https://www.zohoapis.eu/crm/v8/users?type=CurrentUser
//! ```
//!
//! The commands are thin: the flow, the token store, the refresh coordination between processes,
//! the backoff and Zoho's rate-limit lock-out (recorded in the store entry, so every run and every
//! process sharing the store respects it) are the `zoho-oauth` library's. This crate adds
//! configuration (`config`), opening the store the settings name (`store`), the loopback listener
//! for the browser's redirect (`loopback`), and one-line errors with documented exit codes
//! (`error`). See `docs/cli.md`.

#![allow(unreachable_pub)] // A binary has no public API; `pub` only says what the modules share.

mod cli;
mod commands;
mod config;
mod error;
mod format;
mod log;
mod login;
mod loopback;
mod profile;
mod store;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::error::{CliError, Exit, Result};
use crate::log::say;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return clap_error(&error),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error),
    };
    log::set_verbosity(cli.global.verbose);
    match run(&cli, &matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say!("error: {error}");
            error.exit.into()
        }
    }
}

async fn run(cli: &Cli, matches: &clap::ArgMatches) -> Result<()> {
    if cli.global.client_secret.is_some() {
        return Err(CliError::usage(format!(
            "the client secret is never taken from the command line (it would land in shell history and process \
             lists); set {}, put client_secret in the config file (chmod 600), or let the tool ask for it",
            config::SECRET_VAR
        )));
    }
    let login_matches = matches.subcommand_matches("login");
    let login = match (&cli.command, login_matches) {
        (Command::Login(args), Some(login_matches)) => Some((args, login_matches)),
        _ => None,
    };
    let settings = Settings::resolve(&cli.global, matches, login)?;
    match &cli.command {
        Command::Login(args) => login::run(&settings, args).await,
        Command::Token(args) => commands::token(&settings, args).await,
        Command::Status(args) => commands::status(&settings, args).await,
        Command::Revoke => commands::revoke(&settings).await,
        Command::Logout(args) => commands::logout(&settings, args).await,
    }
}

/// Prints help and version as clap does; turns a usage error into one line and exit code 2.
fn clap_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            Exit::Usage.into()
        }
        _ => {
            let text = error.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid command line").trim_start_matches("error: ");
            let tips: Vec<&str> = lines.filter(|l| l.starts_with("tip:")).collect();
            let tips = if tips.is_empty() { String::new() } else { format!(" ({})", tips.join("; ")) };
            say!("error: {first}{tips}; see `zoho-oauth --help`");
            Exit::Usage.into()
        }
    }
}
