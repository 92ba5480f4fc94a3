//! The format of the signing keyring file (`signing-keys.json`):
//! `{"active": 2, "keys": [{"id": 1, "secret": "<64 hex>"}, {"id": 2, ...}]}`,
//! and the [`Keyring`] it describes. Reading and writing the file (mode
//! 0600) is the caller's: the gateway, which owns it, and `scangate-load`,
//! which signs tokens of passes that do not exist with it.

use crate::token::{Keyring, KeyringError, SECRET_BYTES, SigningKey};
use data_encoding::HEXLOWER_PERMISSIVE;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The whole file.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    /// The id of the key that signs new tokens.
    pub active: u8,
    /// Every key that verifies.
    pub keys: Vec<KeyEntry>,
}

/// One key of the file.
#[derive(Serialize, Deserialize)]
pub struct KeyEntry {
    /// Its id (the token's key byte).
    pub id: u8,
    /// [`SECRET_BYTES`] bytes as hex.
    pub secret: String,
}

/// Why a key file does not make a keyring.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// A secret that is not [`SECRET_BYTES`] bytes of hex.
    #[error("key {0} is not {SECRET_BYTES} hex bytes")]
    BadSecret(u8),
    /// The keys do not make a keyring.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

impl KeyFile {
    /// The keyring the file describes.
    pub fn keyring(&self) -> Result<Keyring, KeyFileError> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            let secret: [u8; SECRET_BYTES] = HEXLOWER_PERMISSIVE
                .decode(k.secret.as_bytes())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(KeyFileError::BadSecret(k.id))?;
            keys.push(SigningKey { id: k.id, secret });
        }
        Ok(Keyring::new(&keys, self.active)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_makes_its_keyring_or_names_the_bad_key() {
        let file = |secret: &str| KeyFile {
            active: 2,
            keys: vec![KeyEntry {
                id: 2,
                secret: secret.to_owned(),
            }],
        };
        let ring = file(&"ab".repeat(SECRET_BYTES)).keyring().expect("keyring");
        assert_eq!(ring.active_key_id(), 2);
        assert_eq!(
            file("abcd").keyring().err(),
            Some(KeyFileError::BadSecret(2))
        );
        let mut none = file(&"ab".repeat(SECRET_BYTES));
        none.active = 3;
        assert_eq!(
            none.keyring().err(),
            Some(KeyFileError::Keyring(KeyringError::MissingActive(3)))
        );
    }
}
