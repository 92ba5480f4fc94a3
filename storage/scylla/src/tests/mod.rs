//! Tests of the ScyllaDB backend. Without a cluster (the submodules): every
//! statement's text and settings, the LWT answer handling, the
//! unknown-outcome resolution, the codecs and the configuration. With
//! `SCYLLA_NODES` set (here): the storage conformance suite, bare and
//! cached, each in a fresh keyspace that is dropped afterwards.

mod codec;
mod erased;
mod outcome;
mod personal;
mod retention;
mod statements;

use super::config::{Replication, ScyllaConfig};
use super::{ScyllaStore, session};
use scangate_storage::cache::{CacheConfig, CachedStore};
use scangate_storage::conformance::{self, new_scan_id};
use std::io::Write;
use std::sync::Arc;

/// A fresh keyspace on the cluster in `SCYLLA_NODES`, or `None` after a
/// skip message that shows even when test output is captured.
fn cluster(purpose: &str) -> Option<ScyllaConfig> {
    let Ok(nodes) = std::env::var("SCYLLA_NODES") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: ScyllaDB {purpose}: set SCYLLA_NODES=host:9042 to run it"
        );
        return None;
    };
    let replication = std::env::var("SCYLLA_REPLICATION").unwrap_or_else(|_| "1".into());
    let unique = new_scan_id()
        .as_str()
        .replace(['-', ':', '.'], "_")
        .to_lowercase();
    Some(ScyllaConfig {
        nodes: nodes.split(',').map(|n| n.trim().to_owned()).collect(),
        keyspace: format!(
            "sg_{purpose}_{}",
            &unique[unique.len().saturating_sub(30)..]
        ),
        replication: Replication::parse(&replication).expect("SCYLLA_REPLICATION"),
        ..ScyllaConfig::default()
    })
}

/// Drops a test keyspace.
async fn drop_keyspace(config: &ScyllaConfig) {
    let session = session::connect(config).await.expect("connect");
    let cql = format!("DROP KEYSPACE IF EXISTS {}", config.keyspace);
    session.query_unpaged(cql, ()).await.expect("drop keyspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_scylla() {
    let Some(config) = cluster("conformance") else {
        return;
    };
    let store = ScyllaStore::open(config.clone()).await.expect("open");
    // Opening again runs no migration and changes nothing.
    let again = ScyllaStore::open(config.clone()).await.expect("reopen");
    drop(again);
    conformance::run_all(Arc::new(store)).await;
    drop_keyspace(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cached_scylla() {
    let Some(config) = cluster("cached") else {
        return;
    };
    let inner = Arc::new(ScyllaStore::open(config.clone()).await.expect("open"));
    conformance::run_all(Arc::new(CachedStore::new(inner, CacheConfig::default()))).await;
    drop_keyspace(&config).await;
}

/// A retention scenario on a keyspace of its own (each removes every old
/// record of its store).
async fn retention_scenario<F, Fut>(purpose: &str, scenario: F)
where
    F: FnOnce(Arc<dyn scangate_storage::Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(config) = cluster(purpose) else {
        return;
    };
    let store = ScyllaStore::open(config.clone()).await.expect("open");
    scenario(Arc::new(store)).await;
    drop_keyspace(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_scylla() {
    retention_scenario(
        "retention",
        conformance::retention_removes_old_records_and_keeps_new_ones,
    )
    .await;
    retention_scenario(
        "retention_events",
        conformance::retention_honours_each_events_period,
    )
    .await;
    retention_scenario(
        "erased_retained",
        conformance::erased_outlives_its_audit_record,
    )
    .await;
}
