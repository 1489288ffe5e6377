//! End-to-end tests: the real `zoho-oauth` binary against the Zoho accounts emulator.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use chrono::{Duration, Utc};
use common::{CLIENT_ID, CLIENT_SECRET, Harness, Run};
use zoho_accounts_emulator::Consent;
use zoho_oauth::TokenStore as _;

#[tokio::test]
async fn login_then_token_status_and_logout() {
    let h = Harness::start().await;
    let login = h.login(&[]).await.expect(0);
    assert!(login.stderr.contains("Waiting for the browser"), "it says that it waits:\n{}", login.stderr);
    for shown in ["data center:", &h.accounts("us"), "API domain:", "ZohoCRM.modules.ALL", "valid until"] {
        assert!(login.stdout.contains(shown), "login shows {shown:?}:\n{}", login.stdout);
    }
    let (key, tokens) = h.saved("default").await.expect("saved under the default profile");
    assert_eq!(key.client_id(), CLIENT_ID);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(h.store_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is private");
    }

    // `token` prints the token and nothing else, with no request while it is fresh.
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(token.stdout, format!("{}\n", tokens.access_token().expose_secret()));
    assert_eq!(token.stderr, "", "nothing on stderr without -v");
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200, "the token works at the API");
    let json = h.run(&["token", "--json"]).await.expect(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["access_token"], tokens.access_token().expose_secret());
    assert_eq!(value["api_domain"], h.accounts("us"));
    assert!(value["expires_in"].as_i64().unwrap() > 3500);
    assert!(value["expires_at"].as_str().unwrap().parse::<chrono::DateTime<Utc>>().is_ok());
    assert_eq!(h.emulator.counters().token_refresh, 0);

    let status = h.run(&["status"]).await.expect(0);
    for shown in ["profile default", CLIENT_ID, "scopes:", "ZohoCRM.users.READ", "valid until", "refresh token:  held"]
    {
        assert!(status.stdout.contains(shown), "status shows {shown:?}:\n{}", status.stdout);
    }
    let status = h.run(&["status", "--json"]).await.expect(0);
    let list: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(list[0]["profile"], "default");
    assert_eq!(list[0]["refresh_token"], true);
    assert_eq!(list[0]["expired"], false);

    // Another profile has its own tokens; logout of one leaves the other.
    h.login(&["--profile", "work"]).await.expect(0);
    let status = h.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains("profile default") && status.stdout.contains("profile work"), "{}", status.stdout);
    let work = h.run(&["token", "-p", "work"]).await.expect(0);
    assert_ne!(work.stdout, token.stdout, "profiles hold different tokens");

    let logout = h.run(&["logout", "--profile", "work"]).await.expect(0);
    assert!(logout.stdout.contains("Deleted the tokens of profile \"work\""), "{}", logout.stdout);
    assert!(h.saved("work").await.is_none());
    assert!(h.saved("default").await.is_some());
    h.run(&["token", "-p", "work"]).await.expect(3).one_line_error("run `zoho-oauth login --profile work` first");
    h.run(&["status", "-p", "work"]).await.expect(3);
    h.run(&["logout"]).await.expect(0);
    h.run(&["token"]).await.expect(3).one_line_error("run `zoho-oauth login` first");
    h.run(&["status"]).await.expect(3).one_line_error("run `zoho-oauth login` first");
    assert!(h.run(&["logout"]).await.expect(0).stdout.contains("nothing to delete"));
}

#[tokio::test]
async fn login_follows_the_users_data_center() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let login = h.login(&[]).await.expect(0);
    assert!(login.stdout.contains(&h.accounts("eu")), "{}", login.stdout);
    let (key, _) = h.saved("default").await.unwrap();
    assert_eq!(key.accounts_server(), h.accounts("eu"), "saved under the user's data center");
    assert_eq!(h.emulator.counters_for("eu").token_exchange, 1);

    // Refreshes go to the data center that issued the tokens.
    h.set_expiry("default", Utc::now() + Duration::seconds(30)).await;
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(h.emulator.counters_for("eu").token_refresh, 1);
    assert_eq!(h.emulator.counters_for("us").token_refresh, 0);
    assert_eq!(h.call_api("eu", token.stdout.trim()).await, 200);

    // Without trusting eu, the saved tokens are not sent there.
    let mut command = h.command(&["token"]);
    command.env_remove("ZOHO_TRUST_ACCOUNTS_URLS");
    common::output(command).await.expect(6).one_line_error("--trust-accounts-url");
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_and_saved() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let (_, before) = h.saved("default").await.unwrap();
    // Within the default five-minute margin, but not yet expired.
    h.set_expiry("default", Utc::now() + Duration::seconds(60)).await;

    let first = h.run(&["token", "-v"]).await.expect(0);
    let fresh = first.stdout.trim().to_owned();
    assert_ne!(fresh, before.access_token().expose_secret(), "a new token");
    assert!(first.stderr.contains("renewing"), "-v says what happens:\n{}", first.stderr);
    assert_eq!(h.emulator.counters().token_refresh, 1);
    let (_, after) = h.saved("default").await.unwrap();
    assert_eq!(after.access_token().expose_secret(), fresh, "the new token is saved");
    assert!(after.expires_at() > Utc::now() + Duration::minutes(55));

    let second = h.run(&["token"]).await.expect(0);
    assert_eq!(second.stdout.trim(), fresh, "the saved token is reused");
    assert_eq!(h.emulator.counters().token_refresh, 1, "no second refresh");

    // A margin longer than the token's life is bounded by it, and right after a renewal the floor
    // between two renewals holds: the fresh token is reused, never one refresh per run.
    let forced = h.run(&["token", "--refresh-margin", "7200"]).await.expect(0);
    assert_eq!(forced.stdout.trim(), fresh);
    assert_eq!(h.emulator.counters().token_refresh, 1);
}

#[tokio::test]
async fn two_token_processes_at_expiry_make_one_refresh() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
    let (key, _) = h.saved("default").await.unwrap();

    // Hold the token file's refresh lock until both processes have decided to renew, so that they
    // are certainly at expiry together; then let them race.
    let store = h.store().await;
    let lock = store.lock(&key).await.unwrap();
    let (a, b) = (h.start_token_renewal().await, h.start_token_renewal().await);
    assert_eq!(h.emulator.counters().token_refresh, 0, "both wait for the lock");
    drop(lock);
    let (a, b) = tokio::join!(a.finish(), b.finish());
    let (a, b) = (a.expect(0), b.expect(0));
    assert_eq!(a.stdout, b.stdout, "both print the same token");
    assert_eq!(h.emulator.counters().token_refresh, 1, "one refresh between them");
    assert_eq!(h.call_api("us", a.stdout.trim()).await, 200);
}

#[tokio::test]
async fn self_client_codes_and_their_errors() {
    let h = Harness::start().await;
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let login = h.run(&["login", "--self-client", &code]).await.expect(0);
    assert!(login.stdout.contains("ZohoCRM.modules.ALL"), "{}", login.stdout);
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200);

    // A used code: generate a new one.
    h.run(&["login", "--self-client", &code]).await.expect(3).one_line_error(
        "generate a new code in Zoho's API console and run `zoho-oauth login --self-client CODE` again",
    );

    // An expired code, on the emulator's clock.
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(1));
    h.clock.advance(Duration::minutes(2));
    h.run(&["login", "-p", "other", "--self-client", &code])
        .await
        .expect(3)
        .one_line_error("already used or has expired");

    // An empty code from stdin is refused before any request.
    let exchanges = h.emulator.counters().token_exchange;
    h.run(&["login", "--self-client", "-"]).await.expect(2).one_line_error("empty");
    assert_eq!(h.emulator.counters().token_exchange, exchanges);
}

#[tokio::test]
async fn a_browser_code_that_expired_asks_for_a_new_login() {
    let h = Harness::start().await;
    let pending = h.start_login(&[]).await;
    let location = h.consent(&pending.url).await;
    h.clock.advance(Duration::minutes(3)); // Browser codes live two minutes.
    let (status, body) = h.get(&location).await;
    assert_eq!(status, 400);
    assert!(body.contains("already used or has expired"), "the browser is told too: {body}");
    pending
        .finish()
        .await
        .expect(3)
        .ends_with_error("already used or has expired (invalid_code); run `zoho-oauth login` again");
    assert!(h.saved("default").await.is_none());
}

#[tokio::test]
async fn a_revoked_refresh_token_asks_for_a_new_login() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let (_, tokens) = h.saved("default").await.unwrap();
    h.revoke_at_server("us", tokens.refresh_token().unwrap().expose_secret()).await;
    h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
    h.run(&["token"])
        .await
        .expect(3)
        .one_line_error("the refresh token was revoked or has expired (invalid_code); run `zoho-oauth login` again");
}

#[tokio::test]
async fn rate_limited_says_until_when_and_stops_asking() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    // Zoho mints ten access tokens per ten minutes per refresh token; the login made the first.
    for _ in 0..9 {
        h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
        h.run(&["token"]).await.expect(0);
    }
    assert_eq!(h.emulator.counters().token_refresh, 9);
    h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
    let limited = h.run(&["token"]).await.expect(4);
    limited.one_line_error("Zoho is rate limiting this client");
    assert!(limited.stderr.contains("wait until ") && limited.stderr.contains("UTC (in 1"), "{}", limited.stderr);
    assert_eq!(limited.stdout, "");
    assert_eq!(h.emulator.counters().token_refresh, 10);

    // The next run does not ask again during the lock-out, and says the same.
    let again = h.run(&["token"]).await.expect(4);
    again.one_line_error("wait until");
    assert_eq!(h.emulator.counters().token_refresh, 10, "no request during the lock-out");
    let status = h.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains("rate limited:   until"), "{}", status.stdout);

    // A new login starts afresh.
    h.login(&[]).await.expect(0);
    h.run(&["token"]).await.expect(0);
    assert!(!h.run(&["status"]).await.stdout.contains("rate limited"));
}

#[tokio::test]
async fn revoke_ends_the_grant_at_zoho_and_here() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let token = h.run(&["token"]).await.expect(0).stdout.trim().to_owned();
    let revoke = h.run(&["revoke"]).await.expect(0);
    assert!(revoke.stdout.contains("Revoked the grant of profile \"default\""), "{}", revoke.stdout);
    assert_eq!(h.emulator.counters().revoke, 1);
    assert!(h.saved("default").await.is_none(), "deleted here");
    assert_eq!(h.call_api("us", &token).await, 401, "the access token died with the grant");
    h.run(&["token"]).await.expect(3);
    assert!(h.run(&["revoke"]).await.expect(0).stdout.contains("nothing to revoke"));
}

#[tokio::test]
async fn a_mismatched_state_or_a_declined_consent_fails_in_one_line() {
    let h = Harness::start().await;
    let pending = h.start_login(&[]).await;
    let location = h.consent(&pending.url).await;
    let forged = regex_free_replace_state(&location, "forged");
    let (status, _) = h.get(&forged).await;
    assert_eq!(status, 400);
    pending.finish().await.expect(1).ends_with_error("another `state`");
    assert_eq!(h.emulator.counters().token_exchange, 0, "nothing was sent to the server");

    h.emulator.set_consent(Consent::Deny);
    let run = h.login(&[]).await.expect(1);
    run.ends_with_error("declined");
    assert!(run.stderr.contains("access_denied"), "{}", run.stderr);
}

/// `location` with its `state` parameter replaced by `value`.
fn regex_free_replace_state(location: &str, value: &str) -> String {
    let mut url = url::Url::parse(location).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| if k == "state" { (k.into_owned(), value.to_owned()) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[tokio::test]
async fn login_gives_up_after_the_timeout() {
    let h = Harness::start().await;
    let pending = h.start_login(&["--timeout", "1"]).await;
    // A stray request for another path does not end the wait.
    let (status, _) = h.get(&format!("http://127.0.0.1:{}/favicon.ico", h.port)).await;
    assert_eq!(status, 404);
    pending
        .finish()
        .await
        .expect(1)
        .ends_with_error("no answer from the browser within 1s; run `zoho-oauth login` again");
}

#[tokio::test]
async fn configuration_precedence_and_the_config_file() {
    let h = Harness::start().await;
    let config = h.dir.path().join("config.toml");
    let unreachable = "http://127.0.0.1:9";
    std::fs::write(
        &config,
        format!(
            "client_id = \"1000.WRONG\"\naccounts_url = \"{unreachable}\"\n\n[profiles.ci]\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret = \"{CLIENT_SECRET}\"\naccounts_url = \"{}\"\n",
            h.accounts("us")
        ),
    )
    .unwrap();
    let config_path = config.to_str().unwrap();
    let file_only = |args: &[&str]| {
        let mut command = h.command(args);
        command.env("ZOHO_OAUTH_CONFIG", config_path).env_remove("ZOHO_CLIENT_ID").env_remove("ZOHO_CLIENT_SECRET");
        command.env_remove("ZOHO_ACCOUNTS_URL");
        command
    };

    // A file holding a secret must be private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
        let refused = common::output(file_only(&["login", "-p", "ci", "--self-client", &code])).await.expect(6);
        refused.one_line_error(&format!("run `chmod 600 {config_path}`"));
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // The profile's table wins over the top level: everything from the file.
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    common::output(file_only(&["login", "-p", "ci", "--self-client", &code])).await.expect(0);

    // The environment wins over the file: the default profile's file settings are wrong, the variables right.
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let mut command = h.command(&["login", "--self-client", &code]);
    command.env("ZOHO_OAUTH_CONFIG", config_path);
    common::output(command).await.expect(0);

    // A flag wins over the environment: a client id on the command line that has no saved tokens.
    let mut command = h.command(&["token", "--client-id", "1000.OTHER"]);
    command.env("ZOHO_OAUTH_CONFIG", config_path);
    common::output(command).await.expect(3).one_line_error("no saved tokens");
    // And an unreachable accounts server on the command line is used, and fails as a network error.
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let mut command = h.command(&["login", "-p", "x", "--self-client", &code, "--accounts-url", unreachable]);
    command.env("ZOHO_OAUTH_CONFIG", config_path);
    common::output(command).await.expect(5).one_line_error("could not reach the accounts server");
    // Saved tokens are refreshed only where the settings trust.
    h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
    let mut command = h.command(&["token", "--accounts-url", unreachable]);
    command.env("ZOHO_OAUTH_CONFIG", config_path);
    common::output(command).await.expect(6).one_line_error("do not trust");

    // -vv says where each setting came from.
    let mut command = h.command(&["status", "-vv", "--client-id", "1000.FLAG"]);
    command.env("ZOHO_OAUTH_CONFIG", config_path).env("ZOHO_DC", "eu");
    let run = common::output(command).await.expect(0);
    for line in
        ["client id 1000.FLAG (command line)", "data center eu (environment)", "client secret set (environment)"]
    {
        assert!(run.stderr.contains(line), "{line:?} in:\n{}", run.stderr);
    }

    // Mistakes in the file are one line with a position.
    std::fs::write(&config, "client_id = \"1000.X\"\nredirect_port = \"eighty\"\n").unwrap();
    let mut command = h.command(&["status"]);
    command.env("ZOHO_OAUTH_CONFIG", config_path);
    common::output(command).await.expect(6).one_line_error("at line 2");
    let mut command = h.command(&["status"]);
    command.env("ZOHO_OAUTH_CONFIG", h.dir.path().join("missing.toml"));
    common::output(command).await.expect(6).one_line_error("cannot read the config file");
}

#[tokio::test]
async fn usage_errors_and_help() {
    let h = Harness::start().await;
    h.run(&["token", "--client-secret", "s3cret"]).await.expect(2).one_line_error("never taken from the command line");
    h.run(&["tokn"]).await.expect(2).one_line_error("unrecognized subcommand");
    h.run(&["token", "--dc", "mars"]).await.expect(2).one_line_error("invalid data center \"mars\"");
    h.run(&["login", "--redirect-host", "192.168.1.1"]).await.expect(2).one_line_error("not a loopback address");
    h.run(&["login", "--scopes", "bad scope"]).await.expect(2).one_line_error("invalid scope");
    h.run(&["status", "--profile", "a b"]).await.expect(2).one_line_error("invalid profile name");
    let mut command = h.command(&["token"]);
    command.env_remove("ZOHO_CLIENT_ID");
    common::output(command).await.expect(6).one_line_error("no client id");
    let mut command = h.command(&["login", "--no-browser"]);
    command.env_remove("ZOHO_CLIENT_SECRET");
    common::output(command).await.expect(6).one_line_error("no client secret: set ZOHO_CLIENT_SECRET");

    let help = h.run(&["--help"]).await.expect(0);
    for shown in ["Exit codes:", "ZOHO_CLIENT_SECRET", "Examples:"] {
        assert!(help.stdout.contains(shown), "{shown:?}");
    }
    for command in ["login", "token", "status", "revoke", "logout"] {
        let help = h.run(&[command, "--help"]).await.expect(0);
        assert!(help.stdout.contains("Examples:\n  "), "{command} --help has an example:\n{}", help.stdout);
    }
}

#[tokio::test]
async fn no_secret_in_any_output_at_the_most_verbose_level() {
    let h = Harness::start().await;
    h.emulator.set_user_data_center("eu");
    let mut runs: Vec<(&str, Run)> = Vec::new();
    let mut secrets: Vec<String> = vec![CLIENT_SECRET.to_owned()];
    let mut tokens_printed: Vec<String> = Vec::new();

    // A browser login, with its code, through the listener.
    let pending = h.start_login(&["-vv"]).await;
    let location = h.consent(&pending.url).await;
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    secrets.push(code);
    h.get(&location).await;
    runs.push(("login", pending.finish().await.expect(0)));
    let remember = |secrets: &mut Vec<String>, tokens: &zoho_oauth::TokenSet| {
        secrets.push(tokens.access_token().expose_secret().to_owned());
        secrets.extend(tokens.refresh_token().map(|t| t.expose_secret().to_owned()));
    };
    remember(&mut secrets, &h.saved("default").await.unwrap().1);

    // A self-client login under another profile.
    let code = h.emulator.issue_self_client_code("eu", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    secrets.push(code.clone());
    let eu = h.accounts("eu");
    let run = h.run(&["login", "-vv", "-p", "sc", "--accounts-url", &eu, "--self-client", &code]).await.expect(0);
    runs.push(("login --self-client", run));
    remember(&mut secrets, &h.saved("sc").await.unwrap().1);
    // The same code again: an error that must not echo it.
    let again = h.run(&["-vv", "login", "-p", "sc2", "--accounts-url", &eu, "--self-client", &code]).await.expect(3);
    runs.push(("login --self-client again", again));

    // token: fresh, then renewed, then as JSON.
    let token = h.run(&["token", "-vv"]).await.expect(0);
    tokens_printed.push(token.stdout.clone());
    runs.push(("token (stderr only)", Run { stdout: String::new(), ..token }));
    h.set_expiry("default", Utc::now() + Duration::seconds(10)).await;
    let renewed = h.run(&["token", "-vv"]).await.expect(0);
    remember(&mut secrets, &h.saved("default").await.unwrap().1);
    tokens_printed.push(renewed.stdout.clone());
    runs.push(("token renewed (stderr only)", Run { stdout: String::new(), ..renewed }));
    let json = h.run(&["token", "--json", "-vv"]).await.expect(0);
    runs.push(("token --json (stderr only)", Run { stdout: String::new(), ..json }));

    runs.push(("status", h.run(&["status", "-vv"]).await.expect(0)));
    runs.push(("status --json", h.run(&["status", "--json", "-vv"]).await.expect(0)));
    runs.push(("revoke", h.run(&["revoke", "-vv", "-p", "sc"]).await.expect(0)));
    runs.push(("logout", h.run(&["logout", "-vv"]).await.expect(0)));
    runs.push(("token after logout", h.run(&["token", "-vv"]).await.expect(3)));
    runs.push(("secret flag", h.run(&["token", "-vv", "--client-secret", CLIENT_SECRET]).await.expect(2)));

    assert!(secrets.len() >= 8, "the test knows the secrets it looks for");
    for (name, run) in &runs {
        for secret in &secrets {
            assert!(!run.stdout.contains(secret.as_str()), "{name}: a secret on stdout:\n{}", run.stdout);
            assert!(!run.stderr.contains(secret.as_str()), "{name}: a secret on stderr:\n{}", run.stderr);
        }
    }
    // -vv did log something, or this test would prove nothing.
    assert!(runs.iter().all(|(_, run)| run.stderr.contains("zoho-oauth: debug:") || run.code == 2));
    // What `token` printed is an access token the test knows, on one line.
    for printed in &tokens_printed {
        assert!(printed.ends_with('\n') && secrets.contains(&printed.trim().to_owned()), "{printed}");
    }
}
