//! The scangate gateway server: it admits scanners over QUIC and answers
//! their scans, and serves operators over HTTP (admin API, dashboard,
//! metrics), both wired to one store and one set of pass actors and shut
//! down together.
//!
//! This crate serves; it does not decide and it does not talk to a server.
//! Decisions live in `scangate-core`, ordering in `scangate-actors`,
//! durability in `scangate-storage`; the `scangate` command line (the clients
//! and the argument parsing) lives in `gateway/cli`. It must never answer a
//! grant before the store says it is durable, never let a client grow memory
//! without a bound, and never log a token or secret in full.
//!
//! Layout: [`edge`] (everything a scanner meets: the QUIC listener,
//! admission, one scan, rate limits, the live aggregate, offline snapshots),
//! [`operator`] (everything an operator meets: the HTTP plane, admin API,
//! dashboard, metrics, the operator journal, admin tokens, revoked devices),
//! and the shared pieces: [`serve`] (wiring and shutdown), [`config`],
//! [`datadir`] (the data directory's files), [`definitions`] (event
//! definitions held for the scan path), [`keys`] (token signing keys),
//! [`snapshot_key`] (the offline snapshot signing key), [`secret`] (random
//! bytes and files only the owner reads), [`health`] (the store's state and
//! the disk's room, read by the edge's live aggregate and the operator's
//! probes), [`signals`].

// Client-controlled input never reaches a panic: no `panic!`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::panic, clippy::expect_used))]

pub mod config;
pub mod datadir;
pub mod definitions;
pub mod edge;
pub mod health;
pub mod keys;
pub mod operator;
pub mod secret;
pub mod serve;
pub mod signals;
pub mod snapshot_key;

/// Unix milliseconds now: the system clock the pass actors read too (one
/// definition, in `scangate_actors::clock`).
pub use scangate_actors::now_ms;
