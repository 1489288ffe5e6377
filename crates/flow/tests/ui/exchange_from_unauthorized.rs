//! A code cannot be exchanged before an authorization request was made.
include!("support/prelude.rs");

async fn misuse() {
    let flow = unauthorized();
    let _ = flow.exchange("https://app.example/cb?code=stolen&state=guess").await;
}

fn main() {
    drop(misuse());
}
