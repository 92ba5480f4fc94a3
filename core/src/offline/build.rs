//! The gateway's side: a snapshot from an event's passes, a delta between
//! two snapshots, and the signed bytes of each. The device's side of a
//! delta, [`Snapshot::apply`], is here too, beside [`Delta::between`].
//!
//! Indexing rule (key rotation): the builder indexes every static token the
//! caller's `tokens` function returns for a pass. The gateway passes one per
//! key in its keyring (`Keyring::key_ids` and `Keyring::sign_with`), since a
//! holder may keep a token signed before a rotation and the gateway still
//! accepts it. Each such token gets its own entry with the pass's state, so
//! a snapshot grows by one entry per pass and key; a device counts its own
//! uses per entry, and a holder showing two tokens of one pass on one
//! offline device is caught at reconciliation (`over_limit`).

use super::codec;
use super::error::SnapshotError;
use super::format::{
    Delta, ENTRY_BYTES, EntryIndex, GATE_NAMES_MAX, INDEX_BYTES, PROFILES_MAX, Profile, Snapshot,
    SnapshotEntry,
};
use super::key::{SIGNATURE_BYTES, SnapshotSigner};
use super::{DELTA_MAX_BYTES, SNAPSHOT_MAX_BYTES, SNAPSHOT_TTL_DEFAULT_MS};
use crate::name::check_name;
use crate::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES, Pass, PassError};
use crate::token::{RawToken, TokenError};
use std::collections::HashMap;
use thiserror::Error;

/// Generous bound on a blob's header and tables beyond its entries, for the
/// size checks made before encoding (the exact size is known after).
const TABLES_BYTES_MAX: usize = 256 + GATE_NAMES_MAX * 65 + PROFILES_MAX * 87;

/// The header fields of a snapshot to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The event whose passes it holds.
    pub event: String,
    /// Its version: greater than every version built before for the event.
    pub version: u64,
    /// When it is built (Unix ms).
    pub created_ms: i64,
    /// From when on devices refuse it (Unix ms).
    pub expires_ms: i64,
}

impl SnapshotMeta {
    /// A snapshot that expires [`SNAPSHOT_TTL_DEFAULT_MS`] after `created_ms`.
    pub fn new(event: impl Into<String>, version: u64, created_ms: i64) -> Self {
        SnapshotMeta {
            event: event.into(),
            version,
            created_ms,
            expires_ms: created_ms.saturating_add(SNAPSHOT_TTL_DEFAULT_MS),
        }
    }
}

/// Why a snapshot or delta cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A pass of another event was given.
    #[error("a pass of event {found:?} was given for a snapshot of {expected:?}")]
    OtherEvent {
        /// The snapshot's event.
        expected: String,
        /// The pass's event.
        found: String,
    },
    /// The token function gave a short-lived token (with a not-after): only
    /// static tokens can be indexed.
    #[error("only static tokens are indexed; a short-lived token was given")]
    NotStatic,
    /// The token function gave something that is not a token.
    #[error("the token function gave an invalid token: {0}")]
    BadToken(TokenError),
    /// Two entries have the same index (the same token given twice).
    #[error("two entries have the same index: a token was given twice")]
    DuplicateIndex,
    /// More distinct gate names than [`GATE_NAMES_MAX`].
    #[error("the event has more than {GATE_NAMES_MAX} distinct gates")]
    TooManyGates,
    /// More distinct profiles than [`PROFILES_MAX`].
    #[error("the event has more than {PROFILES_MAX} distinct pass profiles")]
    TooManyProfiles,
    /// Over [`SNAPSHOT_MAX_BYTES`] (or [`DELTA_MAX_BYTES`] for a delta).
    #[error("the result would be {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size, at least.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An event or gate name that breaks the name rule (a pass that was
    /// never validated): the device would refuse the snapshot.
    #[error("{0}")]
    InvalidName(PassError),
    /// The new snapshot does not follow the old one (other event, older
    /// version, or tables that do not extend the old ones): send it whole.
    #[error("the new snapshot does not extend the old one; send it whole")]
    NotAnExtension,
}

/// Builds the snapshot of `meta.event` from its `passes`. `tokens(pass)`
/// gives the pass's static tokens to index (see the module docs), and
/// `previous` the snapshot it follows, whose gate and profile tables the new
/// one extends so that a delta between them stays small.
pub fn build<'p, T>(
    meta: &SnapshotMeta,
    passes: impl IntoIterator<Item = &'p Pass>,
    mut tokens: impl FnMut(&Pass) -> T,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, BuildError>
where
    T: IntoIterator<Item = String>,
{
    check_name("event", &meta.event, EVENT_MAX_BYTES).map_err(BuildError::InvalidName)?;
    let mut tables = Tables::seeded(previous);
    let mut entries = Vec::new();
    for pass in passes {
        if pass.event != meta.event {
            return Err(BuildError::OtherEvent {
                expected: meta.event.clone(),
                found: pass.event.clone(),
            });
        }
        let profile = tables.profile_of(pass)?;
        for token in tokens(pass) {
            let raw = RawToken::parse(&token).map_err(BuildError::BadToken)?;
            if raw.has_not_after() {
                return Err(BuildError::NotStatic);
            }
            entries.push(SnapshotEntry {
                index: EntryIndex::of_token(&raw),
                status: pass.status,
                uses: pass.uses,
                profile,
            });
        }
        let len = entries.len() * ENTRY_BYTES;
        if len > SNAPSHOT_MAX_BYTES - TABLES_BYTES_MAX {
            return Err(BuildError::TooLarge {
                len,
                max: SNAPSHOT_MAX_BYTES,
            });
        }
    }
    entries.sort_unstable_by_key(|e| e.index);
    if entries.windows(2).any(|w| w[0].index == w[1].index) {
        return Err(BuildError::DuplicateIndex);
    }
    let profile_gates = Snapshot::resolve_gates(&tables.gates, &tables.profiles);
    Ok(Snapshot {
        event: meta.event.clone(),
        version: meta.version,
        created_ms: meta.created_ms,
        expires_ms: meta.expires_ms,
        gates: tables.gates,
        profiles: tables.profiles,
        entries,
        profile_gates,
    })
}

/// The gate and profile tables while building, with their reverse maps.
struct Tables {
    gates: Vec<String>,
    gate_ids: HashMap<String, u16>,
    profiles: Vec<Profile>,
    profile_ids: HashMap<Profile, u16>,
}

impl Tables {
    fn seeded(previous: Option<&Snapshot>) -> Self {
        let (gates, profiles) = previous
            .map(|p| (p.gates.clone(), p.profiles.clone()))
            .unwrap_or_default();
        let gate_ids = (0..).zip(&gates).map(|(i, g)| (g.clone(), i)).collect();
        let profile_ids = (0..).zip(&profiles).map(|(i, p)| (p.clone(), i)).collect();
        Tables {
            gates,
            gate_ids,
            profiles,
            profile_ids,
        }
    }

    fn gate_id(&mut self, name: &str) -> Result<u16, BuildError> {
        if let Some(id) = self.gate_ids.get(name) {
            return Ok(*id);
        }
        check_name("gate", name, GATE_MAX_BYTES).map_err(BuildError::InvalidName)?;
        if self.gates.len() >= GATE_NAMES_MAX {
            return Err(BuildError::TooManyGates);
        }
        let id = self.gates.len() as u16;
        self.gates.push(name.to_owned());
        self.gate_ids.insert(name.to_owned(), id);
        Ok(id)
    }

    fn profile_of(&mut self, pass: &Pass) -> Result<u16, BuildError> {
        let mut gates = pass
            .gates
            .iter()
            .map(|g| self.gate_id(g))
            .collect::<Result<Vec<_>, _>>()?;
        gates.sort_unstable();
        gates.dedup();
        let profile = Profile {
            valid_from_ms: pass.valid_from_ms,
            valid_until_ms: pass.valid_until_ms,
            max_uses: pass.max_uses,
            gates,
            dynamic: pass.dynamic_ttl_s.is_some(),
        };
        if let Some(id) = self.profile_ids.get(&profile) {
            return Ok(*id);
        }
        if self.profiles.len() >= PROFILES_MAX {
            return Err(BuildError::TooManyProfiles);
        }
        let id = self.profiles.len() as u16;
        self.profiles.push(profile.clone());
        self.profile_ids.insert(profile, id);
        Ok(id)
    }
}

impl Snapshot {
    /// The signed bytes devices fetch.
    pub fn to_signed_bytes(&self, signer: &SnapshotSigner) -> Vec<u8> {
        signer.seal(codec::write_snapshot(self))
    }

    /// The snapshot after `delta`: checks it follows this version and these
    /// tables, then merges its entries.
    pub fn apply(&self, delta: &Delta) -> Result<Snapshot, SnapshotError> {
        if delta.event != self.event {
            return Err(SnapshotError::WrongEvent {
                expected: self.event.clone(),
                found: delta.event.clone(),
            });
        }
        if delta.base_version != self.version {
            return Err(SnapshotError::BaseMismatch {
                have: self.version,
                base: delta.base_version,
            });
        }
        if delta.base_gates as usize != self.gates.len()
            || delta.base_profiles as usize != self.profiles.len()
        {
            return Err(SnapshotError::Malformed(
                "the delta's tables do not follow the held snapshot's",
            ));
        }
        let entries = merge(&self.entries, &delta.changed, &delta.removed);
        let len = entries.len().saturating_mul(ENTRY_BYTES);
        if len > SNAPSHOT_MAX_BYTES {
            return Err(SnapshotError::Oversized {
                len,
                max: SNAPSHOT_MAX_BYTES,
            });
        }
        let mut gates = self.gates.clone();
        gates.extend(delta.new_gates.iter().cloned());
        let mut profiles = self.profiles.clone();
        profiles.extend(delta.new_profiles.iter().cloned());
        let profile_gates = Snapshot::resolve_gates(&gates, &profiles);
        Ok(Snapshot {
            event: self.event.clone(),
            version: delta.version,
            created_ms: delta.created_ms,
            expires_ms: delta.expires_ms,
            gates,
            profiles,
            entries,
            profile_gates,
        })
    }
}

/// `held` with `changed` put in (replacing equal indexes) and `removed`
/// taken out; all three sorted by index, and so is the result.
fn merge(
    held: &[SnapshotEntry],
    changed: &[SnapshotEntry],
    removed: &[EntryIndex],
) -> Vec<SnapshotEntry> {
    let mut out = Vec::with_capacity(held.len() + changed.len());
    let mut changed = changed.iter().peekable();
    let mut removed = removed.iter().peekable();
    for e in held {
        while let Some(c) = changed.next_if(|c| c.index < e.index) {
            out.push(*c);
        }
        while removed.next_if(|r| **r < e.index).is_some() {}
        if let Some(c) = changed.next_if(|c| c.index == e.index) {
            out.push(*c);
        } else if removed.next_if(|r| **r == e.index).is_none() {
            out.push(*e);
        }
    }
    out.extend(changed.copied());
    out
}

impl Delta {
    /// The changes from `old` to `new`, both built for the same event with
    /// `new` seeded from `old` ([`build`]'s `previous`).
    pub fn between(old: &Snapshot, new: &Snapshot) -> Result<Delta, BuildError> {
        let extends = new.event == old.event
            && new.version > old.version
            && new.gates.starts_with(&old.gates)
            && new.profiles.starts_with(&old.profiles);
        if !extends {
            return Err(BuildError::NotAnExtension);
        }
        let (changed, removed) = diff(&old.entries, &new.entries);
        let len = changed.len() * ENTRY_BYTES + removed.len() * INDEX_BYTES + SIGNATURE_BYTES;
        if len > DELTA_MAX_BYTES {
            return Err(BuildError::TooLarge {
                len,
                max: DELTA_MAX_BYTES,
            });
        }
        Ok(Delta {
            event: new.event.clone(),
            base_version: old.version,
            version: new.version,
            created_ms: new.created_ms,
            expires_ms: new.expires_ms,
            base_gates: old.gates.len() as u16,
            new_gates: new.gates[old.gates.len()..].to_vec(),
            base_profiles: old.profiles.len() as u16,
            new_profiles: new.profiles[old.profiles.len()..].to_vec(),
            changed,
            removed,
        })
    }

    /// The signed bytes devices fetch. `None` when the tables it appends
    /// make it larger than [`DELTA_MAX_BYTES`]: send the snapshot whole.
    pub fn to_signed_bytes(&self, signer: &SnapshotSigner) -> Option<Vec<u8>> {
        let body = codec::write_delta(self);
        (body.len() + SIGNATURE_BYTES <= DELTA_MAX_BYTES).then(|| signer.seal(body))
    }
}

/// Entries of `new` that are not in `old` or differ, and indexes of `old`
/// not in `new`; both sorted.
fn diff(old: &[SnapshotEntry], new: &[SnapshotEntry]) -> (Vec<SnapshotEntry>, Vec<EntryIndex>) {
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.index == n.index => {
                if o != n {
                    changed.push(*n);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.index < n.index => {
                removed.push(o.index);
                i += 1;
            }
            (Some(o), None) => {
                removed.push(o.index);
                i += 1;
            }
            (_, Some(n)) => {
                changed.push(*n);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (changed, removed)
}
