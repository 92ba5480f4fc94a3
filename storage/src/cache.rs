//! [`CachedStore`]: a bounded moka cache of passes in front of any store,
//! plus a short-lived negative cache of unknown pass ids, so a flood of
//! genuine-looking but unknown ids does not reach the disk.
//!
//! The cache follows the writes that go through it: a grant sets the cached
//! use count once the inner commit is durable; a revoke or suspend blocks the
//! cached pass at once (before its commit, the safe direction) and a
//! reactivate only after; any failed or unknown commit drops the entry.
//! A load that races a write of the same pass may cache what it read before
//! the write; callers serialize each pass's scans (its actor), and the store's
//! conditional grant catches anything stale, answered `Conflict`, after which
//! the caller calls [`Store::invalidate`].
//!
//! Two writers of the cache follow no scan: passes issued through it
//! ([`Store::insert_passes`]) and the warm-up ([`warm`]). Both insert only
//! where no entry is (an entry there was read from the store after the
//! pass was stored, so it is as new or newer), and neither keeps an entry
//! whose pass a write through this cache touched since the copy was read
//! (the write stamps below). Uses only grow outside an annul, so a copy
//! they keep can only be behind in its count, which the conditional grant
//! refuses (`Conflict`, then [`Store::invalidate`], then a reread).

use crate::{
    Annul, AuditQuery, ConflictQuery, HolderLink, Page, PassQuery, ScanQuery, Store, StoreError,
};
use async_trait::async_trait;
use moka::ops::compute::Op;
use moka::sync::Cache;
use scangate_core::event::EventDefinition;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

pub mod warm;

/// Passes kept: the passes of a 100,000-seat stadium. A cached pass costs
/// ~650 B of RSS (`bench/memory`, 2026-12-07), so ~65 MB when full, which
/// issuing passes or the warm-up reaches before any scan: at 200,000 the
/// full cache took a 1M-pass event past its 1 GiB target. Passes beyond it
/// are read from the store at their first scan.
pub const CACHE_CAPACITY_PASSES: u64 = 100_000;

/// A pass not read for this long leaves the cache: an event day's hot passes
/// stay, yesterday's leave. Only staleness from writes made elsewhere (another
/// gateway node on a shared ScyllaDB) depends on it.
pub const CACHE_IDLE: Duration = Duration::from_secs(30 * 60);

/// How long a pass stays cached when the store is shared with other
/// gateways ([`Store::shared`]): a revocation, reactivation or annul made
/// through another gateway is seen here within this time (a revocation
/// stops grants at once anyway: the conditional write refuses them).
pub const SHARED_TTL: Duration = Duration::from_secs(1);

/// Unknown ids remembered: bounds the memory a flood of unknown ids can take.
pub const NEGATIVE_CAPACITY_IDS: u64 = 100_000;

/// How long an unknown id is remembered: long enough to absorb a burst of
/// retries, short enough that a pass issued on another node is seen at once
/// for practical purposes (passes issued here clear their entries).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(2);

/// Configuration of [`CachedStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most passes cached. Default [`CACHE_CAPACITY_PASSES`] (200 000).
    pub capacity_passes: u64,
    /// Time-to-idle of a cached pass, in milliseconds. Default [`CACHE_IDLE`] (30 min).
    pub idle_ms: u64,
    /// Most unknown ids remembered. Default [`NEGATIVE_CAPACITY_IDS`] (100 000).
    pub negative_capacity_ids: u64,
    /// Time-to-live of an unknown id, in milliseconds. Default [`NEGATIVE_TTL`] (2 s).
    pub negative_ttl_ms: u64,
    /// What the warm-up at start caches ([`warm`]).
    pub warm: warm::WarmConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity_passes: CACHE_CAPACITY_PASSES,
            idle_ms: CACHE_IDLE.as_millis() as u64,
            negative_capacity_ids: NEGATIVE_CAPACITY_IDS,
            negative_ttl_ms: NEGATIVE_TTL.as_millis() as u64,
            warm: warm::WarmConfig::default(),
        }
    }
}

/// Slots of the write stamps: 4 096 × 8 B = 32 KB. Passes share a slot by
/// their id's low bits (ids are random), so a write to one pass also keeps
/// the warm-up from caching its slot's neighbours read before it: with
/// tens of such writes during a walk, a few copies in a million are
/// skipped (read again at their first scan), none is kept stale.
const WRITE_STAMP_SLOTS: usize = 1 << WRITE_STAMP_BITS;
const WRITE_STAMP_BITS: u32 = 12;

/// A [`Store`] that answers pass loads from memory when it can. `S` is the
/// inner store; `CachedStore` alone wraps an `Arc<dyn Store>`.
pub struct CachedStore<S: Store + ?Sized = dyn Store> {
    inner: Arc<S>,
    passes: Cache<PassId, Arc<Cached>>,
    unknown: Cache<PassId, ()>,
    /// Bumped by every write that changes or drops a cached pass other than
    /// a grant's count; never goes back.
    clock: AtomicU64,
    /// Per slot of pass ids, the `clock` of the last such write to a pass
    /// of the slot, stamped after the inner write and before the cache is
    /// changed (see [`CachedStore::insert_unless_touched`]).
    stamps: Box<[AtomicU64]>,
    warm: warm::WarmConfig,
    capacity_passes: u64,
}

/// A cached pass. The use count, which every grant changes, is an atomic
/// beside the rest: a grant updates it through a cheap cache read instead of
/// a cache write (moka's write path costs several times its read path).
struct Cached {
    pass: Pass,
    uses: AtomicU32,
}

impl Cached {
    fn new(pass: Pass) -> Arc<Cached> {
        let uses = AtomicU32::new(pass.uses);
        Arc::new(Cached { pass, uses })
    }

    fn pass(&self) -> Pass {
        Pass {
            uses: self.uses.load(Ordering::Acquire),
            ..self.pass.clone()
        }
    }
}

impl<S: Store + ?Sized> CachedStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>, config: CacheConfig) -> CachedStore<S> {
        tracing::info!(?config, shared = inner.shared(), "pass cache configured");
        let mut passes = Cache::builder()
            .name("scangate-passes")
            .max_capacity(config.capacity_passes)
            .time_to_idle(Duration::from_millis(config.idle_ms));
        if inner.shared() {
            passes = passes.time_to_live(SHARED_TTL);
        }
        CachedStore {
            inner,
            passes: passes.build(),
            unknown: Cache::builder()
                .name("scangate-unknown-passes")
                .max_capacity(config.negative_capacity_ids)
                .time_to_live(Duration::from_millis(config.negative_ttl_ms))
                .build(),
            clock: AtomicU64::new(0),
            stamps: (0..WRITE_STAMP_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            warm: config.warm,
            capacity_passes: config.capacity_passes,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The stamp slot of `id`: both halves folded and mixed (Fibonacci
    /// hashing), so ids that differ in any bytes spread over the slots.
    fn stamp(&self, id: PassId) -> &AtomicU64 {
        let bits = u128::from_le_bytes(id.0);
        let folded = (bits as u64) ^ ((bits >> 64) as u64);
        let slot = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - WRITE_STAMP_BITS);
        &self.stamps[slot as usize]
    }

    /// Marks `id` written: a copy read before now is not cached by
    /// [`CachedStore::insert_unless_touched`].
    fn touch(&self, id: PassId) {
        let now = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.stamp(id).fetch_max(now, Ordering::SeqCst);
    }

    /// The write clock now: taken before reading passes that are cached
    /// with [`CachedStore::insert_unless_touched`].
    pub fn write_clock(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Caches `pass`, read from the store after [`CachedStore::write_clock`]
    /// answered `read_at`, unless the pass is cached already (that entry is
    /// as new or newer) or a write through this cache touched it (or a pass
    /// of its stamp slot) since. Whether it was cached.
    ///
    /// A write stamps after its inner write and before it changes the
    /// cache; this inserts and then checks the stamp. So either the write's
    /// cache change comes after this insert and applies to it, or this
    /// check sees the stamp and drops the copy again.
    pub fn insert_unless_touched(&self, read_at: u64, pass: Pass) -> bool {
        let id = pass.id;
        if self.stamp(id).load(Ordering::SeqCst) > read_at {
            return false;
        }
        let entry = self.passes.entry(id).or_insert_with(|| Cached::new(pass));
        if !entry.is_fresh() {
            return false;
        }
        if self.stamp(id).load(Ordering::SeqCst) > read_at {
            // Dropping a newer entry put meanwhile costs one reread.
            self.passes.invalidate(&id);
            return false;
        }
        true
    }

    /// Applies `change` to the cached pass, if it is cached.
    fn update(&self, id: PassId, change: impl FnOnce(&mut Pass)) {
        self.touch(id);
        self.passes.entry(id).and_compute_with(|entry| match entry {
            Some(entry) => {
                let mut pass = entry.value().pass();
                change(&mut pass);
                Op::Put(Cached::new(pass))
            }
            None => Op::Nop,
        });
    }

    fn forget(&self, id: PassId) {
        self.touch(id);
        self.passes.invalidate(&id);
        self.unknown.invalidate(&id);
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for CachedStore<S> {
    async fn load_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError> {
        if self.unknown.contains_key(&id) {
            metrics::counter!("scangate_cache_negative_hits_total").increment(1);
            return Ok(None);
        }
        if let Some(cached) = self.passes.get(&id) {
            metrics::counter!("scangate_cache_hits_total").increment(1);
            return Ok(Some(cached.pass()));
        }
        metrics::counter!("scangate_cache_misses_total").increment(1);
        let loaded = self.inner.load_pass(id).await?;
        match &loaded {
            Some(pass) => self.passes.insert(id, Cached::new(pass.clone())),
            None => self.unknown.insert(id, ()),
        }
        Ok(loaded)
    }

    async fn insert_passes(&self, passes: Vec<Pass>) -> Result<(), StoreError> {
        // Issued passes are cached: their first scan, usually soon, reads
        // no store. Insert-if-absent, not overwrite: an entry there was
        // loaded after the insert was durable, and a grant may have counted
        // on it since (see the module's rules).
        let read_at = self.write_clock();
        let issued = passes.clone();
        self.inner.insert_passes(passes).await?;
        for pass in issued {
            self.unknown.invalidate(&pass.id);
            self.insert_unless_touched(read_at, pass);
        }
        Ok(())
    }

    async fn commit_scan(&self, record: ScanRecord) -> Result<(), StoreError> {
        let (id, granted, uses_after) = (
            record.pass_id,
            record.decision.is_granted(),
            record.uses_after,
        );
        let moved = record.movement.is_some();
        match self.inner.commit_scan(record).await {
            Ok(()) => {
                if granted && moved {
                    // Presence is not held atomically here: the next load
                    // reads the store.
                    self.forget(id);
                } else if granted && let Some(cached) = self.passes.get(&id) {
                    // Uses only grow; a late update never lowers them.
                    cached.uses.fetch_max(uses_after, Ordering::AcqRel);
                }
                Ok(())
            }
            Err(e @ StoreError::DuplicateScanId { .. }) => Err(e),
            Err(e) => {
                // A conflict proves the cached copy stale; any other failure
                // leaves the outcome unknown. Either way, read it again.
                self.forget(id);
                Err(e)
            }
        }
    }

    async fn commit_admin(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let id = audit.pass_id;
        let (status, reason) = (audit.status_after, audit.reason.clone());
        let (since, reissued) = (audit.at_ms, audit.token_generation);
        let erase = audit.action == scangate_core::AdminAction::Erase;
        let set = |p: &mut Pass| {
            match reissued {
                Some(generation) => p.token_generation = generation,
                None => {
                    p.status = status;
                    p.status_since_ms = Some(since);
                    p.status_reason = Some(reason.clone());
                }
            }
            if erase {
                p.display = None;
                p.card = None;
            }
        };
        if status != Status::Active || reissued.is_some() {
            // Blocking takes effect for every load from now on, before the
            // commit: if it fails the entry is dropped and reread.
            self.update(id, set);
        }
        match self.inner.commit_admin(audit).await {
            Ok(()) => {
                self.update(id, set);
                Ok(())
            }
            Err(e) => {
                self.forget(id);
                Err(e)
            }
        }
    }

    async fn purge_records(
        &self,
        step: crate::retention::RetentionStep,
    ) -> Result<crate::retention::Retained, StoreError> {
        // Scan and audit records are not cached; passes are never removed.
        self.inner.purge_records(step).await
    }

    async fn record_conflicts(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError> {
        self.inner.record_conflicts(conflicts).await
    }

    async fn query_conflicts(&self, query: ConflictQuery) -> Result<Page<Conflict>, StoreError> {
        self.inner.query_conflicts(query).await
    }

    async fn find_scan(&self, scan_id: &ScanId) -> Result<Option<ScanRecord>, StoreError> {
        self.inner.find_scan(scan_id).await
    }

    async fn list_scans(&self, pass: PassId, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
        self.inner.list_scans(pass, limit).await
    }

    async fn list_audit(&self, pass: PassId, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.list_audit(pass, limit).await
    }

    async fn query_passes(&self, query: PassQuery) -> Result<Page<Pass>, StoreError> {
        self.inner.query_passes(query).await
    }

    async fn query_scans(&self, query: ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
        self.inner.query_scans(query).await
    }

    async fn query_audit(&self, query: AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        self.inner.query_audit(query).await
    }

    async fn commit_annul(&self, annul: Annul) -> Result<ScanRecord, StoreError> {
        // The use count goes down, which the cached atomic never does: drop
        // the entry whatever the outcome, the next load reads the store.
        let id = annul.audit.pass_id;
        let outcome = self.inner.commit_annul(annul).await;
        self.forget(id);
        outcome
    }

    async fn purge_scan_ids(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.inner.purge_scan_ids(before_ms).await
    }

    // Holder links are not cached: each holder page view reads the store.
    async fn put_holder_link(&self, link: HolderLink) -> Result<(), StoreError> {
        self.inner.put_holder_link(link).await
    }

    async fn holder_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        self.inner.holder_link(pass).await
    }

    async fn remove_holder_link(&self, pass: PassId) -> Result<bool, StoreError> {
        self.inner.remove_holder_link(pass).await
    }

    async fn put_event(&self, event: &str, definition: &EventDefinition) -> Result<(), StoreError> {
        self.inner.put_event(event, definition).await
    }

    async fn load_event(&self, event: &str) -> Result<Option<EventDefinition>, StoreError> {
        self.inner.load_event(event).await
    }

    async fn list_events(&self) -> Result<Vec<(String, EventDefinition)>, StoreError> {
        self.inner.list_events().await
    }

    fn invalidate(&self, id: PassId) {
        self.forget(id);
        self.inner.invalidate(id);
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}
