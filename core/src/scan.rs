//! Scan ids and the records scans and admin changes leave behind.

use crate::decision::{Decision, Reason};
use crate::flags::Flag;
use crate::offline::conflict::ConflictKind;
use crate::pass::{AdminAction, PassId, Status};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// Longest scan id, in bytes. A UUID in text is 36.
pub const SCAN_ID_MAX_BYTES: usize = 64;

/// A scanner-generated identifier of one scan attempt. A retry carries the same
/// id, so the gateway can answer it with the first decision and count it once.
///
/// 1 to [`SCAN_ID_MAX_BYTES`] bytes of `A-Z a-z 0-9 . _ : -`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ScanId(String);

/// A scan id that breaks the format.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a scan id is 1 to {SCAN_ID_MAX_BYTES} characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'")]
pub struct ScanIdError;

impl ScanId {
    /// Checks and wraps a scan id.
    pub fn new(id: impl Into<String>) -> Result<Self, ScanIdError> {
        let id = id.into();
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        if id.is_empty() || id.len() > SCAN_ID_MAX_BYTES || !id.bytes().all(ok_char) {
            return Err(ScanIdError);
        }
        Ok(ScanId(id))
    }

    /// A fresh scan id from 16 random bytes the caller provides (this crate
    /// has no random number generator).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        ScanId(data_encoding::HEXLOWER.encode(&bytes))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scan id an offline grant is recorded under when this id holds
    /// the gateway's online denial of the same try (the device decided
    /// offline after its online try went unanswered): `ID:offline`, or for
    /// an id too long for that, `offline:` and the first 56 hex digits of a
    /// SHA-256 of it. A function of the id alone, so a re-upload finds the
    /// record it made; 64 bytes at most, of the scan id alphabet.
    pub fn offline(&self) -> ScanId {
        if self.0.len() + OFFLINE_SUFFIX.len() <= SCAN_ID_MAX_BYTES {
            return ScanId(format!("{}{OFFLINE_SUFFIX}", self.0));
        }
        let digest = Sha256::new()
            .chain_update(b"scangate/offline-scan-id/v1\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        let mut hex = data_encoding::HEXLOWER.encode(&digest);
        hex.truncate(SCAN_ID_MAX_BYTES - OFFLINE_PREFIX.len());
        ScanId(format!("{OFFLINE_PREFIX}{hex}"))
    }
}

/// What [`ScanId::offline`] appends to an id that leaves room for it.
const OFFLINE_SUFFIX: &str = ":offline";
/// What [`ScanId::offline`] puts before the hash of a longer id.
const OFFLINE_PREFIX: &str = "offline:";

impl fmt::Display for ScanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanId({})", self.0)
    }
}

/// In the admin API's OpenAPI document: the scan id's text and its format.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ScanId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(SCAN_ID_MAX_BYTES))
            .pattern(Some("^[A-Za-z0-9._:-]+$"))
            .description(Some("A scanner-generated scan id."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ScanId {}

impl<'de> Deserialize<'de> for ScanId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScanId::new(s).map_err(serde::de::Error::custom)
    }
}

/// What a decided scan leaves in the store: the scan log entry, which is also
/// what a retry with the same scan id is answered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// The scanner's id for this scan.
    pub scan_id: ScanId,
    /// The pass scanned.
    pub pass_id: PassId,
    /// When the gateway decided (Unix milliseconds).
    pub at_ms: i64,
    /// The scanner's own clock at the scan (Unix milliseconds), as it said.
    pub scanner_time_ms: i64,
    /// The gate.
    pub gate: String,
    /// The scanning device (its certificate name).
    pub device: String,
    /// What was decided.
    pub decision: Decision,
    /// The pass's use count after this scan.
    pub uses_after: u32,
    /// The pass's event (so scans can be listed per event without reading
    /// every pass). Empty in records written before it existed.
    #[serde(default)]
    pub event: String,
    /// Set when an operator annulled this grant, giving the use back.
    #[serde(default)]
    pub annulled: Option<Annulment>,
    /// Set when the scan was decided by an offline device and uploaded
    /// later: then `decision` is the device's, `at_ms` the upload's time and
    /// `scanner_time_ms` the device's clock at the scan.
    #[serde(default)]
    pub offline: Option<OfflineFacts>,
    /// Set when a guard admitted the pass by hand (an operator's override,
    /// `POST /v1/passes/{id}/admit`) rather than by a scanned token. Boxed:
    /// rare, and it keeps every record (and the turns' steps) small.
    #[serde(default)]
    pub guard_override: Option<Box<GuardOverride>>,
    /// The fraud flags this scan raised, in [`Flag::ALL`] order (see
    /// [`crate::flags`]). Empty in records written before flags existed.
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// For a grant at a gate of an event with a definition: the entry or
    /// exit, whose `after` presence the store sets in the same commit (on
    /// the condition that it holds `before`). `None` otherwise. Boxed: it
    /// is most of a record's size and most records have none.
    #[serde(default)]
    pub movement: Option<Box<crate::event::Movement>>,
}

/// Who admitted a pass by hand, why, and what the rules would have said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuardOverride {
    /// Who (the admin token's name).
    pub who: String,
    /// Why, in the operator's words.
    pub reason: String,
    /// The denial the rules would have given (`None`: they would have
    /// granted, e.g. a holder whose phone cannot show the code).
    pub overrode: Option<Reason>,
}

/// What is known of a scan an offline device decided, beside its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineFacts {
    /// The snapshot version the device decided from (the snapshot's
    /// `created_ms`, as the gateway numbers versions).
    pub snapshot_version: u64,
    /// What the device decided and showed (the record's `decision` too).
    pub device_decision: Decision,
    /// Every rule the scan broke, each once, in [`ConflictKind::ALL`] order.
    pub conflicts: Vec<ConflictKind>,
}

/// A flagged offline scan, as the operator lists it: one per rule broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    /// When the gateway recorded it (the upload's time, Unix ms).
    pub at_ms: i64,
    /// The device's scan id.
    pub scan_id: ScanId,
    /// The event of the upload (of the pass, when one was found).
    pub event: String,
    /// The pass; `None` for a forged token or a pass not found.
    pub pass_id: Option<PassId>,
    /// The rule broken.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ConflictKind,
    /// The device that decided (its certificate name).
    pub device: String,
    /// The gate it stood at.
    pub gate: String,
    /// The device's clock at the scan (Unix ms): recorded, never trusted.
    pub device_time_ms: i64,
}

impl Conflict {
    /// One conflict per kind flagged on an offline record (none for an
    /// online record): what a store keeps in the record's own commit.
    pub fn of_record(record: &ScanRecord) -> Vec<Conflict> {
        let Some(facts) = &record.offline else {
            return Vec::new();
        };
        facts
            .conflicts
            .iter()
            .map(|&kind| Conflict {
                at_ms: record.at_ms,
                scan_id: record.scan_id.clone(),
                event: record.event.clone(),
                pass_id: Some(record.pass_id),
                kind,
                device: record.device.clone(),
                gate: record.gate.clone(),
                device_time_ms: record.scanner_time_ms,
            })
            .collect()
    }
}

impl AuditRecord {
    /// The audit record a granted override keeps in the pass's audit, in
    /// the same commit as its scan record (`None` for any other record).
    /// An override admits an active pass only, so the status stays active.
    pub fn of_override(record: &ScanRecord) -> Option<AuditRecord> {
        let o = record.guard_override.as_ref()?;
        record.decision.is_granted().then(|| AuditRecord {
            pass_id: record.pass_id,
            at_ms: record.at_ms,
            who: o.who.clone(),
            action: AdminAction::Admit,
            reason: o.reason.clone(),
            status_before: Status::Active,
            status_after: Status::Active,
            scan_id: Some(record.scan_id.clone()),
            token_generation: None,
        })
    }
}

/// An operator took a granted scan back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annulment {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// Who (the admin token's name).
    pub who: String,
}

/// What an admin change leaves in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// The pass changed.
    pub pass_id: PassId,
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// Who (the admin token's name).
    pub who: String,
    /// What.
    pub action: AdminAction,
    /// Why, in the operator's words.
    pub reason: String,
    /// The status before the change.
    pub status_before: Status,
    /// The status after the change.
    pub status_after: Status,
    /// The scan an `annul` took back; `None` for status changes.
    #[serde(default)]
    pub scan_id: Option<ScanId>,
    /// The pass's token generation after a `reissue`; `None` for every
    /// other action.
    #[serde(default)]
    pub token_generation: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ids_are_checked() {
        assert!(ScanId::new("a1b2-c3:d4.e_5").is_ok());
        assert_eq!(ScanId::new(""), Err(ScanIdError));
        assert_eq!(
            ScanId::new("x".repeat(SCAN_ID_MAX_BYTES + 1)),
            Err(ScanIdError)
        );
        assert_eq!(ScanId::new("has space"), Err(ScanIdError));
        assert_eq!(ScanId::from_random([0xff; 16]).as_str().len(), 32);
    }

    #[test]
    fn an_offline_scan_id_is_a_valid_scan_id_derived_from_the_id_alone() {
        let short = ScanId::new("lane-1").expect("id");
        assert_eq!(short.offline().as_str(), "lane-1:offline");
        let long = |c: &str| ScanId::new(c.repeat(SCAN_ID_MAX_BYTES)).expect("id");
        let (a, b) = (long("a").offline(), long("b").offline());
        assert!(a.as_str().starts_with("offline:"), "{a}");
        assert_eq!(a.as_str().len(), SCAN_ID_MAX_BYTES);
        assert_ne!(a, b);
        assert_eq!(a, long("a").offline(), "the same id, the same derived id");
        for derived in [short.offline(), a] {
            assert_eq!(ScanId::new(derived.as_str()), Ok(derived.clone()));
        }
    }

    #[test]
    fn a_bad_scan_id_does_not_deserialize() {
        let bytes = rmp_serde::to_vec(&"bad id").expect("encode");
        assert!(rmp_serde::from_slice::<ScanId>(&bytes).is_err());
    }
}
