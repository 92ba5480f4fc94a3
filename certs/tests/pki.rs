//! The PKI directory: init, issuance, verification against the CA, file modes.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use scangate_certs::{CertError, Pki, client_verifier, device_name};
use std::fs;
use std::path::Path;

fn new_pki() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::open(&dir.path().join("pki"));
    (dir, pki)
}

fn cert_der(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).expect("certificate PEM")
}

#[test]
fn init_is_idempotent() {
    let (_tmp, pki) = new_pki();
    assert!(!pki.is_initialized());
    let first = pki.init(&["gate.example.com".into()]).expect("init");
    assert!(first.ca_created && first.gateway_created);
    assert_eq!(first.created.len(), 4);
    assert!(pki.is_initialized());
    let ca = fs::read(pki.ca_cert_path()).expect("ca");
    let gw = fs::read(pki.gateway_cert_path()).expect("gateway");

    let second = pki.init(&[]).expect("init again");
    assert!(!second.ca_created && !second.gateway_created);
    assert!(second.created.is_empty());
    assert_eq!(fs::read(pki.ca_cert_path()).expect("ca"), ca);
    assert_eq!(fs::read(pki.gateway_cert_path()).expect("gateway"), gw);

    // A lost gateway certificate is re-created under the same CA.
    fs::remove_file(pki.gateway_cert_path()).expect("rm");
    fs::remove_file(pki.gateway_key_path()).expect("rm");
    let third = pki.init(&[]).expect("init after losing the gateway cert");
    assert!(!third.ca_created && third.gateway_created);
}

#[test]
fn half_pairs_and_mismatched_keys_are_reported_not_repaired() {
    let (_tmp, pki) = new_pki();
    pki.init(&[]).expect("init");
    fs::remove_file(pki.ca_key_path()).expect("rm");
    assert!(matches!(pki.init(&[]), Err(CertError::Inconsistent { .. })));
    assert!(matches!(
        pki.issue_scanner("a"),
        Err(CertError::Missing { .. })
    ));

    // A key that is not the CA's own.
    let (_tmp2, other) = new_pki();
    other.init(&[]).expect("other init");
    fs::copy(other.ca_key_path(), pki.ca_key_path()).expect("copy");
    assert!(matches!(
        pki.issue_scanner("a"),
        Err(CertError::Inconsistent { .. })
    ));
}

#[test]
fn bad_gateway_names_are_refused_before_anything_is_written() {
    let (_tmp, pki) = new_pki();
    let err = pki.init(&["not a host".into()]).expect_err("refused");
    assert!(matches!(err, CertError::InvalidName { .. }), "{err}");
    assert!(!pki.ca_cert_path().exists());
}

#[test]
fn scanner_certificates_verify_against_their_ca_only() {
    let (_tmp, pki) = new_pki();
    pki.init(&[]).expect("init");
    let files = pki.issue_scanner("north-1").expect("issue");
    assert_eq!(files.name, "north-1");
    assert!(pki.scanner_exists("north-1"));
    assert!(!pki.scanner_exists("south-1"));
    let der = cert_der(&files.cert);
    assert_eq!(device_name(&der).as_deref(), Some("north-1"));

    let ca_pem = pki.ca_pem().expect("ca pem");
    let verifier = client_verifier(&ca_pem).expect("verifier");
    verifier
        .verify_client_cert(&der, &[], UnixTime::now())
        .expect("issued scanner cert verifies against the CA");
    // The gateway certificate is not a client certificate (serverAuth only).
    let gw = cert_der(&pki.gateway_cert_path());
    assert!(
        verifier
            .verify_client_cert(&gw, &[], UnixTime::now())
            .is_err()
    );
    assert_eq!(device_name(&gw), None, "the gateway CN is no device name");

    let (_tmp2, other) = new_pki();
    other.init(&[]).expect("other init");
    let foreign = other.issue_scanner("north-1").expect("issue elsewhere");
    let foreign_der = cert_der(&foreign.cert);
    assert!(
        verifier
            .verify_client_cert(&foreign_der, &[], UnixTime::now())
            .is_err(),
        "a certificate from another CA must not verify"
    );
}

#[test]
fn issuance_refuses_overwrites_and_bad_names() {
    let (_tmp, pki) = new_pki();
    pki.init(&[]).expect("init");
    pki.issue_scanner("gate_7.b").expect("issue");
    let before = fs::read(pki.scanner_files("gate_7.b").expect("files").cert).expect("read");
    assert!(matches!(
        pki.issue_scanner("gate_7.b"),
        Err(CertError::AlreadyExists { .. })
    ));
    assert_eq!(
        fs::read(pki.scanner_files("gate_7.b").expect("files").cert).expect("read"),
        before
    );
    for bad in ["", "../ca", "a b", ".x", &"n".repeat(65)] {
        assert!(
            matches!(pki.issue_scanner(bad), Err(CertError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn keys_are_private_and_dirs_are_closed() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, pki) = new_pki();
    pki.init(&[]).expect("init");
    let scanner = pki.issue_scanner("s1").expect("issue");
    let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    for key in [
        pki.ca_key_path(),
        pki.gateway_key_path(),
        scanner.key.clone(),
    ] {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
    assert_eq!(mode(pki.dir()), 0o700);
    assert_eq!(mode(scanner.cert.parent().expect("scanners dir")), 0o700);
    assert_eq!(mode(&scanner.cert), 0o644);
}

#[test]
fn the_verifier_refuses_a_certificate_of_the_ca_without_a_device_name() {
    let (_tmp, pki) = new_pki();
    pki.init(&[]).expect("init");
    let ca_pem = pki.ca_pem().expect("ca pem");
    let ca_key = fs::read_to_string(pki.ca_key_path()).expect("ca key");
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&ca_pem, rcgen::KeyPair::from_pem(&ca_key).expect("key"))
            .expect("issuer");
    let verifier = client_verifier(&ca_pem).expect("verifier");
    for cn in [None, Some("../not a name")] {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        assert_eq!(device_name(cert.der()), None);
        let refused = verifier
            .verify_client_cert(cert.der(), &[], UnixTime::now())
            .expect_err("a certificate of our CA without a device name");
        assert_eq!(
            refused,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure
            ),
            "{cn:?}"
        );
    }
}
