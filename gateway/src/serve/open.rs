//! Opening what the gateway keeps: the store behind its cache, the event
//! definitions with the zones' occupancy rebuilt from them, the registry of
//! pass actors, and the background work that keeps them current (the
//! definitions' refresh, the retention sweep, the cache's warm-up once the
//! gateway is ready). Never binds a socket.

use crate::config::{ServeConfig, StoreBackend};
use crate::datadir::DataDir;
use crate::definitions::DefinitionCache;
use crate::edge::incidents::Incidents;
use crate::operator::retention::{self, Period, Sweep};
use anyhow::{Context, Result};
use scangate_actors::Registry;
use scangate_storage::Store;
use scangate_storage::cache::CachedStore;
use scangate_storage_embedded::EmbeddedStore;
use scangate_storage_scylla::ScyllaStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The store behind its cache (also returned as the cache, for its
/// warm-up), the event definitions and the registry of pass actors.
pub(super) async fn open_passes(
    config: &ServeConfig,
    data: &DataDir,
) -> Result<(
    Arc<dyn Store>,
    Arc<CachedStore>,
    Arc<DefinitionCache>,
    Registry,
)> {
    let backend = open_store(config, data).await?;
    let cache = Arc::new(CachedStore::new(backend, config.cache.clone()));
    let store: Arc<dyn Store> = cache.clone();
    let definitions = DefinitionCache::load(store.as_ref())
        .await
        .context("cannot read the event definitions")?;
    let registry =
        Registry::with_definitions(store.clone(), config.registry.clone(), definitions.clone());
    registry.start_actors().await;
    definitions
        .rebuild_occupancy(store.as_ref(), registry.occupancy())
        .await
        .context("cannot rebuild zone occupancy")?;
    Ok((store, cache, definitions, registry))
}

/// Starts the cache's warm-up (`scangate_storage::cache::warm`) in the
/// background: called once the gateway is ready, so scans never wait for
/// it; it stops at `shutdown`. One log line says what it did.
pub(super) fn warm_up(cache: Arc<CachedStore>, shutdown: &CancellationToken) {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {}
            warmed = cache.warm_up(crate::now_ms()) => match warmed {
                Ok(w) => tracing::info!(
                    passes = w.cached,
                    examined = w.examined,
                    elapsed_ms = w.elapsed.as_millis() as u64,
                    "pass cache warmed"
                ),
                Err(e) => tracing::warn!(error = %e, "pass cache warm-up stopped"),
            },
        }
    });
}

/// Starts the background work that keeps the opened state current until
/// `shutdown`: the definitions re-read from a shared store, and the
/// retention sweep (per event, the gateway's period as the default).
pub(super) fn keep_up(
    config: &ServeConfig,
    store: &Arc<dyn Store>,
    definitions: &Arc<DefinitionCache>,
    incidents: &Arc<Incidents>,
    shutdown: &CancellationToken,
) {
    definitions
        .clone()
        .keep_fresh(store.clone(), shutdown.clone());
    tokio::spawn(retention::run(
        Sweep {
            store: store.clone(),
            default: Period::of_seconds(config.retention_s),
            definitions: definitions.clone(),
            incidents: incidents.clone(),
        },
        shutdown.clone(),
    ));
}

/// Opens the configured store (the cache goes in front of it).
async fn open_store(config: &ServeConfig, data: &DataDir) -> Result<Arc<dyn Store>> {
    match &config.backend {
        StoreBackend::Embedded => {
            // Private before the store writes its first byte into it.
            crate::datadir::create_private_dir(&data.store())?;
            // The store's error names the directory itself.
            let store = EmbeddedStore::open(&data.store(), config.store.clone())?;
            Ok(Arc::new(store))
        }
        StoreBackend::Scylla(scylla) => {
            // The store must be able to resolve an unknown LWT outcome before
            // the actor's deadline on the store call runs out.
            anyhow::ensure!(
                scylla.commit_deadline() < config.registry.store_timeout(),
                "the ScyllaDB commit deadline ({:?}) must be shorter than the store deadline of the pass actors ({:?})",
                scylla.commit_deadline(),
                config.registry.store_timeout()
            );
            let store = ScyllaStore::open(scylla.as_ref().clone())
                .await
                .with_context(|| {
                    format!(
                        "cannot open the ScyllaDB store (keyspace {} on {})",
                        scylla.keyspace,
                        scylla.nodes.join(",")
                    )
                })?;
            Ok(Arc::new(store))
        }
    }
}
