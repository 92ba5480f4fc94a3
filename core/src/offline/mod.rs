//! The offline path: a signed, per-event snapshot of what a scanner needs to
//! decide a scan alone, its deltas, and the offline decision itself.
//!
//! The gateway builds a [`Snapshot`] from an event's passes ([`build()`]),
//! signs it with its Ed25519 [`SnapshotSigner`], and serves the bytes (or a
//! [`Delta`] since the version a device holds) over `scangate/1`. A device
//! holds only the [`SnapshotVerifier`] (the public key), opens the bytes
//! (signature, format, event and expiry checked, see [`SnapshotError`]) and
//! decides with [`Snapshot::decide`], which runs [`crate::rules::decide_view`],
//! the rule function of the online path.
//!
//! What a snapshot holds, and what it does not (the whole byte layout is in
//! `docs/protocol.md`, "Offline snapshots"):
//! - per pass: an [`EntryIndex`] (96 bits of SHA-256 over a domain string and
//!   the pass's static token bytes), its status, its use count at snapshot
//!   time, and a reference to a shared [`Profile`] (validity window,
//!   `max_uses`, gates, dynamic flag);
//! - never a pass id, a token, a tag, a display text or a secret. A stolen
//!   snapshot names no pass and lets no one make a token: finding an entry
//!   takes the token, and making a token takes the gateway's HMAC key.
//!
//! Like the rest of `core`, nothing here reads a clock, a file or a random
//! number generator: `now_ms` and key seeds come from the caller.
//!
//! Modules: [`format`](mod@format) (the types and the byte layout), [`key`] (signing and
//! verification), [`build`](mod@build) (snapshot builder, deltas), `decide` (the offline
//! decision), [`messages`] (the `scangate/1` messages that carry snapshots
//! and offline scans).

pub mod build;
mod codec;
pub(crate) mod conflict;
mod decide;
mod error;
pub mod format;
pub mod key;
pub mod messages;

#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod messages_tests;
#[cfg(test)]
mod tests;

pub use build::{BuildError, SnapshotMeta, build};
pub use decide::OfflineOutcome;
pub use error::SnapshotError;
pub use format::{Delta, EntryIndex, KeyFingerprint, Profile, Snapshot, SnapshotEntry};
pub use key::{SnapshotSigner, SnapshotVerifier};

/// How long a snapshot (or delta) may be used offline after it was made,
/// by default: 24 hours. Long enough to cover one event day cut off from the
/// gateway; short enough that a device lost or left in a drawer stops
/// admitting on stale data the next day.
pub const SNAPSHOT_TTL_DEFAULT_MS: i64 = 24 * 3600 * 1000;

/// How often an online device refreshes its snapshot by default (30 s): the
/// longest a revocation takes to reach a connected scanner.
pub const REFRESH_INTERVAL_DEFAULT_MS: i64 = 30 * 1000;

/// Largest snapshot accepted, in bytes (64 MiB), checked before anything is
/// parsed or allocated. An entry is 19 bytes, so this holds 1M passes indexed
/// under three signing keys (57 MB) with room for the tables; a larger blob
/// is not a snapshot this gateway makes.
pub const SNAPSHOT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Largest delta accepted, in bytes (4 MiB: about 200,000 changed entries).
/// A gateway whose changes since a device's version exceed it sends the full
/// snapshot instead.
pub const DELTA_MAX_BYTES: usize = 4 * 1024 * 1024;
