//! The scanner SDK: how a gate scanner, `scangate scan`, the load test or any
//! Rust scanner app asks a scangate gateway "may this person in?".
//!
//! A [`Scanner`] holds one QUIC connection (mutual TLS with the device's
//! certificate from `scangate-certs`, ALPN `scangate/1`) and one long-lived
//! bidirectional stream on it, over which requests are pipelined: many tasks
//! share one `Scanner`, each request carries an id, and replies are matched
//! by id in whatever order they come back. [`Scanner::scan`] retries a scan
//! that timed out or lost its connection **with the same scan id**, which the
//! gateway answers with its first decision, so a retry never counts twice.
//! Given several gateway addresses, a scanner fails over between them,
//! round robin. A dead link is replaced by one reconnect per scanner, a
//! task of its own that every waiting scan watches up to its own deadline:
//! one handshake at a time, a bounded, jittered pause between failed ones,
//! and no scan's deadline cuts a handshake short.
//!
//! For offline operation (a gate that keeps deciding when its gateway is out
//! of reach) an [`OfflineScanner`] wraps a `Scanner` (connected lazily), a
//! [`ModeTracker`] that says when to go offline and back, the event's signed
//! snapshot on disk (decided from with `scangate_core`'s rules) and an
//! [`OfflineQueue`] that keeps what the device granted alone durably until
//! the gateway acknowledges it; every decision is a [`Decided`], which says
//! who made it. [`Scanner::fetch_snapshot`] and [`Scanner::upload`] are the
//! requests underneath.
//!
//! This crate must never: send 0-RTT early data (a replayed scan must not
//! reach a gateway before the original); let a request wait without a
//! deadline; run more than one reconnect handshake at a time per scanner,
//! or follow a failed one with another without a pause; keep more than
//! `max_in_flight` requests outstanding; treat a denial as an error (a
//! `busy` or `used_up` denial is a normal [`ScanReply`]); log a token in
//! full (`scangate_core::token::redact`); return from
//! [`OfflineQueue::push`] before the entry is synced to disk; or grant
//! offline from a missing, expired, altered, foreign-key or
//! other-event snapshot.
//!
//! Modules:
//! - [`config`]: [`ScannerConfig`], its defaults and the QUIC transport limits.
//! - [`scanner`]: [`Scanner`]: scans, retries, reconnects (`scanner/reconnect.rs`:
//!   the one reconnect task), close.
//! - `gateways`: the gateway addresses, tried round robin on failure.
//! - `link`: one connection, its request stream, the writer and reader tasks.
//! - [`error`]: the one error type, [`ClientError`].
//! - `decided`: [`Decided`]: a decision and whether it was made online or
//!   offline.
//! - [`mode`]: [`ModeTracker`]: online or offline, from the latest online
//!   tries (no I/O, no clock).
//! - [`queue`]: [`OfflineQueue`]: the durable file of what a scanner
//!   decided alone, until the gateway acknowledges it.
//! - [`transfer`]: [`Scanner::fetch_snapshot`] (pipelined chunks, a total
//!   deadline) and [`Scanner::upload`] (bounded batches).
//! - [`offline`]: [`OfflineScanner`]: online or offline scans, sync,
//!   refresh, and the device's files (pinned key, snapshot, deltas, uses).

// Client-controlled input never reaches a panic: no `panic!`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::panic, clippy::expect_used))]

pub mod config;
mod decided;
pub mod error;
mod gateways;
mod link;
pub mod mode;
pub mod offline;
pub mod queue;
pub mod scanner;
pub mod transfer;

pub use config::ScannerConfig;
pub use decided::Decided;
pub use error::ClientError;
pub use link::{CLOSE_CODE_DONE, CLOSE_CODE_PROTOCOL_ERROR};
pub use mode::{Attempt, Mode, ModeConfig, ModeTracker};
pub use offline::{OfflineConfig, OfflineError, OfflineScanner, Refreshed, SyncReport};
pub use queue::{OfflineQueue, Pushed, QueueError, QueueLimits, Queued};
pub use scangate_core::event::Direction;
pub use scanner::{ScanInput, ScanOptions, Scanner, random_scan_id};

pub use scangate_core::scan::ScanId;
pub use scangate_core::wire::{
    ErrorCode, GuardView, RequestBody, Response, ResponseBody, ScanReply, WireError,
};
