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
    /// coarser, cheaper source than [`now`](Clock::now), as long as it stays within a second or so of
    /// it: the answer only decides whether a token is still inside its refresh margin, which is
    /// minutes long for Zoho's tokens. The default reads [`now`](Clock::now).
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

    /// On Linux, one atomic load of the current second, which a small background thread (started
    /// on first use) copies from the kernel's coarse real-time clock five times a second.
    ///
    /// The token manager asks this on every cached read, and even the coarse clock costs about
    /// 9 ns on a virtual machine (the precise one a system call, over 100 ns), three times the rest
    /// of the read. The answer is at most a fraction of a second behind [`now`](Clock::now), far
    /// inside any refresh margin; until the thread has run once, the clock itself is read.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    fn unix_seconds(&self) -> i64 {
        ticker::seconds()
    }
}

/// The current second, kept in memory by a background thread.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod ticker {
    use std::sync::Once;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    /// The last second the thread read; 0 until it has run.
    static NOW: AtomicI64 = AtomicI64::new(0);
    static START: Once = Once::new();

    /// How often the thread reads the clock: often enough that the answer lags by a fifth of a
    /// second at most, rarely enough that the thread costs nothing measurable.
    const TICK: Duration = Duration::from_millis(200);

    #[inline]
    pub(super) fn seconds() -> i64 {
        let now = NOW.load(Ordering::Relaxed);
        if now != 0 {
            return now;
        }
        start();
        read()
    }

    #[cold]
    fn start() {
        START.call_once(|| {
            // If the thread cannot be started, `NOW` stays 0 and every call reads the clock.
            let _ = std::thread::Builder::new().name("zoho-oauth-clock".to_owned()).spawn(|| {
                loop {
                    NOW.store(read(), Ordering::Relaxed);
                    std::thread::sleep(TICK);
                }
            });
        });
    }

    fn read() -> i64 {
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
        // The in-memory second lags by up to a tick (longer on a machine too busy to run the
        // thread), which can cross second boundaries.
        assert!((before - 5..=after).contains(&seconds), "{before} - 5 <= {seconds} <= {after}");
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
