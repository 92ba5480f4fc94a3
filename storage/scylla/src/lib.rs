//! The ScyllaDB backend: [`ScyllaStore`], for several gateways on one
//! cluster. Conditional writes (lightweight transactions, LWTs) keep use
//! counts exact across gateways; the per-pass actors and the moka cache stay
//! in front of it on each gateway.
//!
//! One job: the [`scangate_storage::Store`] trait on a ScyllaDB cluster
//! shared by several gateways. It must never retry a lightweight transaction
//! blindly (an unknown outcome is resolved by a serial read), never answer a
//! timeout as a denial, never send a request without a deadline, and never
//! reach past the trait crate (no other backend, no actor, no gateway code).
//!
//! # How a scan is made durable
//!
//! A pass's partition of `passes` holds its state as static columns
//! (`uses`, `status`, `use_limit`) and, as rows, its scan ids (section 0,
//! with the retry-window TTL), its scan log (section 1) and its audit log
//! (section 2); see the private `schema` module for every table.
//! `commit_scan` is two LWTs:
//!
//! 1. **Claim** the scan id: `INSERT INTO scan_ids ... IF NOT EXISTS USING
//!    TTL` binds it to the pass. A claim that names another pass makes the
//!    scan a duplicate; one that names this pass (a retry, or the same scan
//!    decided again after a `Conflict`) lets it go on.
//! 2. **Apply** one conditional batch in the pass's partition: the state
//!    change (`UPDATE ... SET uses = n IF uses = n-1 AND status = 'active'
//!    AND use_limit >= n`, grants only), the scan-id row `IF NOT EXISTS`,
//!    and the log row. All or nothing, linearized by Paxos with every other
//!    write of that pass.
//!
//! Then the event's bucketed log line and the purge index entry are written
//! (plain, idempotent; rewritten whenever a retry finds the scan).
//!
//! # Why no acknowledged grant is lost and no retry counts twice
//!
//! - A grant is answered only after its batch applied (`[applied] = true`:
//!   accepted by a Paxos quorum and learned at the write consistency, with
//!   the commit log synced), or after a serial read found its record.
//! - Every write that changes a pass's count or status is a LWT on that
//!   pass's partition, so they are totally ordered; a grant applies only on
//!   the count it was decided from, within the limit, on an active pass.
//!   Two gateways that decide from the same count cannot both apply, and a
//!   revocation through any gateway stops grants through every gateway.
//! - A scan id counts at most once: on one pass because every batch that
//!   writes its row is conditional on the row's absence; across passes
//!   because the claim is written before any batch and never moves to another
//!   pass while it lives (only expiry or a purge removes it).
//! - A LWT is never retried blindly (non-idempotent, no driver retries, no
//!   speculative execution). When its outcome is unknown (a timeout) the
//!   scan-id row is read with SERIAL consistency, which also completes any
//!   Paxos round in progress: our record → committed; another record → a
//!   concurrent retry won, duplicate; nothing → still unknown, answered as a
//!   timeout, never as a denial. A Paxos proposal left behind can apply
//!   later only before any other write to the partition commits, and then
//!   exactly as decided; the scanner's retry (same scan id) then finds it,
//!   or writes it once.
//!
//! Scan ids are forgotten by TTL (48 h); the scan log is kept.

mod codec;
mod config;
mod conflicts;
mod erased;
mod events;
mod holder;
mod insert;
mod outcome;
mod passes;
mod personal;
mod prepared;
mod profiles;
mod read;
mod retain;
mod schema;
mod serial;
mod session;
mod statements;
mod write;

#[cfg(test)]
mod tests;

pub use config::{
    CONNECT_TIMEOUT, INSERT_CONCURRENCY, INSERT_MAX_PASSES, LOAD_CONCURRENCY, LWT_TIMEOUT,
    MAX_IN_FLIGHT_WRITES, OPEN_TIMEOUT, PURGE_MAX_PER_CALL, Password, QUERY_PAGE_ROWS,
    QUERY_TIMEOUT, READ_TIMEOUT, REPLICATION_FACTOR_MAX, Replication, SCAN_ID_RETENTION,
    SERIAL_READ_TIMEOUT, ScyllaConfig, SerialChoice, WRITE_TIMEOUT, WriteConsistency,
};
pub use schema::SCHEMA_VERSION;

use async_trait::async_trait;
use outcome::Failure;
use prepared::Statements;
use scangate_core::event::EventDefinition;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord};
use scangate_storage::{
    Annul, AuditQuery, ConflictQuery, HolderLink, Page, PassQuery, ScanQuery, Store, StoreError,
};
use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::response::query_result::QueryResult;
use scylla::value::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Bucket index rows this gateway remembers having written, so a scan does
/// not rewrite its bucket's index row each time: one per event per 10 s,
/// a few thousand at most.
const SEEN_BUCKETS_MAX: u64 = 10_000;

/// How long a remembered bucket index row is trusted (the scan-id day rows
/// expire; ten minutes is far inside their TTL).
const SEEN_BUCKETS_TTL: Duration = Duration::from_secs(600);

/// The ScyllaDB store. Share it as `Arc<dyn Store>`.
pub struct ScyllaStore {
    session: Session,
    st: Statements,
    config: ScyllaConfig,
    /// Bounds the writes in flight; none left: `Busy`.
    writes: Semaphore,
    closed: AtomicBool,
    seen_buckets: moka::sync::Cache<(&'static str, String, i64), ()>,
}

/// What a LWT answered.
#[derive(Debug)]
enum Lwt {
    Applied,
    NotApplied,
    /// The outcome is unknown; resolve it by a serial read.
    Unknown,
}

impl ScyllaStore {
    /// Connects to the cluster, creates or migrates the keyspace and its
    /// tables, and prepares every statement, within [`OPEN_TIMEOUT`].
    pub async fn open(config: ScyllaConfig) -> Result<ScyllaStore, StoreError> {
        config.validate()?;
        let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
            let session = session::connect(&config).await?;
            let version = schema::migrate(&session, &config).await?;
            // Token-aware routing needs the keyspace's replication, which a
            // first start has just created.
            if let Err(e) = session.refresh_metadata().await {
                tracing::warn!(error = %e, "cannot refresh the cluster metadata; routing may not be token-aware until the next refresh");
            }
            let st = Statements::prepare(&session, &config).await?;
            Ok::<_, StoreError>((session, st, version))
        })
        .await
        .map_err(|_| StoreError::Timeout(OPEN_TIMEOUT))??;
        let (session, st, version) = opened;
        tracing::info!(?config, schema = version, "ScyllaDB store opened");
        Ok(ScyllaStore {
            session,
            st,
            writes: Semaphore::new(config.max_in_flight_writes),
            config,
            closed: AtomicBool::new(false),
            seen_buckets: moka::sync::Cache::builder()
                .max_capacity(SEEN_BUCKETS_MAX)
                .time_to_live(SEEN_BUCKETS_TTL)
                .build(),
        })
    }

    /// A write slot: `Closed` after close, `Busy` when all are taken.
    fn permit(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.writes.try_acquire().map_err(|e| match e {
            tokio::sync::TryAcquireError::Closed => StoreError::Closed,
            tokio::sync::TryAcquireError::NoPermits => StoreError::Busy,
        })
    }

    /// Interprets a LWT's answer; an error that proves nothing was executed
    /// is returned as the store error it means.
    fn lwt(
        &self,
        op: &'static str,
        answer: Result<QueryResult, ExecutionError>,
    ) -> Result<Lwt, StoreError> {
        let outcome = match answer {
            Ok(result) => {
                if applied_in(result)? {
                    Lwt::Applied
                } else {
                    Lwt::NotApplied
                }
            }
            Err(e) => match outcome::classify(&e) {
                Failure::NotExecuted(err) => return Err(err),
                Failure::Unknown(why) => {
                    tracing::warn!(op, error = %why, "LWT outcome unknown; resolving by a serial read");
                    Lwt::Unknown
                }
            },
        };
        let label = match outcome {
            Lwt::Applied => "applied",
            Lwt::NotApplied => "not_applied",
            Lwt::Unknown => "unknown",
        };
        metrics::counter!("scangate_scylla_lwt_total", "op" => op, "outcome" => label).increment(1);
        Ok(outcome)
    }

    /// The error an unknown outcome that stayed unknown is answered with.
    fn still_unknown(&self) -> StoreError {
        StoreError::Timeout(Duration::from_millis(self.config.lwt_timeout_ms))
    }
}

/// Whether a LWT's result says it applied.
fn applied_in(result: QueryResult) -> Result<bool, StoreError> {
    let rows = result.into_rows_result().map_err(|e| driver_data(&e))?;
    let specs = rows.column_specs();
    let names: Vec<&str> = specs.iter().map(|c| c.name()).collect();
    let first = rows.maybe_first_row::<Row>().map_err(|e| driver_data(&e))?;
    outcome::applied(&names, first.as_ref().map(|r| r.columns.as_slice()))
}

/// A read or plain write that failed: a client timeout is a `Timeout`,
/// anything else the error [`outcome::classify`] names.
fn read_failed(e: &ExecutionError) -> StoreError {
    match e {
        ExecutionError::RequestTimeout(d) => StoreError::Timeout(*d),
        other => match outcome::classify(other) {
            Failure::NotExecuted(err) => err,
            Failure::Unknown(_) => StoreError::unavailable("scylla", e.clone()),
        },
    }
}

/// A result the driver could not decode.
fn driver_data(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("scylla: unexpected result: {e}"))
}

/// The wall clock in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Store for ScyllaStore {
    async fn load_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError> {
        self.read_pass(id).await
    }

    async fn insert_passes(&self, passes: Vec<Pass>) -> Result<(), StoreError> {
        self.insert(passes).await
    }

    async fn commit_scan(&self, record: ScanRecord) -> Result<(), StoreError> {
        self.scan(record).await
    }

    async fn commit_admin(&self, audit: AuditRecord) -> Result<(), StoreError> {
        if audit.action == scangate_core::AdminAction::Erase {
            return self.erase(audit).await;
        }
        self.admin(audit).await
    }

    async fn record_conflicts(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError> {
        self.record(conflicts).await
    }

    async fn query_conflicts(&self, query: ConflictQuery) -> Result<Page<Conflict>, StoreError> {
        self.conflicts_page(&query).await
    }

    async fn find_scan(&self, scan_id: &ScanId) -> Result<Option<ScanRecord>, StoreError> {
        self.read_scan(scan_id).await
    }

    async fn list_scans(&self, pass: PassId, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
        self.pass_scans(pass, limit).await
    }

    async fn list_audit(&self, pass: PassId, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.pass_audit(pass, limit).await
    }

    async fn query_passes(&self, query: PassQuery) -> Result<Page<Pass>, StoreError> {
        self.passes_page(&query).await
    }

    async fn query_scans(&self, query: ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
        self.scans_page(&query).await
    }

    async fn query_audit(&self, query: AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        self.audit_page(&query).await
    }

    async fn commit_annul(&self, annul: Annul) -> Result<ScanRecord, StoreError> {
        self.annul(annul).await
    }

    async fn purge_scan_ids(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.purge(before_ms).await
    }

    async fn purge_records(
        &self,
        step: scangate_storage::retention::RetentionStep,
    ) -> Result<scangate_storage::retention::Retained, StoreError> {
        self.retain(step).await
    }

    async fn put_holder_link(&self, link: HolderLink) -> Result<(), StoreError> {
        self.put_link(link).await
    }

    async fn holder_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        self.read_link(pass).await
    }

    async fn remove_holder_link(&self, pass: PassId) -> Result<bool, StoreError> {
        self.remove_link(pass).await
    }

    async fn put_event(&self, event: &str, definition: &EventDefinition) -> Result<(), StoreError> {
        self.event_put(event, definition).await
    }

    async fn load_event(&self, event: &str) -> Result<Option<EventDefinition>, StoreError> {
        self.event_get(event).await
    }

    async fn list_events(&self) -> Result<Vec<(String, EventDefinition)>, StoreError> {
        self.events_all().await
    }

    /// Other gateways write the same cluster.
    fn shared(&self) -> bool {
        true
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Wait for the writes in flight: each ends within its deadlines.
        let all = u32::try_from(self.config.max_in_flight_writes).unwrap_or(u32::MAX);
        let deadline = self.config.commit_deadline() * 2;
        match tokio::time::timeout(deadline, self.writes.acquire_many(all)).await {
            Ok(Ok(permits)) => permits.forget(),
            Ok(Err(_)) => {}
            Err(_) => return Err(StoreError::Timeout(deadline)),
        }
        self.writes.close();
        tracing::info!("ScyllaDB store closed");
        Ok(())
    }
}
