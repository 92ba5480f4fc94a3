//! The offline snapshot signing key: a 32-byte Ed25519 seed in the data
//! directory (`offline-signing-key`, mode 0600, made on the first start from
//! the operating system's generator), and its public half beside it
//! (`offline-signing-key.pub`, 64 hex digits), which devices pin.
//!
//! Several gateways on one ScyllaDB cluster must sign with the same key, or
//! a device that fails over is refused their snapshots (`WrongKey`): copy the
//! seed file to every gateway's data directory, as with `signing-keys.json`.

use crate::secret::{random_bytes, write_secret};
use anyhow::{Context, Result};
use scangate_core::offline::key::KEY_BYTES;
use scangate_core::offline::{SnapshotSigner, SnapshotVerifier};
use std::fs;
use std::path::Path;

/// Creates a fresh seed file (refuses to overwrite one).
pub fn create(path: &Path) -> Result<()> {
    write_secret(path, &random_bytes::<KEY_BYTES>())
}

/// Loads the signing key. A file that is not exactly one seed is a start-up
/// error that names the file and the repair; it is never replaced silently,
/// since devices have pinned its public key.
pub fn load(path: &Path) -> Result<SnapshotSigner> {
    let bytes = fs::read(path).with_context(|| {
        format!(
            "cannot read the offline snapshot signing key at {}",
            path.display()
        )
    })?;
    let seed = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "{} holds {} bytes, not the {KEY_BYTES} of an Ed25519 seed: restore it from a \
             backup or another gateway of this cluster (deleting it makes a new key on the \
             next start, and every device must then pin the new public key)",
            path.display(),
            bytes.len()
        )
    })?;
    Ok(SnapshotSigner::from_seed(seed))
}

/// The public key as devices and operators read it: 64 hex digits.
pub fn public_hex(verifier: &SnapshotVerifier) -> String {
    hex::encode(verifier.to_bytes())
}

/// Writes the public key file (hex and a newline, readable by all: it is
/// public), replacing the one there atomically.
pub fn write_public(path: &Path, verifier: &SnapshotVerifier) -> Result<()> {
    let tmp = path.with_extension("pub.tmp");
    fs::write(&tmp, format!("{}\n", public_hex(verifier)))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_a_reload_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("offline-signing-key");
        create(&path).expect("create");
        let first = load(&path).expect("load").verifier();
        assert_eq!(load(&path).expect("reload").verifier(), first);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(&path).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(create(&path).is_err(), "an existing key is never replaced");

        fs::write(&path, [7u8; 31]).expect("truncate");
        let e = format!("{:#}", load(&path).expect_err("damaged"));
        assert!(
            e.contains("31 bytes") && e.contains("offline-signing-key"),
            "{e}"
        );
    }

    #[test]
    fn the_public_file_holds_the_verifier_in_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let verifier = SnapshotSigner::from_seed([5; KEY_BYTES]).verifier();
        let path = dir.path().join("offline-signing-key.pub");
        write_public(&path, &verifier).expect("write");
        let text = fs::read_to_string(&path).expect("read");
        let bytes = hex::decode(text.trim()).expect("hex");
        let back = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).expect("32 bytes");
        assert_eq!(SnapshotVerifier::from_bytes(&back).expect("key"), verifier);
    }
}
