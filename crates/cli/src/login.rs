//! `login`: the authorization-code flow through the browser and a loopback listener, or a
//! self-client code, ending with the tokens in the token file.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use zoho_oauth::{AuthorizationCode, Authorized, ClientConfig, FileStore, Flow, HttpClient, StoreKey, TokenStore};

use crate::cli::LoginArgs;
use crate::commands::{Summary, http_client, open_store, stdout};
use crate::config::Settings;
use crate::error::{CliError, During, Exit, Result, profile_flag};
use crate::format;
use crate::lockout::Lockouts;
use crate::log::{debug, info, say};
use crate::loopback::{Callback, Listener};

/// Runs `login`.
pub async fn run(settings: &Settings, args: &LoginArgs) -> Result<()> {
    let profile = settings.profile.value.as_str();
    let client_id = settings.client_id()?;
    let endpoints = settings.endpoints()?;
    let store_path = settings.store_path()?;
    // Everything that can fail locally fails before the browser opens.
    let code = args.self_client.as_deref().map(read_code).transpose()?;
    let secret = settings.client_secret()?;
    let store = open_store(store_path).await?;
    let http = http_client()?;
    let config =
        ClientConfig::new(client_id, endpoints).client_secret(secret).refresh_margin(settings.refresh_margin.value);

    let session = match code {
        Some(code) => {
            info!("exchanging the self-client code at {}", config.endpoints().accounts_server());
            let flow = Flow::new(config, http).with_store(store.clone(), profile);
            flow.self_client(code)
                .exchange()
                .await
                .map_err(|e| CliError::from_flow(e.error(), During::SelfClient { profile }))?
        }
        None => browser(settings, args, config, http, store.clone()).await?,
    };

    let key = StoreKey::new(client_id, profile, session.accounts_server(), settings.environment());
    forget_older(&*store, &key).await;
    Lockouts::beside(store_path).clear(|k| k.user() == profile && k.client_id() == client_id);

    let summary = Summary::new(&key, &session.tokens(), None);
    let mut text = format!("Logged in: profile {profile:?}, client {client_id}\n");
    text.push_str(&summary.human());
    text.push_str(&format!("  token file:     {}\n", store_path.display()));
    text.push_str(&format!("Use it with: zoho-oauth token{}\n", profile_flag(profile)));
    stdout(&text)
}

/// The browser half: listen, show the URL, wait for the redirect, exchange the code.
async fn browser(
    settings: &Settings,
    args: &LoginArgs,
    config: ClientConfig,
    http: Arc<dyn HttpClient>,
    store: Arc<FileStore>,
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
    let deadline = tokio::time::Instant::now() + timeout;
    let chrono_timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    say!(
        "Waiting for the browser to come back to {redirect} (up to {}; Ctrl-C to cancel)...",
        format::duration(chrono_timeout)
    );
    // A countdown on a terminal; in a log file, the line above is enough.
    let live = std::io::stderr().is_terminal();
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
            _ = tick.tick(), if live => {
                // Rounded up, so that the countdown ends at 1s rather than showing 0s for a second.
                let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_millis().div_ceil(1000);
                let left = chrono::Duration::seconds(i64::try_from(left).unwrap_or(i64::MAX));
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r  {} left ", format::duration(left));
                let _ = stderr.flush();
            }
        }
    };
    if live {
        say!("");
    }
    result
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
