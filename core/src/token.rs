//! The signed token a QR code carries, and the keyring that signs and verifies it.
//!
//! Layout (bytes, before encoding):
//!
//! ```text
//! 0      version = 1
//! 1      key id (which signing key made the tag)
//! 2      flags: bit 0 = a not-after follows; bit 1 = a generation follows;
//!        other bits must be 0
//! 3..19  pass id (16 bytes)
//! [4]    not-after, Unix seconds, big-endian u32 (only when flag bit 0 is set)
//! [1]    generation, 1 to 255 (only when flag bit 1 is set)
//! 16     tag: HMAC-SHA256(key, every byte above), first 128 bits
//! ```
//!
//! The generation is how many times the pass was re-issued when the token
//! was signed: a token of an older generation is `superseded`. A pass never
//! re-issued (generation 0) gets tokens without the byte, the same bytes
//! as before generations existed, so every printed ticket stays valid.
//!
//! Encoded as RFC 4648 base32 without padding (`A-Z2-7`), which is in the QR
//! alphanumeric character set: 56 characters, or 63 with a not-after (58 and
//! 64 with a generation). No
//! personal data is in a token: only the pass id, and the pass lives in the
//! gateway. The tag is compared in constant time.

use crate::pass::PassId;
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use thiserror::Error;

/// The token format version this crate writes and reads.
pub const TOKEN_VERSION: u8 = 1;
/// Longest token text accepted, in characters. Longer input is `malformed`
/// before any decoding work.
pub const TOKEN_MAX_CHARS: usize = 64;
/// Tag length in bytes (128 bits of HMAC-SHA256).
pub const TAG_BYTES: usize = 16;
/// Length of a signing secret, in bytes.
pub const SECRET_BYTES: usize = 32;

const FLAG_NOT_AFTER: u8 = 0b01;
const FLAG_GENERATION: u8 = 0b10;
const HEADER_BYTES: usize = 3 + 16;
const MAX_RAW_BYTES: usize = HEADER_BYTES + 4 + 1 + TAG_BYTES;
const _: () = assert!(
    BASE32_CHARS_FOR_MAX <= TOKEN_MAX_CHARS,
    "the longest token must fit the limit"
);
const BASE32_CHARS_FOR_MAX: usize = (MAX_RAW_BYTES * 8).div_ceil(5);

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused. Maps onto the `malformed` and `forged` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token: wrong length, characters outside base32, bad flags.
    #[error("the token is not well-formed")]
    Malformed,
    /// A token version this gateway does not read.
    #[error("token version {0} is not supported")]
    UnsupportedVersion(u8),
    /// The key id names no key in the keyring.
    #[error("the token names an unknown signing key")]
    UnknownKey,
    /// The tag does not verify.
    #[error("the token's signature does not verify")]
    BadSignature,
}

impl TokenError {
    /// The denial reason a scanner sees.
    pub fn reason(self) -> crate::Reason {
        match self {
            TokenError::Malformed | TokenError::UnsupportedVersion(_) => crate::Reason::Malformed,
            TokenError::UnknownKey | TokenError::BadSignature => crate::Reason::Forged,
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// The pass the token stands for.
    pub pass_id: PassId,
    /// The key that signed it.
    pub key_id: u8,
    /// When the token itself stops being valid (Unix milliseconds), if ever.
    pub not_after_ms: Option<i64>,
    /// The pass's generation when the token was signed (0: never re-issued).
    pub generation: u8,
}

/// One signing key: an id and a 256-bit secret. `Debug` never prints the secret.
#[derive(Clone)]
pub struct SigningKey {
    /// The id written into every token this key signs.
    pub id: u8,
    /// The secret.
    pub secret: [u8; SECRET_BYTES],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A keyring problem at load time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// No keys at all.
    #[error("the keyring has no keys")]
    Empty,
    /// Two keys share an id.
    #[error("key id {0} appears twice in the keyring")]
    DuplicateId(u8),
    /// The active key id is not in the ring.
    #[error("the active key id {0} is not in the keyring")]
    MissingActive(u8),
}

/// Signs with the active key; verifies with every key. Rotating keys = add a
/// new key, make it active, keep the old ones until their tokens are gone.
#[derive(Clone)]
pub struct Keyring {
    /// Pre-keyed MAC states, indexed by key id (256 slots), so verifying a
    /// token costs one clone and two hash blocks, not a key schedule.
    macs: Box<[Option<HmacSha256>; 256]>,
    active: u8,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = (0..=255u8)
            .filter(|i| self.macs[*i as usize].is_some())
            .collect();
        f.debug_struct("Keyring")
            .field("key_ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}

impl Keyring {
    /// Builds a keyring from its keys and the id of the key that signs.
    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    pub fn new(keys: &[SigningKey], active: u8) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut macs: Box<[Option<HmacSha256>; 256]> = Box::new([const { None }; 256]);
        for key in keys {
            let slot = &mut macs[key.id as usize];
            if slot.is_some() {
                return Err(KeyringError::DuplicateId(key.id));
            }
            *slot = Some(
                <HmacSha256 as KeyInit>::new_from_slice(&key.secret)
                    .expect("HMAC takes keys of any length"),
            );
        }
        if macs[active as usize].is_none() {
            return Err(KeyringError::MissingActive(active));
        }
        Ok(Keyring { macs, active })
    }

    /// The id of the key that signs new tokens.
    pub fn active_key_id(&self) -> u8 {
        self.active
    }

    /// The ids of every key in the ring, ascending: the keys that may have
    /// signed a token the gateway still accepts.
    pub fn key_ids(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|i| self.macs[*i as usize].is_some())
    }

    /// Signs a token for `pass_id`, valid until `not_after_secs` (Unix
    /// seconds) if given.
    #[allow(clippy::expect_used, reason = "`new` checked the active key exists")]
    pub fn sign(&self, pass_id: PassId, not_after_secs: Option<u32>) -> String {
        self.sign_with(self.active, pass_id, not_after_secs)
            .expect("the active key exists (checked in new)")
    }

    /// Signs a token with the key `key_id` rather than the active one (the
    /// token a holder kept from before a key rotation); `None` when the ring
    /// has no such key.
    pub fn sign_with(
        &self,
        key_id: u8,
        pass_id: PassId,
        not_after_secs: Option<u32>,
    ) -> Option<String> {
        self.sign_generation(key_id, pass_id, not_after_secs, 0)
    }

    /// Signs a token of a pass's `generation` (how many times it was
    /// re-issued) with the key `key_id`; generation 0 writes no generation
    /// byte. `None` when the ring has no such key.
    pub fn sign_generation(
        &self,
        key_id: u8,
        pass_id: PassId,
        not_after_secs: Option<u32>,
        generation: u8,
    ) -> Option<String> {
        let mut mac = self.macs[key_id as usize].clone()?;
        let mut raw = [0u8; MAX_RAW_BYTES];
        raw[0] = TOKEN_VERSION;
        raw[1] = key_id;
        raw[3..HEADER_BYTES].copy_from_slice(&pass_id.0);
        let mut len = HEADER_BYTES;
        if let Some(na) = not_after_secs {
            raw[2] |= FLAG_NOT_AFTER;
            raw[len..len + 4].copy_from_slice(&na.to_be_bytes());
            len += 4;
        }
        if generation != 0 {
            raw[2] |= FLAG_GENERATION;
            raw[len] = generation;
            len += 1;
        }
        mac.update(&raw[..len]);
        let tag = mac.finalize().into_bytes();
        raw[len..len + TAG_BYTES].copy_from_slice(&tag[..TAG_BYTES]);
        len += TAG_BYTES;
        Some(BASE32_NOPAD.encode(&raw[..len]))
    }

    /// Verifies a token: format first (cheap), then the tag in constant time.
    /// Allocates nothing.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let raw = RawToken::parse(token)?;
        let body_len = raw.body_len();
        let bytes = raw.as_bytes();
        let mut mac = self.macs[raw.key_id() as usize]
            .clone()
            .ok_or(TokenError::UnknownKey)?;
        mac.update(&bytes[..body_len]);
        mac.verify_truncated_left(&bytes[body_len..])
            .map_err(|_| TokenError::BadSignature)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[3..HEADER_BYTES]);
        let not_after_ms = raw.has_not_after().then(|| {
            let secs = u32::from_be_bytes([bytes[19], bytes[20], bytes[21], bytes[22]]);
            i64::from(secs) * 1000
        });
        Ok(Claims {
            pass_id: PassId(id),
            key_id: raw.key_id(),
            not_after_ms,
            generation: raw.generation(),
        })
    }
}

/// A token's bytes after the format checks (length, alphabet, version,
/// flags) and before any key is used: what an offline device, which holds
/// no key, can know of a token. Nothing here says the token is genuine.
#[derive(Clone, Copy)]
pub struct RawToken {
    bytes: [u8; MAX_RAW_BYTES],
    len: usize,
}

impl RawToken {
    /// Checks a token's format and decodes it. Allocates nothing.
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        let text = token.as_bytes();
        if text.len() > TOKEN_MAX_CHARS {
            return Err(TokenError::Malformed);
        }
        let mut bytes = [0u8; MAX_RAW_BYTES];
        let len = BASE32_NOPAD
            .decode_len(text.len())
            .map_err(|_| TokenError::Malformed)?;
        if !(HEADER_BYTES + TAG_BYTES..=MAX_RAW_BYTES).contains(&len) {
            return Err(TokenError::Malformed);
        }
        let len = BASE32_NOPAD
            .decode_mut(text, &mut bytes[..len])
            .map_err(|_| TokenError::Malformed)?;
        if bytes[0] != TOKEN_VERSION {
            return Err(TokenError::UnsupportedVersion(bytes[0]));
        }
        let flags = bytes[2];
        if flags & !(FLAG_NOT_AFTER | FLAG_GENERATION) != 0 {
            return Err(TokenError::Malformed);
        }
        let body_len = HEADER_BYTES
            + usize::from(flags & FLAG_NOT_AFTER != 0) * 4
            + usize::from(flags & FLAG_GENERATION != 0);
        if len != body_len + TAG_BYTES {
            return Err(TokenError::Malformed);
        }
        let raw = RawToken { bytes, len };
        if flags & FLAG_GENERATION != 0 && raw.generation() == 0 {
            // Generation 0 is written without the byte: one token per pass
            // and generation, never two spellings of it.
            return Err(TokenError::Malformed);
        }
        Ok(raw)
    }

    /// Every byte of the token: header, pass id, [not-after], tag.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The id of the key the token names.
    pub fn key_id(&self) -> u8 {
        self.bytes[1]
    }

    /// True for a short-lived token (a not-after follows the pass id).
    pub fn has_not_after(&self) -> bool {
        self.bytes[2] & FLAG_NOT_AFTER != 0
    }

    /// The pass's generation the token was signed for (0: no byte).
    pub fn generation(&self) -> u8 {
        if self.bytes[2] & FLAG_GENERATION == 0 {
            return 0;
        }
        self.bytes[self.body_len() - 1]
    }

    fn body_len(&self) -> usize {
        self.len - TAG_BYTES
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawToken")
            .field("key_id", &self.key_id())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// A token shortened for logs and errors: the first 6 characters and its
/// length. Tokens are bearer credentials and never appear in full.
pub fn redact(token: &str) -> String {
    let head: String = token.chars().take(6).collect();
    format!("{head}…({} chars)", token.chars().count())
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
