//! Per-pass actors and the registry that routes scans and admin changes to them.
//!
//! Every pass being scanned has one [ractor] actor. It takes that pass's
//! scans and admin changes one at a time, in order, and feeds them to the
//! pass's [`PassMachine`](scangate_core::protocol::PassMachine), the pass
//! protocol without I/O: it decides, asks for the decision to be made
//! durable through the [`Store`](scangate_storage::Store), and only then
//! applies it and answers (a retried scan id from the stored first
//! decision). The actor performs those store calls under their deadlines
//! and tells the machine the time, read from the registry's [`Clock`].
//! The [`Registry`] finds or starts the actor (exactly one per pass, loaded
//! from the store), bounds how many actors live and how many requests wait
//! for each, and puts a deadline on every call.
//!
//! This crate must never:
//! - acknowledge a grant the store has not made durable;
//! - count a scan id twice, or trust memory after a failed commit (a failing
//!   actor stops, and its successor starts from the store);
//! - queue without a bound: a full queue or a full actor table answers `busy`;
//! - return a denial as an `Err`: denials are [`ScanOutcome`] values;
//! - wait without a deadline.
//!
//! Modules:
//! - [`registry`]: the public entry point, routing and admission control;
//!   [`Registry::reconcile`] takes offline facts through the pass's actor
//!   like any other change.
//! - [`conflicts`]: [`Registry::conflicts`], the flagged offline scans, each
//!   `over_limit` one with the devices of the pass's other grants.
//! - `directory`: the map of live actors; exactly one actor per pass.
//! - `pass_actor`: the actor of one pass: performs its machine's steps, and
//!   its idle stop.
//! - `message`: the messages a pass's actor takes.
//! - `recent`: the recent scans an actor reads at its start, for the fraud flags.
//! - [`occupancy`]: zone occupancy's owner, one lock per event: places for
//!   entries into zones with a capacity, held until their commit is in.
//! - `queue`: the per-actor in-flight counter that bounds the mailbox.
//! - `store_call`: store calls under their deadlines, and the reply a
//!   request is answered on once.
//! - [`error`]: what a call can fail with.
//! - [`config`]: limits and deadlines with their defaults.
//! - [`clock`]: the clock decisions are taken with ([`Clock`], [`SystemClock`]).
//!
//! Scans, admin changes and their outcomes ([`Scan`], [`ScanOutcome`],
//! [`AdminChange`], [`AnnulRequest`]) are `scangate_core::protocol`'s,
//! re-exported here.
//!
//! Metrics (through the `metrics` facade): `scangate_actors_started_total`,
//! `scangate_actors_live`, and `scangate_busy_total{cause}` with `cause` one
//! of `actors` (actor table full), `queue` (a pass's queue full), `store`
//! (the store's commit queue full), `restart` (the pass's actor stopped twice
//! in a row) or `spawn` (an actor could not start);
//! `scangate_store_late_writes_total` (writes that outlived the store
//! deadline, answered `unavailable` and then waited for) and
//! `scangate_scans_abandoned_total` (scans whose caller gave up while they
//! were queued, not decided) and `scangate_flag_history_unread_total`
//! (actors started without their pass's recent scans: the read failed),
//! `scangate_zone_places_in_doubt_total` (zone places kept held
//! because their commit's outcome is unknown) and
//! `scangate_zone_places_settled_total{outcome}` (those a retry of the
//! scan id settled).

pub mod clock;
pub mod config;
pub mod conflicts;
mod directory;
pub mod error;
mod message;
pub mod occupancy;
mod pass_actor;
mod queue;
mod recent;
pub mod registry;
mod store_call;

#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;

pub use clock::{Clock, SystemClock, now_ms};
pub use config::RegistryConfig;
pub use conflicts::ConflictView;
pub use error::{AdminError, ScanError};
pub use registry::Registry;
pub use scangate_core::protocol::{
    AdminChange, AdmitOrder, AnnulRequest, OfflineFact, Reconcile, Reconciled, Scan, ScanOutcome,
};
