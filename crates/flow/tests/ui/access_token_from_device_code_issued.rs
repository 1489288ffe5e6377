//! A device authorization the user has not approved holds no access token.
include!("support/prelude.rs");

async fn misuse() {
    let flow = unauthorized().device_authorization().await.expect("started");
    let _ = flow.access_token().await;
}

fn main() {
    drop(misuse());
}
