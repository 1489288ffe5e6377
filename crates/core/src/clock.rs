//! An injectable clock, so that expiry logic can be tested without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
///
/// Everything in this library that asks "has this token expired?" asks a `Clock`,
/// never the system directly, so tests can move time forward instantly with [`ManualClock`].
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current time in whole seconds since the Unix epoch, as cheaply as the clock can read it.
    ///
    /// The token manager's cached read asks this on every call, so a clock may answer from a
    /// coarser, cheaper source than [`now`](Clock::now), as long as it is never more than a second
    /// away from it. The default reads [`now`](Clock::now).
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// On Linux, the kernel's coarse real-time clock (`CLOCK_REALTIME_COARSE`): it is read from
    /// memory the kernel shares with the process, without a system call or a hardware timer read,
    /// and is accurate to a few milliseconds, far finer than the one-second answer needs.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    fn unix_seconds(&self) -> i64 {
        rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec
    }
}

/// A clock that only moves when told to.
///
/// Clones share one time, so a test can hand one clone to the library and the emulator
/// and keep another to advance both at once.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        // A poisoned lock still holds a valid time: a panic elsewhere must not stop the clock.
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A shared, type-erased clock.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_seconds_agree_with_now() {
        let before = Utc::now().timestamp();
        let seconds = SystemClock.unix_seconds();
        let after = Utc::now().timestamp();
        // The coarse clock may lag by a few milliseconds, which can cross a second boundary.
        assert!((before - 1..=after).contains(&seconds), "{before} <= {seconds} <= {after}");
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::starting_now();
        let other = clock.clone();
        let before = clock.now();
        other.advance(Duration::seconds(90));
        assert_eq!(clock.now() - before, Duration::seconds(90));
    }
}
