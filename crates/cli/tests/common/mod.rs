//! Runs the real `zoho-oauth` binary against an emulator started in the test process.
//!
//! Every run gets a cleared environment: a temporary home directory, the emulator's URLs and the
//! test client's credentials in environment variables, and a token file in a temporary directory.
//! Nothing reads or writes the real home directory.

#![allow(dead_code, unreachable_pub)] // Not every test uses every helper; `pub` is for the test files.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use zoho_accounts_emulator::{ClientRegistration, Emulator, EmulatorConfig};
use zoho_oauth::{
    FileStore, HttpPolicy, ManualClock, RefreshState, RequestKind, ReqwestClient, StoreKey, TokenSet, TokenStore,
};

pub const CLIENT_ID: &str = "1000.CLITESTCLIENT";
pub const CLIENT_SECRET: &str = "cli-test-client-secret-7f3e9a1c5b";
/// How long any one run may take before the test fails instead of hanging.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// What a finished run printed, and its exit code.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts that stderr is exactly one line, an error saying `needle`.
    #[track_caller]
    pub fn one_line_error(&self, needle: &str) {
        assert_eq!(self.stderr.lines().count(), 1, "one line on stderr:\n{}", self.stderr);
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
        assert!(self.stderr.contains(needle), "stderr should contain {needle:?}:\n{}", self.stderr);
    }

    /// Asserts that `login`'s stderr, after the URL and the waiting message, ends with one error line
    /// saying `needle`.
    #[track_caller]
    pub fn ends_with_error(&self, needle: &str) {
        let errors: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "one error line:\n{}", self.stderr);
        assert_eq!(self.stderr.lines().last(), Some(errors[0]), "the error comes last:\n{}", self.stderr);
        assert!(errors[0].contains(needle), "the error should contain {needle:?}:\n{}", self.stderr);
    }
}

pub struct Harness {
    pub emulator: Emulator,
    /// The emulator's clock; the tool itself uses the system clock.
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    /// The loopback port of the registered redirect URI.
    pub port: u16,
    http: ReqwestClient,
}

impl Harness {
    /// An emulator with data centers `us` and `eu`, a manual clock, and the test client registered
    /// with `http://127.0.0.1:PORT/callback` for a free port.
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    pub async fn start_with(configure: impl FnOnce(EmulatorConfig) -> EmulatorConfig) -> Self {
        let port = free_port();
        let clock = ManualClock::starting_now();
        let redirect = format!("http://127.0.0.1:{port}/callback");
        let config = EmulatorConfig::new()
            .data_centers(&["us", "eu"])
            .clock(Arc::new(clock.clone()))
            .client(ClientRegistration::new(CLIENT_ID, CLIENT_SECRET, redirect));
        let emulator = Emulator::start(configure(config)).await.expect("the emulator binds to loopback");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let http = ReqwestClient::new().expect("the default client builds");
        Self { emulator, clock, dir, port, http }
    }

    pub fn accounts(&self, dc: &str) -> String {
        self.emulator.accounts_url(dc).origin().ascii_serialization()
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("data").join("tokens.json")
    }

    /// The binary with `args` and the test environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let home = self.dir.path().join("home");
        let mut command = Command::new(env!("CARGO_BIN_EXE_zoho-oauth"));
        command
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("ZOHO_CLIENT_ID", CLIENT_ID)
            .env("ZOHO_CLIENT_SECRET", CLIENT_SECRET)
            .env("ZOHO_ACCOUNTS_URL", self.accounts("us"))
            .env("ZOHO_TRUST_ACCOUNTS_URLS", self.accounts("eu"))
            .env("ZOHO_OAUTH_STORE", self.store_path())
            .env("ZOHO_REDIRECT_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs the binary with `args` to the end.
    pub async fn run(&self, args: &[&str]) -> Run {
        output(self.command(args)).await
    }

    /// Runs the binary with `args`, writing `input` to its stdin.
    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use tokio::io::AsyncWriteExt as _;
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().expect("the binary starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(input.as_bytes()).await.expect("stdin takes the input");
        drop(stdin);
        let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
            .await
            .expect("the binary finishes in time")
            .expect("the binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    /// Starts `login --no-browser` and waits until it shows the authorization URL.
    pub async fn start_login(&self, args: &[&str]) -> Pending {
        let mut all = vec!["login", "--no-browser"];
        all.extend_from_slice(args);
        Pending::spawn(self.command(&all), "/oauth/v2/auth?").await
    }

    /// A whole browser login: the tool shows the URL, the emulator consents, the "browser" follows
    /// the redirect to the tool's listener and gets the closing page.
    pub async fn login(&self, args: &[&str]) -> Run {
        let pending = self.start_login(args).await;
        let location = self.consent(&pending.url).await;
        let (status, body) = self.get(&location).await;
        let run = pending.finish().await;
        if run.code == 0 {
            assert_eq!(status, 200, "the listener answers the browser");
            assert!(body.contains("You can close this window"), "{body}");
        }
        run
    }

    /// Starts `login --no-browser` and waits until it says that it waits for the browser.
    pub async fn start_login_waiting(&self, args: &[&str]) -> Pending {
        let mut all = vec!["login", "--no-browser"];
        all.extend_from_slice(args);
        Pending::spawn(self.command(&all), "Waiting for the browser").await
    }

    /// Starts `login --device` and waits until it says that it waits for the approval; returns the
    /// run and the user code it shows.
    pub async fn start_device_login(&self, args: &[&str]) -> (Pending, String) {
        let mut all = vec!["login", "--device"];
        all.extend_from_slice(args);
        self.start_device_login_with(self.command(&all)).await
    }

    /// [`start_device_login`](Self::start_device_login) with a command of the test's own.
    pub async fn start_device_login_with(&self, command: Command) -> (Pending, String) {
        let pending = Pending::spawn(command, "Waiting for the approval").await;
        let code = pending
            .seen
            .lines()
            .find_map(|line| line.trim().strip_prefix("Code:"))
            .unwrap_or_else(|| panic!("the user code is shown:\n{}", pending.seen))
            .trim()
            .to_owned();
        (pending, code)
    }

    /// Starts `token -v` and waits until it says that it renews the token.
    pub async fn start_token_renewal(&self) -> Pending {
        Pending::spawn(self.command(&["token", "-v"]), "renewing it").await
    }

    /// What the emulator's consent page redirects the browser to.
    pub async fn consent(&self, authorization_url: &str) -> String {
        let request = http::Request::get(authorization_url).body(Vec::new()).expect("a valid request");
        let response =
            HttpPolicy::default().execute(&self.http, request, RequestKind::Api).await.expect("the emulator answers");
        assert_eq!(response.status(), 302, "the consent page redirects back");
        response.headers()["location"].to_str().expect("an ASCII location").to_owned()
    }

    /// A GET, as a browser would send it; returns the status and body.
    pub async fn get(&self, url: &str) -> (u16, String) {
        let request = http::Request::get(url).body(Vec::new()).expect("a valid request");
        let response =
            HttpPolicy::default().execute(&self.http, request, RequestKind::Api).await.expect("the server answers");
        (response.status().as_u16(), String::from_utf8_lossy(response.body()).into_owned())
    }

    /// Calls the emulated CRM API at `dc` with `token`; returns the status.
    pub async fn call_api(&self, dc: &str, token: &str) -> u16 {
        let url = format!("{}/crm/v8/users?type=CurrentUser", self.accounts(dc));
        let request = http::Request::get(url)
            .header("authorization", format!("Zoho-oauthtoken {token}"))
            .body(Vec::new())
            .expect("a valid request");
        HttpPolicy::default()
            .execute(&self.http, request, RequestKind::Api)
            .await
            .expect("the emulator answers")
            .status()
            .as_u16()
    }

    /// Revokes `token` at the emulator directly, as a user would in Zoho's console.
    pub async fn revoke_at_server(&self, dc: &str, token: &str) {
        let url = format!("{}/oauth/v2/token/revoke?token={token}", self.accounts(dc));
        let request = http::Request::post(url).body(Vec::new()).expect("a valid request");
        let response =
            HttpPolicy::default().execute(&self.http, request, RequestKind::Api).await.expect("the emulator answers");
        assert_eq!(response.status(), 200);
    }

    pub async fn store(&self) -> FileStore {
        FileStore::open(self.store_path()).await.expect("the token file opens")
    }

    /// The saved tokens of `profile`, if any.
    pub async fn saved(&self, profile: &str) -> Option<(StoreKey, TokenSet)> {
        if !self.store_path().exists() {
            return None;
        }
        let store = self.store().await;
        for key in store.keys().await.expect("keys") {
            if key.user() == profile {
                let tokens = store.load(&key).await.expect("load").expect("saved").into_tokens();
                return Some((key, tokens));
            }
        }
        None
    }

    /// Rewrites the saved expiry of `profile`'s access token, to make it stale without waiting.
    pub async fn set_expiry(&self, profile: &str, expires_at: DateTime<Utc>) {
        let (key, tokens) = self.saved(profile).await.expect("tokens are saved");
        let changed = TokenSet::new(
            tokens.access_token().clone(),
            tokens.refresh_token().cloned(),
            expires_at,
            tokens.api_domain().cloned(),
            tokens.accounts_server(),
            tokens.scopes().clone(),
        )
        .with_renewal(tokens.renewal().clone());
        self.store().await.save(&key, &changed).await.expect("save");
    }
}

impl Harness {
    /// Writes `state` into the store entry of `profile`, as another process sharing the store
    /// would after a failed renewal.
    pub async fn set_refresh_state(&self, profile: &str, state: RefreshState) {
        let (key, _) = self.saved(profile).await.expect("tokens are saved");
        let store = self.store().await;
        let record = store.load(&key).await.expect("load").expect("saved");
        store.update(&key, &record.with_refresh_state(state)).await.expect("update");
    }

    /// The refresh state saved for `profile`.
    pub async fn refresh_state(&self, profile: &str) -> RefreshState {
        let (key, _) = self.saved(profile).await.expect("tokens are saved");
        self.store().await.load(&key).await.expect("load").expect("saved").refresh_state().clone()
    }
}

/// A run in progress that has printed an awaited line: a `login` waiting for the browser, or a
/// `token` about to renew.
pub struct Pending {
    child: Child,
    stderr: BufReader<ChildStderr>,
    /// What the tool printed on stderr so far.
    pub seen: String,
    /// The awaited line: for `login`, the authorization URL.
    pub url: String,
}

impl Pending {
    async fn spawn(mut command: Command, awaited: &str) -> Self {
        let mut child = command.spawn().expect("the binary starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let mut seen = String::new();
        let url = tokio::time::timeout(RUN_LIMIT, async {
            loop {
                let mut line = String::new();
                if stderr.read_line(&mut line).await.expect("stderr reads") == 0 {
                    return None;
                }
                seen.push_str(&line);
                if line.contains(awaited) {
                    return Some(line.trim().to_owned());
                }
            }
        })
        .await
        .expect("the awaited line in time");
        let Some(url) = url else {
            let mut stdout = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut stdout).await;
            }
            panic!("the run ended without {awaited:?}; stderr:\n{seen}\nstdout:\n{stdout}");
        };
        Self { child, stderr, seen, url }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    #[cfg(unix)]
    pub fn interrupt(&self) {
        let pid = self.child.id().expect("the child runs");
        let status = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "SIGINT was sent");
    }

    /// Waits for the tool to exit.
    pub async fn finish(mut self) -> Run {
        let mut stdout = String::new();
        let mut rest = String::new();
        let mut out = self.child.stdout.take().expect("stdout is piped");
        let status = tokio::time::timeout(RUN_LIMIT, async {
            let (a, b) = tokio::join!(out.read_to_string(&mut stdout), self.stderr.read_to_string(&mut rest));
            a.expect("stdout reads");
            b.expect("stderr reads");
            self.child.wait().await.expect("the binary exits")
        })
        .await
        .expect("the run finishes in time");
        Run { code: status.code().unwrap_or(-1), stdout, stderr: self.seen + &rest }
    }
}

/// Runs a command to the end, within the time limit.
pub async fn output(mut command: Command) -> Run {
    let child = command.spawn().expect("the binary starts");
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("the binary finishes in time")
        .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Every string in `text` shaped like the emulator's secrets (`1000.` and two groups of 32 hex
/// digits): its access and refresh tokens, authorization codes and device codes, including those a
/// test never sees, such as the device code the tool keeps to itself.
pub fn emulator_secrets(text: &str) -> Vec<&str> {
    const SHAPE: usize = "1000.".len() + 32 + 1 + 32;
    let hex = |part: &[u8]| part.iter().all(u8::is_ascii_hexdigit);
    text.match_indices("1000.")
        .filter_map(|(at, _)| text.get(at..at + SHAPE))
        .filter(|candidate| {
            let rest = &candidate.as_bytes()[5..];
            hex(&rest[..32]) && rest[32] == b'.' && hex(&rest[33..])
        })
        .collect()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free port");
    listener.local_addr().expect("a local address").port()
}
