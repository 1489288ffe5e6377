//! `login`: the authorization-code flow through the browser and a loopback listener, a
//! self-client code, the device flow (a code entered on another device) or client credentials,
//! each ending with the tokens in the token file.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use chrono::Utc;
use zoho_oauth::{
    AuthorizationCode, Authorized, ClientConfig, DeviceCodeIssued, Flow, HttpClient, RefreshState, StoreKey, TokenSet,
    TokenStore,
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
        None if args.device => device(settings, config, http.clone(), store.clone()).await?,
        None if args.client_credentials => client_credentials(settings, config, http.clone(), store.clone()).await?,
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
    let callback = wait_for_browser(&mut listener, Duration::from_secs(args.timeout), redirect.as_str()).await?;
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
async fn wait_for_browser(listener: &mut Listener, timeout: Duration, redirect: &str) -> Result<Callback> {
    // Listening for Ctrl-C starts before the wait is announced, so that an interrupt as soon as
    // the user reads the line is caught rather than killing the tool with its countdown half drawn.
    let interrupts = Interrupts::listen();
    let deadline = tokio::time::Instant::now() + timeout;
    let chrono_timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    say!(
        "Waiting for the browser to come back to {redirect} (up to {}; Ctrl-C to cancel)...",
        format::duration(chrono_timeout)
    );
    let mut waiter = Waiter::new(interrupts, deadline, "interrupted while waiting for the browser; nothing was saved");
    let result = match waiter.until(tokio::time::timeout_at(deadline, listener.next())).await {
        Ok(Ok(Some(callback))) => Ok(callback),
        Ok(Ok(None)) => Err(CliError::new(Exit::Failure, "the loopback listener stopped")),
        Ok(Err(_elapsed)) => Err(CliError::new(
            Exit::Failure,
            format!(
                "no answer from the browser within {}; run `zoho-oauth login` again (--timeout waits longer; \
                 the redirect URI registered in Zoho's API console must be {redirect})",
                format::duration(chrono_timeout)
            ),
        )),
        Err(interrupted) => Err(interrupted),
    };
    waiter.finish();
    result
}

/// The device half: ask for a user code, show it with the URL where it is entered, and poll until
/// the user decides or the code expires. The library keeps to Zoho's polling rules (the interval,
/// `slow_down`, `other_dc`) and saves the tokens to the store on approval.
///
/// The device code itself is a secret (whoever holds it gets the tokens): it stays inside the flow
/// and is never shown.
async fn device(
    settings: &Settings,
    config: ClientConfig,
    http: Arc<dyn HttpClient>,
    store: Arc<dyn TokenStore>,
) -> Result<Flow<Authorized>> {
    let profile = settings.profile.value.as_str();
    let during = During::Device { profile };
    let login = settings.login.as_ref().ok_or_else(|| CliError::new(Exit::Failure, "login settings are missing"))?;
    let config = config.scopes(login.scopes.value.clone());
    info!(
        "asking {} for a device code; scopes: {}",
        config.endpoints().accounts_server(),
        login.scopes.value.join(",")
    );
    // Listening starts before the code is shown, as for the browser.
    let interrupts = Interrupts::listen();
    let issued = Flow::new(config, http)
        .with_store(store, profile)
        .device_authorization()
        .await
        .map_err(|e| CliError::from_flow(&e, during))?;

    say!("To authorize the profile {profile:?}, open this URL on a phone or computer, sign in and enter the code:");
    say!("");
    say!("  URL:   {}", issued.verification_uri());
    say!("  Code:  {}", issued.user_code());
    say!("");
    if let Some(complete) = issued.verification_uri_complete() {
        say!("Or open {complete}, which holds the code already.");
    }
    let left = (issued.expires_at() - Utc::now()).max(chrono::Duration::zero());
    let deadline = tokio::time::Instant::now() + left.to_std().unwrap_or_default();
    say!("Waiting for the approval (the code expires in {}; Ctrl-C to cancel)...", format::duration(left));
    let mut waiter = Waiter::new(interrupts, deadline, "interrupted while waiting for the approval; nothing was saved");
    let result = poll(&mut waiter, issued, during).await;
    waiter.finish();
    result
}

/// Polls until the user decides: the library's wait ends at approval, at a final answer (denial,
/// expiry) or at a failure after which polling may go on (the network, a 5xx), which is shown as a
/// warning before the wait resumes, so that a person is not left looking at a countdown that
/// cannot succeed.
async fn poll(waiter: &mut Waiter, issued: Flow<DeviceCodeIssued>, during: During<'_>) -> Result<Flow<Authorized>> {
    let mut flow = issued;
    loop {
        let failed = match waiter.until(flow.wait()).await? {
            Ok(authorized) => return Ok(authorized),
            Err(failed) => failed,
        };
        let error = CliError::from_flow(failed.error(), during);
        match failed.into_flow() {
            Some(pending) => {
                waiter.say(&format!("warning: {error}; still waiting"));
                flow = pending;
            }
            None => return Err(error),
        }
    }
}

/// The client-credentials half: one request, no user; the tokens are saved by the library and
/// renewed by `token` the same way, with the scopes and `soid` recorded in the token set.
async fn client_credentials(
    settings: &Settings,
    config: ClientConfig,
    http: Arc<dyn HttpClient>,
    store: Arc<dyn TokenStore>,
) -> Result<Flow<Authorized>> {
    let profile = settings.profile.value.as_str();
    let login = settings.login.as_ref().ok_or_else(|| CliError::new(Exit::Failure, "login settings are missing"))?;
    let soid = login.soid.as_ref().map(|s| s.value.as_str());
    let config = config.scopes(login.scopes.value.clone());
    match soid {
        Some(soid) => info!(
            "asking {} for a client-credentials token for {soid}; scopes: {}",
            config.endpoints().accounts_server(),
            login.scopes.value.join(",")
        ),
        None => info!("asking {} for a client-credentials token without --soid", config.endpoints().accounts_server()),
    }
    Flow::new(config, http)
        .with_store(store, profile)
        .client_credentials(soid)
        .await
        .map_err(|e| CliError::from_flow(&e, During::ClientCredentials { profile }))
}

/// A wait a person watches: a countdown to `deadline` on a terminal, Ctrl-C ending it, and
/// messages that do not break the countdown's line.
struct Waiter {
    interrupts: Interrupts,
    deadline: tokio::time::Instant,
    /// The error for Ctrl-C.
    interrupted: &'static str,
    /// Whether stderr is a terminal: in a log file, the announcing line is enough.
    live: bool,
    countdown: Countdown,
    tick: tokio::time::Interval,
}

impl Waiter {
    fn new(interrupts: Interrupts, deadline: tokio::time::Instant, interrupted: &'static str) -> Self {
        Self {
            interrupts,
            deadline,
            interrupted,
            live: std::io::stderr().is_terminal(),
            countdown: Countdown::default(),
            tick: tokio::time::interval(Duration::from_secs(1)),
        }
    }

    /// Runs `work` to its end, drawing the countdown meanwhile; Ctrl-C drops it (exit 130).
    async fn until<T>(&mut self, work: impl Future<Output = T>) -> Result<T> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return Ok(done),
                () = self.interrupts.next() => {
                    return Err(CliError::new(Exit::Interrupted, self.interrupted));
                }
                _ = self.tick.tick(), if self.live => {
                    // Rounded up, so that the countdown ends at 1s rather than showing 0s for a second.
                    let left = self.deadline.saturating_duration_since(tokio::time::Instant::now());
                    let left = chrono::Duration::seconds(i64::try_from(left.as_millis().div_ceil(1000)).unwrap_or(i64::MAX));
                    write_stderr(&self.countdown.frame(&format!("{} left", format::duration(left))));
                }
            }
        }
    }

    /// Shows a line on stderr, on a clean line; the countdown redraws itself below it.
    fn say(&mut self, line: &str) {
        write_stderr(&self.countdown.clear());
        say!("{line}");
    }

    /// Wipes the countdown's line whatever happened, so that what follows starts on a clean line.
    fn finish(mut self) {
        write_stderr(&self.countdown.clear());
    }
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
