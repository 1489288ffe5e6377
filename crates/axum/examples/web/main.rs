//! Sign in with Zoho in a web app, against the embedded accounts emulator: no Zoho account needed.
//!
//! Run with `cargo run -p zoho-oauth-axum --example web` (add `-- --port 8080` for a fixed port),
//! open the printed address, sign in as one of the emulator's users in the US or EU data center,
//! and see their CRM user record and the token's expiry (never the token).

mod app;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let mut args = std::env::args().skip(1);
    let mut port = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or_else(|| anyhow::anyhow!("--port needs a number"))?.parse()?,
            other => anyhow::bail!("unknown argument {other:?}; the only option is --port N"),
        }
    }
    let demo = app::start(port, None).await?;
    println!("Zoho sign-in demo: open {}", demo.url);
    println!(
        "(accounts emulator: us {} eu {}; the redirect URI is {}; Ctrl-C stops)",
        demo.emulator.accounts_url("us"),
        demo.emulator.accounts_url("eu"),
        demo.auth.redirect_uri()
    );
    tokio::signal::ctrl_c().await?;
    // Only counts: the store holds the grants, which are never printed.
    let grants = zoho_oauth::TokenStore::keys(&*demo.store).await?.len();
    println!("stopped; the store held {grants} grant(s)");
    Ok(())
}
