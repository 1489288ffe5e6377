//! `login`: the authorization-code flow through the browser and a loopback listener, or a
//! self-client code, ending with the tokens in the token file.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use zoho_oauth::{
    AuthorizationCode, Authorized, ClientConfig, Flow, HttpClient, RefreshState, StoreKey, TokenSet, TokenStore,
};

use crate::cli::LoginArgs;
use crate::commands::{Summary, http_client, stdout};
use crate::config::Settings;
use crate::error::{CliError, During, Exit, Result};
use crate::format;
use crate::log::{debug, info, say};
use crate::loopback::{Callback, Listener};
use crate::profile::profile_flag;
use crate::store;

/// Runs `login`.
pub async fn run(settings: &Settings, args: &LoginArgs) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let client_id = settings.client_id()?;
    let endpoints = settings.endpoints()?;
    // Everything that can fail locally fails before the browser opens.
    let code = args.self_client.as_deref().map(read_code).transpose()?;
    let secret = settings.secret().load()?;
    let store = store::open(settings, true).await?.ok_or_else(|| CliError::config("the token store did not open"))?;
    let location = settings.store()?;
    let http = http_client()?;
    // The grants this login replaces, read before the new one overwrites them.
    let previous = previous_grants(&*store, client_id, profile, settings).await;
    let config = ClientConfig::new(client_id, endpoints.clone())
        .client_secret(secret)
        .refresh_margin(settings.refresh_margin.value);

    let session = match code {
        Some(code) => {
            info!("exchanging the self-client code at {}", config.endpoints().accounts_server());
            let flow = Flow::new(config, http.clone()).with_store(store.clone(), profile);
            flow.self_client(code)
                .exchange()
                .await
                .map_err(|e| CliError::from_flow(e.error(), During::SelfClient { profile }))?
        }
        None => browser(settings, args, config, http.clone(), store.clone()).await?,
    };

    let key = StoreKey::new(client_id, profile, session.accounts_server(), settings.environment());
    let tokens = session.tokens();
    forget_older(&*store, &key).await;

    let summary = Summary::new(&key, &tokens, RefreshState::default());
    let mut text = format!("Logged in: profile {profile:?}, client {client_id}\n");
    text.push_str(&summary.human());
    text.push_str(&format!("  token store:    {location}\n"));
    // The new grant is saved: only now may the one it replaces end.
    text.push_str(&revoke_previous(previous, &tokens, &endpoints, http).await);
    text.push_str(&format!("Use it with: zoho-oauth token{}\n", profile_flag(profile)));
    stdout(&text)
}

/// The saved grants of `profile` for this client and environment, at any accounts server.
///
/// A store that cannot be read here is not an error: the login goes on, and the old grant is
/// reported as not revoked.
async fn previous_grants(
    store: &dyn TokenStore,
    client_id: &str,
    profile: &str,
    settings: &Settings,
) -> std::result::Result<Vec<(StoreKey, TokenSet)>, String> {
    let keys = store.keys().await.map_err(|e| e.to_string())?;
    let mut grants = Vec::new();
    for key in keys {
        if key.client_id() == client_id && key.user() == profile && key.environment() == settings.environment() {
            if let Some(record) = store.load(&key).await.map_err(|e| e.to_string())? {
                store::check_not_sealed(settings, record.tokens()).map_err(|e| e.message())?;
                grants.push((key, record.into_tokens()));
            }
        }
    }
    Ok(grants)
}

/// Revokes the grants a login replaced, and says so, or says why not.
///
/// Zoho keeps at most 20 refresh tokens per user and client and silently deletes the oldest after
/// that, so every login that leaves its predecessor alive brings a working grant closer to
/// deletion. The old grant is revoked without the store (its entry now holds the new tokens).
async fn revoke_previous(
    previous: std::result::Result<Vec<(StoreKey, TokenSet)>, String>,
    new: &TokenSet,
    endpoints: &zoho_oauth::Endpoints,
    http: Arc<dyn HttpClient>,
) -> String {
    let previous = match previous {
        Ok(previous) => previous,
        Err(reason) => {
            return format!(
                "The previous grant, if any, was not revoked: the token store could not be read before the login \
                 ({reason}).\n"
            );
        }
    };
    let mut text = String::new();
    for (key, old) in previous {
        let same = match (old.refresh_token(), new.refresh_token()) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        };
        if same {
            continue;
        }
        let server = key.accounts_server();
        let config = ClientConfig::new(key.client_id(), endpoints.clone().with_environment(key.environment()));
        let revoked = match Flow::new(config, http.clone()).restore(old) {
            Ok(flow) => flow.revoke().await.map(drop).map_err(|failed| failed.error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match revoked {
            Ok(()) => {
                info!("revoked the previous grant at {server}");
                text.push_str(&format!(
                    "Revoked the previous grant of this profile at {server} (Zoho keeps only 20 per user and client).\n"
                ));
            }
            Err(reason) => {
                say!(
                    "warning: the previous grant at {server} was not revoked ({reason}); it stays valid at Zoho until \
                     revoked in Zoho's API console, and counts towards Zoho's limit of 20 per user and client"
                );
            }
        }
    }
    text
}

/// The browser half: listen, show the URL, wait for the redirect, exchange the code.
async fn browser(
    settings: &Settings,
    args: &LoginArgs,
    config: ClientConfig,
    http: Arc<dyn HttpClient>,
    store: Arc<dyn TokenStore>,
) -> Result<Flow<Authorized>> {
    let profile = settings.profile.value.as_str();
    let login = settings.login.as_ref().ok_or_else(|| CliError::new(Exit::Failure, "login settings are missing"))?;
    let redirect = &login.redirect_uri.value;
    let mut listener = Listener::bind(redirect).await?;
    let config = config
        .redirect_uri(redirect.as_str())
        .map_err(|e| CliError::from_flow(&e, During::Login { profile }))?
        .scopes(login.scopes.value.clone());
    let (url, pending) = Flow::new(config, http).with_store(store, profile).authorization_url();
    info!("scopes: {}", login.scopes.value.join(","));

    say!("Open this URL in a browser to authorize the profile {profile:?}:");
    say!("");
    say!("{url}");
    say!("");
    if !args.no_browser {
        open_browser(url.as_str()).await;
    }
    let callback = wait(&mut listener, Duration::from_secs(args.timeout), redirect.as_str()).await?;
    drop(listener);
    info!("the browser came back; exchanging the code");
    let result = pending.exchange(&callback.url).await.map_err(zoho_oauth::ExchangeError::into_error);
    match &result {
        Ok(_) => callback.answer(true, "").await,
        Err(error) => {
            let message = CliError::from_flow(error, During::Login { profile }).message();
            callback.answer(false, &message).await;
        }
    }
    result.map_err(|e| CliError::from_flow(&e, During::Login { profile }))
}

/// Opens the URL in the user's browser.
///
/// It runs on a blocking thread: a text browser named in `BROWSER` runs in the foreground until it
/// exits, and the listener must answer it meanwhile. After a few seconds the wait goes on without it.
async fn open_browser(url: &str) {
    let url = url.to_owned();
    let opening = tokio::task::spawn_blocking(move || webbrowser::open(&url));
    match tokio::time::timeout(Duration::from_secs(3), opening).await {
        Ok(Ok(Ok(()))) => say!("A browser window should have opened with it."),
        Ok(Ok(Err(error))) => say!("Could not open a browser ({error}); open the URL above yourself."),
        Ok(Err(_)) => say!("Could not open a browser; open the URL above yourself."),
        Err(_) => debug!("the browser is still starting"),
    }
}

/// Waits for the browser's request, showing that it waits, until `timeout`.
async fn wait(listener: &mut Listener, timeout: Duration, redirect: &str) -> Result<Callback> {
    // Listening for Ctrl-C starts before the wait is announced, so that an interrupt as soon as
    // the user reads the line is caught rather than killing the tool with its countdown half drawn.
    let mut interrupts = Interrupts::listen();
    let deadline = tokio::time::Instant::now() + timeout;
    let chrono_timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    say!(
        "Waiting for the browser to come back to {redirect} (up to {}; Ctrl-C to cancel)...",
        format::duration(chrono_timeout)
    );
    // A countdown on a terminal; in a log file, the line above is enough.
    let live = std::io::stderr().is_terminal();
    let mut countdown = Countdown::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let timed_out = || {
        CliError::new(
            Exit::Failure,
            format!(
                "no answer from the browser within {}; run `zoho-oauth login` again (--timeout waits longer; \
                 the redirect URI registered in Zoho's API console must be {redirect})",
                format::duration(chrono_timeout)
            ),
        )
    };
    let result = loop {
        tokio::select! {
            callback = listener.next() => {
                break callback.ok_or_else(|| CliError::new(Exit::Failure, "the loopback listener stopped"));
            }
            () = tokio::time::sleep_until(deadline) => break Err(timed_out()),
            () = interrupts.next() => {
                break Err(CliError::new(Exit::Interrupted, "interrupted while waiting for the browser; nothing was saved"));
            }
            _ = tick.tick(), if live => {
                // Rounded up, so that the countdown ends at 1s rather than showing 0s for a second.
                let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_millis().div_ceil(1000);
                let left = chrono::Duration::seconds(i64::try_from(left).unwrap_or(i64::MAX));
                write_stderr(&countdown.frame(&format!("{} left", format::duration(left))));
            }
        }
    };
    // The countdown's line is wiped whatever happened, so that what follows starts on a clean line.
    write_stderr(&countdown.clear());
    result
}

/// Ctrl-C, listened for from the moment [`Interrupts::listen`] returns.
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    signal: Option<tokio::signal::windows::CtrlC>,
}

impl Interrupts {
    /// Starts listening; if the platform refuses, Ctrl-C keeps its default effect.
    fn listen() -> Self {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        #[cfg(windows)]
        let signal = tokio::signal::windows::ctrl_c();
        let signal = signal.map_err(|error| debug!("cannot listen for Ctrl-C: {error}")).ok();
        Self { signal }
    }

    /// Waits for the next Ctrl-C; never returns when nothing listens.
    async fn next(&mut self) {
        match &mut self.signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Writes to stderr without a newline, ignoring a closed stderr.
fn write_stderr(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// A line rewritten in place with a carriage return.
///
/// Each frame pads itself with spaces to the width of the longest frame before it, so that a
/// shorter text ("59s left" after "1m 0s left") leaves no characters of the longer one behind; it
/// uses no terminal escape codes, so every terminal shows it the same.
#[derive(Debug, Default)]
struct Countdown {
    /// The widest frame written so far, in characters; 0 when the line is clear.
    width: usize,
}

impl Countdown {
    /// The characters that replace the line with `text`.
    fn frame(&mut self, text: &str) -> String {
        let line = format!("  {text}");
        let length = line.chars().count();
        let padding = self.width.saturating_sub(length);
        self.width = self.width.max(length);
        format!("\r{line}{}", " ".repeat(padding))
    }

    /// The characters that blank the line and return to its start; nothing if nothing was written.
    fn clear(&mut self) -> String {
        if self.width == 0 {
            return String::new();
        }
        let text = format!("\r{}\r", " ".repeat(self.width));
        self.width = 0;
        text
    }
}

/// The self-client code from the argument, or from stdin for `-`.
fn read_code(argument: &str) -> Result<AuthorizationCode> {
    let code = if argument == "-" {
        if std::io::stdin().is_terminal() {
            rpassword::prompt_password("Self-client code (input hidden): ")
                .map_err(|e| CliError::usage(format!("cannot read the code from the terminal: {e}")))?
        } else {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::usage(format!("cannot read the code from stdin: {e}")))?;
            line
        }
    } else {
        argument.to_owned()
    };
    let code = code.trim();
    if code.is_empty() {
        return Err(CliError::usage(
            "the self-client code is empty; generate one in Zoho's API console (Self Client, Generate Code)",
        ));
    }
    Ok(AuthorizationCode::new(code))
}

/// Deletes this profile's tokens for the same client and environment at other accounts servers:
/// after a login at another data center they would only confuse `status`.
async fn forget_older(store: &dyn TokenStore, current: &StoreKey) {
    let keys = match store.keys().await {
        Ok(keys) => keys,
        Err(error) => {
            info!("could not list the saved tokens to tidy up: {error}");
            return;
        }
    };
    for key in keys {
        let same = key.client_id() == current.client_id()
            && key.user() == current.user()
            && key.environment() == current.environment();
        if same && key != *current {
            match store.delete(&key).await {
                Ok(_) => info!("deleted the older tokens of this profile from {}", key.accounts_server()),
                Err(error) => debug!("could not delete the older tokens from {}: {error}", key.accounts_server()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a terminal line shows after `written`: `\r` returns to the start, other characters
    /// overwrite the cell under the cursor.
    fn screen(written: &str) -> String {
        let mut cells: Vec<char> = Vec::new();
        let mut cursor = 0;
        for c in written.chars() {
            if c == '\r' {
                cursor = 0;
            } else {
                if cursor < cells.len() {
                    cells[cursor] = c;
                } else {
                    cells.push(c);
                }
                cursor += 1;
            }
        }
        cells.into_iter().collect::<String>().trim_end().to_owned()
    }

    #[test]
    fn the_countdown_leaves_no_stray_characters_and_is_cleared() {
        let mut countdown = Countdown::default();
        let mut written = String::new();
        for left in [61, 60, 59, 9] {
            let text = format!("{} left", format::duration(chrono::Duration::seconds(left)));
            written.push_str(&countdown.frame(&text));
            assert_eq!(screen(&written), format!("  {text}"), "after {left}s");
        }
        written.push_str(&countdown.clear());
        assert_eq!(screen(&written), "", "the line is blank at the end");
        assert!(written.ends_with('\r'), "and the cursor is back at its start");
        assert_eq!(countdown.clear(), "", "a clear line is not cleared twice");
    }
}
