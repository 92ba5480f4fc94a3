//! A pass's personal data (its display text and card-share fields), sealed
//! under a key of its own so that destroying the key erases the data
//! everywhere a copy of the sealed bytes was written.
//!
//! Every backend stores a pass in three parts: the public record (the pass
//! with [`Personal`] taken out, so no plaintext personal field reaches a
//! table, a log record or a snapshot), the sealed personal data ([`seal`]:
//! ChaCha20-Poly1305, a random 96-bit nonce, the pass id as associated data,
//! so sealed bytes moved to another pass do not open), and the pass's
//! [`PassKey`], 32 random bytes kept apart from both. Erasure replaces the
//! key with nothing and removes the sealed bytes; whatever copy of them
//! stays behind (an old table file, a log segment) cannot be opened.
//!
//! A key is used for one message only (personal data is sealed once, at
//! issue), so a random nonce can never repeat under it.

use crate::StoreError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use scangate_core::pass::Card;
use scangate_core::{Pass, PassId};
use serde::{Deserialize, Serialize};

/// Bytes of a pass key (ChaCha20-Poly1305's 256-bit key).
pub const KEY_BYTES: usize = 32;
/// Bytes of the nonce that starts every sealed value.
pub const NONCE_BYTES: usize = 12;

/// A pass's personal-data key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PassKey([u8; KEY_BYTES]);

impl PassKey {
    /// A fresh random key from the operating system.
    pub fn random() -> Result<PassKey, StoreError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key)
            .map_err(|e| StoreError::Internal(format!("no random bytes for a pass key: {e}")))?;
        Ok(PassKey(key))
    }

    /// A key as stored; anything but [`KEY_BYTES`] bytes is corruption.
    pub fn from_stored(id: PassId, bytes: &[u8]) -> Result<PassKey, StoreError> {
        let key = bytes.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "key of pass {id}: {} bytes, expected {KEY_BYTES}",
                bytes.len()
            ))
        })?;
        Ok(PassKey(key))
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl std::fmt::Debug for PassKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassKey(..)")
    }
}

/// The personal fields of a pass, as sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personal {
    /// The display text.
    #[serde(default)]
    pub display: Option<String>,
    /// The card-share fields.
    #[serde(default)]
    pub card: Option<Box<Card>>,
}

impl Personal {
    /// Takes the personal fields out of `pass`, leaving its public record.
    pub fn take(pass: &mut Pass) -> Personal {
        Personal {
            display: pass.display.take(),
            card: pass.card.take(),
        }
    }

    /// Whether `pass` holds personal fields in the clear.
    pub fn in_clear(pass: &Pass) -> bool {
        pass.display.is_some() || pass.card.is_some()
    }

    /// Puts the fields back into a pass read from its public record.
    pub fn restore(self, pass: &mut Pass) {
        pass.display = self.display;
        pass.card = self.card;
    }

    /// Whether there is nothing to seal.
    pub fn is_empty(&self) -> bool {
        self.display.is_none() && self.card.is_none()
    }
}

/// A pass split for storage: what every backend writes at issue.
pub struct Split {
    /// The pass without its personal fields.
    pub public: Pass,
    /// The pass's key and its sealed personal data; `None` when it has none.
    pub sealed: Option<(PassKey, Vec<u8>)>,
}

/// Splits `pass` into its public record and, when it has personal fields,
/// a fresh key with the fields sealed under it.
pub fn split(mut pass: Pass) -> Result<Split, StoreError> {
    let personal = Personal::take(&mut pass);
    let sealed = if personal.is_empty() {
        None
    } else {
        let key = PassKey::random()?;
        let bytes = seal(pass.id, &personal, &key)?;
        Some((key, bytes))
    };
    Ok(Split {
        public: pass,
        sealed,
    })
}

/// Seals `personal` for pass `id`: nonce ‖ ciphertext and tag.
pub fn seal(id: PassId, personal: &Personal, key: &PassKey) -> Result<Vec<u8>, StoreError> {
    let plain = crate::record::encode(personal)?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|e| StoreError::Internal(format!("no random bytes for a nonce: {e}")))?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    let payload = Payload {
        msg: &plain,
        aad: &id.0,
    };
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .map_err(|_| StoreError::Internal("cannot seal personal data".into()))?;
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] made for pass `id`; a wrong key, another pass's
/// bytes or any changed byte is corruption.
pub fn open(id: PassId, sealed: &[u8], key: &PassKey) -> Result<Personal, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("personal data of pass {id} does not open"));
    if sealed.len() < NONCE_BYTES {
        return Err(corrupt());
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    let payload = Payload {
        msg: body,
        aad: &id.0,
    };
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), payload)
        .map_err(|_| corrupt())?;
    crate::record::decode(&plain, "personal data")
}

/// Puts a pass read from its public record back together: with its
/// personal fields when both its key and sealed bytes are there, without
/// them when erased (or never sealed: a record written before sealing
/// keeps its fields in the clear until erased).
pub fn reunite(
    pass: &mut Pass,
    key: Option<&[u8]>,
    sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    if let (Some(key), Some(sealed)) = (key, sealed)
        && !key.is_empty()
    {
        let key = PassKey::from_stored(pass.id, key)?;
        open(pass.id, sealed, &key)?.restore(pass);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::pass::CardField;

    fn personal() -> Personal {
        Personal {
            display: Some("Jane Doe, row 7".into()),
            card: Some(Box::new(Card {
                name: Some(CardField {
                    value: "Jane Doe".into(),
                    shared: true,
                    consent_ms: 5,
                }),
                ..Card::default()
            })),
        }
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn sealed_bytes_open_with_their_key_and_hold_no_plaintext() {
        let (id, key) = (PassId([1; 16]), PassKey::random().expect("key"));
        let sealed = seal(id, &personal(), &key).expect("seal");
        assert!(!contains(&sealed, b"Jane Doe"));
        assert_eq!(open(id, &sealed, &key).expect("open"), personal());
        let again = seal(id, &personal(), &key).expect("seal");
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn a_wrong_key_another_pass_or_a_changed_byte_does_not_open() {
        let (id, key) = (PassId([1; 16]), PassKey::random().expect("key"));
        let sealed = seal(id, &personal(), &key).expect("seal");
        let other = PassKey::random().expect("key");
        assert!(matches!(
            open(id, &sealed, &other),
            Err(StoreError::Corrupt(_))
        ));
        assert!(
            open(PassId([2; 16]), &sealed, &key).is_err(),
            "bound to the pass id"
        );
        for i in [0, NONCE_BYTES, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(id, &bad, &key).is_err(), "byte {i} changed");
        }
        assert!(
            open(id, &sealed[..5], &key).is_err(),
            "shorter than a nonce"
        );
        assert!(PassKey::from_stored(id, &[0; 31]).is_err());
    }

    #[test]
    fn split_takes_personal_fields_out_and_reunite_puts_them_back() {
        let mut pass = scangate_core::testing::pass(PassId([3; 16]), Some(1));
        pass.display = Some("Jane Doe, row 7".into());
        let Split { public, sealed } = split(pass.clone()).expect("split");
        assert!(!Personal::in_clear(&public));
        let (key, bytes) = sealed.expect("sealed");
        let mut back = public.clone();
        reunite(&mut back, Some(key.as_bytes()), Some(&bytes)).expect("reunite");
        assert_eq!(back, pass);
        let mut erased = public.clone();
        reunite(&mut erased, Some(&[]), Some(&bytes)).expect("erased key");
        assert_eq!(erased, public, "an erased key leaves the public record");
        assert!(
            format!("{key:?}").ends_with("(..)"),
            "Debug hides the bytes"
        );
        pass.display = None;
        assert!(
            split(pass).expect("split").sealed.is_none(),
            "nothing to seal"
        );
    }
}
