//! The warm-up: after a start, a background walk over the store's passes
//! (through [`Store::query_passes`], so every backend has it) that caches
//! the active passes likely to be scanned soon, so their first scans read
//! no store.
//!
//! Which passes: [`likely_scanned`], a rule on the pass alone at a given
//! `now` (events have no schedule of their own; a pass's validity window
//! says when it is scanned). How many: at most
//! [`WarmConfig::max_passes`], never more than the cache holds; the walk
//! goes in the store's id order (random ids: a random subset when more
//! passes qualify than fit). How fast: after each page the walk rests
//! [`WARM_REST_FACTOR`] times as long as the page took (at most
//! [`WARM_REST_MAX`]), so it takes at most a fifth of one core from the
//! scans, less when the store is slow to answer. What it never does:
//! replace an entry (a scan's load or an issue put it there, newer than
//! the page), or keep a copy of a pass written through the cache since its
//! page was read ([`CachedStore::insert_unless_touched`]).
//!
//! On a store shared with other gateways the walk caches nothing: copies
//! there live [`super::SHARED_TTL`] (1 s).
//!
//! A warmed entry is invalidated like any other: by the writes through the
//! cache, by its time-to-idle, and, if stale all the same, by the
//! conditional grant (`Conflict`, then [`Store::invalidate`]).

use super::CachedStore;
use crate::{PassQuery, Store, StoreError, query::PAGE_MAX};
use scangate_core::{Pass, Status};
use std::time::{Duration, Instant};

/// How far ahead the warm-up looks: a pass whose window starts within 12
/// hours of the start is cached (an event later today opens its gates
/// before a gateway restarted this morning goes idle).
pub const WARM_AHEAD: Duration = Duration::from_secs(12 * 3600);

/// The walk rests this many times as long as each page took: at most
/// 1 / (1 + 4) of one core goes to the walk.
pub const WARM_REST_FACTOR: u32 = 4;

/// Longest rest between two pages: a page slowed by a busy store (it waits
/// for the store to catch up) does not stall the walk for longer.
pub const WARM_REST_MAX: Duration = Duration::from_secs(2);

/// Configuration of the warm-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmConfig {
    /// Most passes cached by one warm-up; 0 turns it off. Default
    /// [`super::CACHE_CAPACITY_PASSES`]; the cache's capacity bounds it too.
    pub max_passes: u64,
    /// How far ahead of the start a pass's window may begin, in
    /// milliseconds. Default [`WARM_AHEAD`] (12 h).
    pub ahead_ms: u64,
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig {
            max_passes: super::CACHE_CAPACITY_PASSES,
            ahead_ms: WARM_AHEAD.as_millis() as u64,
        }
    }
}

/// What a warm-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmed {
    /// Passes read from the store.
    pub examined: u64,
    /// Passes cached.
    pub cached: u64,
    /// How long the walk took, rests included.
    pub elapsed: Duration,
}

/// Whether `pass` is likely scanned soon after `now_ms`: active, not used
/// up, its window not ended at `now_ms` and begun by `now_ms + ahead_ms`.
pub fn likely_scanned(pass: &Pass, now_ms: i64, ahead_ms: u64) -> bool {
    let horizon = now_ms.saturating_add(i64::try_from(ahead_ms).unwrap_or(i64::MAX));
    pass.status == Status::Active
        && pass.remaining() != Some(0)
        && pass.valid_until_ms.is_none_or(|until| until > now_ms)
        && pass.valid_from_ms.is_none_or(|from| from <= horizon)
}

impl<S: Store + ?Sized> CachedStore<S> {
    /// Walks the store's active passes and caches those
    /// [`likely_scanned`] at `now_ms` (see the [module](self)). Stops at the
    /// first store error, keeping what it cached; a caller that must stop it
    /// sooner drops the future (between two pages it holds nothing).
    pub async fn warm_up(&self, now_ms: i64) -> Result<Warmed, StoreError> {
        let started = Instant::now();
        // A shared store's copies live `SHARED_TTL` (1 s): not worth a walk.
        let limit = match self.inner.shared() {
            true => 0,
            false => self.warm.max_passes.min(self.capacity_passes),
        };
        let mut done = Warmed {
            examined: 0,
            cached: 0,
            elapsed: Duration::ZERO,
        };
        let mut query = PassQuery {
            status: Some(Status::Active),
            limit: PAGE_MAX,
            ..PassQuery::default()
        };
        while done.cached < limit {
            let page_started = Instant::now();
            let read_at = self.write_clock();
            let page = self.inner.query_passes(query.clone()).await?;
            done.examined += page.items.len() as u64;
            let mut cached = 0;
            for pass in page.items {
                if done.cached + cached < limit
                    && likely_scanned(&pass, now_ms, self.warm.ahead_ms)
                    && self.insert_unless_touched(read_at, pass)
                {
                    cached += 1;
                }
            }
            done.cached += cached;
            metrics::counter!("scangate_cache_warmed_total").increment(cached);
            let Some(next) = page.next else { break };
            query.after = Some(next);
            let rest = page_started.elapsed() * WARM_REST_FACTOR;
            tokio::time::sleep(rest.min(WARM_REST_MAX)).await;
        }
        done.elapsed = started.elapsed();
        metrics::gauge!("scangate_cache_warm_up_seconds").set(done.elapsed.as_secs_f64());
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::testing::pass;

    const NOW: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;
    const AHEAD: u64 = 12 * HOUR as u64;

    #[test]
    fn a_pass_on_now_or_starting_within_the_window_is_likely_scanned() {
        let mut p = pass(scangate_core::testing::pass_id(1), Some(1));
        (p.valid_from_ms, p.valid_until_ms) = (Some(NOW - HOUR), Some(NOW + HOUR));
        assert!(likely_scanned(&p, NOW, AHEAD));
        p.valid_from_ms = Some(NOW + 12 * HOUR);
        assert!(likely_scanned(&p, NOW, AHEAD), "starts at the horizon");
        (p.valid_from_ms, p.valid_until_ms) = (None, None);
        assert!(likely_scanned(&p, NOW, AHEAD), "always valid");
    }

    #[test]
    fn an_ended_far_off_used_up_or_blocked_pass_is_not() {
        let mut p = pass(scangate_core::testing::pass_id(1), Some(1));
        p.valid_until_ms = Some(NOW);
        assert!(
            !likely_scanned(&p, NOW, AHEAD),
            "ended (until is exclusive)"
        );
        (p.valid_from_ms, p.valid_until_ms) = (Some(NOW + 12 * HOUR + 1), None);
        assert!(!likely_scanned(&p, NOW, AHEAD), "starts past the horizon");
        p.valid_from_ms = None;
        p.uses = 1;
        assert!(!likely_scanned(&p, NOW, AHEAD), "used up");
        p.uses = 0;
        p.status = Status::Suspended;
        assert!(!likely_scanned(&p, NOW, AHEAD), "suspended");
    }
}
