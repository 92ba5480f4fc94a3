//! Ed25519 signing of snapshots and deltas, and their verification on a
//! device. The gateway holds a [`SnapshotSigner`] (a 32-byte seed, kept in a
//! key file); a device holds only the [`SnapshotVerifier`] (the public key),
//! so nothing on a device can sign.
//!
//! A device checks, in this order, before it parses anything else: the size
//! limit, the length the blob announces, magic, format version, kind, key
//! fingerprint, then the signature over every byte before it; then the body,
//! the event and the expiry against the `now_ms` it is given.

use super::codec::{self, FINGERPRINT_AT, HEADER_FIXED_BYTES, Reader, TOTAL_LEN_AT};
use super::error::SnapshotError;
use super::format::{BlobKind, Delta, FORMAT_VERSION, KeyFingerprint, MAGIC, Snapshot};
use super::{DELTA_MAX_BYTES, SNAPSHOT_MAX_BYTES};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;

/// Bytes of an Ed25519 signature, at the end of every blob.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of a signing seed (the gateway's key file) and of a public key.
pub const KEY_BYTES: usize = 32;
/// The shortest blob: header with a one-byte event name, and a signature.
const MIN_BYTES: usize = HEADER_FIXED_BYTES + 1 + SIGNATURE_BYTES;

/// The gateway's snapshot signing key. `Debug` never prints the seed.
#[derive(Clone)]
pub struct SnapshotSigner {
    key: SigningKey,
    fingerprint: KeyFingerprint,
}

impl fmt::Debug for SnapshotSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotSigner")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SnapshotSigner {
    /// The key made from a 32-byte seed: 32 bytes from the operating
    /// system's generator for a new key (the gateway calls `getrandom`;
    /// `core` reads no generator), or the seed read back from the key file.
    pub fn from_seed(seed: [u8; KEY_BYTES]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let fingerprint = KeyFingerprint::of(key.verifying_key().as_bytes());
        SnapshotSigner { key, fingerprint }
    }

    /// The seed, for the gateway's key file (mode 0600). A secret.
    pub fn to_seed(&self) -> [u8; KEY_BYTES] {
        self.key.to_bytes()
    }

    /// What devices hold to verify this key's snapshots.
    pub fn verifier(&self) -> SnapshotVerifier {
        SnapshotVerifier {
            key: self.key.verifying_key(),
            fingerprint: self.fingerprint,
        }
    }

    /// Fills in the length and the key's fingerprint, and appends the
    /// signature over every byte before it.
    pub(crate) fn seal(&self, mut blob: Vec<u8>) -> Vec<u8> {
        let total = blob.len() + SIGNATURE_BYTES;
        debug_assert!(total <= SNAPSHOT_MAX_BYTES, "the builder bounds the size");
        blob[TOTAL_LEN_AT..TOTAL_LEN_AT + 4].copy_from_slice(&(total as u32).to_be_bytes());
        blob[FINGERPRINT_AT..FINGERPRINT_AT + 8].copy_from_slice(&self.fingerprint.0);
        let signature = self.key.sign(&blob);
        blob.extend_from_slice(&signature.to_bytes());
        blob
    }
}

/// The public half, on devices: opens snapshots and deltas.
#[derive(Clone, PartialEq, Eq)]
pub struct SnapshotVerifier {
    key: VerifyingKey,
    fingerprint: KeyFingerprint,
}

impl fmt::Debug for SnapshotVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotVerifier({})", self.fingerprint)
    }
}

impl SnapshotVerifier {
    /// A public key from its 32 bytes (as the gateway hands it to devices).
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Result<Self, SnapshotError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| SnapshotError::Malformed("the public key is not an Ed25519 key"))?;
        let fingerprint = KeyFingerprint::of(key.as_bytes());
        Ok(SnapshotVerifier { key, fingerprint })
    }

    /// The public key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; KEY_BYTES] {
        self.key.to_bytes()
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }

    /// Opens a whole snapshot for `event`, refusing it from `now_ms` on
    /// once it has expired.
    pub fn open_snapshot(
        &self,
        bytes: &[u8],
        event: &str,
        now_ms: i64,
    ) -> Result<Snapshot, SnapshotError> {
        let body = self.open(bytes, BlobKind::Snapshot)?;
        let mut r = Reader::new(body);
        let header = codec::read_header(&mut r, BlobKind::Snapshot)?;
        let snapshot = codec::read_snapshot(r, header)?;
        check_event_and_time(&snapshot.event, snapshot.expires_ms, event, now_ms)?;
        Ok(snapshot)
    }

    /// Opens a delta for `event`; apply it with [`Snapshot::apply`].
    pub fn open_delta(
        &self,
        bytes: &[u8],
        event: &str,
        now_ms: i64,
    ) -> Result<Delta, SnapshotError> {
        let body = self.open(bytes, BlobKind::Delta)?;
        let mut r = Reader::new(body);
        let header = codec::read_header(&mut r, BlobKind::Delta)?;
        let delta = codec::read_delta(r, header)?;
        check_event_and_time(&delta.event, delta.expires_ms, event, now_ms)?;
        Ok(delta)
    }

    /// Checks the envelope and the signature; returns the signed bytes after
    /// the fields checked here (from the version on).
    fn open<'a>(&self, bytes: &'a [u8], kind: BlobKind) -> Result<&'a [u8], SnapshotError> {
        let max = match kind {
            BlobKind::Snapshot => SNAPSHOT_MAX_BYTES,
            BlobKind::Delta => DELTA_MAX_BYTES,
        };
        let len = bytes.len();
        if len > max {
            return Err(SnapshotError::Oversized { len, max });
        }
        if len < MIN_BYTES {
            return Err(SnapshotError::Truncated {
                len,
                expected: MIN_BYTES,
            });
        }
        if bytes[..4] != MAGIC {
            return Err(SnapshotError::Malformed(
                "it does not start with the snapshot magic",
            ));
        }
        if bytes[4] != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedFormat(bytes[4]));
        }
        let total = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
        if len < total {
            return Err(SnapshotError::Truncated {
                len,
                expected: total,
            });
        }
        if len > total || total < MIN_BYTES {
            return Err(SnapshotError::Malformed(
                "its length field does not match its bytes",
            ));
        }
        check_kind(bytes[5], kind)?;
        let mut found = [0u8; 8];
        found.copy_from_slice(&bytes[FINGERPRINT_AT..FINGERPRINT_AT + 8]);
        if found != self.fingerprint.0 {
            return Err(SnapshotError::WrongKey {
                expected: self.fingerprint,
                found: KeyFingerprint(found),
            });
        }
        let (signed, signature) = bytes.split_at(len - SIGNATURE_BYTES);
        let signature =
            Signature::from_slice(signature).map_err(|_| SnapshotError::BadSignature)?;
        self.key
            .verify_strict(signed, &signature)
            .map_err(|_| SnapshotError::BadSignature)?;
        Ok(&signed[FINGERPRINT_AT + 8..])
    }
}

fn kind_name(kind: u8) -> Option<&'static str> {
    match kind {
        k if k == BlobKind::Snapshot as u8 => Some("snapshot"),
        k if k == BlobKind::Delta as u8 => Some("delta"),
        _ => None,
    }
}

fn check_kind(found: u8, expected: BlobKind) -> Result<(), SnapshotError> {
    let found = kind_name(found).ok_or(SnapshotError::Malformed("its kind is unknown"))?;
    let expected = kind_name(expected as u8).unwrap_or("snapshot");
    if found != expected {
        return Err(SnapshotError::WrongKind { expected, found });
    }
    Ok(())
}

fn check_event_and_time(
    found: &str,
    expires_ms: i64,
    event: &str,
    now_ms: i64,
) -> Result<(), SnapshotError> {
    if found != event {
        return Err(SnapshotError::WrongEvent {
            expected: event.to_owned(),
            found: found.to_owned(),
        });
    }
    if now_ms >= expires_ms {
        return Err(SnapshotError::Expired { expires_ms, now_ms });
    }
    Ok(())
}
