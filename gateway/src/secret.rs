//! Secrets at their source: random bytes from the operating system, and
//! files only their owner may read (mode 0600), written once and synced.
//! Both the data directory ([`crate::datadir`]) and the signing keys
//! ([`crate::keys`]) create theirs here.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes a secret file with mode 0600; refuses to overwrite one.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// `N` bytes from the operating system's random number generator.
///
/// # Panics
/// If the OS has no randomness to give: nothing secure can run then.
#[allow(
    clippy::expect_used,
    reason = "no client input reaches this; without randomness nothing secure can run"
)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}
