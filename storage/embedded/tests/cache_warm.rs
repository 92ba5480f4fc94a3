//! The pass cache in front of the embedded store (a real data directory):
//! issued passes cached, the warm-up after a restart, its races with
//! writes, and a stale copy corrected by the conditional grant.

use scangate_storage::conformance;
use scangate_storage::{Store, conformance::warm_up_fixture};
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};
use std::path::Path;
use std::sync::Arc;

fn open(dir: &Path) -> Arc<dyn Store> {
    Arc::new(EmbeddedStore::open(dir, EmbeddedConfig::default()).expect("open"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_serves_issued_and_warmed_passes_and_stays_correct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    conformance::issued_passes_are_served_from_the_cache(store.clone()).await;
    conformance::a_warm_up_never_overwrites_a_newer_entry(store.clone()).await;
    conformance::a_stale_warmed_entry_is_corrected_by_the_conditional_grant(store.clone()).await;
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_warm_up_caches_the_passes_on_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let fixture = warm_up_fixture(store.as_ref()).await;
    store.close().await.expect("close");
    drop(store);
    let store = open(dir.path());
    conformance::warm_up_caches_what_is_on_now(store.clone(), fixture).await;
    store.close().await.expect("close");
}
