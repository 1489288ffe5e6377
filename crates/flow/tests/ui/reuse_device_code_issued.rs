//! A poll consumes the pending device authorization: it comes back only inside the answer, so the
//! old value cannot be polled again (two polls of one state would race and be told to slow down).
include!("support/prelude.rs");

async fn misuse() {
    let flow = unauthorized().device_authorization().await.expect("started");
    let _first = flow.poll_once().await;
    let _second = flow.poll_once().await;
}

fn main() {
    drop(misuse());
}
