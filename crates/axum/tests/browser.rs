//! End-to-end tests in a real browser: headless Chromium driven through ChromeDriver with
//! fantoccini, against the `web` example's app and the accounts emulator, all on 127.0.0.1.
//!
//! Without ChromeDriver the tests print "skipped: chromedriver not found" and pass, except under
//! `CI=true`, where they fail. Screenshots go to `target/web-screenshots/`.
//! Every page the browser visits, every URL it lands on, and the tracing output of the whole run
//! are scanned for the token values the store held: none may appear.

#[allow(dead_code, reason = "the example's module has items only the example uses")]
#[path = "../examples/web/app.rs"]
mod app;

use std::io::Write as _;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};
use zoho_oauth::{ManualClock, TokenStore as _};

/// Every wait for an element or a page.
const WAIT: Duration = Duration::from_secs(10);
/// The bound on one whole test.
const TEST_LIMIT: Duration = Duration::from_secs(90);

/// One browser test at a time: each starts its own Chromium, and the machine may be small.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running ChromeDriver on a free loopback port; killed when dropped.
struct Driver {
    url: String,
    _child: Child,
}

fn chromedriver_path() -> Option<PathBuf> {
    // `CHROMEDRIVER` names the one to use; set to a missing path, it makes the tests skip.
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].iter().map(PathBuf::from).find(|p| p.exists())
}

fn chromium_path() -> &'static str {
    if Path::new("/usr/lib/chromium/chromium").exists() { "/usr/lib/chromium/chromium" } else { "/usr/bin/chromium" }
}

/// Starts ChromeDriver, or returns `None` (the test is skipped) when there is none outside CI.
async fn start_driver() -> anyhow::Result<Option<Driver>> {
    let Some(path) = chromedriver_path() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!("chromedriver not found, and CI=true: install chromium and chromium-driver");
        }
        println!("skipped: chromedriver not found");
        return Ok(None);
    };
    let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver")?;
    let started = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        ensure!(started.elapsed() < WAIT, "chromedriver did not listen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Some(Driver { url: format!("http://127.0.0.1:{port}"), _child: child }))
}

/// One browser window with its own fresh profile: its own cookies, as a separate person's browser.
struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
    /// Every page source and URL this browser showed, for the token scan.
    seen: Vec<String>,
    name: &'static str,
}

impl Browser {
    async fn open(driver: &Driver, name: &'static str) -> anyhow::Result<Self> {
        let profile = tempfile::tempdir()?;
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=900,760".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities
            .insert("goog:chromeOptions".to_owned(), serde_json::json!({ "binary": chromium_path(), "args": args }));
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(HttpConnector::new()).capabilities(capabilities).connect(&driver.url),
        )
        .await
        .context("chromium did not start within 30 s")?
        .context("opening a WebDriver session")?;
        Ok(Self { client, _profile: profile, seen: Vec::new(), name })
    }

    /// Records what the browser shows now, for the token scan.
    async fn record(&mut self) -> anyhow::Result<()> {
        self.seen.push(self.client.current_url().await?.to_string());
        self.seen.push(self.client.source().await?);
        Ok(())
    }

    async fn goto(&mut self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await?;
        self.record().await
    }

    async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => Ok(element),
            Err(error) => {
                // Say where the browser is, to make a failure readable; the page is the test's own.
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let title = self.client.title().await.unwrap_or_default();
                bail!("waiting for {css} on {url} ({title:?}): {error}")
            }
        }
    }

    /// The element's text. An element that goes stale while it is read (the page navigated away
    /// under it) is looked up again, within the same bounded wait.
    async fn text(&self, css: &str) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match self.wait_for(css).await?.text().await {
                Ok(text) => return Ok(text),
                Err(error) if error.to_string().contains("stale") && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Waits until the element's text is `expected`, as after a click that navigates: the old
    /// page may still be showing when the click returns.
    async fn wait_for_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if text == expected {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                bail!("{css} still reads {text:?}, not {expected:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn click(&mut self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css).await?.click().await?;
        Ok(())
    }

    async fn screenshot(&self, step: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{}-{step}.png", self.name)), png)?;
        Ok(())
    }

    async fn close(self) -> anyhow::Result<Vec<String>> {
        self.client.close().await?;
        Ok(self.seen)
    }
}

/// `target/web-screenshots/`, next to the `tmp` directory cargo gives integration tests.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("web-screenshots")
}

/// The tracing output of a test, captured in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// The token values the store holds now (access and refresh), collected as the test goes.
async fn tokens_in_store(demo: &app::Demo, into: &mut Vec<String>) -> anyhow::Result<()> {
    for key in demo.store.keys().await? {
        if let Some(record) = demo.store.load(&key).await? {
            into.push(record.tokens().access_token().expose_secret().to_owned());
            if let Some(refresh) = record.tokens().refresh_token() {
                into.push(refresh.expose_secret().to_owned());
            }
        }
    }
    Ok(())
}

/// No token in any page, URL or log line; and no code left in the address bar after a callback.
fn assert_no_token_leaked(tokens: &[String], seen: &[String], logs: &str) -> anyhow::Result<()> {
    ensure!(!tokens.is_empty(), "the scan needs the token values to look for");
    for token in tokens {
        ensure!(token.len() >= 16, "a token too short to scan for");
        for text in seen {
            ensure!(!text.contains(token.as_str()), "a token appeared in a page or URL");
        }
        ensure!(!logs.contains(token.as_str()), "a token appeared in the log output");
    }
    Ok(())
}

/// Runs one browser scenario: the demo, ChromeDriver, captured logs, a time bound.
async fn run<F, Fut>(name: &str, clock: Option<Arc<ManualClock>>, scenario: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<app::Demo>, Driver) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<String>, Vec<String>)>>,
{
    let _turn = ONE_AT_A_TIME.lock().await;
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    // The test's runtime has one thread, so the app's and the emulator's tasks log here too.
    let _logging = tracing::subscriber::set_default(subscriber);
    let Some(driver) = start_driver().await? else {
        return Ok(());
    };
    let demo = Arc::new(app::start(0, clock.map(|c| c as zoho_oauth::SharedClock)).await?);
    let outcome = tokio::time::timeout(TEST_LIMIT, scenario(demo, driver))
        .await
        .with_context(|| format!("{name} did not finish within {TEST_LIMIT:?}"));
    let logs = logs.text();
    let (tokens, seen) = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) | Err(error) => {
            // The warnings say why a sign-in failed; they hold no secret (that is what the scan checks).
            let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
            bail!("{error:#}\nwarnings logged:\n{}", warnings.join("\n"))
        }
    };
    ensure!(logs.contains("signed in with zoho") || tokens.is_empty(), "the sign-in was not logged");
    if !tokens.is_empty() {
        assert_no_token_leaked(&tokens, &seen, &logs)?;
    }
    Ok(())
}

/// The emulator's user id for an e-mail address.
fn user_id(demo: &app::Demo, email: &str) -> anyhow::Result<String> {
    demo.emulator.users().into_iter().find(|u| u.email == email).map(|u| u.id).context("no such emulator user")
}

/// From the app's home page through the consent page, as the user with `email`, to the consent
/// page's decision `decision` (`accept` or `deny`).
async fn consent(browser: &mut Browser, demo: &app::Demo, email: &str, decision: &str) -> anyhow::Result<()> {
    browser.goto(demo.url.as_str()).await?;
    browser.click("#sign-in").await?;
    browser.wait_for("input[name=user]").await?;
    browser.record().await?;
    if decision == "accept" {
        let id = user_id(demo, email)?;
        browser.click(&format!("input[name=user][value='{id}']")).await?;
    }
    browser.screenshot(&format!("consent-{decision}")).await?;
    browser.click(&format!("button[value={decision}]")).await?;
    Ok(())
}

async fn sign_in(browser: &mut Browser, demo: &app::Demo, email: &str) -> anyhow::Result<()> {
    consent(browser, demo, email, "accept").await?;
    browser.wait_for("#name").await?;
    browser.record().await?;
    let url = browser.client.current_url().await?;
    ensure!(url.as_str() == demo.url.as_str(), "after the callback the browser is on {url}, not the home page");
    Ok(())
}

#[tokio::test]
async fn sign_in_reload_and_sign_out() -> anyhow::Result<()> {
    run("sign_in_reload_and_sign_out", None, |demo, driver| async move {
        let mut browser = Browser::open(&driver, "sign-in").await?;
        browser.goto(demo.url.as_str()).await?;
        browser.screenshot("1-signed-out").await?;
        sign_in(&mut browser, &demo, "alice@example.com").await?;
        let mut tokens = Vec::new();
        tokens_in_store(&demo, &mut tokens).await?;
        ensure!(browser.text("#name").await? == "Alice Andersen");
        ensure!(browser.text("#email").await? == "alice@example.com");
        ensure!(browser.text("#data-center").await? == "US");
        ensure!(browser.text("#expires").await?.ends_with("UTC"));
        browser.screenshot("2-signed-in").await?;

        // A reload keeps the sign-in, and the per-user session is reused: no new exchange.
        browser.client.refresh().await?;
        browser.record().await?;
        ensure!(browser.text("#name").await? == "Alice Andersen", "the reload lost the sign-in");
        ensure!(demo.emulator.counters().token_exchange == 1);

        browser.click("#sign-out").await?;
        browser.wait_for("#sign-in").await?;
        browser.record().await?;
        browser.screenshot("3-signed-out-again").await?;
        ensure!(demo.emulator.counters().revoke == 1, "logout revokes the grant");
        ensure!(demo.store.keys().await?.is_empty(), "logout deletes the grant from the store");
        // The old cookie, if the browser still sent it, signs nobody in.
        browser.goto(demo.url.as_str()).await?;
        browser.wait_for("#sign-in").await?;
        let seen = browser.close().await?;
        Ok((tokens, seen))
    })
    .await
}

#[tokio::test]
async fn denied_consent_shows_the_error_page() -> anyhow::Result<()> {
    run("denied_consent_shows_the_error_page", None, |demo, driver| async move {
        let mut browser = Browser::open(&driver, "deny").await?;
        consent(&mut browser, &demo, "alice@example.com", "deny").await?;
        let error = browser.wait_for("#error").await?;
        browser.record().await?;
        ensure!(error.attr("data-kind").await?.as_deref() == Some("denied"));
        ensure!(browser.text("h1").await? == "Sign-in cancelled");
        browser.screenshot("error-page").await?;
        ensure!(demo.emulator.counters().token_exchange == 0, "a denial exchanges nothing");
        ensure!(demo.store.keys().await?.is_empty());
        browser.goto(demo.url.as_str()).await?;
        browser.wait_for("#sign-in").await?;
        let seen = browser.close().await?;
        Ok((Vec::new(), seen))
    })
    .await
}

#[tokio::test]
async fn a_user_in_the_eu_data_center() -> anyhow::Result<()> {
    run("a_user_in_the_eu_data_center", None, |demo, driver| async move {
        let mut browser = Browser::open(&driver, "eu").await?;
        sign_in(&mut browser, &demo, "bruno@example.eu").await?;
        let mut tokens = Vec::new();
        tokens_in_store(&demo, &mut tokens).await?;
        ensure!(browser.text("#name").await? == "Bruno Bianchi");
        ensure!(browser.text("#data-center").await? == "EU");
        browser.screenshot("signed-in").await?;
        // The consent page was the US one; the code was exchanged, and the API called, at the EU one.
        ensure!(demo.emulator.counters_for("eu").token_exchange == 1);
        ensure!(demo.emulator.counters_for("us").token_exchange == 0);
        ensure!(demo.emulator.counters_for("eu").api >= 2, "the sign-in and the page call the EU API");
        let keys = demo.store.keys().await?;
        ensure!(
            keys.len() == 1
                && keys[0].accounts_server() == demo.emulator.accounts_url("eu").as_str().trim_end_matches('/')
        );
        let seen = browser.close().await?;
        Ok((tokens, seen))
    })
    .await
}

#[tokio::test]
async fn a_forged_callback_is_refused_and_the_real_one_still_works() -> anyhow::Result<()> {
    run("a_forged_callback", None, |demo, driver| async move {
        let mut browser = Browser::open(&driver, "forged-state").await?;
        browser.goto(demo.url.as_str()).await?;
        browser.click("#sign-in").await?;
        browser.wait_for("input[name=user]").await?;
        let consent_page = browser.client.current_url().await?;

        // An attacker's link: a callback with a code and a state of the attacker's choosing.
        let us = demo.emulator.accounts_url("us");
        let forged = format!(
            "{}auth/callback?code=1000.forged&state=not-the-state&location=us&accounts-server={}",
            demo.url,
            us.as_str().trim_end_matches('/')
        );
        browser.goto(&forged).await?;
        let error = browser.wait_for("#error").await?;
        ensure!(error.attr("data-kind").await?.as_deref() == Some("state-mismatch"));
        browser.screenshot("error-page").await?;
        let counters = demo.emulator.counters();
        ensure!(counters.token_exchange == 0 && counters.token_errors == 0, "a wrong state sends no token request");

        // The browser's own sign-in was kept: the real answer still signs in.
        browser.goto(consent_page.as_str()).await?;
        let id = user_id(&demo, "chloe@example.com")?;
        browser.click(&format!("input[name=user][value='{id}']")).await?;
        browser.click("button[value=accept]").await?;
        ensure!(browser.text("#name").await? == "Chloe Chen");
        browser.record().await?;
        browser.screenshot("signed-in-after-forgery").await?;
        let mut tokens = Vec::new();
        tokens_in_store(&demo, &mut tokens).await?;
        let seen = browser.close().await?;
        Ok((tokens, seen))
    })
    .await
}

#[tokio::test]
async fn an_expired_sign_in_is_refused() -> anyhow::Result<()> {
    let clock = Arc::new(ManualClock::starting_now());
    let app_clock = clock.clone();
    run("an_expired_sign_in_is_refused", Some(app_clock), |demo, driver| async move {
        let mut browser = Browser::open(&driver, "expired").await?;
        browser.goto(demo.url.as_str()).await?;
        browser.click("#sign-in").await?;
        let id = user_id(&demo, "alice@example.com")?;
        browser.click(&format!("input[name=user][value='{id}']")).await?;
        // The user lingers on the consent page past the pending lifetime (10 minutes).
        clock.advance(chrono::Duration::minutes(11));
        browser.click("button[value=accept]").await?;
        let error = browser.wait_for("#error").await?;
        browser.record().await?;
        ensure!(error.attr("data-kind").await?.as_deref() == Some("expired"));
        browser.screenshot("error-page").await?;
        ensure!(demo.emulator.counters().token_exchange == 0, "an expired sign-in exchanges nothing");
        let seen = browser.close().await?;
        Ok((Vec::new(), seen))
    })
    .await
}

#[tokio::test]
async fn two_users_at_once_each_see_their_own_data() -> anyhow::Result<()> {
    run("two_users_at_once", None, |demo, driver| async move {
        let mut alice = Browser::open(&driver, "two-users-alice").await?;
        let mut bruno = Browser::open(&driver, "two-users-bruno").await?;
        sign_in(&mut alice, &demo, "alice@example.com").await?;
        sign_in(&mut bruno, &demo, "bruno@example.eu").await?;
        let mut tokens = Vec::new();
        tokens_in_store(&demo, &mut tokens).await?;
        ensure!(demo.store.keys().await?.len() == 2, "one grant per user in one store");
        for _ in 0..2 {
            alice.client.refresh().await?;
            bruno.client.refresh().await?;
            alice.record().await?;
            bruno.record().await?;
            ensure!(alice.text("#name").await? == "Alice Andersen" && alice.text("#data-center").await? == "US");
            ensure!(bruno.text("#name").await? == "Bruno Bianchi" && bruno.text("#data-center").await? == "EU");
        }
        ensure!(!alice.client.source().await?.contains("Bruno"), "Alice's page shows nothing of Bruno");
        ensure!(!bruno.client.source().await?.contains("Alice"), "Bruno's page shows nothing of Alice");
        alice.screenshot("page").await?;
        bruno.screenshot("page").await?;

        // Alice signs out (and revokes her grant); Bruno stays signed in.
        alice.click("#sign-out").await?;
        alice.wait_for("#sign-in").await?;
        bruno.client.refresh().await?;
        ensure!(bruno.text("#name").await? == "Bruno Bianchi");
        ensure!(demo.store.keys().await?.len() == 1);
        let mut seen = alice.close().await?;
        seen.extend(bruno.close().await?);
        Ok((tokens, seen))
    })
    .await
}

#[tokio::test]
async fn logout_needs_the_form_s_token_and_origin() -> anyhow::Result<()> {
    run("logout_needs_the_form_s_token_and_origin", None, |demo, driver| async move {
        let mut browser = Browser::open(&driver, "logout-csrf").await?;
        sign_in(&mut browser, &demo, "alice@example.com").await?;
        let mut tokens = Vec::new();
        tokens_in_store(&demo, &mut tokens).await?;

        // A link cannot sign out: GET is not a route.
        browser.goto(&format!("{}auth/logout", demo.url)).await?;
        browser.goto(demo.url.as_str()).await?;
        ensure!(browser.text("#name").await? == "Alice Andersen", "a GET signed the user out");

        // A form without this browser's token is refused.
        browser.client.execute("document.querySelector('input[name=csrf]').value = 'forged';", Vec::new()).await?;
        browser.click("#sign-out").await?;
        browser.wait_for_text("h1", "Sign-out refused").await?;
        browser.record().await?;
        browser.screenshot("refused").await?;

        // The right token from another origin is refused too (a cross-origin form or script).
        browser.goto(demo.url.as_str()).await?;
        let csrf = browser.wait_for("input[name=csrf]").await?.attr("value").await?.context("a csrf value")?;
        let cookie = browser.client.get_all_cookies().await?.into_iter().find(|c| c.name() == "zoho-oauth-session");
        let cookie = cookie.context("the session cookie")?;
        ensure!(cookie.http_only() == Some(true), "the session cookie is HttpOnly");
        ensure!(cookie.same_site() == Some(cookie::SameSite::Lax), "the session cookie is SameSite=Lax");
        let status =
            post_logout(&demo, &format!("{}={}", cookie.name(), cookie.value()), &csrf, "http://evil.example").await?;
        ensure!(status == 403, "a cross-origin logout got HTTP {status}");
        browser.goto(demo.url.as_str()).await?;
        ensure!(browser.text("#name").await? == "Alice Andersen", "a refused logout signed the user out");
        ensure!(demo.emulator.counters().revoke == 0);
        let seen = browser.close().await?;
        Ok((tokens, seen))
    })
    .await
}

/// A hand-written `POST /auth/logout`, as another site's form would send it, returning the status.
async fn post_logout(demo: &app::Demo, cookie: &str, csrf: &str, origin: &str) -> anyhow::Result<u16> {
    let host = demo.url.host_str().context("a host")?;
    let port = demo.url.port().context("a port")?;
    let body = format!("csrf={csrf}");
    let mut request = Vec::new();
    write!(
        request,
        "POST /auth/logout HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.write_all(&request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split_whitespace().nth(1).context("a status line")?;
    Ok(status.parse()?)
}
