//! Client credentials start from an unauthorized flow; an authorized one already holds its grant.
include!("support/prelude.rs");

async fn misuse() {
    let session = unauthorized().client_credentials(Some("ZohoCRM.1")).await.expect("authorized");
    let _ = session.client_credentials(Some("ZohoCRM.1")).await;
}

fn main() {
    drop(misuse());
}
