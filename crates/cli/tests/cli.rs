//! End-to-end tests: the real `zoho-oauth` binary against the Zoho accounts emulator.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{CLIENT_ID, CLIENT_SECRET, Harness, Run};
use zoho_accounts_emulator::{Consent, Fault};
use zoho_oauth::TokenStore as _;
use zoho_oauth::{
    ClientConfig, ClientSecret, Endpoints, FailureKind, FailureRecord, Flow, RefreshState, Renewal, ReqwestClient,
};

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

    // The lock-out is in the token file's entry, not in a file of the tool's own, so every process
    // sharing the token file respects it.
    let state = h.refresh_state("default").await;
    let until = state.retry_at.expect("the lock-out's end is saved");
    assert!(until > Utc::now() + Duration::minutes(14), "{until}");
    assert_eq!(state.last_failure.as_ref().map(|f| f.kind), Some(FailureKind::RateLimited));
    let beside: Vec<String> = std::fs::read_dir(h.store_path().parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!beside.iter().any(|name| name.contains("rate-limited")), "no lock-out file of its own: {beside:?}");

    // The next run does not ask again during the lock-out, and says the same.
    let again = h.run(&["token"]).await.expect(4);
    again.one_line_error("wait until");
    assert_eq!(h.emulator.counters().token_refresh, 10, "no request during the lock-out");
    // Nor does another program using the library on the same token file.
    let endpoints = Endpoints::zoho_custom(&h.accounts("us"), None, &[h.accounts("eu").as_str()]).unwrap();
    let config = ClientConfig::new(CLIENT_ID, endpoints).client_secret(ClientSecret::new(CLIENT_SECRET));
    let other = Flow::new(config, Arc::new(ReqwestClient::new().unwrap()))
        .with_store(Arc::new(h.store().await), "default")
        .restore_from_store()
        .await
        .unwrap()
        .unwrap();
    let refused = other.renew_if_due().await.expect_err("the shared lock-out holds");
    assert!(refused.is_rate_limited());
    assert_eq!(refused.retry_at(), Some(until));
    assert_eq!(h.emulator.counters().token_refresh, 10, "no request from the other program either");

    let status = h.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains("rate limited:   until"), "{}", status.stdout);
    let status = h.run(&["status", "--json"]).await.expect(0);
    let list: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(list[0]["rate_limited_until"].is_string(), "{list}");
    assert_eq!(list[0]["renewal"]["last_failure"]["kind"], "rate_limited");

    // A new login starts afresh.
    h.login(&[]).await.expect(0);
    h.run(&["token"]).await.expect(0);
    assert!(!h.run(&["status"]).await.stdout.contains("rate limited"));
    assert!(h.refresh_state("default").await.is_clear());
}

#[tokio::test]
async fn token_loads_the_secret_only_to_renew() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let (_, saved) = h.saved("default").await.unwrap();
    let without_secret = |args: &[&str]| {
        let mut command = h.command(args);
        command.env_remove("ZOHO_CLIENT_SECRET");
        command
    };

    // A fresh token: no secret needed, as for a cron job that has none.
    let fresh = common::output(without_secret(&["token"])).await.expect(0);
    assert_eq!(fresh.stdout.trim(), saved.access_token().expose_secret());

    // A token due for renewal: the secret is needed, and its absence is a configuration error
    // that sends nothing.
    h.set_expiry("default", Utc::now() - Duration::seconds(1)).await;
    let due = common::output(without_secret(&["token"])).await.expect(6);
    due.one_line_error("no client secret: set ZOHO_CLIENT_SECRET");
    assert_eq!(due.stdout, "");
    assert_eq!(h.emulator.counters().token_refresh, 0, "no request without the secret");
}

#[tokio::test]
async fn a_failed_renewal_prints_the_saved_token_only_while_the_failure_passes_by_itself() {
    let h = Harness::start().await;
    for profile in ["network", "backoff", "secret", "revoked"] {
        h.login(&["-p", profile]).await.expect(0);
        // Inside the five-minute margin, so due for renewal, but still working.
        h.set_expiry(profile, Utc::now() + Duration::seconds(120)).await;
    }

    // The accounts server answers with a proxy's error page: the saved token still works, and the
    // next run tries again.
    h.emulator.set_fault(Some(Fault::BadGatewayHtml));
    let run = h.run(&["token", "-v", "-p", "network"]).await.expect(0);
    assert_eq!(run.stdout.trim(), h.saved("network").await.unwrap().1.access_token().expose_secret());
    assert!(run.stderr.contains("the saved access token still works"), "{}", run.stderr);
    h.emulator.set_fault(None);

    // Another process's failure is in the store with its backoff: the saved token is printed
    // without a request while it works, and the wait is named once it has expired.
    let requests = h.emulator.counters().token_refresh;
    let backoff = RefreshState {
        failures: 1,
        retry_at: Some(Utc::now() + Duration::minutes(10)),
        last_failure: Some(FailureRecord { kind: FailureKind::Transient, code: None, at: Utc::now() }),
        renewed_at: None,
    };
    h.set_refresh_state("backoff", backoff.clone()).await;
    let run = h.run(&["token", "-p", "backoff"]).await.expect(0);
    assert_eq!(run.stdout.trim(), h.saved("backoff").await.unwrap().1.access_token().expose_secret());
    h.set_expiry("backoff", Utc::now() - Duration::seconds(1)).await;
    h.set_refresh_state("backoff", backoff).await;
    h.run(&["token", "-p", "backoff"]).await.expect(5).one_line_error("the next attempt is after");
    assert_eq!(h.emulator.counters().token_refresh, requests, "no request during another process's backoff");

    // A client secret Zoho refuses: a person must act, so nothing is printed.
    let mut command = h.command(&["token", "-p", "secret"]);
    command.env("ZOHO_CLIENT_SECRET", "not-the-secret");
    let run = common::output(command).await.expect(6);
    run.one_line_error("Zoho does not accept this client id and secret");
    assert_eq!(run.stdout, "");

    // A revoked grant: Zoho ended its access tokens too, so the saved one is not printed.
    let (_, tokens) = h.saved("revoked").await.unwrap();
    h.revoke_at_server("us", tokens.refresh_token().unwrap().expose_secret()).await;
    let run = h.run(&["token", "-p", "revoked"]).await.expect(3);
    run.one_line_error("the refresh token was revoked or has expired (invalid_code)");
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn status_json_with_nothing_saved_is_an_empty_list() {
    let h = Harness::start().await;
    let status = h.run(&["status", "--json"]).await.expect(0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap(), serde_json::json!([]));
    h.login(&[]).await.expect(0);
    let status = h.run(&["status", "--json", "-p", "other"]).await.expect(0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap(), serde_json::json!([]));
    // For people it stays an error that says what to do.
    h.run(&["status", "-p", "other"]).await.expect(3).one_line_error("run `zoho-oauth login --profile other` first");
}

#[tokio::test]
async fn logout_revoke_ends_the_grant_at_zoho_and_deletes_it_here() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let token = h.run(&["token"]).await.expect(0).stdout.trim().to_owned();
    let logout = h.run(&["logout", "--revoke"]).await.expect(0);
    assert!(logout.stdout.contains("Revoked the grant of profile \"default\""), "{}", logout.stdout);
    assert_eq!(h.emulator.counters().revoke, 1);
    assert!(h.saved("default").await.is_none(), "deleted here");
    assert_eq!(h.call_api("us", &token).await, 401, "ended at Zoho");
}

#[tokio::test]
async fn a_new_login_revokes_the_grant_it_replaces() {
    let h = Harness::start().await;
    h.login(&[]).await.expect(0);
    let (_, first) = h.saved("default").await.unwrap();
    let second = h.login(&[]).await.expect(0);
    assert!(second.stdout.contains("Revoked the previous grant of this profile"), "{}", second.stdout);
    assert_eq!(h.emulator.counters().revoke, 1);
    assert_eq!(h.call_api("us", first.access_token().expose_secret()).await, 401, "the old grant is gone");
    let (_, now) = h.saved("default").await.unwrap();
    assert_eq!(h.call_api("us", now.access_token().expose_secret()).await, 200, "the new one works");

    // When the old grant cannot be revoked, the login still succeeds and says why: here the old
    // grant lives at a data center the new settings no longer trust.
    h.emulator.set_user_data_center("eu");
    h.login(&["-p", "moved"]).await.expect(0);
    let (_, at_eu) = h.saved("moved").await.unwrap();
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let mut command = h.command(&["login", "-p", "moved", "--self-client", &code]);
    command.env_remove("ZOHO_TRUST_ACCOUNTS_URLS");
    let third = common::output(command).await.expect(0);
    assert!(third.stdout.contains("Logged in"), "{}", third.stdout);
    assert!(third.stderr.contains(&format!("warning: the previous grant at {} was not revoked", h.accounts("eu"))));
    assert!(third.stderr.contains("not trusted"), "{}", third.stderr);
    assert_eq!(h.emulator.counters().revoke, 1, "nothing sent to an untrusted server");
    assert_eq!(h.call_api("eu", at_eu.access_token().expose_secret()).await, 200, "that grant lives on");
}

#[tokio::test]
async fn a_self_client_code_is_read_from_stdin() {
    let h = Harness::start().await;
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let login = h.run_with_stdin(&["login", "--self-client", "-"], &format!("{code}\n")).await.expect(0);
    assert!(login.stdout.contains("ZohoCRM.modules.ALL"), "{}", login.stdout);
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200);
    let help = h.run(&["login", "--help"]).await.expect(0);
    assert!(help.stdout.contains("--self-client -"), "the documented way:\n{}", help.stdout);
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_while_waiting_exits_130() {
    let h = Harness::start().await;
    let pending = h.start_login_waiting(&[]).await;
    pending.interrupt();
    let run = pending.finish().await.expect(130);
    run.ends_with_error("interrupted while waiting for the browser; nothing was saved");
    assert!(h.saved("default").await.is_none());
    let help = h.run(&["--help"]).await.expect(0);
    assert!(help.stdout.contains("  130  interrupted (Ctrl-C)"), "{}", help.stdout);
}

/// An emulator whose device requests may be polled every second, so that a device login ends in
/// a second or two of real time (the tool measures its waits on the system clock).
async fn device_harness(lifetime: Duration) -> Harness {
    Harness::start_with(move |config| config.device_poll_interval(Duration::seconds(1)).device_code_lifetime(lifetime))
        .await
}

/// Approves the device request with `code` as `email`, then moves the emulator's clock past the
/// poll interval: the emulator measures polls on its own (manual) clock, so a poll the tool sent
/// before the approval must not make the next one look too early (`slow_down`).
fn approve(h: &Harness, code: &str, email: &str) {
    assert!(h.emulator.approve_device(code, email), "the code {code} is pending");
    h.clock.advance(Duration::seconds(2));
}

#[tokio::test]
async fn a_device_login_is_approved_on_another_device_and_replaces_the_previous_grant() {
    let h = device_harness(Duration::minutes(5)).await;
    let (pending, code) = h.start_device_login(&[]).await;
    let url = format!("{}/oauth/v3/device", h.accounts("us"));
    assert!(pending.seen.contains(&format!("  URL:   {url}\n")), "the URL is shown:\n{}", pending.seen);
    assert_eq!(code.len(), 9, "a user code such as BCDF-GHJK: {code}");
    assert!(pending.seen.contains("(the code expires in 4m 5"), "with the time left:\n{}", pending.seen);
    approve(&h, &code, "user@example.com");
    let run = pending.finish().await.expect(0);
    assert!(run.stdout.starts_with("Logged in: profile \"default\""), "{}", run.stdout);
    assert!(run.stdout.contains("refresh token:  held"), "{}", run.stdout);
    assert!(!run.stdout.contains(&code), "stdout has the summary only:\n{}", run.stdout);
    let counters = h.emulator.counters();
    assert_eq!(counters.device_code, 1);
    assert!((1..=3).contains(&counters.device_token), "a poll a second at most: {}", counters.device_token);

    let (_, first) = h.saved("default").await.expect("the tokens are saved");
    assert!(first.refresh_token().is_some(), "offline access: a refresh token");
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(token.stdout.trim(), first.access_token().expose_secret());
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200);

    // A second device login for the profile revokes the grant it replaces, once the new one is saved.
    let (pending, code) = h.start_device_login(&[]).await;
    approve(&h, &code, "user@example.com");
    let run = pending.finish().await.expect(0);
    assert!(run.stdout.contains("Revoked the previous grant of this profile"), "{}", run.stdout);
    assert_eq!(h.emulator.counters().revoke, 1);
    assert_eq!(h.call_api("us", first.access_token().expose_secret()).await, 401, "the old grant is gone");

    // The device login takes no redirect: it refuses the browser's and the other logins' flags.
    h.run(&["login", "--device", "--no-browser"]).await.expect(2);
    h.run(&["login", "--device", "--self-client", "-"]).await.expect(2);
    h.run(&["login", "--device", "--client-credentials"]).await.expect(2);
}

#[tokio::test]
async fn a_device_login_approved_at_another_data_center_is_saved_there() {
    let h = device_harness(Duration::minutes(5)).await;
    // Zoho's `other_dc` names the data center by its location code only: a custom server is
    // trusted under its code.
    let mut command = h.command(&["login", "--device", "-p", "eu-user"]);
    command.env("ZOHO_TRUST_ACCOUNTS_URLS", format!("eu={}", h.accounts("eu")));
    let (pending, code) = h.start_device_login_with(command).await;
    // Bruno's account lives at eu: the poll at us answers other_dc, and the next goes to eu.
    approve(&h, &code, "bruno@example.eu");
    pending.finish().await.expect(0);
    let (key, tokens) = h.saved("eu-user").await.expect("saved");
    assert_eq!(key.accounts_server(), h.accounts("eu"));
    assert!(h.emulator.counters_for("eu").device_token >= 1, "polled at eu");
    assert_eq!(h.call_api("eu", tokens.access_token().expose_secret()).await, 200);
    let token = h.run(&["token", "-p", "eu-user"]).await.expect(0);
    assert_eq!(token.stdout.trim(), tokens.access_token().expose_secret(), "the plain URL trusts it as well");

    // Trusted without its code, the server cannot be found from `other_dc`: the error says how.
    let (pending, code) = h.start_device_login(&["-p", "lost"]).await;
    approve(&h, &code, "bruno@example.eu");
    pending.finish().await.expect(1).ends_with_error("--trust-accounts-url LOCATION=URL");
    assert!(h.saved("lost").await.is_none());
}

#[tokio::test]
async fn a_denied_device_login_fails_in_one_line_and_saves_nothing() {
    let h = device_harness(Duration::minutes(5)).await;
    let (pending, code) = h.start_device_login(&["-p", "work"]).await;
    assert!(h.emulator.deny_device(&code));
    h.clock.advance(Duration::seconds(2));
    let run = pending.finish().await.expect(1);
    run.ends_with_error(
        "declined on the verification page (access_denied); run `zoho-oauth login --profile work --device`",
    );
    assert_eq!(run.stdout, "");
    assert!(h.saved("work").await.is_none());
}

#[tokio::test]
async fn a_device_code_that_expires_ends_the_login_with_exit_1() {
    // The tool's own clock says the code has expired: two seconds of real time.
    let h = device_harness(Duration::seconds(2)).await;
    let started = std::time::Instant::now();
    let (pending, _) = h.start_device_login(&[]).await;
    let run = pending.finish().await.expect(1);
    run.ends_with_error("the code expired before it was approved; run `zoho-oauth login --device` again");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "it stops at expiry");
    assert!(h.saved("default").await.is_none());

    // The emulator says so (`expired`) before the tool's clock does: the same error.
    let h = device_harness(Duration::minutes(5)).await;
    let (pending, _) = h.start_device_login(&[]).await;
    h.clock.advance(Duration::minutes(6));
    let run = pending.finish().await.expect(1);
    run.ends_with_error("the code expired before it was approved");
    assert_eq!(h.emulator.counters().device_token, 1, "one poll, answered `expired`");
    let help = h.run(&["--help"]).await.expect(0);
    assert!(help.stdout.contains("its device code expired"), "exit 1 is documented:\n{}", help.stdout);
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_while_waiting_for_a_device_approval_exits_130() {
    let h = device_harness(Duration::minutes(5)).await;
    let (pending, code) = h.start_device_login(&[]).await;
    pending.interrupt();
    let run = pending.finish().await.expect(130);
    run.ends_with_error("interrupted while waiting for the approval; nothing was saved");
    assert!(h.saved("default").await.is_none());
    // Nothing polls after the tool has gone: an approval now saves nothing anywhere.
    approve(&h, &code, "user@example.com");
    assert!(h.saved("default").await.is_none());
}

#[tokio::test]
async fn client_credentials_with_an_org_then_token_renews_by_asking_again() {
    let h = Harness::start().await;
    let login = h.run(&["login", "--client-credentials", "--soid", "ZohoCRM.4242"]).await.expect(0);
    assert!(login.stdout.contains("client credentials"), "{}", login.stdout);
    assert!(login.stdout.contains("ZohoCRM.4242"), "{}", login.stdout);
    assert_eq!(h.emulator.counters().token_client_credentials, 1);
    let (_, saved) = h.saved("default").await.expect("saved");
    assert!(saved.refresh_token().is_none(), "client credentials have no refresh token");
    assert_eq!(saved.renewal(), &Renewal::ClientCredentials { soid: Some("ZohoCRM.4242".to_owned()) });

    // `token` serves the saved token without a request while it is fresh.
    let token = h.run(&["token"]).await.expect(0);
    assert_eq!(token.stdout.trim(), saved.access_token().expose_secret());
    assert_eq!(token.stderr, "");
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200);
    assert_eq!(h.emulator.counters().token_client_credentials, 1);

    // At expiry it asks again, once, the same way (the refresh endpoint is never used).
    h.set_expiry("default", Utc::now() + Duration::seconds(30)).await;
    let renewed = h.run(&["token"]).await.expect(0);
    assert_ne!(renewed.stdout, token.stdout, "a new token");
    assert_eq!(h.emulator.counters().token_client_credentials, 2);
    assert_eq!(h.emulator.counters().token_refresh, 0);
    assert_eq!(h.call_api("us", renewed.stdout.trim()).await, 200);
    let again = h.run(&["token"]).await.expect(0);
    assert_eq!(again.stdout, renewed.stdout, "the new token is saved and reused");
    assert_eq!(h.emulator.counters().token_client_credentials, 2);
    let (_, after) = h.saved("default").await.unwrap();
    assert_eq!(after.renewal(), saved.renewal(), "the renewal kind survives a renewal");

    let status = h.run(&["status", "--json"]).await.expect(0);
    let list: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(list[0]["renewed_by"], "client_credentials");
    assert_eq!(list[0]["soid"], "ZohoCRM.4242");
    assert_eq!(list[0]["refresh_token"], false);

    // The org may come from the environment (and the config file), like any setting.
    let mut command = h.command(&["login", "-p", "env", "--client-credentials"]);
    command.env("ZOHO_SOID", "ZohoCRM.777");
    common::output(command).await.expect(0);
    let (_, env) = h.saved("env").await.unwrap();
    assert_eq!(env.renewal(), &Renewal::ClientCredentials { soid: Some("ZohoCRM.777".to_owned()) });
    // A flag wins over the variable; a malformed org is refused before anything is sent; --soid
    // without --client-credentials is a usage error (the variable alone is ignored by other logins).
    let mut command = h.command(&["login", "-p", "flag", "--client-credentials", "--soid", "ZohoCRM.1"]);
    command.env("ZOHO_SOID", "ZohoCRM.777");
    common::output(command).await.expect(0);
    let (_, flag) = h.saved("flag").await.unwrap();
    assert_eq!(flag.renewal(), &Renewal::ClientCredentials { soid: Some("ZohoCRM.1".to_owned()) });
    let config = h.dir.path().join("config.toml");
    std::fs::write(&config, "[profiles.file]\nsoid = \"ZohoCRM.555\"\n").unwrap();
    let config = config.to_str().unwrap();
    h.run(&["login", "-p", "file", "--config", config, "--client-credentials"]).await.expect(0);
    let (_, file) = h.saved("file").await.unwrap();
    assert_eq!(file.renewal(), &Renewal::ClientCredentials { soid: Some("ZohoCRM.555".to_owned()) });
    let sent = h.emulator.counters().token_client_credentials;
    h.run(&["login", "--client-credentials", "--soid", "4242"]).await.expect(2).one_line_error("ZohoCRM.<org id>");
    h.run(&["login", "--soid", "ZohoCRM.4242"]).await.expect(2).one_line_error("add --client-credentials");
    assert_eq!(h.emulator.counters().token_client_credentials, sent, "nothing sent");
}

#[tokio::test]
async fn client_credentials_without_an_org_say_how_to_name_it() {
    let h = Harness::start().await;
    let run = h.run(&["login", "-p", "jobs", "--client-credentials"]).await.expect(6);
    run.one_line_error(
        "Zoho needs the org a client-credentials token is for (missing_org_info); give it with --soid ZohoCRM.<org id>",
    );
    assert!(run.stderr.contains("`zoho-oauth login --profile jobs --client-credentials`"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(h.saved("jobs").await.is_none());
    assert_eq!(h.emulator.counters().token_client_credentials, 1);
}

#[tokio::test]
async fn an_encrypted_token_file_holds_no_token_and_token_works_through_it() {
    let h = Harness::start().await;
    let key_file = h.dir.path().join("key");
    std::fs::write(&key_file, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let encrypted = |args: &[&str]| {
        let mut command = h.command(args);
        command.env("ZOHO_ENCRYPTION_KEY_FILE", &key_file);
        command
    };
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let mut login = encrypted(&["login", "--self-client", "-"]);
    login.stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{code}\n").as_bytes()).await.unwrap();
    }
    assert!(child.wait().await.unwrap().success());

    let token = common::output(encrypted(&["token"])).await.expect(0);
    let access = token.stdout.trim().to_owned();
    assert_eq!(h.call_api("us", &access).await, 200);
    let key = zoho_oauth::store::EncryptionKey::from_file(&key_file).unwrap();
    let store = zoho_oauth::store::EncryptedStore::new(h.store().await, key);
    let keys = store.keys().await.unwrap();
    let tokens = store.load(&keys[0]).await.unwrap().unwrap().into_tokens();
    let refresh = tokens.refresh_token().unwrap().expose_secret().to_owned();
    let raw = std::fs::read(h.store_path()).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains(&access) && !raw.contains(&refresh), "no token in the file's bytes:\n{raw}");

    // Renewal goes through the encryption too.
    let (key0, _) = (keys[0].clone(), ());
    let sealed = store.load(&key0).await.unwrap().unwrap().into_tokens();
    let stale = zoho_oauth::TokenSet::new(
        sealed.access_token().clone(),
        sealed.refresh_token().cloned(),
        Utc::now() - Duration::seconds(1),
        sealed.api_domain().cloned(),
        sealed.accounts_server(),
        sealed.scopes().clone(),
    );
    store.save(&key0, &stale).await.unwrap();
    let renewed = common::output(encrypted(&["token"])).await.expect(0);
    assert_ne!(renewed.stdout.trim(), access);
    assert_eq!(h.emulator.counters().token_refresh, 1);
    assert!(!std::fs::read_to_string(h.store_path()).unwrap().contains(renewed.stdout.trim()));
    common::output(encrypted(&["status"])).await.expect(0);

    // Without the key the tokens are not mistaken for plain ones.
    h.run(&["token"]).await.expect(6).one_line_error("the saved tokens are encrypted");
}

#[tokio::test]
async fn a_postgres_store_is_shared_through_its_url() {
    let Some(url) = postgres_url() else { return };
    let h = Harness::start().await;
    // A profile of its own, so that runs sharing the database do not meet.
    let profile = format!("cli-test-{}-{}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let code = h.emulator.issue_self_client_code("us", CLIENT_ID, "ZohoCRM.modules.ALL", Duration::minutes(3));
    let in_db = |args: &[&str]| {
        let mut command = h.command(args);
        command.env("ZOHO_STORE_URL", &url);
        command
    };
    let mut login = in_db(&["login", "-p", &profile, "--self-client", "-"]);
    login.stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{code}\n").as_bytes()).await.unwrap();
    }
    assert!(child.wait().await.unwrap().success());
    assert!(!h.store_path().exists(), "nothing in the token file");
    let token = common::output(in_db(&["token", "-p", &profile])).await.expect(0);
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 200);
    let status = common::output(in_db(&["status", "--json", "-p", &profile])).await.expect(0);
    let list: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(list[0]["profile"], profile.as_str());
    common::output(in_db(&["logout", "--revoke", "-p", &profile])).await.expect(0);
    assert_eq!(h.call_api("us", token.stdout.trim()).await, 401);
    let status = common::output(in_db(&["status", "--json", "-p", &profile])).await.expect(0);
    assert_eq!(status.stdout.trim(), "[]");
}

/// The test database, from `ZOHO_OAUTH_TEST_POSTGRES_URL`; without it the test says it was
/// skipped, except under `CI=true`, where it must run.
fn postgres_url() -> Option<String> {
    match std::env::var("ZOHO_OAUTH_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "ZOHO_OAUTH_TEST_POSTGRES_URL is not set: under CI=true the PostgreSQL test must run"
            );
            println!("skipped: ZOHO_OAUTH_TEST_POSTGRES_URL is not set");
            None
        }
    }
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
    let h = device_harness(Duration::minutes(5)).await;
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

    // A device login, approved; its device code is never seen by the test, so the scan below
    // looks for anything shaped like the emulator's secrets as well as for the known ones.
    let (pending, user_code) = h.start_device_login(&["-vv", "-p", "dev"]).await;
    assert!(h.emulator.approve_device(&user_code, "alice@example.com"));
    h.clock.advance(Duration::seconds(2));
    runs.push(("login --device", pending.finish().await.expect(0)));
    remember(&mut secrets, &h.saved("dev").await.unwrap().1);
    // A denied one.
    let (pending, user_code) = h.start_device_login(&["-vv", "-p", "dev2"]).await;
    assert!(h.emulator.deny_device(&user_code));
    h.clock.advance(Duration::seconds(2));
    runs.push(("login --device denied", pending.finish().await.expect(1)));
    // Client credentials, renewed by `token`, and refused without an org.
    let cc = ["login", "-vv", "-p", "cc", "--client-credentials", "--soid", "ZohoCRM.4242"];
    runs.push(("login --client-credentials", h.run(&cc).await.expect(0)));
    remember(&mut secrets, &h.saved("cc").await.unwrap().1);
    h.set_expiry("cc", Utc::now() + Duration::seconds(10)).await;
    let renewed = h.run(&["token", "-vv", "-p", "cc"]).await.expect(0);
    remember(&mut secrets, &h.saved("cc").await.unwrap().1);
    tokens_printed.push(renewed.stdout.clone());
    runs.push(("token renewed by client credentials (stderr only)", Run { stdout: String::new(), ..renewed }));
    let no_org = h.run(&["login", "-vv", "-p", "cc2", "--client-credentials"]).await.expect(6);
    runs.push(("login --client-credentials without an org", no_org));

    runs.push(("status", h.run(&["status", "-vv"]).await.expect(0)));
    runs.push(("status --json", h.run(&["status", "--json", "-vv"]).await.expect(0)));
    runs.push(("revoke", h.run(&["revoke", "-vv", "-p", "sc"]).await.expect(0)));
    runs.push(("logout", h.run(&["logout", "-vv"]).await.expect(0)));
    runs.push(("token after logout", h.run(&["token", "-vv"]).await.expect(3)));
    runs.push(("secret flag", h.run(&["token", "-vv", "--client-secret", CLIENT_SECRET]).await.expect(2)));

    assert!(secrets.len() >= 12, "the test knows the secrets it looks for");
    assert_eq!(common::emulator_secrets(&secrets.join(" ")).len(), secrets.len() - 1, "the scan finds what it should");
    for (name, run) in &runs {
        for secret in &secrets {
            assert!(!run.stdout.contains(secret.as_str()), "{name}: a secret on stdout:\n{}", run.stdout);
            assert!(!run.stderr.contains(secret.as_str()), "{name}: a secret on stderr:\n{}", run.stderr);
        }
        let output = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(common::emulator_secrets(&output), Vec::<&str>::new(), "{name}: a secret-shaped string:\n{output}");
    }
    // -vv did log something, or this test would prove nothing.
    assert!(runs.iter().all(|(_, run)| run.stderr.contains("zoho-oauth: debug:") || run.code == 2));
    // What `token` printed is an access token the test knows, on one line.
    for printed in &tokens_printed {
        assert!(printed.ends_with('\n') && secrets.contains(&printed.trim().to_owned()), "{printed}");
    }
}

/// What a terminal shows after `written`, line by line: `\r` returns to the start of the line,
/// `\n` starts the next one, other characters overwrite the cell under the cursor.
#[cfg(unix)]
fn screen(written: &str) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let mut cursor = 0;
    for c in written.chars() {
        match c {
            '\r' => cursor = 0,
            '\n' => {
                lines.push(Vec::new());
                cursor = 0;
            }
            c => {
                let line = lines.last_mut().unwrap();
                if cursor < line.len() {
                    line[cursor] = c;
                } else {
                    line.push(c);
                }
                cursor += 1;
            }
        }
    }
    lines.into_iter().map(|l| l.into_iter().collect::<String>().trim_end().to_owned()).collect()
}

#[cfg(unix)]
#[tokio::test]
async fn the_countdown_on_a_terminal_leaves_no_stray_characters_and_is_wiped() {
    use std::io::Read as _;
    use std::sync::Mutex;

    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    let h = Harness::start().await;
    // A pseudo-terminal for the tool's stderr: the countdown is drawn only on a terminal.
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    let shown = Arc::new(Mutex::new(String::new()));
    let reader = {
        let shown = shown.clone();
        let mut master = std::fs::File::from(master);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // The read ends with an error (EIO) once the tool has exited and closed the terminal.
            while let Ok(n @ 1..) = master.read(&mut buffer) {
                shown.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };

    // 61 seconds: the countdown starts at "1m 1s left" and drops below a minute two seconds later.
    let mut command = h.command(&["login", "--no-browser", "--timeout", "61"]);
    command.stderr(std::process::Stdio::from(terminal));
    let mut child = command.spawn().unwrap();
    drop(command);
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let text = shown.lock().unwrap().clone();
            if text.contains("59s left") {
                let line = text.lines().find(|l| l.contains("/oauth/v2/auth?")).unwrap().trim().to_owned();
                return line;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the countdown drops below a minute");
    let location = h.consent(&url).await;
    let (status, _) = h.get(&location).await;
    assert_eq!(status, 200);
    let exit = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(exit.success());
    reader.join().unwrap();
    let written = shown.lock().unwrap().clone();

    // Replay the output frame by frame: each state of the countdown's line reads "  <time> left"
    // and nothing else.
    let start = written.find("\r  1m 1s left").expect("the countdown was drawn");
    let tail = &written[start..];
    let end = tail.find('\n').unwrap_or(tail.len());
    let countdown = &tail[..end];
    let before = &written[..start];
    let mut frames = 0;
    for (at, _) in countdown.match_indices('\r').skip(1) {
        let line = screen(&format!("{before}{}", &countdown[..at])).pop().unwrap();
        if line.is_empty() {
            continue;
        }
        frames += 1;
        let text = line.trim_start();
        let (time, rest) = text.split_once(" left").unwrap_or_else(|| panic!("a frame reads {line:?}"));
        assert_eq!(rest, "", "nothing after the countdown: {line:?}");
        assert!(time.chars().all(|c| c.is_ascii_digit() || matches!(c, 'm' | 's' | ' ')), "{line:?}");
    }
    assert!(frames >= 3, "1m 1s, 1m 0s and 59s were shown: {countdown:?}");
    // At the end the countdown's line is blank: the next output starts on a clean line.
    let lines = screen(&written);
    assert!(!lines.iter().any(|l| l.contains(" left")), "the countdown was wiped:\n{}", lines.join("\n"));
}
