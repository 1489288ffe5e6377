//! The authorized state cannot be built by hand, only reached by an exchange or a restore.
use zoho_oauth_flow::Authorized;

fn main() {
    let _ = Authorized {};
}
