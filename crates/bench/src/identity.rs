//! The client's identity and the shape of the tokens, shared by the contenders (`common.rs`) and
//! the token server (`server.rs`) without either depending on the other.

pub const CLIENT_ID: &str = "1000.BENCHCLIENT";
pub const CLIENT_SECRET: &str = "bench-client-secret";
pub const SCOPE: &str = "ZohoCRM.modules.ALL";
pub const REFRESH_TOKEN: &str = "1000.bench0refresh0token0000000000.0000000000000000000000000000000";
/// The user name flows save their tokens under in a file store.
pub const STORE_USER: &str = "bench";

/// A token shaped like Zoho's (`1000.` and two 32-digit hex parts), distinct for every answer.
pub fn access_token(serial: u64) -> String {
    format!("1000.{serial:032x}.{:032x}", serial.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}
