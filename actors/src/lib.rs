//! Per-pass actors and the registry that routes scans and admin changes to them.
//!
//! Every pass being scanned has one [ractor] actor. It takes that pass's
//! scans and admin changes one at a time, in order: it answers a retried
//! scan id from the stored first decision, decides with
//! [`scangate_core::rules::decide`], makes the decision durable through the
//! [`Store`](scangate_storage::Store) and only then applies it and answers.
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
//! - [`registry`]: the public entry point, routing and admission control.
//! - `directory`: the map of live actors; exactly one actor per pass.
//! - `pass_actor`: the actor of one pass, its messages and its idle stop.
//! - `queue`: the per-actor in-flight counter that bounds the mailbox.
//! - [`request`]: scans, admin changes and outcomes.
//! - [`error`]: what a call can fail with.
//! - [`config`]: limits and deadlines with their defaults.
//! - [`clock`]: the wall clock decisions are taken with.
//!
//! Metrics (through the `metrics` facade): `scangate_actors_started_total`,
//! `scangate_actors_live`, and `scangate_busy_total{cause}` with `cause` one
//! of `actors` (actor table full), `queue` (a pass's queue full), `store`
//! (the store's commit queue full), `restart` (the pass's actor stopped twice
//! in a row) or `spawn` (an actor could not start);
//! `scangate_store_late_writes_total` (writes that outlived the store
//! deadline, answered `unavailable` and then waited for) and
//! `scangate_scans_abandoned_total` (scans whose caller gave up while they
//! were queued, not decided).

pub mod clock;
pub mod config;
mod directory;
pub mod error;
mod pass_actor;
mod queue;
pub mod registry;
pub mod request;

#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;

pub use clock::now_ms;
pub use config::RegistryConfig;
pub use error::{AdminError, ScanError};
pub use registry::Registry;
pub use request::{AdminChange, AnnulRequest, Scan, ScanOutcome};
