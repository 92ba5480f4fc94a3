//! The storage contract: what the rest of scangate sees of a store.
//!
//! One job: the [`Store`] trait, its types ([`PassState`], [`query`]'s
//! queries and pages), its errors ([`StoreError`]), the record encoding every
//! backend shares ([`record`]), the moka hot cache that fits in front of any
//! store ([`cache::CachedStore`]) and the conformance suite every backend
//! must pass. The backends are crates of their own:
//! `scangate-storage-embedded` (the default, on fjall, group-committed) and
//! `scangate-storage-scylla` (several gateways on one ScyllaDB cluster).
//!
//! This crate must never depend on a backend or a database driver (the
//! per-pass actors link only this crate), never acknowledge a write that is
//! not durable (the trait's contract for every backend), never decide a scan
//! (that is `scangate-core`'s job), and never hold an unbounded queue: a full
//! commit queue answers [`StoreError::Busy`].
//!
//! Modules:
//! - [`cache`]: [`cache::CachedStore`], the moka hot cache in front of any store.
//! - `error`: [`StoreError`] (what each failure means and what a caller
//!   does) and [`AnnulConflict`].
//! - [`holder`]: a pass's holder link as stored (the hash of its secret).
//! - [`query`]: filtered, cursor-paginated queries of passes, scans, audit
//!   records and conflicts (each page bounded), and the annul request.
//! - [`record`]: records as every backend stores them (MessagePack).
//! - [`retention`]: one bounded step of the retention sweep.
//! - [`personal`]: a pass's personal fields sealed under its own key, the
//!   split every backend makes at issue and undoes at load; erasure
//!   destroys the key.
//! - `conformance` (cargo feature `conformance`): the properties every backend
//!   must pass, one async function each, run against every backend's tests.

pub mod cache;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod error;
pub mod holder;
pub mod personal;
pub mod query;
pub mod record;
pub mod retention;

pub use error::{AnnulConflict, BoxError, StoreError};
pub use holder::HolderLink;
pub use query::{
    Annul, AuditQuery, ConflictQuery, Cursor, EXAMINE_MAX, FlagFilter, LIST_MAX, PAGE_MAX, Page,
    PassCondition, PassQuery, RECORD_CONFLICTS_MAX, ScanQuery, ScanScope,
};

use async_trait::async_trait;
use scangate_core::event::EventDefinition;
use scangate_core::pass::Presence;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord};

/// What a grant checks and changes in a stored pass: its use count, status
/// and limit, kept apart from the rest of the record by every backend (each
/// with its own encoding) so a grant reads and writes only this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassState {
    /// Grants so far.
    pub uses: u32,
    /// Whether the pass may be used.
    pub status: scangate_core::Status,
    /// Its use limit; `None`: unlimited.
    pub max_uses: Option<u32>,
    /// Where its holder is (changed by a granted entry or exit in the
    /// scan's own commit; `Outside` for every pass of an event without a
    /// definition).
    pub presence: Presence,
}

impl PassState {
    /// The state part of a pass.
    pub fn of(pass: &Pass) -> PassState {
        PassState {
            uses: pass.uses,
            status: pass.status,
            max_uses: pass.max_uses,
            presence: pass.presence,
        }
    }

    /// Whether a grant of `record` applies to this stored state, and the
    /// state after it: the condition every backend checks in the grant's
    /// commit. Online: the pass is active, the count is where the decision
    /// read it (`uses_after - 1` for an admission, `uses_after` for an
    /// entry or exit that spends nothing) and within `max_uses`, and for a
    /// movement the presence is its `before`. Offline: the count alone.
    pub fn grant(&self, record: &ScanRecord) -> Option<PassState> {
        let offline = record.offline.is_some();
        // A guard's override may pass the limit; it is conditional on the
        // count and the status like an online grant.
        let beyond_limit = offline || record.guard_override.is_some();
        let movement = record.movement.as_deref();
        let spent = movement.is_none_or(|m| m.admission);
        let before = record.uses_after.checked_sub(u32::from(spent))?;
        let admission_within = !spent || self.max_uses.is_none_or(|max| record.uses_after <= max);
        let applies = (offline || self.status == scangate_core::Status::Active)
            && (!spent || record.uses_after >= 1)
            && self.uses == before
            && (beyond_limit || admission_within)
            && movement.is_none_or(|m| m.before == self.presence);
        applies.then(|| PassState {
            uses: record.uses_after,
            presence: movement.map_or(self.presence, |m| m.after),
            ..*self
        })
    }
}

/// Most event definitions one store keeps: a venue runs a few events at a
/// time and keeps some past ones; the gateway holds them all in memory.
pub const EVENTS_MAX: usize = 1024;

/// The operations scangate needs from a store. Every write returns only once
/// it is durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Loads a pass with its current use count and status.
    async fn load_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError>;

    /// Stores newly issued passes, all or none. [`StoreError::PassExists`] if
    /// any id is taken.
    async fn insert_passes(&self, passes: Vec<Pass>) -> Result<(), StoreError>;

    /// Makes a decided scan durable, atomically: the scan record, its scan id
    /// and, for a grant, the pass's use count set to `record.uses_after`.
    /// [`StoreError::DuplicateScanId`] if the scan id is already recorded
    /// (nothing is written then).
    ///
    /// A grant is a conditional write, like a lightweight transaction: it
    /// applies only if the stored pass is active, its stored use count is
    /// `uses_after - 1` and `uses_after` is within `max_uses`; otherwise
    /// [`StoreError::Conflict`] and nothing is written. The store is the last
    /// line of defence against an over-grant, whatever the caller believed.
    ///
    /// A write the store has taken (queued for its writer, sent to the
    /// cluster) may still land after its caller stops waiting, so a caller
    /// that must know what is stored keeps awaiting the outcome (the pass
    /// actor does, past its deadline); this holds for every write here.
    ///
    /// An offline record (`record.offline` is `Some`: a scan a device
    /// decided alone, uploaded later) is a fact: its grant is conditional on
    /// the stored use count alone (`uses_after - 1`), whatever the status
    /// and `max_uses`, and the [`Conflict`]s it names
    /// ([`Conflict::of_record`]) are kept in the same atomic, durable commit:
    /// after a crash both are there or neither.
    async fn commit_scan(&self, record: ScanRecord) -> Result<(), StoreError>;

    /// Keeps conflicts that belong to no scan record (a forged token or an
    /// unknown pass in an upload), all or none, durably. At most
    /// [`RECORD_CONFLICTS_MAX`] per call ([`StoreError::TooLarge`]). A
    /// conflict written again with the same time, scan id and kind lands on
    /// the same row (every backend); the embedded store also keeps the first
    /// row when the time differs (a re-upload's later time).
    async fn record_conflicts(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError>;

    /// Conflicts matching `query`, oldest recorded first, one bounded page.
    async fn query_conflicts(&self, query: ConflictQuery) -> Result<Page<Conflict>, StoreError>;

    /// Applies an admin change atomically: the pass's status becomes
    /// `audit.status_after` with `audit.reason`, and the audit record is kept.
    ///
    /// An `erase` also makes the pass erased for good, in the same atomic
    /// write: its personal data destroyed ([`personal`]), its holder link
    /// removed, and a marker kept with the pass that no retention sweep,
    /// restart or replay removes. From then on the store is the arbiter of
    /// "an erase is final", whichever gateway asks: every admin change of
    /// an erased pass but another erase (which changes nothing more) is
    /// refused with [`StoreError::Erased`] and writes nothing, however it
    /// raced with the erase.
    async fn commit_admin(&self, audit: AuditRecord) -> Result<(), StoreError>;

    /// The record stored under a scan id, if it is still kept.
    async fn find_scan(&self, scan_id: &ScanId) -> Result<Option<ScanRecord>, StoreError>;

    /// A pass's scans, oldest first, at most `limit`.
    async fn list_scans(&self, pass: PassId, limit: usize) -> Result<Vec<ScanRecord>, StoreError>;

    /// A pass's admin changes, oldest first, at most `limit`.
    async fn list_audit(&self, pass: PassId, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;

    /// Passes matching `query`, one bounded page (see [`query`]).
    async fn query_passes(&self, query: PassQuery) -> Result<Page<Pass>, StoreError>;

    /// Scans of a pass or an event matching `query`, oldest first, one
    /// bounded page.
    async fn query_scans(&self, query: ScanQuery) -> Result<Page<ScanRecord>, StoreError>;

    /// Audit records of one pass or of all, oldest first, one bounded page.
    async fn query_audit(&self, query: AuditQuery) -> Result<Page<AuditRecord>, StoreError>;

    /// Takes a grant back, atomically: the scan record is marked annulled
    /// (by `annul.audit.who` at `annul.audit.at_ms`), the pass's use count
    /// goes from `expected_uses` to one less, and the audit record is kept.
    /// Conditional like a grant: [`StoreError::Conflict`] if the stored count
    /// is not `expected_uses` (or is 0); [`StoreError::NotAnnullable`] if the
    /// scan is unknown, of another pass, a denial or already annulled.
    /// Nothing is written on an error. Returns the annulled record.
    async fn commit_annul(&self, annul: Annul) -> Result<ScanRecord, StoreError>;

    /// Stores `definition` as the definition of `event`, replacing any,
    /// durably. [`StoreError::TooLarge`] when the store holds
    /// [`EVENTS_MAX`] definitions already and `event` is not among them.
    /// The caller validates the definition first.
    async fn put_event(&self, event: &str, definition: &EventDefinition) -> Result<(), StoreError>;

    /// The definition of `event`, if it has one.
    async fn load_event(&self, event: &str) -> Result<Option<EventDefinition>, StoreError>;

    /// Every event's definition (at most [`EVENTS_MAX`]), by event name.
    async fn list_events(&self) -> Result<Vec<(String, EventDefinition)>, StoreError>;

    /// Forgets scan ids recorded before `before_ms` (the scan log itself is
    /// kept). Returns how many were forgotten.
    async fn purge_scan_ids(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Keeps `link` as its pass's holder link, durably, replacing any
    /// earlier link of the pass (which stops working). Conditional on the
    /// pass not being erased: [`StoreError::Erased`] and nothing written
    /// when it is (an erase removes the link, so no link outlives one).
    /// Callers load the pass first; a backend may answer
    /// [`StoreError::NotFound`] for an unknown pass (ScyllaDB does).
    async fn put_holder_link(&self, link: HolderLink) -> Result<(), StoreError>;

    /// The holder link of `pass`, if it has one.
    async fn holder_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError>;

    /// Removes the holder link of `pass`, durably; whether it had one.
    async fn remove_holder_link(&self, pass: PassId) -> Result<bool, StoreError>;
    /// One bounded step of the retention sweep: removes scan records,
    /// audit records and conflicts made before their event's cut-off
    /// ([`retention::RetentionStep::cut_off`]; an audit record's event is
    /// its pass's) (scan records with their indexes and scan ids), examining or removing at
    /// most `step.max_rows` rows, durably. Passes and their use counts are
    /// never removed. The default (a backend without retention) answers
    /// [`StoreError::Config`] and removes nothing.
    async fn purge_records(
        &self,
        _step: retention::RetentionStep,
    ) -> Result<retention::Retained, StoreError> {
        Err(StoreError::Config(
            "this store does not support the retention sweep".into(),
        ))
    }

    /// Drops any cached copy of the pass, so the next load reads the store.
    /// Called when a caller no longer trusts what it holds in memory (a
    /// failed or unknown commit). Backends without a cache do nothing.
    fn invalidate(&self, _id: PassId) {}

    /// Whether other gateways write this store too (a shared cluster). Then
    /// a pass held in memory here may be behind a change made elsewhere: it
    /// never causes an over-grant (every grant is conditional on the stored
    /// state), but a denial read from memory may be stale, so callers
    /// re-read before denying from old state ([`cache::SHARED_TTL`]).
    fn shared(&self) -> bool {
        false
    }

    /// Why this store can make nothing more durable until the gateway
    /// restarts (a redo log it could not write, tables that stopped following
    /// it), or `None` while it can. Readiness reports it, so that scanners and
    /// load balancers go to a gateway that can still grant, and the scan path
    /// answers at once instead of starting actors whose commits must fail.
    /// Asked for every scan: keep it cheap. A backend whose failures are per
    /// request (a cluster) keeps the default.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Finishes every queued commit and makes it durable; later writes fail
    /// with [`StoreError::Closed`].
    async fn close(&self) -> Result<(), StoreError>;
}
