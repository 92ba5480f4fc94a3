//! Per-device rate limits. A device is a scanner certificate; all its
//! connections share one limiter.
//!
//! Each device's limiter is a `governor` direct (GCRA) limiter: one atomic
//! compare-and-swap per scan, no lock. The set of devices is a moka cache
//! with `max_capacity`, because governor's keyed store has no bound on its
//! keys (only a `retain_recent` sweep someone must remember to run).

use crate::config::RateLimit;
use crate::edge::incidents::ForgeryWindow;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::sync::Arc;

/// One device's limit: `burst` scans at once, refilled at `scans_per_s`.
pub struct Bucket<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    /// The device's forged and malformed tokens of the last minute, kept
    /// in the same bounded per-device set.
    forgeries: ForgeryWindow,
}

impl Bucket {
    /// A full bucket on the real clock.
    pub(crate) fn new(limit: &RateLimit) -> Self {
        Bucket::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock> Bucket<C> {
    /// A full bucket on `clock` (tests pass a fake one).
    pub(crate) fn with_clock(limit: &RateLimit, clock: C) -> Self {
        let quota = Quota::per_second(limit.scans_per_s).allow_burst(limit.burst);
        Bucket {
            limiter: RateLimiter::direct_with_clock(quota, clock),
            forgeries: ForgeryWindow::default(),
        }
    }

    /// The device's window of forged and malformed tokens.
    pub fn forgeries(&self) -> &ForgeryWindow {
        &self.forgeries
    }

    /// Takes one scan's worth if the device is within its limit.
    pub fn try_take(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// Buckets by device name, at most [`RateLimit::max_devices`] of them
/// (beyond it moka's TinyLFU policy forgets some; a forgotten device comes
/// back with its full burst).
pub struct Limiter {
    limit: RateLimit,
    buckets: moka::sync::Cache<String, Arc<Bucket>>,
}

impl Limiter {
    /// A limiter with the given limits.
    pub fn new(limit: RateLimit) -> Self {
        let buckets = moka::sync::Cache::builder()
            .max_capacity(limit.max_devices)
            .build();
        Limiter { limit, buckets }
    }

    /// The bucket of a device (shared by all its connections).
    pub fn bucket(&self, device: &str) -> Arc<Bucket> {
        self.buckets
            .get_with(device.to_owned(), || Arc::new(Bucket::new(&self.limit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn limit(scans_per_s: u32, burst: u32, max_devices: u64) -> RateLimit {
        RateLimit {
            scans_per_s: NonZeroU32::new(scans_per_s).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
            max_devices,
        }
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::with_clock(&limit(10, 5, 10), clock.clone());
        assert_eq!((0..8).filter(|_| b.try_take()).count(), 5);
        assert!(!b.try_take());
        clock.advance(Duration::from_millis(100));
        assert!(b.try_take(), "one token per 100 ms");
        assert!(!b.try_take());
        clock.advance(Duration::from_millis(99));
        assert!(!b.try_take(), "not before the next 100 ms");
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            (0..8).filter(|_| b.try_take()).count(),
            5,
            "an idle device gets its burst back, no more"
        );
    }

    #[test]
    fn devices_share_a_bucket_by_name() {
        let l = Limiter::new(RateLimit::default());
        assert!(Arc::ptr_eq(&l.bucket("a"), &l.bucket("a")));
        assert!(!Arc::ptr_eq(&l.bucket("a"), &l.bucket("b")));
    }

    #[test]
    fn the_device_set_is_bounded() {
        let l = Limiter::new(limit(1, 1, 100));
        for i in 0..1_000 {
            l.bucket(&format!("device-{i}"));
        }
        l.buckets.run_pending_tasks();
        assert!(
            l.buckets.entry_count() <= 100,
            "{}",
            l.buckets.entry_count()
        );
    }
}
