//! The token signing keyring file: every key verifies, the active key signs.
//!
//! `signing-keys.json` (mode 0600):
//! `{"active": 2, "keys": [{"id": 1, "secret": "<64 hex>"}, {"id": 2, ...}]}`.
//! Rotation adds a key and makes it active; old keys stay so printed passes
//! keep working until an operator removes a key by hand.

use crate::secret::{random_bytes, write_secret};
use anyhow::{Context, Result, bail};
use scangate_core::keyfile::{KeyEntry, KeyFile};
use scangate_core::token::{Keyring, SECRET_BYTES};
use std::fs;
use std::path::Path;

fn fresh_key(id: u8) -> KeyEntry {
    KeyEntry {
        id,
        secret: hex::encode(random_bytes::<SECRET_BYTES>()),
    }
}

/// Creates a keyring file with one fresh key (id 1).
pub fn create(path: &Path) -> Result<()> {
    let file = KeyFile {
        active: 1,
        keys: vec![fresh_key(1)],
    };
    write_secret(path, &serde_json::to_vec_pretty(&file)?)
}

fn read(path: &Path) -> Result<KeyFile> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the signing keys at {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid keyring", path.display()))
}

/// Loads the keyring.
pub fn load(path: &Path) -> Result<Keyring> {
    read(path)?
        .keyring()
        .with_context(|| format!("{} is not usable", path.display()))
}

/// Adds a fresh key and makes it the signing key. Returns its id. A running
/// gateway picks it up on its next start.
pub fn rotate(path: &Path) -> Result<u8> {
    let mut file = read(path)?;
    let Some(id) = (1..=u8::MAX).find(|id| file.keys.iter().all(|k| k.id != *id)) else {
        bail!("the keyring is full (255 keys): remove retired keys first");
    };
    file.keys.push(fresh_key(id));
    file.active = id;
    let tmp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&tmp);
    write_secret(&tmp, &serde_json::to_vec_pretty(&file)?)?;
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::PassId;

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        create(&path).expect("create");
        let before = load(&path).expect("load");
        let token = before.sign(PassId([3; 16]), None);
        assert_eq!(rotate(&path).expect("rotate"), 2);
        let after = load(&path).expect("load");
        assert_eq!(after.active_key_id(), 2);
        assert_eq!(after.verify(&token).map(|c| c.key_id), Ok(1));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(&path).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
