//! An authorization is consumed by its revocation: its tokens cannot be used afterwards.
include!("support/prelude.rs");

async fn misuse(callback: &str) {
    let (_url, flow) = unauthorized().authorization_url();
    let authorized = flow.exchange(callback).await.unwrap();
    let _unauthorized = authorized.revoke().await;
    let _ = authorized.access_token().await;
}

fn main() {
    drop(misuse("code=c&state=s"));
}
