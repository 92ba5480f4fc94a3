//! Feeds arbitrary bytes to a device's snapshot and delta checks. Must never
//! panic, and must never open bytes that the device's key did not sign.
//!
//! The first byte picks the mode. Even: the rest is opened as it is (what a
//! device downloads). Odd: a blob is sealed first, as the gateway seals one
//! (length at bytes 6..10, key fingerprint at 10..18, Ed25519 signature
//! appended), so the parser behind the signature is reached; whatever opens
//! is then decided from and, as a delta, the second half of the rest is
//! applied to it. The blob is the whole rest when bit 1 is clear, its first
//! half when set. A blob without the magic and format version is refused
//! before its signature is read, so it is not signed: a signature costs more
//! than all the rest of an input.
#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use scangate_core::offline::format::{FORMAT_VERSION, MAGIC};
use scangate_core::offline::{SnapshotSigner, SnapshotVerifier};
use std::sync::LazyLock;

const SEED: [u8; 32] = [0x42; 32];
/// The keys, derived once: a derivation costs as much as a signature, and
/// each input signs at most twice.
static SIGNER: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&SEED));
static VERIFIER: LazyLock<SnapshotVerifier> =
    LazyLock::new(|| SnapshotSigner::from_seed(SEED).verifier());
const TOKEN: &str = "AEAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn seal(blob: &[u8], verifier: &SnapshotVerifier) -> Vec<u8> {
    let mut out = blob.to_vec();
    if out.len() < 18 || !out.starts_with(&MAGIC) || out[4] != FORMAT_VERSION {
        return out;
    }
    let total = (out.len() + 64) as u32;
    out[6..10].copy_from_slice(&total.to_be_bytes());
    out[10..18].copy_from_slice(&verifier.fingerprint().0);
    let signature = SIGNER.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// The event the blob names (bytes 51.., length at byte 50), so that a
/// well-formed blob of any event gets past the event check.
fn event_of(blob: &[u8]) -> &str {
    let len = blob.get(50).map_or(0, |l| *l as usize);
    blob.get(51..51 + len)
        .and_then(|e| std::str::from_utf8(e).ok())
        .unwrap_or("fest")
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let verifier = &*VERIFIER;
    if mode % 2 == 0 {
        let event = event_of(rest);
        assert!(
            verifier.open_snapshot(rest, event, 0).is_err(),
            "unsigned bytes opened"
        );
        assert!(
            verifier.open_delta(rest, event, 0).is_err(),
            "unsigned bytes opened"
        );
        return;
    }
    let (first, second) = rest.split_at(rest.len() / 2);
    let blob = if mode & 2 == 0 { rest } else { first };
    let sealed = seal(blob, verifier);
    if let Ok(snapshot) = verifier.open_snapshot(&sealed, event_of(blob), 0) {
        let _ = snapshot.decide(TOKEN, "north", None, 0, |_| 0);
        let delta = seal(second, verifier);
        if let Ok(delta) = verifier.open_delta(&delta, event_of(second), 0) {
            let _ = snapshot.apply(&delta);
        }
    }
    let _ = verifier.open_delta(&sealed, event_of(blob), 0);
});
