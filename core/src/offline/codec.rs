//! Bytes of snapshots and deltas (layout in `docs/protocol.md`). Writing
//! cannot fail; reading checks every count against the bytes left before it
//! allocates, and every reference against its table.

use super::error::SnapshotError;
use super::format::{
    BlobKind, Delta, ENTRY_BYTES, EntryIndex, FORMAT_VERSION, GATE_NAMES_MAX, INDEX_BYTES, MAGIC,
    PROFILE_FIXED_BYTES, PROFILES_MAX, Profile, Snapshot, SnapshotEntry,
};
use crate::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES, GATES_MAX, Status};

/// Offset of the total-length field (u32), filled in when the blob is sealed.
pub(crate) const TOTAL_LEN_AT: usize = 6;
/// Offset of the signing key's fingerprint (8 bytes), filled in when sealed.
pub(crate) const FINGERPRINT_AT: usize = 10;
/// Bytes of the header before the event name.
pub(crate) const HEADER_FIXED_BYTES: usize = 51;

const HAS_FROM: u8 = 0b0001;
const HAS_UNTIL: u8 = 0b0010;
const HAS_MAX: u8 = 0b0100;
const DYNAMIC: u8 = 0b1000;

/// The header fields every blob carries.
pub(crate) struct Header {
    pub kind: BlobKind,
    pub version: u64,
    pub base_version: u64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub event: String,
}

fn put_header(out: &mut Vec<u8>, h: &Header) {
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(h.kind as u8);
    out.extend_from_slice(&[0; 4 + 8]); // total length, key fingerprint: sealed later
    out.extend_from_slice(&h.version.to_be_bytes());
    out.extend_from_slice(&h.base_version.to_be_bytes());
    out.extend_from_slice(&h.created_ms.to_be_bytes());
    out.extend_from_slice(&h.expires_ms.to_be_bytes());
    debug_assert_eq!(out.len(), HEADER_FIXED_BYTES - 1);
    put_name(out, &h.event);
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    debug_assert!(
        name.len() <= u8::MAX as usize,
        "names are checked to 64 bytes"
    );
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

fn put_profile(out: &mut Vec<u8>, p: &Profile) {
    let flags = (p.valid_from_ms.is_some() as u8 * HAS_FROM)
        | (p.valid_until_ms.is_some() as u8 * HAS_UNTIL)
        | (p.max_uses.is_some() as u8 * HAS_MAX)
        | (p.dynamic as u8 * DYNAMIC);
    out.push(flags);
    out.extend_from_slice(&p.valid_from_ms.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&p.valid_until_ms.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&p.max_uses.unwrap_or(0).to_be_bytes());
    out.push(p.gates.len() as u8);
    for g in &p.gates {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

fn put_entry(out: &mut Vec<u8>, e: &SnapshotEntry) {
    out.extend_from_slice(&e.index.0);
    out.push(match e.status {
        Status::Active => 0,
        Status::Suspended => 1,
        Status::Revoked => 2,
    });
    out.extend_from_slice(&e.uses.to_be_bytes());
    out.extend_from_slice(&e.profile.to_be_bytes());
}

fn put_tables(out: &mut Vec<u8>, gates: &[String], profiles: &[Profile]) {
    out.extend_from_slice(&(gates.len() as u16).to_be_bytes());
    gates.iter().for_each(|g| put_name(out, g));
    out.extend_from_slice(&(profiles.len() as u16).to_be_bytes());
    profiles.iter().for_each(|p| put_profile(out, p));
}

/// The unsealed bytes of a snapshot (no length, key or signature yet).
pub(crate) fn write_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_FIXED_BYTES + 64 + s.entries.len() * ENTRY_BYTES);
    put_header(&mut out, &header_of(s, BlobKind::Snapshot, 0));
    put_tables(&mut out, &s.gates, &s.profiles);
    out.extend_from_slice(&(s.entries.len() as u32).to_be_bytes());
    s.entries.iter().for_each(|e| put_entry(&mut out, e));
    out
}

fn header_of(s: &Snapshot, kind: BlobKind, base_version: u64) -> Header {
    Header {
        kind,
        version: s.version,
        base_version,
        created_ms: s.created_ms,
        expires_ms: s.expires_ms,
        event: s.event.clone(),
    }
}

/// The unsealed bytes of a delta.
pub(crate) fn write_delta(d: &Delta) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + d.changed.len() * ENTRY_BYTES);
    put_header(
        &mut out,
        &Header {
            kind: BlobKind::Delta,
            version: d.version,
            base_version: d.base_version,
            created_ms: d.created_ms,
            expires_ms: d.expires_ms,
            event: d.event.clone(),
        },
    );
    out.extend_from_slice(&d.base_gates.to_be_bytes());
    out.extend_from_slice(&d.base_profiles.to_be_bytes());
    put_tables(&mut out, &d.new_gates, &d.new_profiles);
    out.extend_from_slice(&(d.changed.len() as u32).to_be_bytes());
    d.changed.iter().for_each(|e| put_entry(&mut out, e));
    out.extend_from_slice(&(d.removed.len() as u32).to_be_bytes());
    d.removed.iter().for_each(|i| out.extend_from_slice(&i.0));
    out
}

/// Reads fields off a signed body. Running out of bytes inside a body whose
/// signature verified is a malformed blob (the length was sealed with it).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

fn bad(what: &'static str) -> SnapshotError {
    SnapshotError::Malformed(what)
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(bad("a field runs past the end"))?;
        self.buf = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    /// A count of items of `size` bytes each, checked against what is left
    /// before anyone allocates for it.
    fn count(&mut self, wide: bool, size: usize, max: usize) -> Result<usize, SnapshotError> {
        let n = if wide {
            self.u32()? as usize
        } else {
            self.u16()? as usize
        };
        if n > max || n.saturating_mul(size) > self.buf.len() {
            return Err(bad("a count exceeds its limit or the bytes left"));
        }
        Ok(n)
    }

    pub(crate) fn name(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<String, SnapshotError> {
        let len = self.u8()? as usize;
        let bytes = self
            .buf
            .split_at_checked(len)
            .map(|(head, rest)| {
                self.buf = rest;
                head
            })
            .ok_or(bad("a name runs past the end"))?;
        let name = std::str::from_utf8(bytes).map_err(|_| bad("a name is not UTF-8"))?;
        crate::name::check_name(field, name, max)
            .map_err(|_| bad("a name breaks the name rule"))?;
        Ok(name.to_owned())
    }

    fn gates(&mut self, max: usize) -> Result<Vec<String>, SnapshotError> {
        let n = self.count(false, 2, max)?;
        (0..n).map(|_| self.name("gate", GATE_MAX_BYTES)).collect()
    }

    fn profile(&mut self, gate_count: usize) -> Result<Profile, SnapshotError> {
        let flags = self.u8()?;
        if flags & !(HAS_FROM | HAS_UNTIL | HAS_MAX | DYNAMIC) != 0 {
            return Err(bad("a profile has unknown flags"));
        }
        let (from, until, max) = (self.i64()?, self.i64()?, self.u32()?);
        let n = self.u8()? as usize;
        if n > GATES_MAX {
            return Err(bad("a profile lists too many gates"));
        }
        let gates = (0..n).map(|_| self.u16()).collect::<Result<Vec<_>, _>>()?;
        if gates.iter().any(|g| *g as usize >= gate_count) {
            return Err(bad("a profile names a gate outside the table"));
        }
        Ok(Profile {
            valid_from_ms: (flags & HAS_FROM != 0).then_some(from),
            valid_until_ms: (flags & HAS_UNTIL != 0).then_some(until),
            max_uses: (flags & HAS_MAX != 0).then_some(max),
            gates,
            dynamic: flags & DYNAMIC != 0,
        })
    }

    fn profiles(&mut self, max: usize, gate_count: usize) -> Result<Vec<Profile>, SnapshotError> {
        let n = self.count(false, PROFILE_FIXED_BYTES, max)?;
        (0..n).map(|_| self.profile(gate_count)).collect()
    }

    fn index(&mut self) -> Result<EntryIndex, SnapshotError> {
        Ok(EntryIndex(self.take::<INDEX_BYTES>()?))
    }

    fn entries(&mut self, profile_count: usize) -> Result<Vec<SnapshotEntry>, SnapshotError> {
        let n = self.count(true, ENTRY_BYTES, usize::MAX)?;
        let mut entries: Vec<SnapshotEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.index()?;
            let status = match self.u8()? {
                0 => Status::Active,
                1 => Status::Suspended,
                2 => Status::Revoked,
                _ => return Err(bad("an entry has an unknown status")),
            };
            let (uses, profile) = (self.u32()?, self.u16()?);
            if profile as usize >= profile_count {
                return Err(bad("an entry names a profile outside the table"));
            }
            if entries.last().is_some_and(|prev| prev.index >= index) {
                return Err(bad("entries are not sorted by index"));
            }
            entries.push(SnapshotEntry {
                index,
                status,
                uses,
                profile,
            });
        }
        Ok(entries)
    }

    fn end(&self) -> Result<(), SnapshotError> {
        match self.buf.is_empty() {
            true => Ok(()),
            false => Err(bad("bytes follow the last field")),
        }
    }
}

/// Reads the header after the magic, version, kind, length and fingerprint
/// (which [`super::key`] checked before the signature).
pub(crate) fn read_header(r: &mut Reader<'_>, kind: BlobKind) -> Result<Header, SnapshotError> {
    Ok(Header {
        kind,
        version: r.u64()?,
        base_version: r.u64()?,
        created_ms: r.i64()?,
        expires_ms: r.i64()?,
        event: r.name("event", EVENT_MAX_BYTES)?,
    })
}

/// Reads a snapshot's body after its header.
pub(crate) fn read_snapshot(mut r: Reader<'_>, h: Header) -> Result<Snapshot, SnapshotError> {
    if h.base_version != 0 {
        return Err(bad("a snapshot names a base version"));
    }
    let gates = r.gates(GATE_NAMES_MAX)?;
    let profiles = r.profiles(PROFILES_MAX, gates.len())?;
    let entries = r.entries(profiles.len())?;
    r.end()?;
    let profile_gates = Snapshot::resolve_gates(&gates, &profiles);
    Ok(Snapshot {
        event: h.event,
        version: h.version,
        created_ms: h.created_ms,
        expires_ms: h.expires_ms,
        gates,
        profiles,
        entries,
        profile_gates,
    })
}

/// Reads a delta's body after its header.
pub(crate) fn read_delta(mut r: Reader<'_>, h: Header) -> Result<Delta, SnapshotError> {
    if h.version <= h.base_version {
        return Err(bad("a delta's version is not after its base"));
    }
    let (base_gates, base_profiles) = (r.u16()?, r.u16()?);
    let new_gates = r.gates(GATE_NAMES_MAX.saturating_sub(base_gates as usize))?;
    let gate_count = base_gates as usize + new_gates.len();
    let new_profiles = r.profiles(PROFILES_MAX - base_profiles as usize, gate_count)?;
    let changed = r.entries(base_profiles as usize + new_profiles.len())?;
    let n = r.count(true, INDEX_BYTES, usize::MAX)?;
    let mut removed: Vec<EntryIndex> = Vec::with_capacity(n);
    for _ in 0..n {
        let index = r.index()?;
        if removed.last().is_some_and(|prev| *prev >= index) {
            return Err(bad("removed indexes are not sorted"));
        }
        if changed.binary_search_by(|e| e.index.cmp(&index)).is_ok() {
            return Err(bad("an index is both changed and removed"));
        }
        removed.push(index);
    }
    r.end()?;
    Ok(Delta {
        event: h.event,
        base_version: h.base_version,
        version: h.version,
        created_ms: h.created_ms,
        expires_ms: h.expires_ms,
        base_gates,
        new_gates,
        base_profiles,
        new_profiles,
        changed,
        removed,
    })
}
