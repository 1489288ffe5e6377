//! There is no access token before authorization.
include!("support/prelude.rs");

async fn misuse() {
    let flow = unauthorized();
    let _ = flow.access_token().await;
}

fn main() {
    drop(misuse());
}
