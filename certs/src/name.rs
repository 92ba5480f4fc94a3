//! Names of scanner devices and of the gateway.

use crate::CertError;
use rustls::pki_types::ServerName;

/// Longest scanner device name, in characters. Names end up in file names,
/// certificate CNs, log lines and metric labels; 64 is plenty for
/// `north-gate-turnstile-12` and keeps all of those short.
pub const SCANNER_NAME_MAX_CHARS: usize = 64;

/// Longest gateway host name accepted for the certificate's SANs (the DNS limit).
pub const GATEWAY_NAME_MAX_CHARS: usize = 253;

/// How much of a refused name an error message shows.
const SHOWN_MAX_CHARS: usize = 64;

/// Checks a scanner device name: 1 to [`SCANNER_NAME_MAX_CHARS`] characters
/// of `a-z A-Z 0-9 - _ .`, not starting with a dot (no hidden files, no `..`).
pub fn validate_scanner_name(name: &str) -> Result<(), CertError> {
    let refuse = |reason| {
        Err(CertError::InvalidName {
            name: shown(name),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("a scanner name cannot be empty");
    }
    if name.len() > SCANNER_NAME_MAX_CHARS {
        return refuse("a scanner name has at most 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return refuse("a scanner name uses only letters, digits, '-', '_' and '.'");
    }
    if name.starts_with('.') {
        return refuse("a scanner name cannot start with '.'");
    }
    Ok(())
}

/// Checks a name the gateway certificate should be valid for: a DNS name or
/// an IP address, as a TLS client would spell it.
pub fn validate_gateway_name(name: &str) -> Result<(), CertError> {
    if name.is_empty() || name.len() > GATEWAY_NAME_MAX_CHARS {
        return Err(CertError::InvalidName {
            name: shown(name),
            reason: "a gateway name has 1 to 253 characters",
        });
    }
    ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| CertError::InvalidName {
            name: shown(name),
            reason: "a gateway name is a DNS name or an IP address",
        })
}

/// A refused name, cut short so a hostile input cannot flood a log line
/// (the error's `Debug` formatting escapes control characters).
fn shown(name: &str) -> String {
    name.chars().take(SHOWN_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_names() {
        for ok in ["a", "north-1", "Gate_7.b", &"x".repeat(64)] {
            assert!(validate_scanner_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../ca",
            "a/b",
            ".hidden",
            "sp ace",
            "é",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(
                    validate_scanner_name(bad),
                    Err(CertError::InvalidName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn gateway_names() {
        for ok in ["localhost", "gate.example.com", "10.0.0.1", "::1"] {
            assert!(validate_gateway_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "exa mple.com", "-"] {
            assert!(validate_gateway_name(bad).is_err(), "{bad}");
        }
    }
}
