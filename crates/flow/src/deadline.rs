//! Time limits on HTTP requests, kept by one watchdog thread rather than the async runtime's timer.
//!
//! Registering a timer with tokio's multi-threaded runtime wakes the thread that holds the timer
//! driver whenever the new timer is the earliest one, and for a client making one token request at
//! a time that is every request: the wake-up cost about 5% of a refresh on loopback. The watchdog
//! sleeps until the earliest deadline it knew when it last looked, and is told of a new deadline
//! only when that is earlier. A steady stream of requests, each with the same limit, therefore
//! costs a lock and a slot in a table per request and one wake-up of the watchdog per limit's length.
//!
//! The watchdog reads the monotonic clock (`std::time::Instant`), not the runtime's, so tokio's
//! paused time in a test does not stop a network time limit: the network does not pause either.
//! If the thread cannot be started, limits fall back to tokio's timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Runs `future` until it completes or `limit` has passed; `None` means the limit passed first.
///
/// Like `tokio::time::timeout`, the future is polled before the limit is checked, so one that is
/// ready when the limit passes still completes.
pub(crate) fn within<F: Future>(limit: Duration, future: F) -> Within<F> {
    within_from(Instant::now(), limit, future)
}

/// [`within`], counting the limit from `start` (a caller that has just read the clock).
pub(crate) fn within_from<F: Future>(start: Instant, limit: Duration, future: F) -> Within<F> {
    // A limit too far away to represent never passes.
    Within { future, timer: start.checked_add(limit).map(Timer::new) }
}

pin_project_lite::pin_project! {
    /// The future of [`within`].
    ///
    /// Written by hand rather than as an `async fn`: an `async fn` would hold the limited future
    /// twice (once as its argument, once pinned), doubling the size of every future above it,
    /// and each of those is copied as it is built.
    #[must_use = "a limited future does nothing unless awaited"]
    pub(crate) struct Within<F> {
        #[pin]
        future: F,
        // `None` for a limit that never passes.
        timer: Option<Timer>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let passed = this.timer.as_mut().is_some_and(|timer| !timer.wake_at_deadline(cx));
        if passed { Poll::Ready(None) } else { Poll::Pending }
    }
}

/// What wakes a limited future at its deadline: the watchdog, or tokio's timer if the watchdog's
/// thread could not be started.
///
/// The fallback's timer is boxed and made only when first needed, so that it does not double the
/// size of every limited future (and of every future that awaits one).
enum Timer {
    Watchdog(Registration),
    Runtime { deadline: Instant, sleep: Option<Pin<Box<tokio::time::Sleep>>> },
}

impl Timer {
    fn new(deadline: Instant) -> Self {
        match Watchdog::get() {
            Some(watchdog) => Timer::Watchdog(Registration { watchdog, deadline, place: None }),
            None => Timer::Runtime { deadline, sleep: None },
        }
    }

    /// Makes sure the task is woken when the deadline passes; `false` once it has passed.
    fn wake_at_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            Timer::Watchdog(registration) => registration.wake_at_deadline(cx.waker()),
            Timer::Runtime { deadline, sleep } => {
                let sleep = sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(*deadline)))
                });
                sleep.as_mut().poll(cx).is_pending()
            }
        }
    }
}

/// The deadlines waiting, each with the waker of the task to wake when it passes.
struct Watchdog {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The deadlines waiting, in slots that are reused once freed: once the table has grown to the
    /// most limits ever waiting at once, registering and removing one allocates nothing.
    slots: Vec<Option<Waiting>>,
    /// The free slots.
    free: Vec<usize>,
    next_id: u64,
    /// When the thread will look again by itself; `None` while it waits to be told.
    wakes_at: Option<Instant>,
}

struct Waiting {
    deadline: Instant,
    /// Which registration this is, so that a slot freed by the watchdog and taken by another
    /// registration is not mistaken for the first one's.
    id: u64,
    waker: Waker,
}

impl State {
    fn waiting_mut(&mut self, slot: usize, id: u64) -> Option<&mut Waiting> {
        self.slots.get_mut(slot)?.as_mut().filter(|waiting| waiting.id == id)
    }

    fn remove(&mut self, slot: usize) -> Option<Waiting> {
        let waiting = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(waiting)
    }
}

impl Watchdog {
    /// The watchdog, its thread started on first use; `None` if the thread could not be started.
    fn get() -> Option<&'static Watchdog> {
        static WATCHDOG: OnceLock<Option<&'static Watchdog>> = OnceLock::new();
        *WATCHDOG.get_or_init(|| {
            let watchdog: &'static Watchdog =
                Box::leak(Box::new(Watchdog { state: Mutex::new(State::default()), changed: Condvar::new() }));
            let started = std::thread::Builder::new().name("zoho-oauth-deadlines".to_owned()).spawn(|| watchdog.run());
            started.ok().map(|_| watchdog)
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; a poisoned one still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the tasks whose deadline has passed, then sleeps until the earliest one left.
    ///
    /// Each look scans every slot: the thread looks only when the earliest deadline it knew of
    /// comes (usually once per limit's length, since most requests end well before theirs) or
    /// when told of an earlier one.
    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            let mut earliest: Option<Instant> = None;
            for slot in 0..state.slots.len() {
                let Some(deadline) = state.slots[slot].as_ref().map(|waiting| waiting.deadline) else { continue };
                if deadline <= now {
                    due.extend(state.remove(slot).map(|waiting| waiting.waker));
                } else if earliest.is_none_or(|at| deadline < at) {
                    earliest = Some(deadline);
                }
            }
            state.wakes_at = earliest;
            if !due.is_empty() {
                // Woken outside the lock: a waker may run the task on this thread.
                drop(state);
                due.into_iter().for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match state.wakes_at {
                None => self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    self.changed
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// One future's place in the watchdog, removed when the future completes or is dropped.
struct Registration {
    watchdog: &'static Watchdog,
    deadline: Instant,
    /// The slot and the registration's id, once registered.
    place: Option<(usize, u64)>,
}

impl Registration {
    /// Makes sure `waker` is woken when the deadline passes; `false` once it has passed.
    ///
    /// Only the watchdog removes a registered deadline (besides `drop`), and only once it is due,
    /// so a missing entry means the time is up, without reading the clock here.
    fn wake_at_deadline(&mut self, waker: &Waker) -> bool {
        let mut state = self.watchdog.lock();
        if let Some((slot, id)) = self.place {
            return match state.waiting_mut(slot, id) {
                Some(waiting) => {
                    waiting.waker.clone_from(waker);
                    true
                }
                None => false,
            };
        }
        state.next_id += 1;
        let id = state.next_id;
        let waiting = Some(Waiting { deadline: self.deadline, id, waker: waker.clone() });
        let slot = match state.free.pop() {
            Some(slot) => {
                state.slots[slot] = waiting;
                slot
            }
            None => {
                state.slots.push(waiting);
                state.slots.len() - 1
            }
        };
        self.place = Some((slot, id));
        // The thread is told only when it would otherwise sleep past this deadline. It keeps
        // `wakes_at` at or before every deadline waiting, so an entry already in needs no telling.
        if state.wakes_at.is_none_or(|at| self.deadline < at) {
            state.wakes_at = Some(self.deadline);
            self.watchdog.changed.notify_one();
        }
        true
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((slot, id)) = self.place {
            let mut state = self.watchdog.lock();
            if state.waiting_mut(slot, id).is_some() {
                state.remove(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_future_that_ends_in_time_gives_its_output() {
        assert_eq!(within(Duration::from_secs(5), async { 7 }).await, Some(7));
        let slept = within(Duration::from_secs(5), tokio::time::sleep(Duration::from_millis(20))).await;
        assert_eq!(slept, Some(()));
    }

    #[tokio::test]
    async fn a_future_that_never_ends_is_stopped_at_its_limit() {
        let started = Instant::now();
        assert_eq!(within(Duration::from_millis(50), std::future::pending::<()>()).await, None);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(within(Duration::ZERO, std::future::pending::<()>()).await, None);
    }

    #[tokio::test]
    async fn a_future_woken_early_keeps_waiting_for_its_limit() {
        // A future that wakes itself at once polls `within` again and again before the limit.
        let mut polls = 0u32;
        let busy = std::future::poll_fn(|cx| {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        let started = Instant::now();
        assert_eq!(within(Duration::from_millis(30), busy).await, None);
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(polls > 1, "polled {polls} times");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_limits_at_once_each_end_on_time() {
        // Later limits registered first, so that earlier ones must tell the sleeping thread.
        let waits: Vec<_> = (1..=20u64)
            .rev()
            .map(|i| tokio::spawn(within(Duration::from_millis(10 * i), std::future::pending::<()>())))
            .collect();
        for wait in waits {
            assert_eq!(wait.await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn a_dropped_future_leaves_no_deadline_behind() {
        let watchdog = Watchdog::get().unwrap();
        let limited = within(Duration::from_secs(600), std::future::pending::<()>());
        // Polled once, so that it registers, then dropped.
        assert!(tokio::time::timeout(Duration::from_millis(10), limited).await.is_err());
        let far = Instant::now() + Duration::from_secs(590);
        assert!(watchdog.lock().slots.iter().flatten().all(|waiting| waiting.deadline < far));
    }
}
