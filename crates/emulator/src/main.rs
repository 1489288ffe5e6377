//! Runs the Zoho accounts emulator until Ctrl-C, printing its URLs and how to use them.
//!
//! Run it with `--help` for every option. The client options default to the demo client; a
//! client with another id is registered beside the demo client. Unlike the library's default,
//! the binary shows the HTML consent page, because a person with a browser is on the other end;
//! `--headless` brings back the consent that answers at once.

use std::process::ExitCode;

use chrono::Duration;
use zoho_accounts_emulator::{
    ClientRegistration, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator, EmulatorConfig,
};

const HELP: &str = "\
zoho-accounts-emulator: a Zoho OAuth 2.0 accounts server on 127.0.0.1, for trying clients without a Zoho account.

Usage: zoho-accounts-emulator [OPTIONS]

Options:
  --data-centers LIST           Data centers to serve, one listener each, comma-separated [default: us,eu]
  --port DC=PORT[,DC=PORT...]   Serve a data center on a fixed port (repeatable); the others get ephemeral ports
  --base-port PORT              Serve the data centers on PORT, PORT+1, ... in the order of --data-centers
  --client-id ID                The client to register [default: 1000.DEMOCLIENT, the demo client]
  --client-secret SECRET        Its client secret [default: demo-client-secret]
  --redirect-uri URI            Its one redirect URI, compared exactly [default: both http://127.0.0.1/callback
                                and http://127.0.0.1:8910/callback, the zoho-oauth tool's default]
  --headless                    Answer GET /oauth/v2/auth at once as the built-in user instead of showing
                                the consent page (where a person picks a user and accepts or denies)
  --mint-self-client-code SCOPES
                                Print a self-client code for SCOPES (comma-separated) at the first data center,
                                as Zoho's API console would, for `zoho-oauth login --self-client`
  --self-client-minutes N       How long that code stays valid, in minutes [default: 10]
  --device-milliseconds         Give the device flow's interval and expires_in in milliseconds, as an older
                                page of Zoho's documentation says, instead of seconds
  --legacy-expires              Answer token requests in the older shape: expires_in_sec in seconds and
                                expires_in in milliseconds
  -h, --help                    Print this help and exit

Endpoints at every data center:
  GET  /oauth/v2/auth           Authorization (the consent page)
  POST /oauth/v2/token          Code exchange, refresh and client credentials (with soid=ZohoCRM.<org id>)
  POST /oauth/v2/token/revoke   Revocation
  POST /oauth/v3/device/code    Device flow start; GET /oauth/v3/device is the page where the user code is entered
  POST /oauth/v3/device/token   Device flow polls
  GET  /crm/v8/users?type=CurrentUser
                                The emulated CRM API: who the access token belongs to

Everything is kept in memory and lost at exit. Ctrl-C stops the emulator.
";

/// The redirect URI the `zoho-oauth` command-line tool uses unless told otherwise.
const CLI_REDIRECT_URI: &str = "http://127.0.0.1:8910/callback";

/// The command line, parsed.
#[derive(Debug)]
struct Options {
    data_centers: Vec<String>,
    client: ClientRegistration,
    ports: Vec<(String, u16)>,
    base_port: Option<u16>,
    headless: bool,
    self_client_scopes: Option<String>,
    self_client_minutes: i64,
    device_milliseconds: bool,
    legacy_expires: bool,
}

/// What the command line asks for: a run, or the help text.
#[derive(Debug)]
enum Command {
    Run(Box<Options>),
    Help,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut options = Options {
        data_centers: vec!["us".to_owned(), "eu".to_owned()],
        client: ClientRegistration::demo(),
        ports: Vec::new(),
        base_port: None,
        headless: false,
        self_client_scopes: None,
        self_client_minutes: 10,
        device_milliseconds: false,
        legacy_expires: false,
    };
    let (mut id, mut secret, mut redirect) = (DEMO_CLIENT_ID.to_owned(), DEMO_CLIENT_SECRET.to_owned(), None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--client-id" => id = value()?,
            "--client-secret" => secret = value()?,
            "--redirect-uri" => redirect = Some(value()?),
            "--data-centers" => options.data_centers = list(&value()?),
            "--port" => {
                for pair in list(&value()?) {
                    let (dc, port) =
                        pair.split_once('=').ok_or_else(|| format!("--port wants DC=PORT, not {pair:?}"))?;
                    options.ports.retain(|(name, _)| name != dc);
                    options.ports.push((dc.trim().to_owned(), port_number(port.trim())?));
                }
            }
            "--base-port" => options.base_port = Some(port_number(&value()?)?),
            "--headless" => options.headless = true,
            "--mint-self-client-code" => options.self_client_scopes = Some(value()?),
            "--self-client-minutes" => {
                let minutes = value()?;
                options.self_client_minutes = minutes
                    .parse()
                    .ok()
                    .filter(|m| (1..=24 * 60).contains(m))
                    .ok_or_else(|| format!("--self-client-minutes wants 1 to 1440, not {minutes:?}"))?;
            }
            "--device-milliseconds" => options.device_milliseconds = true,
            "--legacy-expires" => options.legacy_expires = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.data_centers.is_empty() {
        return Err("--data-centers needs at least one name".to_owned());
    }
    if let Some(base) = options.base_port {
        let last = usize::from(base) + options.data_centers.len() - 1;
        if last > usize::from(u16::MAX) {
            return Err(format!("--base-port {base} leaves no room for {} data centers", options.data_centers.len()));
        }
    }
    if let Some((dc, _)) = options.ports.iter().find(|(dc, _)| !options.data_centers.contains(dc)) {
        return Err(format!("--port names {dc:?}, which is not in --data-centers"));
    }
    options.client = match redirect {
        Some(redirect) => ClientRegistration::new(id, secret, redirect),
        // Without a choice, `zoho-oauth login` works with its own default redirect URI too.
        None => ClientRegistration::new(id, secret, DEMO_REDIRECT_URI).redirect_uri(CLI_REDIRECT_URI),
    };
    Ok(Command::Run(Box::new(options)))
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn port_number(value: &str) -> Result<u16, String> {
    value.parse().map_err(|_| format!("{value:?} is not a port number"))
}

impl Options {
    fn config(&self) -> EmulatorConfig {
        let names: Vec<&str> = self.data_centers.iter().map(String::as_str).collect();
        let mut config = EmulatorConfig::new()
            .data_centers(&names)
            .client(self.client.clone())
            .consent_page(!self.headless)
            .device_times_in_milliseconds(self.device_milliseconds);
        if let Some(base) = self.base_port {
            for (offset, name) in (0_u16..).zip(&self.data_centers) {
                // `parse` checked that the last port fits.
                config = config.port(name, base.saturating_add(offset));
            }
        }
        // Explicit ports win over the base port.
        for (name, port) in &self.ports {
            config = config.port(name, *port);
        }
        config
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\nRun `zoho-accounts-emulator --help` for the options.");
            return ExitCode::from(2);
        }
    };
    // The handler is installed before the URLs are printed, so a script that sends SIGINT as soon
    // as it reads them cannot lose the signal.
    let interrupted = match interrupt() {
        Ok(interrupted) => interrupted,
        Err(error) => {
            eprintln!("error: cannot listen for Ctrl-C: {error}");
            return ExitCode::FAILURE;
        }
    };
    let emulator = match Emulator::start(options.config()).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("error: cannot start the emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    emulator.set_legacy_expires(options.legacy_expires);
    // One line per data center first, `NAME URL`, which scripts may read.
    for name in emulator.data_centers() {
        println!("{name} {}", emulator.accounts_url(&name));
    }
    println!();
    print!("{}", guide(&emulator, &options));
    interrupted.await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

/// What to do with the running emulator: the client, the users, the endpoints, and commands to
/// paste, with a self-client code if one was asked for.
fn guide(emulator: &Emulator, options: &Options) -> String {
    use std::fmt::Write as _;

    let data_centers = emulator.data_centers();
    let first = &data_centers[0];
    let origin = |dc: &str| emulator.accounts_url(dc).origin().ascii_serialization();
    let client = &options.client;
    // The secret is printed only when it is the published demo secret; a secret the user chose
    // stays where the user put it.
    let secret = if client.client_secret == DEMO_CLIENT_SECRET { DEMO_CLIENT_SECRET } else { "<your --client-secret>" };
    let redirect = client.redirect_uris.first().map_or(DEMO_REDIRECT_URI, String::as_str);

    let mut out = String::new();
    let _ = writeln!(out, "Client: {} with redirect URI {}", client.client_id, client.redirect_uris.join(" or "));
    if options.headless {
        let _ =
            writeln!(out, "Consent: headless, every sign-in is approved at once as Emulated User <user@example.com>");
    } else {
        let _ = writeln!(out, "Consent page users:");
        for user in emulator.users() {
            let _ = writeln!(out, "  {} <{}> in {}", user.full_name, user.email, user.data_center);
        }
    }
    let mut authorize = emulator.accounts_url(first);
    authorize.set_path("/oauth/v2/auth");
    authorize
        .query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "ZohoCRM.modules.ALL,ZohoCRM.users.READ")
        .append_pair("access_type", "offline")
        .append_pair("state", "try-me");
    let base = origin(first);
    let _ = writeln!(out, "\nOpen in a browser to sign in: {authorize}");
    let _ = writeln!(out, "Token endpoint:  POST {base}/oauth/v2/token");
    let _ = writeln!(
        out,
        "Device flow:     POST {base}/oauth/v3/device/code, then enter the user code at {base}/oauth/v3/device"
    );
    let _ = writeln!(
        out,
        "CRM API:         GET  {base}/crm/v8/users?type=CurrentUser with Authorization: Zoho-oauthtoken <token>"
    );

    let trust: Vec<String> = data_centers[1..].iter().map(|dc| origin(dc)).collect();
    let mut env = format!("ZOHO_CLIENT_ID={} ZOHO_CLIENT_SECRET={secret} ZOHO_ACCOUNTS_URL={base}", client.client_id);
    if !trust.is_empty() {
        let _ = write!(env, " ZOHO_TRUST_ACCOUNTS_URLS={}", trust.join(","));
    }
    let _ = writeln!(
        out,
        "\nWith the zoho-oauth command-line tool (its redirect URI must be the registered one, see --redirect-uri):"
    );
    let _ = writeln!(out, "  {env} zoho-oauth login");

    if let Some(scopes) = &options.self_client_scopes {
        let lifetime = Duration::minutes(options.self_client_minutes);
        let code = emulator.issue_self_client_code(first, &client.client_id, scopes, lifetime);
        let _ = writeln!(
            out,
            "\nSelf-client code for {scopes} at {first}, valid {} minutes and once:\n  {code}",
            options.self_client_minutes
        );
        // The code goes in on standard input: an argument would show in `ps` and the shell's history.
        let _ = writeln!(out, "  {env} zoho-oauth login --self-client -    # then paste the code at the prompt");
    }
    let _ = writeln!(out, "\nCtrl-C stops the emulator; everything is kept in memory and lost at exit.");
    out
}

/// A future that completes on Ctrl-C (SIGINT on Unix).
#[cfg(unix)]
fn interrupt() -> std::io::Result<impl Future<Output = ()>> {
    // Unlike `ctrl_c()`, which registers on its first poll, this registers right away.
    let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        signal.recv().await;
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn interrupt() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("error: cannot wait for Ctrl-C: {error}");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> impl Iterator<Item = String> {
        line.split_whitespace().map(str::to_owned).collect::<Vec<_>>().into_iter()
    }

    fn run(line: &str) -> Options {
        match parse(args(line)) {
            Ok(Command::Run(options)) => *options,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn parses_data_centers_and_client() {
        let options = run("--data-centers us,in --client-id 1000.X --redirect-uri http://h/cb");
        assert_eq!(options.data_centers, ["us", "in"]);
        assert_eq!(options.client, ClientRegistration::new("1000.X", DEMO_CLIENT_SECRET, "http://h/cb"));
        let default = run("");
        assert_eq!(default.client.redirect_uris, [DEMO_REDIRECT_URI, CLI_REDIRECT_URI]);
        assert!(!options.headless);
        assert!(parse(args("--client-secret")).is_err());
        assert!(parse(args("--bogus 1")).is_err());
        assert!(matches!(parse(args("--data-centers us -h")), Ok(Command::Help)));
    }

    #[test]
    fn parses_ports() {
        let options = run("--port us=8081,eu=8082 --port eu=9000");
        assert_eq!(options.ports, [("us".to_owned(), 8081), ("eu".to_owned(), 9000)]);
        assert_eq!(run("--base-port 8081").base_port, Some(8081));
        assert!(parse(args("--port us")).is_err());
        assert!(parse(args("--port us=http")).is_err());
        assert!(parse(args("--port in=8081")).is_err(), "in is not served");
        assert!(parse(args("--base-port 65535")).is_err(), "eu would need port 65536");
        assert!(parse(args("--base-port 70000")).is_err());
    }

    #[test]
    fn parses_the_switches() {
        let options = run(
            "--headless --mint-self-client-code ZohoCRM.modules.ALL --self-client-minutes 3 --device-milliseconds --legacy-expires",
        );
        assert!(options.headless && options.device_milliseconds && options.legacy_expires);
        assert_eq!(options.self_client_scopes.as_deref(), Some("ZohoCRM.modules.ALL"));
        assert_eq!(options.self_client_minutes, 3);
        assert!(parse(args("--self-client-minutes 0")).is_err());
    }

    #[test]
    fn the_help_names_every_option() {
        for option in [
            "--data-centers",
            "--port",
            "--base-port",
            "--client-id",
            "--client-secret",
            "--redirect-uri",
            "--headless",
            "--mint-self-client-code",
            "--self-client-minutes",
            "--device-milliseconds",
            "--legacy-expires",
            "--help",
        ] {
            assert!(HELP.contains(option), "{option} is not in the help");
        }
    }
}
