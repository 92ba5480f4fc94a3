//! Web scanners: browsers that scan with the guard page (`/scanner`) over
//! the HTTP plane instead of QUIC. They are devices like certificate
//! scanners: named (the same namespace, so one name is one device), listed
//! by `scangate certs list` and `GET /v1/devices`, revoked by name with
//! `scangate certs revoke` / `POST /v1/devices/{name}/revoke`.
//!
//! `DATA/web-scanners.json` (0600) holds, per device, only SHA-256 digests:
//! of its one-time enrollment secret (until it is redeemed or expires) and of
//! its device credential (once enrolled). `scangate scanner enroll NAME`
//! ([`enroll`]) writes the first and prints the secret inside a link; the
//! browser that opens the link redeems it once ([`redeem`]) for the
//! credential, which it keeps and sends with every scan. The running
//! gateway follows the file ([`WebScanners`]).

use crate::datadir::DataDir;
use crate::operator::journal::{EditLock, Journal, OperatorAction, OperatorRecord};
use crate::operator::watched::{self, Watched};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use subtle::ConstantTimeEq;

/// The file, in the data directory.
pub const WEB_SCANNERS_FILE: &str = "web-scanners.json";
/// Most web scanners: a venue has tens to a few hundred gates' phones, and
/// each enrollment, redemption and gateway reload reads the whole file.
pub const WEB_SCANNERS_MAX: usize = 1_000;
/// How long an enrollment link works, ms (15 minutes): the guard opens it
/// minutes after the operator prints it; a link left lying around in a
/// chat or a screenshot stops working soon after.
pub const ENROLL_LINK_TTL_MS: i64 = 15 * 60 * 1_000;
/// Prefix of an enrollment secret (`sge_` + 64 hex digits).
const ENROLLMENT_PREFIX: &str = "sge_";
/// Prefix of a device credential (`sgw_` + 64 hex digits).
const CREDENTIAL_PREFIX: &str = "sgw_";
/// Length of either secret: a prefix and 32 random bytes in hex. Anything
/// longer presented is refused before it is hashed.
pub const SECRET_BYTES: usize = 4 + 64;

/// One web scanner as stored: never a secret, only digests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebScanner {
    /// The device name (as a certificate scanner's: 1-64 of `a-z A-Z 0-9 - _ .`).
    pub name: String,
    /// When its (latest) enrollment link was issued (Unix ms).
    pub created_ms: i64,
    /// SHA-256 (hex) of the enrollment secret, until it is redeemed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_sha256: Option<String>,
    /// When the enrollment secret stops working (Unix ms).
    pub enrollment_expires_ms: i64,
    /// SHA-256 (hex) of the device credential, once enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_sha256: Option<String>,
    /// When a browser redeemed the link (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_ms: Option<i64>,
}

/// `web-scanners.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebScannerFile {
    /// The web scanners.
    pub scanners: Vec<WebScanner>,
}

/// Why no enrollment link was issued; the file is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    /// Not a device name.
    #[error(transparent)]
    InvalidName(#[from] scangate_certs::CertError),
    /// A certificate scanner or an enrolled web scanner has this name.
    #[error(
        "a device named {0:?} exists already (a scanner certificate or an enrolled web scanner); choose another name"
    )]
    Taken(String),
    /// The name is revoked; revocations are for good.
    #[error("device {0:?} is revoked, and revocations are for good; enroll under a new name")]
    Revoked(String),
    /// [`WEB_SCANNERS_MAX`] web scanners exist.
    #[error("there are already {0} web scanners; revoke unused ones first")]
    Full(usize),
    /// The file or the journal could not be read or written.
    #[error("{0:#}")]
    File(anyhow::Error),
}

/// Why an enrollment secret was not redeemed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// Unknown, used, expired or revoked: one answer for all, so a guesser
    /// learns nothing.
    #[error(
        "this enrollment link does not work: it was used already, has expired (links last 15 minutes) \
         or was never issued; ask the operator for a new one (`scangate scanner enroll NAME`)"
    )]
    NotValid,
    /// The file or the journal could not be read or written.
    #[error("{0:#}")]
    File(anyhow::Error),
}

/// A redeemed enrollment: the device and its credential (shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The device name.
    pub name: String,
    /// The device credential (`sgw_...`), kept by the browser only.
    pub credential: String,
}

/// The file's path in `data`.
pub fn path(data: &DataDir) -> PathBuf {
    data.root().join(WEB_SCANNERS_FILE)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn fresh_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(crate::secret::random_bytes::<32>())
    )
}

/// The web scanners, as stored.
pub fn list(data: &DataDir) -> anyhow::Result<Vec<WebScanner>> {
    Ok(watched::read_json::<WebScannerFile>(&path(data))?.scanners)
}

/// Issues a one-time enrollment secret for web scanner `name` (a new link
/// for a name not yet redeemed replaces the old one), journaled
/// (`device.enroll`, detail `link issued`) before it is returned.
pub fn enroll(data: &DataDir, name: &str, who: &str, now_ms: i64) -> Result<String, EnrollError> {
    scangate_certs::validate_scanner_name(name)?;
    let file_path = path(data);
    let _lock = EditLock::acquire(&file_path).map_err(|e| EnrollError::File(e.into()))?;
    let revoked = crate::operator::devices::list(&data.revoked_devices());
    if revoked
        .map_err(EnrollError::File)?
        .iter()
        .any(|d| d.name == name)
    {
        return Err(EnrollError::Revoked(name.to_owned()));
    }
    if scangate_certs::Pki::open(&data.pki()).scanner_exists(name) {
        return Err(EnrollError::Taken(name.to_owned()));
    }
    let mut file: WebScannerFile = watched::read_json(&file_path).map_err(EnrollError::File)?;
    let before = file.clone();
    if file
        .scanners
        .iter()
        .any(|s| s.name == name && s.credential_sha256.is_some())
    {
        return Err(EnrollError::Taken(name.to_owned()));
    }
    file.scanners.retain(|s| s.name != name);
    if file.scanners.len() >= WEB_SCANNERS_MAX {
        return Err(EnrollError::Full(WEB_SCANNERS_MAX));
    }
    let secret = fresh_secret(ENROLLMENT_PREFIX);
    file.scanners.push(WebScanner {
        name: name.to_owned(),
        created_ms: now_ms,
        enrollment_sha256: Some(hex::encode(digest(&secret))),
        enrollment_expires_ms: now_ms.saturating_add(ENROLL_LINK_TTL_MS),
        credential_sha256: None,
        enrolled_ms: None,
    });
    watched::write_json(&file_path, &file).map_err(EnrollError::File)?;
    let record =
        OperatorRecord::new(now_ms, who, OperatorAction::DeviceEnroll, name).detail("link issued");
    if let Err(e) = Journal::new(data.operator_journal()).append(&record) {
        // Nobody has seen the secret: take it back, so no link exists that
        // the journal does not know of.
        watched::write_json(&file_path, &before)
            .context("and the new link could not be withdrawn")
            .map_err(EnrollError::File)?;
        return Err(EnrollError::File(anyhow::anyhow!(
            "no link was issued: its audit line could not be written: {e}"
        )));
    }
    Ok(secret)
}

/// Redeems enrollment `secret` once, before it expires: the device gets a
/// fresh credential (only its digest is kept), journaled (`device.enroll`,
/// detail `enrolled`). Every stored digest is compared in constant time.
pub fn redeem(data: &DataDir, secret: &str, now_ms: i64) -> Result<Enrolled, RedeemError> {
    if secret.len() != SECRET_BYTES || !secret.starts_with(ENROLLMENT_PREFIX) {
        return Err(RedeemError::NotValid);
    }
    let presented = hex::encode(digest(secret));
    let file_path = path(data);
    let _lock = EditLock::acquire(&file_path).map_err(|e| RedeemError::File(e.into()))?;
    let mut file: WebScannerFile = watched::read_json(&file_path).map_err(RedeemError::File)?;
    let mut found = None;
    for (i, s) in file.scanners.iter().enumerate() {
        let stored = s.enrollment_sha256.as_deref().unwrap_or("");
        if bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(i);
        }
    }
    let Some(entry) = found.and_then(|i| file.scanners.get_mut(i)) else {
        return Err(RedeemError::NotValid);
    };
    if now_ms > entry.enrollment_expires_ms {
        return Err(RedeemError::NotValid);
    }
    let revoked = crate::operator::devices::list(&data.revoked_devices());
    let name = entry.name.clone();
    if revoked
        .map_err(RedeemError::File)?
        .iter()
        .any(|d| d.name == name)
    {
        return Err(RedeemError::NotValid);
    }
    let credential = fresh_secret(CREDENTIAL_PREFIX);
    entry.enrollment_sha256 = None;
    entry.credential_sha256 = Some(hex::encode(digest(&credential)));
    entry.enrolled_ms = Some(now_ms);
    watched::write_json(&file_path, &file).map_err(RedeemError::File)?;
    let record = OperatorRecord::new(
        now_ms,
        format!("device:{name}"),
        OperatorAction::DeviceEnroll,
        &name,
    )
    .detail("enrolled");
    // The device is enrolled either way; a missing audit line is logged.
    if let Err(e) = Journal::new(data.operator_journal()).append(&record) {
        tracing::error!(device = %name, error = %e, "web scanner enrolled, but its audit line could not be written");
    }
    Ok(Enrolled { name, credential })
}

/// The credentials' digests and their devices, as the gateway looks them up.
#[derive(Debug, Default, Deserialize)]
#[serde(from = "WebScannerFile")]
struct Credentials(HashMap<String, String>);

impl From<WebScannerFile> for Credentials {
    fn from(file: WebScannerFile) -> Self {
        Credentials(
            file.scanners
                .into_iter()
                .filter_map(|s| s.credential_sha256.map(|d| (d, s.name)))
                .collect(),
        )
    }
}

/// The running gateway's view of the web scanners, reread when the file
/// changes. An unreadable file reads as empty: no web scanner can scan
/// (the safe side), and the error is logged.
pub struct WebScanners {
    file: Watched<Credentials>,
}

impl WebScanners {
    /// Follows `data`'s file.
    pub fn new(data: &DataDir) -> Self {
        WebScanners {
            file: Watched::new(path(data)),
        }
    }

    /// The device whose credential `presented` is. The lookup is by the
    /// SHA-256 of the presented value: its timing can only tell a caller
    /// how much of a digest it matched, which gives no hint of a
    /// credential (32 random bytes).
    pub fn authenticate(&self, presented: &str) -> Option<String> {
        if presented.len() != SECRET_BYTES || !presented.starts_with(CREDENTIAL_PREFIX) {
            return None;
        }
        let key = hex::encode(digest(presented));
        self.file.get().0.get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_and_its_credential_authenticates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let gateway = WebScanners::new(&data);
        let secret = enroll(&data, "gate-phone", "cli:lead", 1_000).expect("enroll");
        let stored = std::fs::read_to_string(path(&data)).expect("file");
        assert!(!stored.contains(&secret), "only a digest is kept");
        assert!(matches!(
            redeem(&data, "sge_guess", 1_001),
            Err(RedeemError::NotValid)
        ));
        let enrolled = redeem(&data, &secret, 1_002).expect("redeem");
        assert_eq!(enrolled.name, "gate-phone");
        assert_eq!(
            gateway.authenticate(&enrolled.credential).as_deref(),
            Some("gate-phone")
        );
        assert!(matches!(
            redeem(&data, &secret, 1_003),
            Err(RedeemError::NotValid)
        ));
        assert!(
            gateway
                .authenticate(&fresh_secret(CREDENTIAL_PREFIX))
                .is_none()
        );
        assert!(matches!(
            enroll(&data, "gate-phone", "cli:lead", 2_000),
            Err(EnrollError::Taken(_))
        ));
    }

    #[test]
    fn an_expired_or_revoked_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let late = enroll(&data, "late", "cli:lead", 0).expect("enroll");
        assert!(matches!(
            redeem(&data, &late, ENROLL_LINK_TTL_MS + 1),
            Err(RedeemError::NotValid)
        ));
        let lost = enroll(&data, "lost", "cli:lead", 0).expect("enroll");
        crate::operator::devices::revoke_recorded(&data, "lost", "lead", None, 1).expect("revoke");
        assert!(matches!(
            redeem(&data, &lost, 2),
            Err(RedeemError::NotValid)
        ));
        assert!(matches!(
            enroll(&data, "lost", "cli:lead", 3),
            Err(EnrollError::Revoked(_))
        ));
        assert!(matches!(
            enroll(&data, "bad name", "cli:lead", 3),
            Err(EnrollError::InvalidName(_))
        ));
    }
}
