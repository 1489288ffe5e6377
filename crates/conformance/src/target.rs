//! A started target: the server a description names, installed, started, its endpoints resolved,
//! driven through consent, and stopped. Every target, the emulator included, comes from a
//! [`TargetSpec`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoho_accounts_emulator::{ClientRegistration, Consent, Emulator, EmulatorConfig};
use zoho_oauth::{
    AccessType, Authorized, ClientAuth, ClientConfig, ClientSecret, Endpoints, Flow, ManualClock, Prompt, Scope,
    Scopes, Unauthorized,
};

use crate::library::Recorder;
use crate::report::Deviation;
use crate::spec::{AuthMethod, ClientSpec, ConsentSpec, TargetKind, TargetSpec};

/// A scenario needs something the description does not declare.
#[derive(Debug)]
pub struct NotApplicable(pub String);

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotApplicable {}

/// `Err(NotApplicable(reason))` as an `anyhow` error.
pub fn not_applicable<T>(reason: impl Into<String>) -> anyhow::Result<T> {
    Err(NotApplicable(reason.into()).into())
}

/// The endpoints after placeholders and discovery.
#[derive(Debug, Clone)]
struct Resolved {
    authorization: String,
    token: String,
    revocation: Option<String>,
    device_authorization: Option<String>,
    resource: Option<String>,
    issuer: Option<String>,
}

/// A started target.
pub struct Target {
    pub spec: TargetSpec,
    pub http: Arc<Recorder>,
    resolved: Option<Resolved>,
    emulator: Option<(Emulator, ManualClock)>,
    /// The server process; `kill_on_drop` stops it however the run ends.
    child: Option<Child>,
    deviations: Mutex<Vec<Deviation>>,
}

/// What starting a target gave.
pub enum Started {
    Ready(Box<Target>),
    /// A runtime the target needs is missing.
    Skipped(String),
}

impl Target {
    /// Installs what `spec` needs, starts it and resolves its endpoints.
    pub async fn start(spec: &TargetSpec, root: &Path) -> anyhow::Result<Started> {
        for program in &spec.requires {
            if !runtime_present(program).await {
                return Ok(Started::Skipped(format!("{program} is not installed")));
            }
        }
        let http = Recorder::new()?;
        let mut target = Target {
            spec: spec.clone(),
            http,
            resolved: None,
            emulator: None,
            child: None,
            deviations: Mutex::new(Vec::new()),
        };
        if spec.kind == TargetKind::Emulator {
            let clock = ManualClock::starting_now();
            let mut config = EmulatorConfig::new().data_centers(&["us", "eu"]).clock(Arc::new(clock.clone()));
            for client in &spec.clients {
                let secret = client.secret()?.unwrap_or_default();
                config = config.client(ClientRegistration::new(&client.id, &secret, &spec.authorization.redirect_uri));
            }
            target.emulator = Some((Emulator::start(config).await?, clock));
            return Ok(Started::Ready(Box::new(target)));
        }

        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("dir", spec.dir.display().to_string());
        let install_timeout = Duration::from_secs(spec.install.timeout_secs.unwrap_or(300));
        if let Some(dir) = &spec.install.npm_ci {
            let dir = spec.dir.join(dir);
            if !dir.join("node_modules").exists() {
                let mut npm = Command::new("npm");
                npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir);
                tokio::time::timeout(install_timeout, run(&mut npm))
                    .await
                    .map_err(|_| anyhow!("npm ci took longer than {install_timeout:?}"))?
                    .with_context(|| format!("npm ci in {}", dir.display()))?;
            }
        }
        if let Some(requirements) = &spec.install.python_requirements {
            let venv = root.join("target/conformance").join(format!("{}-venv", spec.name));
            let python = tokio::time::timeout(install_timeout, ensure_venv(&venv, &spec.dir.join(requirements)))
                .await
                .map_err(|_| anyhow!("pip install took longer than {install_timeout:?}"))??;
            vars.insert("python", python.display().to_string());
        }

        let mut base = spec.endpoints.base.clone();
        if let Some(start) = &spec.start {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            vars.insert("port", port.to_string());
            let program = fill(&start.command[0], &vars);
            let mut command = Command::new(&program);
            command.args(start.command[1..].iter().map(|a| fill(a, &vars)));
            command.current_dir(spec.dir.join(start.cwd.as_deref().unwrap_or(Path::new("."))));
            for (key, value) in &start.env {
                command.env(key, fill(value, &vars));
            }
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
            let mut child = command.spawn().with_context(|| format!("starting {program}"))?;
            let stdout = child.stdout.take().context("the server's stdout")?;
            target.child = Some(child);
            let timeout = Duration::from_secs(start.timeout_secs.unwrap_or(30));
            let default_base = format!("http://127.0.0.1:{port}");
            let mut lines = BufReader::new(stdout).lines();
            let announced = tokio::time::timeout(timeout, async {
                if let Some(prefix) = &start.ready_line {
                    while let Some(line) = lines.next_line().await? {
                        if let Some(rest) = line.strip_prefix(prefix.as_str()) {
                            let rest = rest.trim();
                            return anyhow::Ok(url::Url::parse(rest).is_ok().then(|| rest.to_owned()));
                        }
                    }
                    bail!("the server exited before printing `{prefix}`");
                }
                Ok(None)
            })
            .await
            .map_err(|_| anyhow!("no ready line within {timeout:?}"))??;
            // Keep draining stdout so the server never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            base = Some(announced.unwrap_or_else(|| base.map_or(default_base, |b| fill(&b, &vars))));
            if let Some(ready_url) = &start.ready_url {
                vars.insert("base", base.clone().unwrap_or_default().trim_end_matches('/').to_owned());
                target.wait_for(&fill(ready_url, &vars), timeout).await?;
            }
        }
        if let Some(base) = base {
            vars.insert("base", fill(&base, &vars).trim_end_matches('/').to_owned());
        }
        target.resolved = Some(target.resolve(&vars).await?);
        Ok(Started::Ready(Box::new(target)))
    }

    /// Polls `url` until it answers at all.
    async fn wait_for(&self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let request = http::Request::get(url).body(Vec::new())?;
            if self.http.send(request).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{url} did not answer within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fills the endpoint URLs, fetching RFC 8414 metadata when the description asks for it.
    async fn resolve(&self, vars: &BTreeMap<&str, String>) -> anyhow::Result<Resolved> {
        let e = &self.spec.endpoints;
        let get = |v: &Option<String>| v.as_ref().map(|v| fill(v, vars));
        let mut resolved = Resolved {
            authorization: get(&e.authorization).unwrap_or_default(),
            token: get(&e.token).unwrap_or_default(),
            revocation: get(&e.revocation),
            device_authorization: get(&e.device_authorization),
            resource: get(&e.resource),
            issuer: get(&e.issuer),
        };
        if e.discovery {
            let issuer = resolved.issuer.clone().context("discovery needs endpoints.issuer")?;
            let metadata = self.discover(&issuer).await?;
            let field = |name: &str| metadata.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            if field("issuer").as_deref() != Some(issuer.as_str()) {
                self.deviate(
                    "RFC 8414 3.3",
                    format!("metadata `issuer` equal to {issuer}"),
                    format!("{:?}", field("issuer")),
                );
            }
            if resolved.authorization.is_empty() {
                resolved.authorization = field("authorization_endpoint").context("no authorization_endpoint")?;
            }
            if resolved.token.is_empty() {
                resolved.token = field("token_endpoint").context("no token_endpoint")?;
            }
            if resolved.revocation.is_none() {
                resolved.revocation = field("revocation_endpoint");
            }
            if resolved.device_authorization.is_none() {
                resolved.device_authorization = field("device_authorization_endpoint");
            }
        }
        Ok(resolved)
    }

    /// Fetches `{issuer}/.well-known/oauth-authorization-server`, with the well-known part inserted
    /// before the issuer's path as RFC 8414 section 3.1 says.
    async fn discover(&self, issuer: &str) -> anyhow::Result<serde_json::Value> {
        let parsed = url::Url::parse(issuer).context("endpoints.issuer is not a URL")?;
        let path = parsed.path().trim_end_matches('/');
        let url = format!("{}/.well-known/oauth-authorization-server{path}", parsed.origin().ascii_serialization());
        let response = self.http.send(http::Request::get(&url).body(Vec::new())?).await?;
        if !response.status().is_success() {
            bail!("{url} answered HTTP {}", response.status());
        }
        serde_json::from_slice(response.body()).with_context(|| format!("{url} is not JSON"))
    }

    /// Stops the target: SIGTERM first so the server can clean up, SIGKILL after two seconds.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
                if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_ok() {
                    return;
                }
            }
            let _ = child.kill().await;
        }
        if let Some((emulator, _)) = self.emulator.take() {
            emulator.shutdown().await;
        }
    }

    /// Records that the server answered a MUST of an RFC with something else.
    pub fn deviate(&self, clause: &str, expected: impl Into<String>, observed: impl Into<String>) {
        let deviation = Deviation {
            target: self.spec.name.clone(),
            scenario: String::new(),
            clause: clause.to_owned(),
            expected: expected.into(),
            observed: observed.into(),
        };
        let mut all = self.deviations.lock().expect("never poisoned");
        if !all.iter().any(|d| {
            d.clause == deviation.clause && d.observed == deviation.observed && d.expected == deviation.expected
        }) {
            all.push(deviation);
        }
    }

    /// The deviations recorded since the last call.
    pub fn take_deviations(&self) -> Vec<Deviation> {
        std::mem::take(&mut *self.deviations.lock().expect("never poisoned"))
    }

    /// The time on the target's clock (the emulator's manual clock, or the system's).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.emulator {
            Some((_, clock)) => zoho_oauth::Clock::now(clock),
            None => chrono::Utc::now(),
        }
    }

    /// The issuer and the endpoints the runner resolved for a target described by an issuer:
    /// (issuer, authorization, token, revocation).
    pub fn resolved_issuer(&self) -> Option<(String, String, String, Option<String>)> {
        let r = self.resolved.as_ref()?;
        Some((r.issuer.clone()?, r.authorization.clone(), r.token.clone(), r.revocation.clone()))
    }

    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref().map(|(e, _)| e)
    }

    pub fn redirect_uri(&self) -> &str {
        &self.spec.authorization.redirect_uri
    }

    /// The first registered client that authenticates with `auth`, or "n/a".
    pub fn client(&self, auth: AuthMethod) -> anyhow::Result<&ClientSpec> {
        match self.spec.client(auth) {
            Some(client) => Ok(client),
            None => not_applicable(format!("the description declares no {} client", auth.name())),
        }
    }

    /// The confidential client scenarios use by default: `client_secret_post`, else `client_secret_basic`.
    pub fn confidential(&self) -> anyhow::Result<AuthMethod> {
        [AuthMethod::ClientSecretPost, AuthMethod::ClientSecretBasic]
            .into_iter()
            .find(|a| self.spec.client(*a).is_some())
            .map_or_else(|| not_applicable("the description declares no confidential client"), Ok)
    }

    /// The endpoints a client authenticating with `auth` uses.
    pub fn endpoints(&self, auth: AuthMethod) -> anyhow::Result<Endpoints> {
        let client_auth = match auth {
            AuthMethod::ClientSecretBasic => ClientAuth::BasicHeader,
            AuthMethod::ClientSecretPost | AuthMethod::None => ClientAuth::RequestBody,
        };
        if let Some((emulator, _)) = &self.emulator {
            let us = emulator.accounts_url("us").origin().ascii_serialization();
            let eu = emulator.accounts_url("eu");
            // The device flow's `other_dc` names data centers by location, as Zoho's table does.
            return Ok(Endpoints::zoho_custom(&us, None, &[eu.as_str()])?
                .with_location("us", &us)?
                .with_location("eu", eu.as_str())?
                .with_client_auth(client_auth));
        }
        let r = self.resolved.as_ref().context("the target has no endpoints")?;
        let mut endpoints =
            Endpoints::standard(&r.authorization, &r.token, r.revocation.as_deref())?.with_client_auth(client_auth);
        if let Some(device) = &r.device_authorization {
            endpoints = endpoints.with_device_authorization_url(device)?;
        }
        Ok(match (&r.issuer, self.spec.expect.iss_parameter) {
            (Some(issuer), true) => endpoints.with_issuer(issuer),
            _ => endpoints,
        })
    }

    /// The configuration of the client authenticating with `auth`, with `secret` overriding the
    /// registered one.
    pub fn config_with(
        &self,
        auth: AuthMethod,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> anyhow::Result<ClientConfig> {
        let client = self.client(auth)?;
        let mut config = ClientConfig::new(&client.id, self.endpoints(auth)?).redirect_uri(redirect_uri)?;
        if let Some(secret) = secret.map(str::to_owned).or(client.secret()?) {
            config = config.client_secret(ClientSecret::new(secret));
        }
        let names = self.spec.authorization.scopes.iter().map(String::as_str);
        let scopes: Scopes =
            if self.spec.is_zoho() { Scopes::zoho(names)? } else { names.map(Scope::new).collect::<Result<_, _>>()? };
        config = config.scopes(scopes);
        if let Some((_, clock)) = &self.emulator {
            config = config.clock(Arc::new(clock.clone()));
        } else {
            config = config.access_type(None::<AccessType>);
        }
        if self.spec.authorization.prompt_consent {
            config = config.prompt(Some(Prompt::Consent));
        }
        Ok(config)
    }

    pub fn flow(&self, auth: AuthMethod) -> anyhow::Result<Flow<Unauthorized>> {
        Ok(self.http.flow(self.config_with(auth, None, self.redirect_uri())?))
    }

    pub fn flow_with(
        &self,
        auth: AuthMethod,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> anyhow::Result<Flow<Unauthorized>> {
        Ok(self.http.flow(self.config_with(auth, secret, redirect_uri)?))
    }

    /// Obtains consent for `authorization_url` as the description says; returns the callback URL.
    pub async fn consent(&self, authorization_url: &url::Url) -> anyhow::Result<String> {
        self.consent_as(authorization_url, true).await
    }

    async fn consent_as(&self, authorization_url: &url::Url, approve: bool) -> anyhow::Result<String> {
        match &self.spec.consent {
            ConsentSpec::Emulator => self.follow(authorization_url, &BTreeMap::new(), 10).await,
            ConsentSpec::Follow { fields, deny, max_steps, .. } => {
                let fields = match (approve, deny.as_ref().and_then(|d| d.fields.as_ref())) {
                    (false, Some(deny_fields)) => deny_fields,
                    _ => fields,
                };
                self.follow(authorization_url, fields, max_steps.unwrap_or(10)).await
            }
            ConsentSpec::Command { command, deny_command, timeout_secs } => {
                let command = if approve { command } else { deny_command.as_ref().context("no deny_command")? };
                let timeout = Duration::from_secs(timeout_secs.unwrap_or(30));
                consent_command(command, authorization_url.as_str(), &self.spec.dir, timeout).await
            }
        }
    }

    /// Whether the description says how to obtain a refusal.
    pub fn can_deny(&self) -> bool {
        match &self.spec.consent {
            ConsentSpec::Emulator => true,
            ConsentSpec::Follow { deny, .. } => deny.as_ref().is_some_and(|d| d.fields.is_some() || d.switch.is_some()),
            ConsentSpec::Command { deny_command, .. } => deny_command.is_some(),
        }
    }

    /// Obtains a refusal for `authorization_url`; returns the callback URL.
    pub async fn deny(&self, authorization_url: &url::Url) -> anyhow::Result<String> {
        if let Some((emulator, _)) = &self.emulator {
            emulator.set_consent(Consent::Deny);
            let result = self.consent_as(authorization_url, false).await;
            emulator.set_consent(Consent::Approve);
            return result;
        }
        let switch = match &self.spec.consent {
            ConsentSpec::Follow { deny: Some(deny), .. } => deny.switch.clone(),
            _ => None,
        };
        let Some(switch) = switch else { return self.consent_as(authorization_url, false).await };
        let vars = BTreeMap::from([("base", self.base())]);
        let url = fill(&switch.url, &vars);
        self.post_json(&url, &switch.deny_body).await?;
        let result = self.consent_as(authorization_url, false).await;
        self.post_json(&url, &switch.approve_body).await?;
        result
    }

    fn base(&self) -> String {
        // The origin of the authorization endpoint stands for `{base}` after start.
        self.resolved
            .as_ref()
            .and_then(|r| url::Url::parse(&r.authorization).ok())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    async fn post_json(&self, url: &str, body: &str) -> anyhow::Result<()> {
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec())?;
        let response = self.http.send(request).await?;
        if !response.status().is_success() {
            bail!("{url} answered HTTP {}", response.status());
        }
        Ok(())
    }

    /// Follows the authorization URL the way a browser would, carrying cookies and submitting every
    /// form met with its hidden inputs plus `fields`, until the redirect back to the client.
    async fn follow(
        &self,
        start: &url::Url,
        fields: &BTreeMap<String, String>,
        max_steps: u32,
    ) -> anyhow::Result<String> {
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut url = start.clone();
        let mut form: Option<Fields> = None;
        for _ in 0..max_steps {
            let mut request = match &form {
                None => http::Request::get(url.as_str()),
                Some(_) => http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(http::header::REFERER, url.as_str()),
            };
            if !cookies.is_empty() {
                let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header(http::header::COOKIE, header.join("; "));
            }
            let body = form.take().map_or_else(Vec::new, |pairs| {
                url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
            });
            let response = self.http.send(request.body(body)?).await?;
            for value in response.headers().get_all(http::header::SET_COOKIE) {
                let pair = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    cookies.retain(|(k, _)| k != name.trim());
                    cookies.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            if let Some(location) = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()) {
                let next = url.join(location)?;
                if next.as_str().starts_with(self.redirect_uri()) {
                    return Ok(next.to_string());
                }
                url = next;
                continue;
            }
            let html = String::from_utf8_lossy(response.body());
            match (response.status().as_u16(), parse_form(&html)) {
                (200, Some((action, mut inputs))) => {
                    for (name, value) in fields {
                        inputs.retain(|(k, _)| k != name);
                        inputs.push((name.clone(), value.clone()));
                    }
                    if let Some(action) = action {
                        url = url.join(&action)?;
                    }
                    form = Some(inputs);
                }
                (status, _) => bail!("the consent step answered HTTP {status} without a redirect or a form"),
            }
        }
        bail!("no redirect back to the client after {max_steps} steps")
    }

    /// Decides a device flow's user code as its user would: approves or denies it, or says why
    /// the description does not allow it.
    pub async fn decide_device(&self, user_code: &str, approve: bool) -> anyhow::Result<()> {
        if let Some((emulator, _)) = &self.emulator {
            let decided = if approve {
                emulator.approve_device(user_code, "user@example.com")
            } else {
                emulator.deny_device(user_code)
            };
            anyhow::ensure!(decided, "the emulator has no pending device request with that user code");
            return Ok(());
        }
        let Some(device) = self.device_consent() else {
            return not_applicable("the description does not say how a user code is approved (consent.device)");
        };
        let vars = BTreeMap::from([("base", self.base())]);
        let mode = if approve { "approve" } else { "deny" };
        let body = serde_json::json!({ "user_code": user_code, "mode": mode }).to_string();
        self.post_json(&fill(&device.url, &vars), &body).await
    }

    fn device_consent(&self) -> Option<&crate::spec::DeviceConsentSpec> {
        match &self.spec.consent {
            ConsentSpec::Follow { device, .. } => device.as_ref(),
            _ => None,
        }
    }

    /// Waits until `at` on the target's clock: the emulator's manual clock is moved there, a
    /// server's is waited for (at most a minute).
    pub async fn sleep_until(&self, at: chrono::DateTime<chrono::Utc>) {
        match &self.emulator {
            Some((_, clock)) => {
                if at > zoho_oauth::Clock::now(clock) {
                    clock.set(at);
                }
            }
            None => {
                let left = (at - chrono::Utc::now()).to_std().unwrap_or_default().min(Duration::from_secs(60));
                tokio::time::sleep(left).await;
            }
        }
    }

    /// The scopes a client-credentials request asks for.
    pub fn client_credentials_scopes(&self) -> anyhow::Result<Scopes> {
        let names = self.spec.expect.client_credentials_scopes.as_ref().unwrap_or(&self.spec.authorization.scopes);
        let names = names.iter().map(String::as_str);
        Ok(if self.spec.is_zoho() { Scopes::zoho(names)? } else { names.map(Scope::new).collect::<Result<_, _>>()? })
    }

    /// Lets every authorization code issued so far expire, or says why it cannot.
    pub async fn expire_codes(&self) -> anyhow::Result<()> {
        match (&self.emulator, self.spec.expect.code_lifetime_secs) {
            (Some((_, clock)), _) => clock.advance(chrono::Duration::minutes(10)),
            (None, Some(lifetime)) => {
                tokio::time::sleep(Duration::from_secs_f64(lifetime.clamp(0.0, 60.0) + 0.5)).await
            }
            (None, None) => return not_applicable("the description declares no expect.code_lifetime_secs"),
        }
        Ok(())
    }

    /// Calls the target's protected resource with the session's `Authorization` header.
    pub async fn call_resource(&self, session: &Flow<Authorized>) -> anyhow::Result<u16> {
        let url = match (&self.emulator, self.resolved.as_ref().and_then(|r| r.resource.clone())) {
            (Some(_), _) => session.api_url("/crm/v8/users?type=CurrentUser")?.to_string(),
            (None, Some(resource)) => resource,
            (None, None) => return not_applicable("the description declares no endpoints.resource"),
        };
        let request = http::Request::get(url)
            .header(http::header::AUTHORIZATION, session.authorization_header().await?)
            .body(Vec::new())?;
        Ok(self.http.send(request).await?.status().as_u16())
    }
}

/// `{name}` placeholders replaced by `vars`.
fn fill(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Form fields, in document order.
type Fields = Vec<(String, String)>;

/// The first form in `html`: its action (if any) and its hidden inputs.
fn parse_form(html: &str) -> Option<(Option<String>, Fields)> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let end = lower[start..].find("</form").map_or(html.len(), |e| start + e);
    let tag_end = start + lower[start..].find('>')?;
    let action = attribute(&html[start..tag_end], "action").filter(|a| !a.is_empty());
    let mut inputs = Vec::new();
    let mut at = start;
    while let Some(i) = lower[at..end].find("<input") {
        let open = at + i;
        let close = open + lower[open..].find('>')?;
        let tag = &html[open..close];
        let kind = attribute(tag, "type").unwrap_or_default().to_ascii_lowercase();
        if let (Some(name), "hidden") = (attribute(tag, "name"), kind.as_str()) {
            inputs.push((name, attribute(tag, "value").unwrap_or_default()));
        }
        at = close;
    }
    Some((action, inputs))
}

/// The value of attribute `name` in an HTML start tag, entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = lower[..at].chars().last();
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or_default(),
        };
        return Some(
            value
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        );
    }
    None
}

/// Runs a consent command with the authorization URL and returns the last line it printed.
async fn consent_command(command: &[String], url: &str, dir: &Path, timeout: Duration) -> anyhow::Result<String> {
    let (program, args) = command.split_first().context("the consent command is empty")?;
    let mut args: Vec<String> = args.iter().map(|a| a.replace("{url}", url)).collect();
    if !command.iter().any(|a| a.contains("{url}")) {
        args.push(url.to_owned());
    }
    let mut child = Command::new(program);
    child.args(&args).current_dir(dir).stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(timeout, child.output())
        .await
        .map_err(|_| anyhow!("the consent command took longer than {timeout:?}"))?
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!("the consent command failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .context("the consent command printed nothing")
}

async fn runtime_present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).kill_on_drop(true).output().await?;
    if !output.status.success() {
        bail!("{:?} failed: {}", command.as_std(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Creates a virtual environment at `venv` with `requirements` installed, unless it already has
/// exactly these requirements. Returns its interpreter.
async fn ensure_venv(venv: &Path, requirements: &Path) -> anyhow::Result<PathBuf> {
    let python = venv.join("bin/python");
    let wanted =
        std::fs::read_to_string(requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    let started = std::time::Instant::now();
    run(Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(venv)).await.context("creating the venv")?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(requirements))
    .await
    .with_context(|| format!("pip install -r {}", requirements.display()))?;
    std::fs::write(&stamp, wanted)?;
    eprint!(" (installed {} in {:.1} s)", venv.display(), started.elapsed().as_secs_f64());
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_django_form() {
        let html = r#"<form id="authorizationForm" method="post">
            <input type="hidden" name="csrfmiddlewaretoken" value="abc">
            <input type="hidden" name="redirect_uri" value="http://127.0.0.1/callback" id="id_redirect_uri">
            <input type="hidden" name="next" value="/o/authorize/?a=1&amp;b=2">
            <input type="text" name="username">
            <input type="submit" name="allow" value="Authorize"/></form>"#;
        let (action, inputs) = parse_form(html).expect("a form");
        assert_eq!(action, None);
        assert_eq!(
            inputs,
            vec![
                ("csrfmiddlewaretoken".to_owned(), "abc".to_owned()),
                ("redirect_uri".to_owned(), "http://127.0.0.1/callback".to_owned()),
                ("next".to_owned(), "/o/authorize/?a=1&b=2".to_owned()),
            ]
        );
    }

    #[test]
    fn fills_placeholders() {
        let vars = BTreeMap::from([("port", "8080".to_owned()), ("base", "http://127.0.0.1:8080".to_owned())]);
        assert_eq!(fill("{base}/token?p={port}", &vars), "http://127.0.0.1:8080/token?p=8080");
    }
}
