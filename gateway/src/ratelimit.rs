//! Per-device token buckets. A device is a scanner certificate; all its
//! connections share one bucket.

use crate::config::RateLimit;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One device's bucket.
#[derive(Debug)]
pub struct Bucket {
    state: Mutex<BucketState>,
    per_s: f64,
    burst: f64,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(limit: &RateLimit, now: Instant) -> Self {
        Bucket {
            state: Mutex::new(BucketState {
                tokens: f64::from(limit.burst),
                last: now,
            }),
            per_s: f64::from(limit.scans_per_s),
            burst: f64::from(limit.burst),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.per_s).min(self.burst);
        s.last = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Buckets by device name, bounded in count.
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
        self.buckets.get_with(device.to_owned(), || {
            Arc::new(Bucket::new(&self.limit, Instant::now()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let limit = RateLimit {
            scans_per_s: 10,
            burst: 5,
            max_devices: 10,
        };
        let t0 = Instant::now();
        let b = Bucket::new(&limit, t0);
        assert_eq!((0..8).filter(|_| b.try_take(t0)).count(), 5);
        assert!(!b.try_take(t0));
        assert!(
            b.try_take(t0 + Duration::from_millis(100)),
            "one token per 100 ms"
        );
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn devices_share_a_bucket_by_name() {
        let l = Limiter::new(RateLimit::default());
        assert!(Arc::ptr_eq(&l.bucket("a"), &l.bucket("a")));
        assert!(!Arc::ptr_eq(&l.bucket("a"), &l.bucket("b")));
    }
}
