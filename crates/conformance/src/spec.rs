//! The target description: a TOML file that says where a server is, how to start it, which clients
//! it has registered, how consent is obtained without a person, and what optional behaviour to
//! expect. The format is documented in `docs/conformance.md` ("Describing your server"); the
//! built-in targets are described the same way under `xtask/conformance/targets/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde::Deserialize;

/// A parsed target description.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The name reports use.
    pub name: String,
    /// What kind of target: a server reached over HTTP (the default), or the in-process emulator.
    #[serde(default)]
    pub kind: TargetKind,
    /// One line on what the server is, for the report.
    #[serde(default)]
    pub description: Option<String>,
    /// Runtimes that must be on `PATH`; when one is missing the target is skipped, not failed.
    #[serde(default)]
    pub requires: Vec<String>,
    /// What to install before starting the server.
    #[serde(default)]
    pub install: Install,
    /// How to start the server; without it the server must already be running.
    #[serde(default)]
    pub start: Option<Start>,
    /// Where the server's endpoints are.
    #[serde(default)]
    pub endpoints: EndpointsSpec,
    /// The registered clients, at least one.
    pub clients: Vec<ClientSpec>,
    /// How the authorization request is sent and answered.
    #[serde(default)]
    pub authorization: AuthorizationSpec,
    /// How consent is obtained headlessly.
    pub consent: ConsentSpec,
    /// Which optional behaviours to expect.
    #[serde(default)]
    pub expect: Expect,
    /// The directory of the file, against which relative paths are resolved.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The file the description was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// What kind of target a description names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A server reached over HTTP, started by the runner or already running.
    #[default]
    Server,
    /// Our Zoho accounts emulator, started in process with the described clients. It speaks Zoho's
    /// dialect, so the Zoho scenarios apply to it and its clock is a manual one.
    Emulator,
}

/// What to install before the server starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// A pip requirements file (exact pins): the runner creates a virtual environment under
    /// `target/conformance/<name>-venv/`, installs it there when the file changes, and offers the
    /// environment's interpreter as `{python}`.
    #[serde(default)]
    pub python_requirements: Option<PathBuf>,
    /// A directory with `package.json` and `package-lock.json`: the runner runs `npm ci` there when
    /// `node_modules/` is missing.
    #[serde(default)]
    pub npm_ci: Option<PathBuf>,
    /// The longest an install may take, in seconds (default 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// How the runner starts and stops the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// The program and its arguments; `{port}`, `{python}` and `{dir}` are replaced.
    pub command: Vec<String>,
    /// The working directory, relative to the file (default: the file's directory).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables; values get the same replacements as `command`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A prefix of the stdout line that says the server is ready. If the rest of that line is a URL,
    /// it becomes `{base}`.
    #[serde(default)]
    pub ready_line: Option<String>,
    /// A URL polled until it answers (any HTTP status), as the alternative to `ready_line`.
    #[serde(default)]
    pub ready_url: Option<String>,
    /// The longest the start may take, in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Where the endpoints are. Every URL may use `{base}` (the base URL, by default
/// `http://127.0.0.1:{port}`) and `{port}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsSpec {
    /// The base URL, when the runner does not start the server (default `http://127.0.0.1:{port}`,
    /// or the URL on the ready line).
    #[serde(default)]
    pub base: Option<String>,
    /// The issuer identifier (RFC 8414 section 2).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Whether to fetch `{issuer}/.well-known/oauth-authorization-server` (RFC 8414 section 3) and
    /// take from it every endpoint not given here.
    #[serde(default)]
    pub discovery: bool,
    /// The authorization endpoint.
    #[serde(default)]
    pub authorization: Option<String>,
    /// The token endpoint.
    #[serde(default)]
    pub token: Option<String>,
    /// The revocation endpoint (RFC 7009).
    #[serde(default)]
    pub revocation: Option<String>,
    /// The device authorization endpoint (RFC 8628 section 3.1).
    #[serde(default)]
    pub device_authorization: Option<String>,
    /// A protected resource that answers 200 to `Authorization: Bearer <access token>`.
    #[serde(default)]
    pub resource: Option<String>,
}

/// One registered client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// The client identifier.
    pub id: String,
    /// The secret, written in the file.
    #[serde(default)]
    pub secret: Option<String>,
    /// The name of an environment variable that holds the secret (preferred over `secret`).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// How the client authenticates at the token endpoint.
    pub auth: AuthMethod,
}

/// A token-endpoint authentication method (RFC 7591 section 2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic (RFC 6749 section 2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no secret, PKCE only.
    None,
}

impl AuthMethod {
    /// The name used in the file.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

/// How the authorization request is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationSpec {
    /// The redirect URI every client is registered with. Nothing needs to listen there: the runner
    /// stops at the redirect that points at it.
    #[serde(default = "default_redirect_uri")]
    pub redirect_uri: String,
    /// The scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `prompt=consent` on every request (some servers issue refresh tokens only then).
    #[serde(default)]
    pub prompt_consent: bool,
}

impl Default for AuthorizationSpec {
    fn default() -> Self {
        Self { redirect_uri: default_redirect_uri(), scopes: Vec::new(), prompt_consent: false }
    }
}

fn default_redirect_uri() -> String {
    "http://127.0.0.1/callback".to_owned()
}

/// How consent is obtained without a person.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsentSpec {
    /// Follow redirects from the authorization URL with a cookie jar until the redirect URI; every
    /// HTML form met on the way is submitted with its hidden inputs plus `fields`.
    Follow {
        /// Fields added to every form submitted (a login form's user and password, a consent
        /// form's approve button).
        #[serde(default)]
        fields: BTreeMap<String, String>,
        /// How to obtain a refusal instead; without it `denied-consent` is "n/a".
        #[serde(default)]
        deny: Option<DenySpec>,
        /// At most this many requests (default 10).
        #[serde(default)]
        max_steps: Option<u32>,
        /// How a device flow's user code is approved or denied; without it the device scenarios
        /// are "n/a".
        #[serde(default)]
        device: Option<DeviceConsentSpec>,
    },
    /// Run a command with the authorization URL; it prints the callback URL on stdout (the last
    /// non-empty line).
    Command {
        /// The program and its arguments; `{url}` is replaced by the authorization URL (appended
        /// when absent).
        command: Vec<String>,
        /// The same for a refusal; without it `denied-consent` is "n/a".
        #[serde(default)]
        deny_command: Option<Vec<String>>,
        /// The longest the command may take, in seconds (default 30).
        #[serde(default)]
        timeout_secs: Option<u64>,
    },
    /// The emulator's own switch (`kind = "emulator"` only).
    Emulator,
}

/// A control endpoint of a test server that decides a device flow's user code as its user would.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConsentSpec {
    /// The URL (`{base}` allowed); it is POSTed `{"user_code": "...", "mode": "approve"|"deny"}`.
    pub url: String,
}

/// How a `follow` consent is made to refuse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenySpec {
    /// Submit forms with these fields instead of the approving ones.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, String>>,
    /// Or: a switch on the server, POSTed before (`deny_body`) and after (`approve_body`).
    #[serde(default)]
    pub switch: Option<SwitchSpec>,
}

/// A control endpoint that makes a test server's automatic consent refuse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    /// The URL (`{base}` allowed).
    pub url: String,
    /// The JSON body that makes consent refuse.
    pub deny_body: String,
    /// The JSON body that makes consent approve again.
    pub approve_body: String,
}

/// Optional behaviours the server is expected to have. A scenario that needs one the file does not
/// declare is "n/a" with the reason, never "pass".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Which clients must use PKCE: `all`, `public` or `none`.
    #[serde(default = "default_pkce")]
    pub pkce_enforced: ClientSet,
    /// Which clients get a new refresh token on every refresh: `all`, `public` or `none`.
    #[serde(default = "default_none")]
    pub refresh_token_rotation: ClientSet,
    /// Whether a code exchange issues a refresh token.
    #[serde(default = "yes")]
    pub refresh_tokens: bool,
    /// Whether the server has an RFC 7009 revocation endpoint.
    #[serde(default)]
    pub revocation: bool,
    /// Whether the server sends `iss` in the authorization response (RFC 9207); the runner then
    /// requires it on every callback.
    #[serde(default)]
    pub iss_parameter: bool,
    /// How long an authorization code lives, in seconds; the `code-expired` scenario waits that long
    /// (plus a margin). Without it, `code-expired` is "n/a". Keep it short on a test server.
    #[serde(default)]
    pub code_lifetime_secs: Option<f64>,
    /// Whether the server supports the device authorization grant (RFC 8628) for the confidential
    /// clients, at `endpoints.device_authorization` (or its metadata's), with `consent.device`
    /// saying how a user code is approved; without it the device scenarios are "n/a".
    #[serde(default)]
    pub device_flow: bool,
    /// Whether a device-flow poll within the interval is answered `slow_down` (RFC 8628 section
    /// 3.5 lets a server answer `authorization_pending` instead).
    #[serde(default)]
    pub device_slow_down: bool,
    /// Whether the server supports the client credentials grant (RFC 6749 section 4.4) for the
    /// confidential clients; without it the client-credentials scenarios are "n/a".
    #[serde(default)]
    pub client_credentials: bool,
    /// The scopes a client-credentials request asks for (default: `authorization.scopes`).
    #[serde(default)]
    pub client_credentials_scopes: Option<Vec<String>>,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            pkce_enforced: default_pkce(),
            refresh_token_rotation: default_none(),
            refresh_tokens: true,
            revocation: false,
            iss_parameter: false,
            code_lifetime_secs: None,
            device_flow: false,
            device_slow_down: false,
            client_credentials: false,
            client_credentials_scopes: None,
        }
    }
}

/// Which clients a behaviour concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSet {
    /// Every client.
    All,
    /// Public clients only.
    Public,
    /// No client.
    None,
}

impl ClientSet {
    /// Whether the behaviour concerns a client that authenticates with `auth`.
    pub fn covers(self, auth: AuthMethod) -> bool {
        match self {
            ClientSet::All => true,
            ClientSet::Public => auth == AuthMethod::None,
            ClientSet::None => false,
        }
    }
}

fn default_pkce() -> ClientSet {
    ClientSet::None
}

fn default_none() -> ClientSet {
    ClientSet::None
}

fn yes() -> bool {
    true
}

impl TargetSpec {
    /// Reads and checks a description from `path`; relative paths in it are resolved against the
    /// file's directory.
    pub fn from_file(path: &Path) -> anyhow::Result<TargetSpec> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut spec = TargetSpec::parse(&text, &dir).with_context(|| format!("in {}", path.display()))?;
        spec.source = Some(path.to_path_buf());
        Ok(spec)
    }

    /// Parses and checks a description; `dir` is where relative paths start.
    pub fn parse(text: &str, dir: &Path) -> anyhow::Result<TargetSpec> {
        let mut spec: TargetSpec = toml::from_str(text)?;
        spec.dir = dir.to_path_buf();
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> anyhow::Result<()> {
        ensure!(!self.name.is_empty(), "`name` is empty");
        ensure!(!self.clients.is_empty(), "no `[[clients]]`");
        for client in &self.clients {
            let has_secret = client.secret.is_some() || client.secret_env.is_some();
            match client.auth {
                AuthMethod::None => ensure!(!has_secret, "client `{}`: auth = \"none\" takes no secret", client.id),
                _ => {
                    ensure!(has_secret, "client `{}`: {} needs `secret` or `secret_env`", client.id, client.auth.name())
                }
            }
        }
        match (self.kind, &self.consent) {
            (TargetKind::Emulator, ConsentSpec::Emulator) => {}
            (TargetKind::Emulator, _) => bail!("kind = \"emulator\" takes consent.method = \"emulator\""),
            (TargetKind::Server, ConsentSpec::Emulator) => {
                bail!("consent.method = \"emulator\" needs kind = \"emulator\"")
            }
            (TargetKind::Server, _) => {
                let e = &self.endpoints;
                let complete = e.authorization.is_some() && e.token.is_some();
                ensure!(
                    complete || (e.discovery && e.issuer.is_some()),
                    "give `endpoints.authorization` and `endpoints.token`, or `endpoints.issuer` with `discovery = true`"
                );
            }
        }
        if let Some(start) = &self.start {
            ensure!(!start.command.is_empty(), "`start.command` is empty");
            ensure!(
                start.ready_line.is_some() || start.ready_url.is_some(),
                "`start` needs `ready_line` or `ready_url`"
            );
        }
        if self.expect.iss_parameter {
            ensure!(
                self.endpoints.issuer.is_some() || self.kind == TargetKind::Emulator,
                "`expect.iss_parameter` needs `endpoints.issuer`"
            );
        }
        Ok(())
    }

    /// The first client that authenticates with `auth`.
    pub fn client(&self, auth: AuthMethod) -> Option<&ClientSpec> {
        self.clients.iter().find(|c| c.auth == auth)
    }

    /// Whether the target speaks Zoho's dialect (and so is subject to the Zoho scenarios).
    pub fn is_zoho(&self) -> bool {
        self.kind == TargetKind::Emulator
    }
}

impl ClientSpec {
    /// The secret, from the environment variable when one is named.
    pub fn secret(&self) -> anyhow::Result<Option<String>> {
        match (&self.secret_env, &self.secret) {
            (Some(var), _) => {
                std::env::var(var).map(Some).with_context(|| format!("client `{}`: ${var} is not set", self.id))
            }
            (None, secret) => Ok(secret.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in docs/conformance.md parses.
    #[test]
    fn docs_example_parses() {
        let docs = include_str!("../../../docs/conformance.md");
        let start = docs.find("```toml\n").expect("the docs have a TOML example") + "```toml\n".len();
        let end = start + docs[start..].find("```").expect("the example ends");
        let spec = TargetSpec::parse(&docs[start..end], Path::new(".")).expect("the example parses");
        assert_eq!(spec.clients.len(), 3);
    }

    /// Every built-in description parses.
    #[test]
    fn built_in_targets_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/conformance/targets");
        for entry in std::fs::read_dir(&dir).expect("the targets directory") {
            let path = entry.expect("an entry").path();
            TargetSpec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        }
    }
}
