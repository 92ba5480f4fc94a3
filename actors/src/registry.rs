//! The registry: routes each request to its pass's actor, starting the actor
//! from the store on first use, and refuses early (`busy`) when a bound is hit.

use crate::clock::{Clock, SystemClock};
use crate::config::RegistryConfig;
use crate::directory::{Directory, Handle};
use crate::error::{AdminError, ScanError};
use crate::message::PassMsg;
use crate::queue::Ticket;
use crate::settings::Settings;
use crate::slots::Actors;
use crate::store_call::deadline;
use ractor::RpcReplyPort;
use scangate_core::event::{Definitions, NoDefinitions};
use scangate_core::protocol::{
    AdminChange, AdmitOrder, AnnulRequest, MachineConfig, OfflineFact, Reconciled, Scan,
    ScanOutcome,
};
use scangate_core::{Pass, PassId, Reason, ScanRecord};
use scangate_storage::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Attempts to reach a pass's actor per request: the first, and one more if
/// that actor stopped (idle or failed) before taking the request. A second
/// stop in a row is answered `busy` rather than chasing actors until the
/// deadline.
const ROUTE_ATTEMPTS: usize = 2;

mod routing;

/// Routes scans and admin changes to one actor per pass. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryConfig,
    /// The pass actors, with the settings they share.
    actors: Actors,
    directory: Arc<Directory>,
    /// Starts the idle sweep with the first actor (a registry made outside
    /// a runtime starts it once it is used in one).
    sweep: std::sync::Once,
}

/// Where a request goes.
enum Route {
    Live(Handle),
    Unknown,
}

/// Why a request cannot be routed.
enum RouteError {
    Busy(&'static str),
    ShuttingDown,
    Store(StoreError),
}

/// What became of one request sent to one actor.
enum Asked<R> {
    Answer(R),
    /// The queue is full.
    Full,
    /// The actor stopped, or is stopping, before answering.
    Gone,
}

impl Registry {
    /// A registry over `store`, with no actor yet, deciding with the
    /// system's clock.
    pub fn new(store: Arc<dyn Store>, config: RegistryConfig) -> Self {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    /// A registry whose decisions take their time from `clock`.
    pub fn with_clock(
        store: Arc<dyn Store>,
        config: RegistryConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::build(store, config, clock, Arc::new(NoDefinitions))
    }

    /// A registry that decides scans of defined events with their
    /// definitions (`definitions` is asked once per scan and never waits).
    pub fn with_definitions(
        store: Arc<dyn Store>,
        config: RegistryConfig,
        definitions: Arc<dyn Definitions>,
    ) -> Self {
        Self::build(store, config, Arc::new(SystemClock), definitions)
    }

    fn build(
        store: Arc<dyn Store>,
        config: RegistryConfig,
        clock: Arc<dyn Clock>,
        definitions: Arc<dyn Definitions>,
    ) -> Self {
        let directory = Directory::new(config.max_live_actors);
        let recheck_after_ms = store
            .shared()
            .then(|| i64::try_from(config.shared_recheck_ms).unwrap_or(i64::MAX));
        let settings = Settings {
            store,
            directory: Arc::clone(&directory),
            clock,
            store_timeout: config.store_timeout(),
            machine: MachineConfig {
                recheck_after_ms,
                annul_window_ms: config.annul_window_ms,
            },
            flag_policy: Arc::clone(&config.flag_policy),
            flag_horizon_ms: config.flag_policy.horizon_ms(),
            definitions,
            occupancy: Arc::default(),
        };
        Registry {
            inner: Arc::new(Inner {
                config,
                actors: Actors::new(settings),
                directory,
                sweep: std::sync::Once::new(),
            }),
        }
    }

    /// Decides a scan of `pass_id` in order with every other request for that
    /// pass. Denials, `unknown` and `busy` included, are `Ok`.
    pub async fn scan(&self, pass_id: PassId, scan: Scan) -> Result<ScanOutcome, ScanError> {
        self.scan_within(pass_id, scan, None).await
    }

    /// [`Self::scan`] for a caller that waits at most `wait` (a scanner's own
    /// deadline), when that is shorter than the call deadline. Once the
    /// caller has given up, a scan still queued behind its pass's actor is
    /// not decided (answered [`ScanError::Timeout`]).
    pub async fn scan_within(
        &self,
        pass_id: PassId,
        scan: Scan,
        wait: Option<Duration>,
    ) -> Result<ScanOutcome, ScanError> {
        let call = self.inner.config.call_timeout();
        let timeout = wait.map_or(call, |wait| wait.min(call));
        tokio::time::timeout(timeout, self.scan_routed(pass_id, scan))
            .await
            .unwrap_or(Err(ScanError::Timeout(timeout)))
    }

    async fn scan_routed(&self, id: PassId, scan: Scan) -> Result<ScanOutcome, ScanError> {
        for _ in 0..ROUTE_ATTEMPTS {
            let handle = match self.route(id).await {
                Ok(Route::Live(handle)) => handle,
                Ok(Route::Unknown) => return Ok(ScanOutcome::refused(Reason::Unknown)),
                Err(RouteError::Busy(cause)) => return Ok(busy_scan(cause)),
                Err(RouteError::ShuttingDown) => return Err(ScanError::ShuttingDown),
                Err(RouteError::Store(e)) => return Err(ScanError::Store(e)),
            };
            let scan = scan.clone();
            let asked = self
                .ask(id, &handle, |reply, ticket| PassMsg::Scan {
                    scan,
                    reply,
                    ticket,
                })
                .await;
            match asked {
                Asked::Answer(answer) => return answer,
                Asked::Full => return Ok(busy_scan("queue")),
                Asked::Gone => continue,
            }
        }
        Ok(busy_scan("restart"))
    }

    /// Reconciles an offline fact of `pass_id` (a scan an offline device
    /// decided, uploaded now) through the pass's actor, in order with its
    /// scans and admin changes: recorded with its conflicts, durably, before
    /// this returns; a scan id recorded before answers `Duplicate`, counting
    /// nothing. Refusals: [`ScanError::Busy`] (the same bounds as a scan),
    /// [`ScanError::UnknownPass`] (the caller records `unknown_pass`).
    pub async fn reconcile(
        &self,
        pass_id: PassId,
        fact: OfflineFact,
    ) -> Result<Reconciled, ScanError> {
        let timeout = self.inner.config.call_timeout();
        tokio::time::timeout(timeout, self.reconcile_routed(pass_id, fact))
            .await
            .unwrap_or(Err(ScanError::Timeout(timeout)))
    }

    async fn reconcile_routed(
        &self,
        id: PassId,
        fact: OfflineFact,
    ) -> Result<Reconciled, ScanError> {
        let busy = |cause| {
            metrics::counter!("scangate_busy_total", "cause" => cause).increment(1);
            Err(ScanError::Busy)
        };
        for _ in 0..ROUTE_ATTEMPTS {
            let handle = match self.route(id).await {
                Ok(Route::Live(handle)) => handle,
                Ok(Route::Unknown) => return Err(ScanError::UnknownPass),
                Err(RouteError::Busy(cause)) => return busy(cause),
                Err(RouteError::ShuttingDown) => return Err(ScanError::ShuttingDown),
                Err(RouteError::Store(e)) => return Err(ScanError::Store(e)),
            };
            let fact = fact.clone();
            let asked = self
                .ask(id, &handle, |reply, ticket| PassMsg::Offline {
                    fact,
                    reply,
                    ticket,
                })
                .await;
            match asked {
                Asked::Answer(answer) => return answer,
                Asked::Full => return busy("queue"),
                Asked::Gone => continue,
            }
        }
        busy("restart")
    }

    /// The store, and the deadline of one call to it.
    pub(crate) fn store(&self) -> (&Arc<dyn Store>, Duration) {
        let settings = self.inner.actors.settings();
        (&settings.store, settings.store_timeout)
    }

    /// Applies an admin change to `pass_id`, in order with its scans, and
    /// returns the pass as it is now.
    pub async fn admin(&self, pass_id: PassId, change: AdminChange) -> Result<Pass, AdminError> {
        let timeout = self.inner.config.call_timeout();
        tokio::time::timeout(timeout, self.admin_routed(pass_id, change))
            .await
            .unwrap_or(Err(AdminError::Timeout(timeout)))
    }

    async fn admin_routed(&self, id: PassId, change: AdminChange) -> Result<Pass, AdminError> {
        self.admin_ask(id, |reply, ticket| PassMsg::Admin {
            change: change.clone(),
            reply,
            ticket,
        })
        .await
    }

    /// A guard's override of `pass_id` (see [`AdmitOrder`]), in order with
    /// its scans: the decision (a grant, or the denial of a revoked or
    /// suspended pass) as a scan's answer.
    pub async fn admit(
        &self,
        pass_id: PassId,
        order: AdmitOrder,
    ) -> Result<ScanOutcome, AdminError> {
        let timeout = self.inner.config.call_timeout();
        let routed = self.admin_ask(pass_id, |reply, ticket| PassMsg::Admit {
            order: order.clone(),
            reply,
            ticket,
        });
        tokio::time::timeout(timeout, routed)
            .await
            .unwrap_or(Err(AdminError::Timeout(timeout)))
    }

    /// Annuls a granted scan of `pass_id` (giving its use back), in order
    /// with the pass's scans, and returns the annulled scan record.
    pub async fn annul(
        &self,
        pass_id: PassId,
        request: AnnulRequest,
    ) -> Result<ScanRecord, AdminError> {
        let timeout = self.inner.config.call_timeout();
        tokio::time::timeout(timeout, self.annul_routed(pass_id, request))
            .await
            .unwrap_or(Err(AdminError::Timeout(timeout)))
    }

    async fn annul_routed(
        &self,
        id: PassId,
        request: AnnulRequest,
    ) -> Result<ScanRecord, AdminError> {
        self.admin_ask(id, |reply, ticket| PassMsg::Annul {
            request: request.clone(),
            reply,
            ticket,
        })
        .await
    }

    /// Routes an operator's request to the pass's actor (starting it if
    /// needed, once more if it stopped underneath), in order with its scans.
    async fn admin_ask<T, B>(&self, id: PassId, build: B) -> Result<T, AdminError>
    where
        T: Send + 'static,
        B: Fn(RpcReplyPort<Result<T, AdminError>>, Ticket) -> PassMsg,
    {
        for _ in 0..ROUTE_ATTEMPTS {
            let handle = match self.route(id).await {
                Ok(Route::Live(handle)) => handle,
                Ok(Route::Unknown) => return Err(AdminError::NotFound),
                Err(RouteError::Busy(cause)) => return Err(busy_admin(cause)),
                Err(RouteError::ShuttingDown) => return Err(AdminError::ShuttingDown),
                Err(RouteError::Store(e)) => return Err(AdminError::Store(e)),
            };
            match self.ask(id, &handle, &build).await {
                Asked::Answer(answer) => return answer,
                Asked::Full => return Err(busy_admin("queue")),
                Asked::Gone => continue,
            }
        }
        Err(busy_admin("restart"))
    }

    /// The pass as it is now: from its actor when one is live (so it is
    /// ordered after queued scans), else from the store. Starts no actor.
    pub async fn pass(&self, pass_id: PassId) -> Result<Option<Pass>, ScanError> {
        let timeout = self.inner.config.call_timeout();
        tokio::time::timeout(timeout, self.pass_routed(pass_id))
            .await
            .unwrap_or(Err(ScanError::Timeout(timeout)))
    }

    async fn pass_routed(&self, id: PassId) -> Result<Option<Pass>, ScanError> {
        let live = self
            .inner
            .directory
            .live(id)
            .map_err(|_| ScanError::ShuttingDown)?;
        if let Some(handle) = live {
            let asked = self
                .ask(id, &handle, |reply, ticket| PassMsg::Get { reply, ticket })
                .await;
            if let Asked::Answer(pass) = asked {
                return Ok(Some(pass));
            }
            // Full or stopping: the store holds everything the actor
            // acknowledged, so it answers just as well.
        }
        let settings = self.inner.actors.settings();
        deadline(settings.store_timeout, settings.store.load_pass(id))
            .await
            .map_err(ScanError::Store)
    }

    /// Why the store can make nothing more durable until a restart, if so.
    /// Every scan needs a write (denials are recorded too), so a caller may
    /// answer at once instead of routing to an actor whose commit must fail.
    pub fn store_failure(&self) -> Option<String> {
        self.inner.actors.settings().store.failure()
    }

    /// Zone occupancy's owner (read it for reports; rebuild it at start
    /// before serving scans).
    pub fn occupancy(&self) -> &Arc<crate::occupancy::Occupancy> {
        &self.inner.actors.settings().occupancy
    }

    /// Starts all the pass actors now (~40 MB of RSS), so that no scan waits for
    /// its actor to start; an actor that cannot start is started at the
    /// first pass of its slot instead, and logged here.
    pub async fn start_actors(&self) {
        if let Err(e) = self.inner.actors.start_all().await {
            tracing::error!(error = %e, "could not start every pass actor; the rest start when needed");
        }
    }

    /// Passes held by their actors now (a pass from its first request
    /// until it is spent, fails or idles).
    pub fn live_actors(&self) -> usize {
        self.inner.directory.live_count()
    }

    /// Stops taking requests (later calls get `ShuttingDown`), lets every
    /// actor finish the requests already queued, and stops it. Actors still
    /// busy after `call_timeout_ms` (every caller has given up by then) are
    /// killed; an unfinished commit is resolved by the scanner's retry.
    pub async fn shutdown(&self) {
        self.inner.directory.close();
        let actors = self.inner.actors.close();
        tracing::info!(
            actors = actors.len(),
            passes = self.live_actors(),
            "draining pass actors"
        );
        for actor in &actors {
            // Already stopping is fine.
            let _ = actor.drain();
        }
        let until = Instant::now() + self.inner.config.call_timeout();
        for actor in &actors {
            let left = until.saturating_duration_since(Instant::now());
            if actor.wait(Some(left)).await.is_err() {
                tracing::warn!("pass actor did not drain in time, killing it");
                actor.kill();
            }
        }
        self.inner.directory.wait_empty(until).await;
    }

    #[cfg(test)]
    pub(crate) fn directory(&self) -> &Arc<Directory> {
        &self.inner.directory
    }
}

fn busy_scan(cause: &'static str) -> ScanOutcome {
    metrics::counter!("scangate_busy_total", "cause" => cause).increment(1);
    ScanOutcome::refused(Reason::Busy)
}

fn busy_admin(cause: &'static str) -> AdminError {
    metrics::counter!("scangate_busy_total", "cause" => cause).increment(1);
    AdminError::Busy
}
