//! The PKI directory: a dev CA, the gateway certificate, scanner certificates.

use crate::CertError;
use crate::files::{self, CERT_FILE_MODE, KEY_FILE_MODE};
use crate::name::{validate_gateway_name, validate_scanner_name};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Common name of the CA certificate.
pub const CA_COMMON_NAME: &str = "scangate dev CA";
/// Common name of the gateway certificate (clients check its SANs, not this).
pub const GATEWAY_COMMON_NAME: &str = "scangate gateway";
/// Names every gateway certificate is valid for, so local scanners work at once.
pub const DEFAULT_GATEWAY_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Most extra names a gateway certificate may carry: a handful of host names
/// and addresses is normal; hundreds would be a mistake in a script.
pub const GATEWAY_NAMES_MAX: usize = 32;

/// CA lifetime: ten years, so a dev deployment never meets an expired root.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Gateway certificate lifetime: two years.
const GATEWAY_VALIDITY: Duration = Duration::days(730);
/// Scanner device certificate lifetime: one year (devices are re-enrolled yearly).
const SCANNER_VALIDITY: Duration = Duration::days(365);
/// Certificates start this long before "now", so a scanner whose clock runs a
/// little behind the machine that issued its certificate still accepts it.
const BACKDATE: Duration = Duration::hours(1);

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const GATEWAY_CERT: &str = "gateway.pem";
const GATEWAY_KEY: &str = "gateway.key";
const SCANNERS_DIR: &str = "scanners";

/// A PKI directory:
///
/// ```text
/// ca.pem  ca.key  gateway.pem  gateway.key  scanners/NAME.pem  scanners/NAME.key
/// ```
///
/// Keys are written with mode 0600 and directories created with 0700. Nothing
/// is ever overwritten.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

/// What [`Pki::init`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// True when the CA was created now (false: it already existed).
    pub ca_created: bool,
    /// True when the gateway certificate was created now.
    pub gateway_created: bool,
    /// The CA certificate, to hand to scanners.
    pub ca_cert: PathBuf,
    /// The gateway certificate.
    pub gateway_cert: PathBuf,
    /// The gateway's private key.
    pub gateway_key: PathBuf,
    /// Every file created by this call, in creation order (empty when the
    /// PKI already existed). Never contains key material, only paths.
    pub created: Vec<PathBuf>,
}

/// Where a scanner device's certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerFiles {
    /// The device name (the certificate's CN).
    pub name: String,
    /// The device certificate (PEM).
    pub cert: PathBuf,
    /// The device's private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// Whether a certificate and its key are present.
enum Pair {
    Present,
    Absent,
}

impl Pki {
    /// A PKI over `dir`. Nothing is read or created until an operation needs it.
    pub fn open(dir: &Path) -> Self {
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the CA certificate.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// Path of the CA private key.
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.join(CA_KEY)
    }

    /// Path of the gateway certificate.
    pub fn gateway_cert_path(&self) -> PathBuf {
        self.dir.join(GATEWAY_CERT)
    }

    /// Path of the gateway private key.
    pub fn gateway_key_path(&self) -> PathBuf {
        self.dir.join(GATEWAY_KEY)
    }

    /// Where the files of scanner `name` live (whether or not they exist yet).
    pub fn scanner_files(&self, name: &str) -> Result<ScannerFiles, CertError> {
        validate_scanner_name(name)?;
        let dir = self.dir.join(SCANNERS_DIR);
        Ok(ScannerFiles {
            name: name.to_owned(),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        })
    }

    /// True when a certificate for scanner `name` exists (false for an
    /// invalid name).
    pub fn scanner_exists(&self, name: &str) -> bool {
        self.scanner_files(name)
            .map(|f| f.cert.exists())
            .unwrap_or(false)
    }

    /// True when the CA and the gateway certificate exist.
    pub fn is_initialized(&self) -> bool {
        self.ca_cert_path().exists() && self.gateway_cert_path().exists()
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Result<String, CertError> {
        files::read_pem(&self.ca_cert_path())
    }

    /// Creates the CA and the gateway certificate where they are missing.
    ///
    /// The gateway certificate is valid for [`DEFAULT_GATEWAY_NAMES`] plus
    /// `gateway_names` (DNS names or IP addresses). Existing files are left
    /// alone (so `gateway_names` only matter when the gateway certificate is
    /// created); the report says what was created. Half a pair (a certificate
    /// without its key) or a gateway certificate without a CA is an error
    /// naming the files, never silently repaired.
    pub fn init(&self, gateway_names: &[String]) -> Result<InitReport, CertError> {
        let names = gateway_sans(gateway_names)?;
        files::create_dir(&self.dir)?;
        files::create_dir(&self.dir.join(SCANNERS_DIR))?;

        let ca = self.pair_state(CA_CERT, CA_KEY)?;
        let gateway = self.pair_state(GATEWAY_CERT, GATEWAY_KEY)?;
        if let (Pair::Absent, Pair::Present) = (&ca, &gateway) {
            return Err(self.inconsistent(format!(
                "{GATEWAY_CERT} exists but {CA_CERT} does not; remove {GATEWAY_CERT} and \
                 {GATEWAY_KEY} to start a new PKI"
            )));
        }

        let ca_created = matches!(ca, Pair::Absent);
        if ca_created {
            self.create_ca()?;
        }
        let gateway_created = matches!(gateway, Pair::Absent);
        if gateway_created {
            let issuer = self.load_issuer()?;
            let mut params =
                CertificateParams::new(names).map_err(|source| CertError::Generate {
                    what: "the gateway certificate parameters",
                    source,
                })?;
            params.distinguished_name = common_name(GATEWAY_COMMON_NAME);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            set_leaf(&mut params, GATEWAY_VALIDITY);
            self.write_leaf(
                &params,
                &issuer,
                "the gateway certificate",
                None,
                &self.gateway_cert_path(),
                &self.gateway_key_path(),
            )?;
        }
        let mut created = Vec::new();
        if ca_created {
            created.extend([self.ca_key_path(), self.ca_cert_path()]);
        }
        if gateway_created {
            created.extend([self.gateway_key_path(), self.gateway_cert_path()]);
        }
        Ok(InitReport {
            ca_created,
            gateway_created,
            created,
            ca_cert: self.ca_cert_path(),
            gateway_cert: self.gateway_cert_path(),
            gateway_key: self.gateway_key_path(),
        })
    }

    /// Issues a scanner device certificate signed by the CA: CN = `name`,
    /// clientAuth, valid for one year. Refuses to replace an existing one.
    pub fn issue_scanner(&self, name: &str) -> Result<ScannerFiles, CertError> {
        let files = self.scanner_files(name)?;
        for path in [&files.cert, &files.key] {
            if path.exists() {
                return Err(CertError::AlreadyExists { path: path.clone() });
            }
        }
        let issuer = self.load_issuer()?;
        files::create_dir(&self.dir.join(SCANNERS_DIR))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        set_leaf(&mut params, SCANNER_VALIDITY);
        self.write_leaf(
            &params,
            &issuer,
            "a scanner certificate",
            Some(name),
            &files.cert,
            &files.key,
        )?;
        Ok(files)
    }

    /// Builds the gateway's rustls server config from this directory; see
    /// [`crate::server_config_from_pem`].
    pub fn server_config(&self, alpn: &[u8]) -> Result<rustls::ServerConfig, CertError> {
        let ca = self.ca_pem()?;
        let cert = files::read_pem(&self.gateway_cert_path())?;
        let key = files::read_pem(&self.gateway_key_path())?;
        crate::server_config_from_pem(&ca, &cert, &key, alpn)
    }

    fn create_ca(&self) -> Result<(), CertError> {
        let key = generate_key("the CA key")?;
        let params = ca_params();
        let cert = params
            .self_signed(&key)
            .map_err(|source| CertError::Generate {
                what: "the CA certificate",
                source,
            })?;
        // Key first: a crash in between leaves a key without a certificate,
        // which `init` reports instead of issuing from a CA nobody trusts.
        files::write_new(
            &self.ca_key_path(),
            key.serialize_pem().as_bytes(),
            KEY_FILE_MODE,
        )?;
        files::write_new(&self.ca_cert_path(), cert.pem().as_bytes(), CERT_FILE_MODE)
    }

    /// The CA as an issuer, checking that its key belongs to its certificate.
    fn load_issuer(&self) -> Result<Issuer<'static, KeyPair>, CertError> {
        let cert_pem = self.ca_pem()?;
        let key_path = self.ca_key_path();
        let key_pem = files::read_pem(&key_path)?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| CertError::parse(key_path.display().to_string(), e))?;
        let cert_der = crate::tls::parse_certs(&cert_pem, CA_CERT)?
            .into_iter()
            .next()
            .ok_or_else(|| CertError::parse(CA_CERT, "no certificate in the file"))?;
        let spki = crate::tls::public_key_of(&cert_der)?;
        if spki != key.public_key_raw() {
            return Err(self.inconsistent(format!("{CA_KEY} is not the key of {CA_CERT}")));
        }
        Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| CertError::parse(CA_CERT, e))
    }

    fn write_leaf(
        &self,
        params: &CertificateParams,
        issuer: &Issuer<'_, KeyPair>,
        what: &'static str,
        device: Option<&str>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<(), CertError> {
        let key = generate_key(what)?;
        let cert = params
            .signed_by(&key, issuer)
            .map_err(|source| CertError::Generate { what, source })?;
        if let Some(name) = device {
            // The gateway refuses a device certificate it cannot read a
            // device name from: never write one.
            if crate::tls::device_name(cert.der()).as_deref() != Some(name) {
                return Err(CertError::InvalidName {
                    name: name.to_owned(),
                    reason: "the certificate would not carry it as its device name (CN)",
                });
            }
        }
        files::write_new(key_path, key.serialize_pem().as_bytes(), KEY_FILE_MODE)?;
        if let Err(e) = files::write_new(cert_path, cert.pem().as_bytes(), CERT_FILE_MODE) {
            // The key was created by this call: do not leave half a pair behind.
            let _ = std::fs::remove_file(key_path);
            return Err(e);
        }
        Ok(())
    }

    fn pair_state(&self, cert: &str, key: &str) -> Result<Pair, CertError> {
        match (self.dir.join(cert).exists(), self.dir.join(key).exists()) {
            (true, true) => Ok(Pair::Present),
            (false, false) => Ok(Pair::Absent),
            (true, false) => Err(self.inconsistent(format!("{cert} exists but {key} does not"))),
            (false, true) => Err(self.inconsistent(format!("{key} exists but {cert} does not"))),
        }
    }

    fn inconsistent(&self, problem: String) -> CertError {
        CertError::Inconsistent {
            dir: self.dir.clone(),
            problem,
        }
    }
}

/// The default names plus `extra`, validated and deduplicated, order kept.
fn gateway_sans(extra: &[String]) -> Result<Vec<String>, CertError> {
    if extra.len() > GATEWAY_NAMES_MAX {
        return Err(CertError::InvalidName {
            name: format!("{} names", extra.len()),
            reason: "a gateway certificate carries at most 32 extra names",
        });
    }
    let mut names: Vec<String> = DEFAULT_GATEWAY_NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    for name in extra {
        validate_gateway_name(name)?;
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(CA_COMMON_NAME);
    // Path length 0: this CA signs end-entity certificates only.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    params
}

fn set_leaf(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn generate_key(what: &'static str) -> Result<KeyPair, CertError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|source| CertError::Generate { what, source })
}
