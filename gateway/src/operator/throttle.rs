//! Rate limits of the HTTP plane keyed by who asks: each admin API token
//! (by name) and each address that opens holder links. Like the scanners'
//! limits ([`crate::edge::ratelimit`]) each key gets a `governor` direct
//! (GCRA) limiter, one atomic compare-and-swap per request, and the keys
//! live in a moka cache with `max_capacity` (governor's keyed store has no
//! bound on its keys). A key moka forgets comes back with its full burst.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A sustained rate and a burst, per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_s: NonZeroU32,
    /// Requests at once after a quiet spell.
    pub burst: NonZeroU32,
}

/// Per-key limiters, at most `max_keys` of them.
pub struct Throttle<K, C: Clock = DefaultClock> {
    quota: Quota,
    clock: C,
    limiters: moka::sync::Cache<K, Arc<Direct<C>>>,
}

impl<K: Hash + Eq + Send + Sync + 'static> Throttle<K> {
    /// Limits of `rate` per key on the real clock, for at most `max_keys`.
    pub fn new(rate: Rate, max_keys: u64) -> Self {
        Throttle::with_clock(rate, max_keys, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Send + Sync + 'static, C: Clock + Clone + Send + Sync + 'static>
    Throttle<K, C>
{
    /// Limits on `clock` (tests pass a fake one).
    pub fn with_clock(rate: Rate, max_keys: u64, clock: C) -> Self {
        Throttle {
            quota: Quota::per_second(rate.per_s).allow_burst(rate.burst),
            clock,
            limiters: moka::sync::Cache::builder().max_capacity(max_keys).build(),
        }
    }

    /// `Ok` if `key` is within its rate (one request taken); otherwise how
    /// long until its next request would be, for `Retry-After`.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let limiter = self.limiters.get_with(key, || {
            Arc::new(RateLimiter::direct_with_clock(
                self.quota,
                self.clock.clone(),
            ))
        });
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Whole seconds for a `Retry-After` header: at least 1, rounded up.
pub fn retry_after_s(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn rate(per_s: u32, burst: u32) -> Rate {
        Rate {
            per_s: NonZeroU32::new(per_s).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
        }
    }

    #[test]
    fn each_key_gets_its_burst_then_waits() {
        let clock = FakeRelativeClock::default();
        let t = Throttle::with_clock(rate(2, 3), 10, clock.clone());
        assert!((0..3).all(|_| t.check("a").is_ok()));
        let wait = t.check("a").expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(t.check("b").is_ok(), "another key has its own burst");
        clock.advance(Duration::from_millis(500));
        assert!(t.check("a").is_ok(), "one more after 1/rate");
        assert!(t.check("a").is_err());
    }

    #[test]
    fn the_key_set_is_bounded() {
        let t: Throttle<u32> = Throttle::new(rate(1, 1), 100);
        for k in 0..1_000 {
            let _ = t.check(k);
        }
        t.limiters.run_pending_tasks();
        assert!(
            t.limiters.entry_count() <= 100,
            "{}",
            t.limiters.entry_count()
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_s(Duration::ZERO), 1);
        assert_eq!(retry_after_s(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_s(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_s(Duration::from_millis(2_001)), 3);
    }
}
