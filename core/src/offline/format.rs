//! The snapshot and delta types, and the rules of their byte layout.
//!
//! Everything is big-endian and fixed-width where it can be: an entry is
//! [`ENTRY_BYTES`] bytes, entries are sorted by [`EntryIndex`] (binary search,
//! no index structure to build on the device), and what many passes share
//! (validity window, `max_uses`, gates, dynamic flag) sits once in a
//! [`Profile`] table that entries point into. `docs/protocol.md` has the
//! byte-exact layout.

use crate::pass::{GATES_MAX, Status};
use crate::token::RawToken;
use sha2::{Digest, Sha256};
use std::fmt;

/// The first four bytes of every snapshot and delta.
pub const MAGIC: [u8; 4] = *b"SGOF";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes of an [`EntryIndex`]: 96 bits, so that grinding tokens until one
/// hits any of 1M entries costs about 2^96 / 2^20 = 2^76 hashes.
pub const INDEX_BYTES: usize = 12;
/// Bytes of one entry: index, status, uses (u32), profile (u16).
pub const ENTRY_BYTES: usize = INDEX_BYTES + 1 + 4 + 2;
/// Most gate names one event's table holds (a venue has tens of gates; the
/// bound keeps a hostile table small). Ids are u16 on the wire.
pub const GATE_NAMES_MAX: usize = 1024;
/// Most profiles one snapshot holds: entries point at them with a u16.
/// Profiles are shared by every pass with the same window, limit and gates
/// (a ticket category), so an event has tens to thousands, not millions.
pub const PROFILES_MAX: usize = u16::MAX as usize;
/// The domain string hashed in front of a token's bytes, so an entry index
/// is never the same value as a SHA-256 computed for another purpose.
const INDEX_DOMAIN: &[u8] = b"scangate/offline-index/v1\0";

/// Whether the blob is a whole snapshot or a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobKind {
    Snapshot = 1,
    Delta = 2,
}

/// Where a pass sits in a snapshot: the first 96 bits of
/// `SHA-256("scangate/offline-index/v1\0" || token bytes)` of one of its
/// static tokens (every byte: version, key id, flags, pass id, tag). Only a
/// holder of the real token finds the entry; the index reveals neither the
/// pass id nor the tag.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryIndex(pub [u8; INDEX_BYTES]);

impl EntryIndex {
    /// The index of a format-checked token.
    pub fn of_token(raw: &RawToken) -> Self {
        let digest = Sha256::new()
            .chain_update(INDEX_DOMAIN)
            .chain_update(raw.as_bytes())
            .finalize();
        let mut index = [0u8; INDEX_BYTES];
        index.copy_from_slice(&digest[..INDEX_BYTES]);
        EntryIndex(index)
    }
}

impl fmt::Debug for EntryIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryIndex({})", data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// What passes of one kind share: validity window, use limit, gates,
/// dynamic flag. Gates are ids into the snapshot's gate-name table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    /// Start of validity (Unix ms), inclusive.
    pub valid_from_ms: Option<i64>,
    /// End of validity (Unix ms), exclusive.
    pub valid_until_ms: Option<i64>,
    /// Most grants; `None`: unlimited.
    pub max_uses: Option<u32>,
    /// Gate ids (into the gate table), at most [`GATES_MAX`]; empty: every gate.
    pub gates: Vec<u16>,
    /// A dynamic pass: its static token is refused (`expired`), its
    /// short-lived tokens need the gateway (`needs_network`).
    pub dynamic: bool,
}

/// Bytes of a profile on the wire, before its gate ids.
pub(crate) const PROFILE_FIXED_BYTES: usize = 1 + 8 + 8 + 4 + 1;
const _: () = assert!(
    GATES_MAX <= u8::MAX as usize,
    "a profile's gate count is a u8"
);

/// One pass under one of its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Where it sorts; see [`EntryIndex`].
    pub index: EntryIndex,
    /// Active, suspended or revoked at snapshot time.
    pub status: Status,
    /// Grants counted by the gateway at snapshot time.
    pub uses: u32,
    /// Its profile's position in the profile table.
    pub profile: u16,
}

/// An event's passes as a device sees them. Built by the gateway
/// ([`crate::offline::build()`]), opened by a device
/// ([`crate::offline::SnapshotVerifier::open_snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub(crate) event: String,
    pub(crate) version: u64,
    pub(crate) created_ms: i64,
    pub(crate) expires_ms: i64,
    pub(crate) gates: Vec<String>,
    pub(crate) profiles: Vec<Profile>,
    /// Sorted by index, strictly ascending.
    pub(crate) entries: Vec<SnapshotEntry>,
    /// Each profile's gate names, resolved from `gates` (what the rules read).
    pub(crate) profile_gates: Vec<Vec<String>>,
}

impl Snapshot {
    /// The event it covers.
    pub fn event(&self) -> &str {
        &self.event
    }
    /// Its version: grows with every change the gateway publishes.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// When the gateway made it (Unix ms).
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }
    /// From when on a device must not decide from it (Unix ms).
    pub fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
    /// Its entries (one per pass and signing key), sorted by index.
    pub fn entries(&self) -> &[SnapshotEntry] {
        &self.entries
    }
    /// The profile table.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }
    /// The gate-name table.
    pub fn gates(&self) -> &[String] {
        &self.gates
    }
    /// The entry at `index`, by binary search.
    pub fn entry(&self, index: &EntryIndex) -> Option<&SnapshotEntry> {
        self.entries
            .binary_search_by(|e| e.index.cmp(index))
            .ok()
            .map(|at| &self.entries[at])
    }

    /// Resolves every profile's gate ids to names. Callers have checked the
    /// ids are in the table.
    pub(crate) fn resolve_gates(gates: &[String], profiles: &[Profile]) -> Vec<Vec<String>> {
        profiles
            .iter()
            .map(|p| {
                p.gates
                    .iter()
                    .filter_map(|id| gates.get(*id as usize).cloned())
                    .collect()
            })
            .collect()
    }
}

/// The changes from one snapshot version to the next: entries added or
/// changed (in full), entries removed, and the gate names and profiles
/// appended to the tables. Applied with [`Snapshot::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub(crate) event: String,
    pub(crate) base_version: u64,
    pub(crate) version: u64,
    pub(crate) created_ms: i64,
    pub(crate) expires_ms: i64,
    /// Gate names the base holds; `new_gates` follow them.
    pub(crate) base_gates: u16,
    pub(crate) new_gates: Vec<String>,
    /// Profiles the base holds; `new_profiles` follow them.
    pub(crate) base_profiles: u16,
    pub(crate) new_profiles: Vec<Profile>,
    /// Sorted by index, strictly ascending.
    pub(crate) changed: Vec<SnapshotEntry>,
    /// Sorted, strictly ascending; none of them in `changed`.
    pub(crate) removed: Vec<EntryIndex>,
}

impl Delta {
    /// The event it covers.
    pub fn event(&self) -> &str {
        &self.event
    }
    /// The version it applies to.
    pub fn base_version(&self) -> u64 {
        self.base_version
    }
    /// The version it makes.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// From when on it must not be used (Unix ms).
    pub fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
    /// Entries added or changed.
    pub fn changed(&self) -> &[SnapshotEntry] {
        &self.changed
    }
    /// Entries removed.
    pub fn removed(&self) -> &[EntryIndex] {
        &self.removed
    }
}

/// The first 8 bytes of SHA-256 over a public key: names the key in a
/// snapshot's header, so "signed by another gateway" is told apart from
/// "altered". Printed as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint(pub [u8; 8]);

impl KeyFingerprint {
    pub(crate) fn of(public_key: &[u8]) -> Self {
        let digest = Sha256::digest(public_key);
        let mut f = [0u8; 8];
        f.copy_from_slice(&digest[..8]);
        KeyFingerprint(f)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}
