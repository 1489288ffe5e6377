//! The state trait is sealed: no state can be invented outside the crate.
use zoho_oauth_flow::FlowState;

struct Skipped;

impl FlowState for Skipped {}

fn main() {}
