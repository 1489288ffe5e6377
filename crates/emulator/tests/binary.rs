//! The standalone binary: its help, its fixed ports, and the self-client code it prints.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use url::Url;
use zoho_accounts_emulator::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

const BINARY: &str = env!("CARGO_BIN_EXE_zoho-accounts-emulator");

/// A running emulator process, killed when the test ends however it ends.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BINARY).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line of output that satisfies `wanted`, waiting at most 30 seconds in all.
    fn line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).expect("the emulator printed the expected line in time");
            if wanted(&line) {
                return line;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn help_documents_every_option_and_exits_0() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in ["--data-centers", "--port", "--base-port", "--headless", "--mint-self-client-code", "--help"] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    let wrong = Command::new(BINARY).arg("--nope").output().unwrap();
    assert_eq!(wrong.status.code(), Some(2));
}

#[tokio::test]
async fn fixed_ports_and_a_self_client_code_that_exchanges() {
    // A port that was free a moment ago; another process taking it in between would only make
    // this test fail, never pass wrongly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let us_port = format!("us={port}");
    let running = Running::start(&["--port", &us_port, "--mint-self-client-code", "ZohoCRM.modules.ALL"]);
    let us = running.line(|line| line.starts_with("us "));
    assert_eq!(us, format!("us http://127.0.0.1:{port}/"));
    let eu = running.line(|line| line.starts_with("eu "));
    assert!(eu.starts_with("eu http://127.0.0.1:"), "{eu}");

    let heading = running.line(|line| line.starts_with("Self-client code"));
    assert!(heading.contains("ZohoCRM.modules.ALL"), "{heading}");
    let code = running.line(|_| true).trim().to_owned();
    assert!(code.starts_with("1000."), "{code}");
    let hint = running.line(|_| true);
    assert!(!hint.contains(&code), "the code is pasted at the prompt, never an argument: {hint}");
    assert!(hint.contains("zoho-oauth login --self-client -"), "{hint}");

    let token_url = Url::parse(&format!("http://127.0.0.1:{port}/oauth/v2/token")).unwrap();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
    ];
    let tokens = common::post_form(&token_url, &pairs).await.json();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    assert_eq!(tokens["scope"], "ZohoCRM.modules.ALL");
}

#[tokio::test]
async fn the_binary_shows_the_consent_page_unless_headless() {
    for (args, status) in [(&[][..], 200), (&["--headless"][..], 302)] {
        let running = Running::start(args);
        let us = running.line(|line| line.starts_with("us "));
        let link = running.line(|line| line.starts_with("Open in a browser"));
        let url = Url::parse(link.rsplit(' ').next().unwrap()).unwrap();
        assert!(us.contains(url.authority()), "the link goes to the first data center: {us} {url}");
        assert_eq!(common::get(&url).await.status, status, "{args:?}");
    }
}
