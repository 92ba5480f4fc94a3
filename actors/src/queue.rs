//! The bound on one actor's mailbox: an atomic count of requests admitted to
//! it and not yet handled, which the actor can also close, and when the last
//! one was admitted (what the idle sweep reads).
//!
//! ractor mailboxes are unbounded, so every request takes a [`Ticket`] here
//! *before* it is sent. The ticket travels inside the message and gives its
//! place back when dropped: once handled, or when the message is dropped
//! unhandled because the actor stopped. So the count is exactly "queued or
//! being handled", and an actor that sees 0 knows its mailbox holds no
//! request, which is what lets it stop on idle without losing one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Set once the actor stops taking requests; the low bits keep counting.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max` requests are already queued.
    Full,
    /// The actor is stopping (idle or failed): route to a fresh one.
    Closed,
}

/// The admission counter shared by an actor and the registry.
#[derive(Debug)]
pub(crate) struct Queue {
    state: AtomicUsize,
    /// When the last request was admitted (or the queue made), in the
    /// directory's clock (milliseconds).
    last_entered_ms: AtomicU64,
}

impl Queue {
    /// An open, empty queue, made at `now_ms`.
    pub(crate) fn new(now_ms: u64) -> Self {
        Queue {
            state: AtomicUsize::new(0),
            last_entered_ms: AtomicU64::new(now_ms),
        }
    }

    /// Admits one request at `now_ms` if fewer than `max` are queued and the
    /// actor is open.
    pub(crate) fn enter(self: &Arc<Self>, max: usize, now_ms: u64) -> Result<Ticket, Refused> {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & CLOSED == 0 && s < max).then_some(s + 1)
            })
            .map(|_| {
                self.last_entered_ms.fetch_max(now_ms, Ordering::AcqRel);
                Ticket(Arc::clone(self))
            })
            .map_err(|s| {
                if s & CLOSED != 0 {
                    Refused::Closed
                } else {
                    Refused::Full
                }
            })
    }

    /// Milliseconds from the last admission to `now_ms`.
    pub(crate) fn idle_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_entered_ms.load(Ordering::Acquire))
    }

    /// Closes the queue if nothing is queued; true if it is closed now and
    /// was empty. After this no request can reach the actor.
    pub(crate) fn close_if_empty(&self) -> bool {
        self.state
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Closes the queue whatever it holds (the actor is failing).
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Requests queued or being handled.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.load(Ordering::Acquire) & !CLOSED
    }
}

/// One admitted request's place in the queue; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<Queue>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.state.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_max_and_gives_places_back() {
        let q = Arc::new(Queue::new(0));
        let a = q.enter(2, 0).expect("first");
        let _b = q.enter(2, 0).expect("second");
        assert_eq!(q.enter(2, 0).err(), Some(Refused::Full));
        drop(a);
        assert_eq!(q.len(), 1);
        assert!(q.enter(2, 0).is_ok(), "a place came back");
    }

    #[test]
    fn closes_only_when_empty_and_then_refuses() {
        let q = Arc::new(Queue::new(0));
        let t = q.enter(4, 0).expect("enter");
        assert!(!q.close_if_empty(), "a request is queued");
        drop(t);
        assert!(q.close_if_empty());
        assert_eq!(q.enter(4, 0).err(), Some(Refused::Closed));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn close_refuses_new_requests_while_old_ones_drain() {
        let q = Arc::new(Queue::new(0));
        let t = q.enter(4, 0).expect("enter");
        q.close();
        assert_eq!(q.enter(4, 0).err(), Some(Refused::Closed));
        drop(t);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn idle_time_runs_from_the_last_admission_only() {
        let q = Arc::new(Queue::new(100));
        assert_eq!(q.idle_ms(130), 30, "idle since it was made");
        drop(q.enter(4, 150).expect("enter"));
        assert_eq!(q.idle_ms(160), 10);
        drop(q.enter(4, 400).expect("admitted"));
        assert_eq!(q.enter(0, 500).err(), Some(Refused::Full));
        assert_eq!(q.idle_ms(450), 50, "a refused request does not count");
        assert_eq!(q.idle_ms(10), 0, "an earlier clock reading is not negative");
    }
}
