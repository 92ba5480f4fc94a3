//! Event definitions as the scan path reads them: every stored definition
//! held in memory ([`DefinitionCache`]), looked up once per scan without
//! waiting.
//!
//! Invalidation: a `PUT /v1/events/{event}` on this gateway replaces its
//! copy at once, after the store made the new definition durable. A
//! gateway sharing its store with others (ScyllaDB) also re-reads every
//! definition each [`DEFINITIONS_REFRESH_MS`], so another gateway serves
//! an old definition for at most that long after a change (plus one
//! store read). On the embedded store this gateway is the only writer and
//! never re-reads.

use scangate_actors::occupancy::Occupancy;
use scangate_core::event::{Definitions, EventDefinition};
use scangate_storage::{EVENTS_MAX, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a gateway on a shared store re-reads every definition: the
/// longest it serves a definition another gateway has replaced. Five
/// seconds is shorter than a guard's walk to the next gate, and one bounded
/// read (at most [`EVENTS_MAX`] rows) per five seconds costs the cluster
/// nothing.
pub const DEFINITIONS_REFRESH_MS: u64 = 5_000;

/// Every event's definition, as last read or written here (at most
/// [`EVENTS_MAX`], the store's own bound).
#[derive(Debug, Default)]
pub struct DefinitionCache {
    map: RwLock<HashMap<String, Arc<EventDefinition>>>,
}

impl DefinitionCache {
    /// Reads every stored definition.
    pub async fn load(store: &dyn Store) -> Result<Arc<DefinitionCache>, StoreError> {
        let cache = Arc::new(DefinitionCache::default());
        cache.refresh(store).await?;
        Ok(cache)
    }

    /// Replaces this gateway's copy with what the store holds.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let all = store.list_events().await?;
        let map = all
            .into_iter()
            .take(EVENTS_MAX)
            .map(|(event, def)| (event, Arc::new(def)))
            .collect();
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Takes a definition the store has just made durable.
    pub fn replace(&self, event: &str, definition: EventDefinition) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.insert(event.to_owned(), Arc::new(definition));
    }

    /// The retention period (seconds) of every event whose definition sets
    /// one (`policy.retention_s`), for the retention sweep.
    pub fn retention_periods(&self) -> Vec<(String, u64)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter_map(|(event, def)| Some((event.clone(), def.policy.retention_s?)))
            .collect()
    }

    /// On a shared store: re-reads every [`DEFINITIONS_REFRESH_MS`] until
    /// `shutdown`. A failed read keeps the old copy and is logged.
    pub fn keep_fresh(self: Arc<Self>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        if !store.shared() {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(DEFINITIONS_REFRESH_MS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(e) = self.refresh(store.as_ref()).await {
                    tracing::warn!(error = %e, "event definitions not re-read; keeping the last copy");
                }
            }
        });
    }

    /// The events with a definition (at most [`EVENTS_MAX`]).
    pub fn events(&self) -> Vec<String> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.keys().cloned().collect()
    }

    /// Every definition with its event (at most [`EVENTS_MAX`]).
    pub fn all(&self) -> Vec<(String, Arc<EventDefinition>)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(e, d)| (e.clone(), Arc::clone(d)))
            .collect()
    }

    /// Whether any definition gives a zone a capacity.
    pub fn any_capacity(&self) -> bool {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .any(|d| d.zones.iter().any(|z| z.capacity.is_some()))
    }

    /// Rebuilds zone occupancy from the passes' durable presence, for every
    /// defined event: called at start, before any scan is served. On a
    /// store shared with other gateways the counts see only this gateway's
    /// movements after it: capacities are exact only with one gateway per
    /// event, which is logged as a warning when a capacity is set.
    pub async fn rebuild_occupancy(
        &self,
        store: &dyn Store,
        occupancy: &Occupancy,
    ) -> Result<(), StoreError> {
        let events = self.events();
        let started = std::time::Instant::now();
        let inside = occupancy
            .rebuild(store, events.iter().map(String::as_str))
            .await?;
        tracing::info!(
            events = events.len(),
            inside,
            took_ms = started.elapsed().as_millis() as u64,
            "zone occupancy rebuilt from the store"
        );
        if store.shared() && self.any_capacity() {
            warn_shared_capacity();
        }
        Ok(())
    }
}

/// The warning a gateway on a shared store gives for zone capacities.
pub fn warn_shared_capacity() {
    tracing::warn!(
        "zone capacities are counted by each gateway alone: on a shared store they \
         hold exactly only when one gateway serves each event with capacities"
    );
}

impl Definitions for DefinitionCache {
    fn definition(&self, event: &str) -> Option<Arc<EventDefinition>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(event).cloned()
    }
}
