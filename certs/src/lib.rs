//! scangate's own PKI: a development CA, the gateway's server certificate and
//! one client certificate per scanner device, plus the rustls configurations
//! both ends of a scangate QUIC connection use.
//!
//! Every scanner authenticates with its device certificate (mutual TLS); the
//! gateway refuses clients without one. The certificate's CN is the device
//! name the gateway uses for rate limits and logs ([`device_name`]).
//!
//! This crate is synchronous and small on purpose: no tokio, no network. It
//! must never overwrite an existing key or certificate, never write a private
//! key readable by anyone but its owner (mode 0600, directories 0700), never
//! leave half a file behind, and never allow TLS 1.2 or 0-RTT early data.
//!
//! Layout of a PKI directory:
//!
//! ```text
//! ca.pem  ca.key  gateway.pem  gateway.key  scanners/NAME.pem  scanners/NAME.key
//! ```
//!
//! Modules:
//! - [`pki`]: the directory, `init` (CA + gateway certificate) and scanner issuance.
//! - [`tls`]: rustls server/client configs, the client verifier, [`device_name`].
//! - [`name`]: the rules for scanner and gateway names.
//! - `files`: create-only, atomic, permission-aware file writes.
//! - [`error`]: the one error type, [`CertError`].

pub mod error;
mod files;
pub mod name;
pub mod pki;
pub mod tls;

pub use error::CertError;
pub use files::{DIR_MODE, KEY_FILE_MODE, PEM_MAX_BYTES};
pub use name::{SCANNER_NAME_MAX_CHARS, validate_gateway_name, validate_scanner_name};
pub use pki::{InitReport, Pki, ScannerFiles};
pub use tls::{client_config, client_verifier, device_name, server_config_from_pem};
