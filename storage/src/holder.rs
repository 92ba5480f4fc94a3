//! Holder links as every backend stores them: a pass's link is kept only as
//! the SHA-256 of its secret (never the secret), with the time it was made.
//! One link per pass: making a new one replaces the old.

use crate::StoreError;
use scangate_core::PassId;

/// Bytes of a stored link's value: the secret's SHA-256 (32) ‖ `created_ms`
/// (i64 big-endian, 8).
pub const HOLDER_LINK_BYTES: usize = 40;

/// A pass's holder link as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolderLink {
    /// The pass the link shows.
    pub pass_id: PassId,
    /// SHA-256 of the link's secret; the secret itself is shown once and
    /// never stored.
    pub secret_sha256: [u8; 32],
    /// When the link was made (Unix ms).
    pub created_ms: i64,
}

impl HolderLink {
    /// The stored value (without the pass id, which is the key).
    pub fn encode(&self) -> [u8; HOLDER_LINK_BYTES] {
        let mut out = [0u8; HOLDER_LINK_BYTES];
        out[..32].copy_from_slice(&self.secret_sha256);
        out[32..].copy_from_slice(&self.created_ms.to_be_bytes());
        out
    }

    /// The link of `pass_id` from its stored value; a value of another
    /// length is corruption.
    pub fn decode(pass_id: PassId, bytes: &[u8]) -> Result<HolderLink, StoreError> {
        let fixed: [u8; HOLDER_LINK_BYTES] = bytes.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "holder link of {pass_id}: {} bytes, not {HOLDER_LINK_BYTES}",
                bytes.len()
            ))
        })?;
        let mut secret_sha256 = [0u8; 32];
        secret_sha256.copy_from_slice(&fixed[..32]);
        let mut created = [0u8; 8];
        created.copy_from_slice(&fixed[32..]);
        Ok(HolderLink {
            pass_id,
            secret_sha256,
            created_ms: i64::from_be_bytes(created),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_and_a_short_value_is_corrupt() {
        let link = HolderLink {
            pass_id: PassId([3; 16]),
            secret_sha256: [9; 32],
            created_ms: -5,
        };
        let bytes = link.encode();
        assert_eq!(
            HolderLink::decode(link.pass_id, &bytes).expect("decodes"),
            link
        );
        assert!(matches!(
            HolderLink::decode(link.pass_id, &bytes[..39]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
