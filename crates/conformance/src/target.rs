//! The servers a conformance run checks against, and how each is started, driven and stopped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoho_accounts_emulator::{ClientRegistration, Consent, Emulator, EmulatorConfig};
use zoho_oauth::{
    AccessType, Authorized, ClientAuth, ClientConfig, ClientSecret, Endpoints, Flow, HttpClient, ManualClock, Prompt,
    RequestKind, ReqwestClient, Scope, Scopes,
};

/// The redirect URI every client is registered with. Nothing listens there: the runner reads the
/// `Location` header that points at it.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Our Zoho accounts emulator, in process.
    Emulator,
    /// panva's `oidc-provider` on Node.
    OidcProvider,
    /// A small server on Python's Authlib and Flask.
    Authlib,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Emulator, Kind::OidcProvider, Kind::Authlib];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Emulator => "emulator",
            Kind::OidcProvider => "oidc-provider",
            Kind::Authlib => "authlib",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the target speaks Zoho's dialect (and so is subject to the Zoho scenarios).
    pub fn is_zoho(self) -> bool {
        self == Kind::Emulator
    }
}

/// How a client authenticates, i.e. which registered client a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A confidential client with HTTP Basic authentication.
    Basic,
    /// A confidential client with its credentials in the form body.
    FormBody,
    /// A public client: no secret, PKCE only.
    Public,
}

/// A started target.
pub struct Target {
    pub kind: Kind,
    pub http: Arc<ReqwestClient>,
    base: String,
    emulator: Option<(Emulator, ManualClock)>,
    /// The server process; `kill_on_drop` stops it however the run ends.
    child: Option<Child>,
}

impl Target {
    /// Starts `kind`, installing what it needs first. `Ok(Err(reason))` means its runtime is missing.
    pub async fn start(kind: Kind, root: &Path) -> anyhow::Result<Result<Target, String>> {
        let http = Arc::new(
            ReqwestClient::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build()?,
        );
        match kind {
            Kind::Emulator => {
                let clock = ManualClock::starting_now();
                let emulator = Emulator::start(
                    EmulatorConfig::new()
                        .data_centers(&["us", "eu"])
                        .clock(Arc::new(clock.clone()))
                        .client(ClientRegistration::new("basic-client", "basic-secret", REDIRECT_URI))
                        .client(ClientRegistration::new("post-client", "post-secret", REDIRECT_URI)),
                )
                .await?;
                let base = emulator.accounts_url("us").origin().ascii_serialization();
                Ok(Ok(Target { kind, http, base, emulator: Some((emulator, clock)), child: None }))
            }
            Kind::OidcProvider => {
                if !runtime_present("node", &["--version"]).await || !runtime_present("npm", &["--version"]).await {
                    return Ok(Err("node and npm are not installed".to_owned()));
                }
                let dir = root.join("xtask/conformance/oidc-provider");
                if !dir.join("node_modules/oidc-provider").exists() {
                    run(Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&dir))
                    .await
                    .context("npm ci for oidc-provider")?;
                }
                let mut command = Command::new("node");
                command.arg("server.mjs").current_dir(&dir);
                Ok(Ok(spawn(kind, http, command).await?))
            }
            Kind::Authlib => {
                if !runtime_present("python3", &["--version"]).await {
                    return Ok(Err("python3 is not installed".to_owned()));
                }
                let dir = root.join("xtask/conformance/authlib");
                let python = ensure_venv(root, &dir).await?;
                let mut command = Command::new(python);
                command.arg("server.py").current_dir(&dir);
                Ok(Ok(spawn(kind, http, command).await?))
            }
        }
    }

    /// Stops the target.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        if let Some((emulator, _)) = self.emulator.take() {
            emulator.shutdown().await;
        }
    }

    /// The time on the target's clock (the emulator's manual clock, or the system's).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.emulator {
            Some((_, clock)) => zoho_oauth::Clock::now(clock),
            None => chrono::Utc::now(),
        }
    }

    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref().map(|(e, _)| e)
    }

    /// The endpoints a client of this target uses.
    pub fn endpoints(&self, client: ClientKind) -> anyhow::Result<Endpoints> {
        let auth = match client {
            ClientKind::Basic => ClientAuth::BasicHeader,
            ClientKind::FormBody | ClientKind::Public => ClientAuth::RequestBody,
        };
        Ok(match &self.emulator {
            Some((emulator, _)) => {
                let eu = emulator.accounts_url("eu");
                Endpoints::zoho_custom(&self.base, None, &[eu.as_str()])?.with_client_auth(auth)
            }
            None => {
                let endpoints = Endpoints::standard(
                    &format!("{}/authorize", self.base),
                    &format!("{}/token", self.base),
                    Some(&format!("{}/revoke", self.base)),
                )?
                .with_client_auth(auth);
                // oidc-provider sends `iss` in every authorization response (RFC 9207), so every
                // scenario against it checks it; Authlib does not send it.
                if self.kind == Kind::OidcProvider { endpoints.with_issuer(&self.base) } else { endpoints }
            }
        })
    }

    /// The configuration of `client` at this target, with `secret` overriding the registered one.
    pub fn config_with(
        &self,
        client: ClientKind,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> anyhow::Result<ClientConfig> {
        let (id, registered) = match client {
            ClientKind::Basic => ("basic-client", Some("basic-secret")),
            ClientKind::FormBody => ("post-client", Some("post-secret")),
            ClientKind::Public => ("public-client", None),
        };
        let mut config = ClientConfig::new(id, self.endpoints(client)?).redirect_uri(redirect_uri)?;
        if let Some(secret) = secret.or(registered) {
            config = config.client_secret(ClientSecret::new(secret));
        }
        let scopes: Scopes = match self.kind {
            Kind::Emulator => Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"])?,
            Kind::OidcProvider => {
                ["openid", "offline_access", "read"].into_iter().map(Scope::new).collect::<Result<_, _>>()?
            }
            Kind::Authlib => ["offline_access", "read"].into_iter().map(Scope::new).collect::<Result<_, _>>()?,
        };
        config = config.scopes(scopes);
        if let Some((_, clock)) = &self.emulator {
            config = config.clock(Arc::new(clock.clone()));
        } else {
            config = config.access_type(None::<AccessType>).prompt(Some(Prompt::Consent));
        }
        Ok(config)
    }

    pub fn config(&self, client: ClientKind) -> anyhow::Result<ClientConfig> {
        self.config_with(client, None, REDIRECT_URI)
    }

    pub fn flow(&self, client: ClientKind) -> anyhow::Result<Flow<zoho_oauth::Unauthorized>> {
        Ok(Flow::new(self.config(client)?, self.http.clone()))
    }

    /// Follows the authorization URL the way a browser would, carrying cookies, until the redirect
    /// back to the client; returns that callback URL. Consent is automatic on every target.
    pub async fn consent(&self, authorization_url: &url::Url) -> anyhow::Result<String> {
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut url = authorization_url.clone();
        for _ in 0..10 {
            let mut request = http::Request::get(url.as_str());
            if !cookies.is_empty() {
                let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header(http::header::COOKIE, header.join("; "));
            }
            let response = self.http.execute(request.body(Vec::new())?, RequestKind::Api).await?;
            for value in response.headers().get_all(http::header::SET_COOKIE) {
                let pair = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    cookies.retain(|(k, _)| k != name.trim());
                    cookies.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            let location =
                response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                    anyhow!("the consent step answered HTTP {} without a redirect", response.status())
                })?;
            let next = url.join(location)?;
            if next.as_str().starts_with(REDIRECT_URI) {
                return Ok(next.to_string());
            }
            url = next;
        }
        bail!("no redirect back to the client after 10 steps")
    }

    /// Makes the automatic consent approve or deny from now on.
    pub async fn set_consent(&self, approve: bool) -> anyhow::Result<()> {
        if let Some((emulator, _)) = &self.emulator {
            emulator.set_consent(if approve { Consent::Approve } else { Consent::Deny });
            return Ok(());
        }
        let body = if approve { r#"{"mode":"approve"}"# } else { r#"{"mode":"deny"}"# };
        let request = http::Request::post(format!("{}/__control/consent", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec())?;
        let response = self.http.execute(request, RequestKind::Api).await?;
        if !response.status().is_success() {
            bail!("the consent switch answered HTTP {}", response.status());
        }
        Ok(())
    }

    /// Lets every authorization code issued so far expire.
    pub async fn expire_codes(&self) {
        match &self.emulator {
            Some((_, clock)) => clock.advance(chrono::Duration::minutes(10)),
            // The peers issue codes that live at most three seconds (see xtask/conformance/README.md).
            None => tokio::time::sleep(Duration::from_millis(3_500)).await,
        }
    }

    /// Calls the target's protected resource with the session's `Authorization` header.
    pub async fn call_resource(&self, session: &Flow<Authorized>) -> anyhow::Result<u16> {
        let url = match &self.emulator {
            Some(_) => session.api_url("/crm/v8/users?type=CurrentUser")?.to_string(),
            None => format!("{}/resource", self.base),
        };
        let request = http::Request::get(url)
            .header(http::header::AUTHORIZATION, session.authorization_header().await?)
            .body(Vec::new())?;
        Ok(self.http.execute(request, RequestKind::Api).await?.status().as_u16())
    }
}

async fn runtime_present(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).output().await?;
    if !output.status.success() {
        bail!("{:?} failed: {}", command.as_std(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Creates the Authlib virtual environment under `target/conformance/` when its requirements change.
async fn ensure_venv(root: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("target/conformance/authlib-venv");
    let python = venv.join("bin/python");
    let requirements = std::fs::read_to_string(dir.join("requirements.txt")).context("reading requirements.txt")?;
    let stamp = venv.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(python);
    }
    run(Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv)).await.context("creating the venv")?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(dir.join("requirements.txt")))
    .await
    .context("installing Authlib")?;
    std::fs::write(&stamp, requirements)?;
    Ok(python)
}

/// Starts a server process on a free port and waits for its `READY <url>` line.
async fn spawn(kind: Kind, http: Arc<ReqwestClient>, mut command: Command) -> anyhow::Result<Target> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    command.arg("--port").arg(port.to_string()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    command.kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("starting {}", kind.name()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("READY ") {
                return Ok(url.trim().to_owned());
            }
        }
        Err(anyhow!("{} exited before it was ready", kind.name()))
    })
    .await
    .map_err(|_| anyhow!("{} did not start within 30 s", kind.name()))??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Target { kind, http, base: ready.trim_end_matches('/').to_owned(), emulator: None, child: Some(child) })
}
