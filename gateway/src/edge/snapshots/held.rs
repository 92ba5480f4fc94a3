//! The signed snapshots and deltas held in memory: one LRU cache bounded in
//! bytes ([`crate::config::SnapshotLimits::held_bytes`]), shared by every
//! event, exported as `scangate_offline_snapshot_bytes`.

use bytes::Bytes;
use metrics::gauge;
use moka::policy::EvictionPolicy;
use scangate_core::offline::Snapshot;
use std::sync::Arc;

/// Names one blob: `base` is `None` for a whole snapshot, `Some(v)` for a
/// delta from version `v`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BlobKey {
    pub(super) event: Arc<str>,
    pub(super) base: Option<u64>,
    pub(super) version: u64,
}

impl BlobKey {
    /// The whole snapshot `version` of `event`.
    pub(super) fn snapshot(event: &Arc<str>, version: u64) -> Self {
        BlobKey {
            event: event.clone(),
            base: None,
            version,
        }
    }
}

/// A signed blob, and for a whole snapshot its decoded form (the base of
/// the next build's tables and of deltas).
pub(super) enum Blob {
    Snapshot {
        snapshot: Arc<Snapshot>,
        bytes: Bytes,
    },
    Delta(Bytes),
}

impl Blob {
    pub(super) fn bytes(&self) -> &Bytes {
        match self {
            Blob::Snapshot { bytes, .. } | Blob::Delta(bytes) => bytes,
        }
    }

    /// Bytes it holds: a decoded snapshot takes about as much as its signed
    /// bytes (19-byte entries either way), so a snapshot counts twice.
    fn weight(&self) -> u32 {
        let weight = match self {
            Blob::Snapshot { bytes, .. } => bytes.len().saturating_mul(2),
            Blob::Delta(bytes) => bytes.len(),
        };
        u32::try_from(weight).unwrap_or(u32::MAX)
    }
}

/// The cache. LRU rather than moka's default TinyLFU: a freshly built
/// snapshot must always be admitted, since every device is about to fetch it.
pub(super) struct Held {
    cache: moka::sync::Cache<BlobKey, Arc<Blob>>,
}

impl Held {
    pub(super) fn new(max_bytes: u64) -> Self {
        Held {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, blob: &Arc<Blob>| blob.weight())
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }

    pub(super) fn get(&self, key: &BlobKey) -> Option<Arc<Blob>> {
        self.cache.get(key)
    }

    /// The decoded snapshot `version` of `event`, if still held.
    pub(super) fn snapshot(&self, event: &Arc<str>, version: u64) -> Option<Arc<Snapshot>> {
        match self.get(&BlobKey::snapshot(event, version))?.as_ref() {
            Blob::Snapshot { snapshot, .. } => Some(snapshot.clone()),
            Blob::Delta(_) => None,
        }
    }

    pub(super) fn insert(&self, key: BlobKey, blob: Blob) {
        self.cache.insert(key, Arc::new(blob));
        self.report();
    }

    /// Forgets `version` of `event` and every delta from it to the
    /// `newer` versions.
    pub(super) fn forget(&self, event: &Arc<str>, version: u64, newer: &[u64]) {
        self.cache.invalidate(&BlobKey::snapshot(event, version));
        for v in newer {
            self.cache.invalidate(&BlobKey {
                event: event.clone(),
                base: Some(version),
                version: *v,
            });
        }
        self.report();
    }

    /// Bytes held now (evictions applied first).
    pub(super) fn bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    fn report(&self) {
        gauge!("scangate_offline_snapshot_bytes").set(self.bytes() as f64);
    }
}
