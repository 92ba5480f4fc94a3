//! The pure domain of scangate: what a pass is, how a scan is decided, what a
//! signed token looks like, and what travels on the wire.
//!
//! This crate must never do I/O, spawn tasks, read a clock or a random number
//! generator: time comes in as `now_ms` arguments and randomness as bytes from
//! the caller. That keeps every rule a plain unit test with a fixed `now`, and
//! lets the same functions run in the gateway, the load test's checker and,
//! later, an offline scanner.
//!
//! Modules:
//! - [`pass`]: the pass model, its identifiers, field limits and admin transitions.
//! - [`event`]: an event's definition (gates, zones, policy), its checks, and
//!   movement through it (entry, exit, presence).
//! - [`name`]: the character set and length of gate and event names.
//! - [`rules`]: the decision function `(pass, scan, now) -> (decision, change)`.
//! - [`protocol`]: the pass protocol as a state machine: a scan, an admin change
//!   or an annulment, from its arrival to its durable answer (store calls as steps).
//! - [`decision`]: decisions and the machine-readable denial reasons.
//! - [`flags`]: fraud flags, the policy that may turn them into denials, and
//!   the recent scans of a pass they are decided from.
//! - [`token`]: the signed, QR-alphanumeric token format and the keyring.
//! - [`keyfile`]: the signing keyring file's format.
//! - [`scan`]: scan ids and the records a scan or an admin change leaves behind.
//! - [`wire`]: the messages of the `scangate/1` protocol; [`error_code`]: their error codes.
//! - [`frame`]: length-prefixed framing with a size limit checked before allocation.
//! - `testing` (tests and the `test-support` feature only): shared test fixtures.
//! - [`offline`]: the signed per-event snapshot for offline scanners, its
//!   deltas, the offline decision (the same rules) and its wire messages.

// Client-controlled input never reaches a panic: no `panic!`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::panic, clippy::expect_used))]

pub mod decision;
pub mod error_code;
pub mod event;
pub mod flags;
pub mod frame;
pub mod keyfile;
pub mod name;
pub mod offline;
pub mod pass;
pub mod protocol;
pub mod rules;
pub mod scan;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod token;
pub mod wire;

pub use decision::{Decision, Reason};
pub use pass::{AdminAction, Kind, Pass, PassId, Status};
pub use scan::{Annulment, AuditRecord, ScanId, ScanRecord};
