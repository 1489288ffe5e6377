//! Only a started device authorization can be polled: an unauthorized flow has no device code.
include!("support/prelude.rs");

async fn misuse() {
    let _ = unauthorized().poll_once().await;
}

fn main() {
    drop(misuse());
}
