//! Retention on the embedded store (a real data directory): each event's
//! own cut-off, through the cache as the gateway uses it.

use scangate_storage::cache::{CacheConfig, CachedStore};
use scangate_storage::conformance;
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_per_event_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open"));
    let store = Arc::new(CachedStore::new(inner, CacheConfig::default()));
    conformance::retention_honours_each_events_period(store).await;
}
