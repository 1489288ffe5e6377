//! Messages on stderr: what the user must see, and logs gated by `-v`.
//!
//! Nothing here is given a secret: callers format only public values (URLs without query,
//! client ids, paths, expiry times), and the library's errors never hold a secret.
//! Writing ignores errors, because a closed stderr must not turn into a panic.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Sets how much is logged: 0 nothing, 1 (`-v`) what the tool does, 2 (`-vv`) and more, details.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// Whether messages of `level` are shown.
pub fn enabled(level: u8) -> bool {
    VERBOSITY.load(Ordering::Relaxed) >= level
}

/// Writes one line to stderr, ignoring a closed stderr.
pub fn line(args: fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(args);
    let _ = stderr.write_all(b"\n");
}

/// Always shown on stderr: progress and instructions the user needs.
macro_rules! say {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}

/// Shown with `-v`.
macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::log::enabled(1) {
            $crate::log::line(format_args!("zoho-oauth: {}", format_args!($($arg)*)))
        }
    };
}

/// Shown with `-vv`.
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled(2) {
            $crate::log::line(format_args!("zoho-oauth: debug: {}", format_args!($($arg)*)))
        }
    };
}

pub(crate) use {debug, info, say};
