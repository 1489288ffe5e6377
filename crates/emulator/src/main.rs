//! Runs the Zoho accounts emulator until Ctrl-C, printing one line per data center.
//!
//! ```text
//! zoho-accounts-emulator [--data-centers us,eu] [--client-id ID] [--client-secret SECRET] [--redirect-uri URI]
//! ```
//!
//! The client options default to the demo client; a client with another id is registered
//! beside the demo client.

use std::process::ExitCode;

use zoho_accounts_emulator::{
    ClientRegistration, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator, EmulatorConfig,
};

const USAGE: &str = "usage: zoho-accounts-emulator [--data-centers us,eu] [--client-id ID] \
                     [--client-secret SECRET] [--redirect-uri URI]";

/// The command line, parsed.
struct Options {
    data_centers: Vec<String>,
    client: ClientRegistration,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut data_centers = vec!["us".to_owned(), "eu".to_owned()];
    let (mut id, mut secret, mut redirect) =
        (DEMO_CLIENT_ID.to_owned(), DEMO_CLIENT_SECRET.to_owned(), DEMO_REDIRECT_URI.to_owned());
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--client-id" => &mut id,
            "--client-secret" => &mut secret,
            "--redirect-uri" => &mut redirect,
            "--data-centers" => {
                let list = args.next().ok_or("--data-centers needs a value")?;
                data_centers = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                continue;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        };
        *target = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
    }
    Ok(Options { data_centers, client: ClientRegistration::new(id, secret, redirect) })
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    let names: Vec<&str> = options.data_centers.iter().map(String::as_str).collect();
    let config = EmulatorConfig::new().data_centers(&names).client(options.client);
    // The handler is installed before the URLs are printed, so a script that sends SIGINT as soon
    // as it reads them cannot lose the signal.
    let interrupted = match interrupt() {
        Ok(interrupted) => interrupted,
        Err(error) => {
            eprintln!("error: cannot listen for Ctrl-C: {error}");
            return ExitCode::FAILURE;
        }
    };
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("error: cannot start the emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    for name in emulator.data_centers() {
        println!("{name} {}", emulator.accounts_url(&name));
    }
    interrupted.await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
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

    #[test]
    fn parses_data_centers_and_client() {
        let options =
            parse(args("--data-centers us,in --client-id 1000.X --redirect-uri http://h/cb")).expect("valid arguments");
        assert_eq!(options.data_centers, ["us", "in"]);
        assert_eq!(options.client, ClientRegistration::new("1000.X", DEMO_CLIENT_SECRET, "http://h/cb"));
        assert!(parse(args("--client-secret")).is_err());
        assert!(parse(args("--port 1")).is_err());
    }
}
