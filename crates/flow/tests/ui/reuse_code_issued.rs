//! A pending authorization is consumed by its exchange: it cannot be exchanged twice.
include!("support/prelude.rs");

async fn misuse(callback: &str) {
    let (_url, flow) = unauthorized().authorization_url();
    let _first = flow.exchange(callback).await;
    let _second = flow.exchange(callback).await;
}

fn main() {
    drop(misuse("code=c&state=s"));
}
