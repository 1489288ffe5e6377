//! A self-client code has no callback and no state to check: it cannot be given one.
include!("support/prelude.rs");

async fn misuse() {
    let flow = unauthorized().self_client(zoho_oauth_core::AuthorizationCode::new("1000.console"));
    let _ = flow.exchange("code=other&state=s").await;
}

fn main() {
    drop(misuse());
}
