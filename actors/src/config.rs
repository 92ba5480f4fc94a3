//! The registry's limits and deadlines, with their defaults and why.

use scangate_core::flags::FlagPolicy;
pub use scangate_core::rules::ANNUL_WINDOW_DEFAULT_MS;
use std::sync::Arc;
use std::time::Duration;

/// Default for [`RegistryConfig::max_live_actors`].
///
/// 40,000 arrivals in ten minutes with a 30 s idle stop keep roughly 2,000
/// actors alive; 100,000 leaves 50× headroom for bursts and several events
/// on one node. An actor (its task, ractor's mailboxes and one pass record)
/// takes about 9 KB, so the worst case is near 900 MB; above half of it idle
/// actors stop after 1 s instead of [`DEFAULT_IDLE_STOP_MS`], which keeps a
/// burst of distinct passes well below that.
pub const DEFAULT_MAX_LIVE_ACTORS: usize = 100_000;

/// Default for [`RegistryConfig::max_queued_per_pass`].
///
/// One pass is one person, a group or a staff pass: a handful of scans of it
/// are legitimately in flight at once (retries, a turnstile bank). 64 absorbs
/// that with room to spare, yet one hot or abused pass cannot pile up work
/// behind a slow store: the 65th request is answered `busy` at once.
pub const DEFAULT_MAX_QUEUED_PER_PASS: usize = 64;

/// Default for [`RegistryConfig::idle_stop_ms`].
///
/// Re-scans of a pass (a retry, a second person on a group pass, exit and
/// re-entry) come within seconds; 30 s keeps the actor for those and then
/// frees it, the store's cache serving any later scan.
pub const DEFAULT_IDLE_STOP_MS: u64 = 30_000;

/// Default for [`RegistryConfig::call_timeout_ms`].
///
/// A person stands at the gate: after a few seconds the scanner retries with
/// the same scan id, so an answer later than 5 s is worth less than a clear
/// timeout.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 5_000;

/// Default for [`RegistryConfig::store_timeout_ms`].
///
/// A group commit takes milliseconds, a ScyllaDB lightweight transaction tens
/// of milliseconds; a store call still pending after 2 s means the store is in
/// trouble. It is shorter than the call deadline so the actor gives up first,
/// the caller learns it was the store, and the actor restarts from the store.
pub const DEFAULT_STORE_TIMEOUT_MS: u64 = 2_000;

/// Default for [`RegistryConfig::shared_recheck_ms`]: the same as the
/// pass cache's time-to-live on a shared store
/// ([`scangate_storage::cache::SHARED_TTL`]), so a change made through another
/// gateway is seen here within about two seconds at worst.
pub const DEFAULT_SHARED_RECHECK_MS: u64 = 1_000;

/// Limits and deadlines of the [`Registry`](crate::Registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Most pass actors alive (or starting) at once; beyond it a scan is
    /// denied `busy` and an admin change fails with `Busy`.
    /// Default [`DEFAULT_MAX_LIVE_ACTORS`].
    pub max_live_actors: usize,
    /// Most requests queued at (or being handled by) one pass's actor; ractor
    /// mailboxes are unbounded, so this counter is the bound.
    /// Default [`DEFAULT_MAX_QUEUED_PER_PASS`].
    pub max_queued_per_pass: usize,
    /// An actor with no request for this long stops and leaves the registry
    /// (within a second more; after 1 s while more than half of
    /// `max_live_actors` are alive). Default [`DEFAULT_IDLE_STOP_MS`].
    pub idle_stop_ms: u64,
    /// Deadline of every registry call, from entry to answer (store load,
    /// queueing and handling included); also the drain deadline of
    /// [`Registry::shutdown`](crate::Registry::shutdown), since by then every
    /// caller has given up. Default [`DEFAULT_CALL_TIMEOUT_MS`].
    pub call_timeout_ms: u64,
    /// Deadline of each store call made by the registry or an actor.
    /// Default [`DEFAULT_STORE_TIMEOUT_MS`].
    pub store_timeout_ms: u64,
    /// How long after a grant an operator may annul it, in milliseconds.
    /// Default [`ANNUL_WINDOW_DEFAULT_MS`] (15 minutes); it must stay below
    /// the store's scan-id retention (48 h by default), which finds the scan.
    pub annul_window_ms: i64,
    /// On a store shared with other gateways ([`Store::shared`]): a pass an
    /// actor has held longer than this is read again before the actor
    /// denies it as revoked, suspended or used up (another gateway may have
    /// reactivated it or annulled a use). Ignored for a store only this
    /// gateway writes. Default [`DEFAULT_SHARED_RECHECK_MS`].
    ///
    /// [`Store::shared`]: scangate_storage::Store::shared
    pub shared_recheck_ms: u64,
    /// Which fraud flags a scan raises and which of them deny (the
    /// gateway-wide policy; default: every flag raised, none denies).
    pub flag_policy: Arc<FlagPolicy>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            max_live_actors: DEFAULT_MAX_LIVE_ACTORS,
            max_queued_per_pass: DEFAULT_MAX_QUEUED_PER_PASS,
            idle_stop_ms: DEFAULT_IDLE_STOP_MS,
            call_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
            store_timeout_ms: DEFAULT_STORE_TIMEOUT_MS,
            annul_window_ms: ANNUL_WINDOW_DEFAULT_MS,
            shared_recheck_ms: DEFAULT_SHARED_RECHECK_MS,
            flag_policy: Arc::default(),
        }
    }
}

impl RegistryConfig {
    /// [`Self::idle_stop_ms`] as a duration.
    pub fn idle_stop(&self) -> Duration {
        Duration::from_millis(self.idle_stop_ms)
    }

    /// [`Self::call_timeout_ms`] as a duration.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// [`Self::store_timeout_ms`] as a duration.
    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }
}
