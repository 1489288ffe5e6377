//! Core types for Zoho OAuth 2.0.
pub mod clock;
pub mod secret;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
