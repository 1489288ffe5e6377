//! A device authorization is not a redirect: there is no callback to exchange.
include!("support/prelude.rs");

async fn misuse(callback: &str) {
    let flow = unauthorized().device_authorization().await.expect("started");
    let _ = flow.exchange(callback).await;
}

fn main() {
    drop(misuse("code=c&state=s"));
}
