//! Benchmarks of `zoho-oauth`; see `benches/token.rs`. This library is empty on purpose:
//! the crate exists so that benchmark-only dependencies never reach users.
