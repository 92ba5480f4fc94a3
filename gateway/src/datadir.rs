//! The data directory: where a gateway keeps its store, PKI, signing keys and
//! admin token, and where client commands find them.
//!
//! ```text
//! DATA/
//!   pki/            CA, gateway certificate, scanners/NAME.{pem,key}
//!   signing-keys.json   token signing keys (secret, 0600)
//!   admin-token     bearer token for the admin API (secret, 0600): the `bootstrap` admin
//!   admin-tokens.json  named admin API tokens with roles, SHA-256 only (0600)
//!   revoked-devices.json  scanner devices that may no longer connect (0600)
//!   quic-reset-key  the QUIC stateless-reset key, random bytes (secret, 0600)
//!   offline-signing-key      Ed25519 seed that signs offline snapshots (secret, 0600)
//!   offline-signing-key.pub  its public key, 64 hex digits: what devices pin
//!   operator-audit.jsonl  the operator journal: one JSON line per admin action (0600)
//!   incidents.jsonl  the security-incident log: one JSON line per forged or malformed token (0600)
//!   store/          the embedded database
//!   gateway.json    where the running gateway listens (written when ready)
//! ```

use crate::keys;
use crate::secret::{random_bytes, write_secret};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The scanner certificate a first start creates, so `scangate scan` works at once.
pub const DEV_SCANNER: &str = "dev-scanner";
/// Bytes of the QUIC stateless-reset key: the block size of HMAC-SHA256,
/// the longest key that HMAC uses as it is (a longer one is hashed first).
pub const RESET_KEY_BYTES: usize = 64;

/// Paths inside one data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

pub use scangate_api::discovery::Endpoints;
use scangate_api::discovery::{ADMIN_TOKEN_FILE, ENDPOINTS_FILE};

impl DataDir {
    /// A data directory at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The PKI directory.
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// The signing keyring.
    pub fn signing_keys(&self) -> PathBuf {
        self.root.join("signing-keys.json")
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> PathBuf {
        self.root.join(ADMIN_TOKEN_FILE)
    }

    /// Named admin API tokens (hashes and roles).
    pub fn admin_tokens(&self) -> PathBuf {
        self.root.join("admin-tokens.json")
    }

    /// Revoked scanner devices.
    pub fn revoked_devices(&self) -> PathBuf {
        self.root.join("revoked-devices.json")
    }

    /// The operator journal ([`crate::operator::journal`]).
    pub fn operator_journal(&self) -> PathBuf {
        self.root.join("operator-audit.jsonl")
    }

    /// The security-incident log ([`crate::edge::incidents`]).
    pub fn incident_log(&self) -> PathBuf {
        self.root.join("incidents.jsonl")
    }

    /// The QUIC stateless-reset key ([`DataDir::read_reset_key`]).
    pub fn reset_key(&self) -> PathBuf {
        self.root.join("quic-reset-key")
    }

    /// The offline snapshot signing key's seed ([`crate::snapshot_key`]).
    pub fn offline_signing_key(&self) -> PathBuf {
        self.root.join("offline-signing-key")
    }

    /// The offline snapshot signing key's public half (hex), for operators
    /// and devices.
    pub fn offline_public_key(&self) -> PathBuf {
        self.root.join("offline-signing-key.pub")
    }

    /// The embedded store's directory.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The running gateway's addresses.
    pub fn endpoints(&self) -> PathBuf {
        self.root.join(ENDPOINTS_FILE)
    }

    /// Creates what a first start needs and is missing: the directory, the
    /// PKI (CA, gateway and dev scanner certificates), a token signing key,
    /// the offline snapshot signing key and an admin token. Returns the
    /// paths it created; never the secrets.
    pub fn prepare(&self, gateway_names: &[String]) -> Result<Vec<PathBuf>> {
        create_private_dir(&self.root)?;
        if self.store().is_dir() {
            make_private(&self.store())?;
        }
        let mut created = Vec::new();
        let pki = scangate_certs::Pki::open(&self.pki());
        let report = pki.init(gateway_names).context("cannot create the PKI")?;
        created.extend(report.created);
        if !pki.scanner_exists(DEV_SCANNER) {
            let files = pki
                .issue_scanner(DEV_SCANNER)
                .context("cannot issue the dev scanner certificate")?;
            created.push(files.cert);
        }
        if !self.signing_keys().exists() {
            keys::create(&self.signing_keys())?;
            created.push(self.signing_keys());
        }
        if !self.reset_key().exists() {
            write_secret(&self.reset_key(), &random_bytes::<RESET_KEY_BYTES>())?;
            created.push(self.reset_key());
        }
        if !self.offline_signing_key().exists() {
            crate::snapshot_key::create(&self.offline_signing_key())?;
            created.push(self.offline_signing_key());
        }
        if !self.admin_token().exists() {
            let token = format!("sga_{}", hex::encode(random_bytes::<24>()));
            write_secret(&self.admin_token(), token.as_bytes())?;
            created.push(self.admin_token());
        }
        Ok(created)
    }

    /// Reads the admin token.
    pub fn read_admin_token(&self) -> Result<String> {
        let path = self.admin_token();
        let token = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the admin token at {} (has `scangate serve` run with this --data-dir?)",
                path.display()
            )
        })?;
        Ok(token.trim().to_owned())
    }

    /// Reads the QUIC stateless-reset key. The same key across restarts lets
    /// a restarted gateway reset its predecessor's connections at their next
    /// packet, so scanners reconnect at once instead of idling out.
    pub fn read_reset_key(&self) -> Result<[u8; RESET_KEY_BYTES]> {
        let path = self.reset_key();
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        <[u8; RESET_KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
            anyhow::anyhow!(
                "{} holds {} bytes, not the {RESET_KEY_BYTES} of a reset key; \
                 delete it and a new one is made at the next start",
                path.display(),
                bytes.len()
            )
        })
    }

    /// Reads where the running gateway listens.
    pub fn read_endpoints(&self) -> Result<Endpoints> {
        let path = self.endpoints();
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "no running gateway found: {} is missing (start `scangate serve --data-dir {}` or pass the address)",
                path.display(),
                self.root.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Records where this gateway listens (atomically: write then rename).
    pub fn write_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        let tmp = self.root.join("gateway.json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(endpoints)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, self.endpoints())
            .with_context(|| format!("cannot write {}", self.endpoints().display()))
    }

    /// Removes the endpoints file on a clean stop.
    pub fn clear_endpoints(&self) {
        let _ = fs::remove_file(self.endpoints());
    }
}

/// Creates a directory readable only by its owner (mode 0700), if missing;
/// one that exists is made private ([`make_private`]).
pub fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    make_private(path)
}

/// The bits a private directory may have: its owner's. The data directory
/// holds the store (personal data), secrets and the journal.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Takes group and other access away from the directory `path` (to 0700),
/// saying so in the log (`from` = the mode it had): a data directory made
/// by hand, or by an older version, may be readable by every user. An error
/// (the directory is not ours to change) stops the caller.
pub fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & !PRIVATE_DIR_MODE == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(PRIVATE_DIR_MODE)).with_context(|| {
        format!(
            "{} is open to other users (mode {mode:o}) and cannot be made private: \
             run `chmod 700` on it as its owner",
            path.display()
        )
    })?;
    tracing::warn!(dir = %path.display(), from = %format!("{mode:o}"), to = "700", "made a data directory private");
    Ok(())
}
