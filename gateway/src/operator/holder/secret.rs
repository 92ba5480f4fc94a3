//! Holder link secrets: made, read back and checked.
//!
//! A secret is the pass id (32 hex digits), `-`, and [`SECRET_RANDOM_BYTES`]
//! random bytes from the operating system's generator (40 hex digits); the
//! link is `/h/{secret}`. The store keeps only its SHA-256
//! ([`scangate_storage::HolderLink`]). The pass id in front lets the gateway
//! read that one pass's link, then compare the hashes in constant time: an
//! unknown, revoked, malformed or guessed secret all end in the same
//! [`None`].

use crate::operator::state::AppState;
use scangate_core::{Pass, PassId};
use scangate_storage::{HolderLink, StoreError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a secret: 160 bits, beyond guessing at any rate the
/// holder pages allow (and above the 128 bits the contract asks).
pub const SECRET_RANDOM_BYTES: usize = 20;
/// Length of a secret as text: 32 hex digits of pass id, `-`, 40 hex digits.
pub const SECRET_LEN: usize = 32 + 1 + 2 * SECRET_RANDOM_BYTES;

/// A fresh secret for `pass` and the link to store for it (its hash).
/// The secret is shown once and never kept.
pub fn mint(pass: PassId, now_ms: i64) -> (String, HolderLink) {
    let random = crate::secret::random_bytes::<SECRET_RANDOM_BYTES>();
    let secret = format!("{pass}-{}", hex::encode(random));
    debug_assert_eq!(secret.len(), SECRET_LEN);
    let link = HolderLink {
        pass_id: pass,
        secret_sha256: digest(&secret),
        created_ms: now_ms,
    };
    (secret, link)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The pass a well-formed secret names, with the secret's hash; `None` for
/// anything that cannot be a secret (length first, then the parts).
pub fn parse(text: &str) -> Option<(PassId, [u8; 32])> {
    // ASCII first: `split_at` below must not land inside a character.
    if text.len() != SECRET_LEN || !text.is_ascii() {
        return None;
    }
    let (id, rest) = text.split_at(32);
    let random = rest.strip_prefix('-')?;
    let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex(id) || !lower_hex(random) {
        return None;
    }
    let id: PassId = id.parse().ok()?;
    Some((id, digest(text)))
}

/// Whether `presented` (a secret's hash) is the stored link's; with no
/// link it is compared with zeros, so both paths do the same work.
pub fn matches(stored: Option<&HolderLink>, presented: &[u8; 32]) -> bool {
    let (hash, exists) = match stored {
        Some(link) => (link.secret_sha256, true),
        None => ([0u8; 32], false),
    };
    bool::from(hash.ct_eq(presented)) && exists
}

/// The pass a holder link secret opens, or `None` (the one generic answer
/// for unknown, revoked, malformed and guessed secrets); `Err` only when the
/// store or the pass's actor cannot answer.
pub async fn resolve(state: &AppState, text: &str) -> Result<Option<Pass>, StoreError> {
    let Some((id, presented)) = parse(text) else {
        return Ok(None);
    };
    let stored = state.store.holder_link(id).await?;
    if !matches(stored.as_ref(), &presented) {
        return Ok(None);
    }
    state
        .registry
        .pass(id)
        .await
        .map_err(|e| StoreError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_secret_parses_to_its_pass_and_hash() {
        let pass = PassId([0xab; 16]);
        let (secret, link) = mint(pass, 7);
        assert_eq!(secret.len(), SECRET_LEN);
        assert!(secret.starts_with(&pass.to_string()));
        let (id, hash) = parse(&secret).expect("parses");
        assert_eq!((id, hash), (pass, link.secret_sha256));
        assert!(matches(Some(&link), &hash));
        let (other, _) = mint(pass, 8);
        assert_ne!(other, secret, "each secret is fresh");
        let (_, other_hash) = parse(&other).expect("parses");
        assert!(!matches(Some(&link), &other_hash), "a replaced secret");
        assert!(!matches(None, &hash), "no link");
        assert!(!matches(None, &[0; 32]), "zeros are no link");
    }

    #[test]
    fn anything_else_is_not_a_secret() {
        let (secret, _) = mint(PassId([1; 16]), 0);
        for bad in [
            String::new(),
            secret[..SECRET_LEN - 1].to_owned(),
            format!("{secret}0"),
            secret.replace('-', "_"),
            secret.to_uppercase(),
            format!("{}{}", &secret[..40], "g".repeat(SECRET_LEN - 40)),
            "é".repeat(SECRET_LEN / 2) + "-",
            "a".to_owned() + &"é".repeat(SECRET_LEN / 2),
        ] {
            assert_eq!(parse(&bad), None, "{bad:?}");
        }
    }
}
