//! [`ConflictKind`]: the rules an offline scan can break, found when the
//! gateway reconciles it. Its own file so that scan records (which carry
//! them) and the upload messages both point here, one way.

use serde::{Deserialize, Serialize};

/// A rule an offline scan broke, found when the gateway reconciles it.
/// The spellings are the contract (API, metrics, CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictKind {
    /// Granted offline beyond `max_uses` (e.g. one ticket on two devices).
    OverLimit,
    /// The pass was revoked before the device's scan time.
    RevokedBeforeScan,
    /// The pass was suspended before the device's scan time.
    SuspendedBeforeScan,
    /// Decided from a snapshot that had expired.
    ExpiredSnapshot,
    /// The pass does not admit at that gate.
    WrongGate,
    /// The token's signature does not verify.
    Forged,
    /// No such pass, or a pass of another event.
    UnknownPass,
    /// The token was of an older generation than the pass's: the pass was
    /// re-issued (`scangate pass reissue`) and the device admitted an old
    /// code, which the gateway denies `superseded` online.
    Superseded,
    /// The device's scan time is later than the upload.
    TimeInFuture,
    /// The device's scan time is before the snapshot it decided from.
    TimeBeforeSnapshot,
    /// The pass's validity window (or the token's own not-after) did not
    /// cover the device's scan time.
    OutsideValidity,
}

impl ConflictKind {
    /// Every kind, in the order the gateway checks them.
    pub const ALL: [ConflictKind; 11] = [
        ConflictKind::Forged,
        ConflictKind::UnknownPass,
        ConflictKind::Superseded,
        ConflictKind::OverLimit,
        ConflictKind::RevokedBeforeScan,
        ConflictKind::SuspendedBeforeScan,
        ConflictKind::OutsideValidity,
        ConflictKind::WrongGate,
        ConflictKind::ExpiredSnapshot,
        ConflictKind::TimeInFuture,
        ConflictKind::TimeBeforeSnapshot,
    ];

    /// The contract spelling (API, metrics label, CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::OverLimit => "over_limit",
            ConflictKind::RevokedBeforeScan => "revoked_before_scan",
            ConflictKind::SuspendedBeforeScan => "suspended_before_scan",
            ConflictKind::ExpiredSnapshot => "expired_snapshot",
            ConflictKind::WrongGate => "wrong_gate",
            ConflictKind::Forged => "forged",
            ConflictKind::UnknownPass => "unknown_pass",
            ConflictKind::Superseded => "superseded",
            ConflictKind::TimeInFuture => "time_in_future",
            ConflictKind::TimeBeforeSnapshot => "time_before_snapshot",
            ConflictKind::OutsideValidity => "outside_validity",
        }
    }
}

impl std::str::FromStr for ConflictKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConflictKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown conflict kind {s:?}"))
    }
}
