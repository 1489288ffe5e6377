//! There is no access token while the flow waits for the callback.
include!("support/prelude.rs");

async fn misuse() {
    let (_url, flow) = unauthorized().authorization_url();
    let _ = flow.access_token().await;
}

fn main() {
    drop(misuse());
}
