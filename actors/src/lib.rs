//! Pass actors and the registry that routes scans and admin changes to them.
//!
//! A fixed set of [ractor] actors (4,096, one per slot of pass ids) holds
//! the passes being scanned: each pass is held by the actor of its slot,
//! which takes that pass's scans and admin changes one at a time, in order
//! (and those of the other passes it holds), and feeds them to the pass's
//! [`PassMachine`](scangate_core::protocol::PassMachine), the pass protocol
//! without I/O: it decides, asks for the decision to be made durable
//! through the [`Store`](scangate_storage::Store), and only then applies it
//! and answers (a retried scan id from the stored first decision). The actor
//! performs those store calls under their deadlines and tells the machine
//! the time, read from the registry's [`Clock`]. The [`Registry`] finds the
//! pass or loads it from the store and hands it to its actor (held once),
//! bounds how many passes are held and how many requests wait for each, and
//! puts a deadline on every call.
//!
//! This crate must never:
//! - acknowledge a grant the store has not made durable;
//! - count a scan id twice, or trust memory after a failed commit (the actor
//!   lets the pass go, and its next request loads it from the store);
//! - queue without a bound: a pass's full queue or a full table of held
//!   passes answers `busy`;
//! - return a denial as an `Err`: denials are [`ScanOutcome`] values;
//! - wait without a deadline.
//!
//! Modules:
//! - [`registry`]: the public entry point, routing and admission control;
//!   [`Registry::reconcile`] takes offline facts through the pass's actor
//!   like any other change.
//! - [`conflicts`]: [`Registry::conflicts`], the flagged offline scans, each
//!   `over_limit` one with the devices of the pass's other grants.
//! - `directory`: the map of held passes; each pass held once.
//! - `slots`: the pass actors, one per slot of pass ids, started when first
//!   needed.
//! - `pass_actor`: a pass actor: holds its passes, performs their machines'
//!   steps, lets a pass go when spent, failed or idle.
//! - `message`: the messages a pass actor takes.
//! - `settings`: what the pass actors share, and a pass's reload.
//! - `recent`: the recent scans read when a pass is loaded, for the fraud flags.
//! - [`occupancy`]: zone occupancy's owner, one lock per event: places for
//!   entries into zones with a capacity, held until their commit is in.
//! - `queue`: a held pass's in-flight counter, its bound on its actor's mailbox.
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
//! Metrics (through the `metrics` facade): `scangate_actors_started_total`
//! (passes handed to their actor), `scangate_actors_live` (passes held now),
//! and `scangate_busy_total{cause}` with `cause` one of `actors` (the table of
//! held passes full), `queue` (a pass's queue full), `store` (the store's
//! commit queue full), `restart` (the pass was let go twice in a row while
//! its request was routed) or `spawn` (its actor could not start);
//! `scangate_store_late_writes_total` (writes that outlived the store
//! deadline, answered `unavailable` and then waited for) and
//! `scangate_scans_abandoned_total` (scans whose caller gave up while they
//! were queued, not decided) and `scangate_flag_history_unread_total`
//! (passes held without their recent scans: the read failed),
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
mod settings;
mod slots;
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
