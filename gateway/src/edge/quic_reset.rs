//! QUIC stateless reset across restarts.
//!
//! A gateway keys two things with the data dir's reset key
//! ([`crate::datadir::DataDir::read_reset_key`]), the same on every start:
//! the stateless-reset tokens it hands out (HMAC-SHA256 of a connection id),
//! and the key that marks the connection ids it issues as its own. After a
//! restart, a packet of a connection the previous process held then carries
//! an id the new process recognises as its own but does not know, and is
//! answered with a stateless reset whose token the scanner accepts: the
//! scanner drops that connection at once and reconnects, instead of waiting
//! out its idle timeout. With either key drawn per process the packet is
//! dropped (an id that fails the check) or the reset is ignored (a token the
//! scanner was never given).

use quinn_proto::{ConnectionIdGenerator, HashedConnectionIdGenerator};
use std::sync::Arc;
use std::time::Duration;

/// Domain label of the connection-id key derived from the reset key.
const CID_KEY_LABEL: &[u8] = b"scangate/1 connection-id key";
/// Least time between two stateless resets the endpoint sends. quinn's
/// default, 20 ms, would reset at most 50 old connections a second, so the
/// thousandth scanner of a venue would wait ~20 s after a restart; 1 ms
/// resets 1,000 a second. A reset is always smaller than the packet that
/// caused it (no amplification), and this still breaks reset loops.
const RESET_MIN_INTERVAL: Duration = Duration::from_millis(1);

/// quinn's endpoint configuration with both keys derived from `reset_key`.
pub fn endpoint_config(reset_key: &[u8]) -> quinn::EndpointConfig {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset_key);
    let cid_key = cid_key(&key);
    let mut config = quinn::EndpointConfig::new(Arc::new(key));
    config
        .cid_generator(move || cid_generator(cid_key))
        .min_reset_interval(RESET_MIN_INTERVAL);
    config
}

/// The connection-id key: the first 8 bytes of HMAC(reset key, label).
fn cid_key(key: &ring::hmac::Key) -> u64 {
    let tag = ring::hmac::sign(key, CID_KEY_LABEL);
    let mut first = [0u8; 8];
    first.copy_from_slice(&tag.as_ref()[..8]);
    u64::from_le_bytes(first)
}

fn cid_generator(cid_key: u64) -> Box<dyn ConnectionIdGenerator> {
    Box::new(HashedConnectionIdGenerator::from_key(cid_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: &[u8]) -> u64 {
        cid_key(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
    }

    #[test]
    fn a_restart_with_the_same_key_recognises_the_old_connection_ids() {
        let before = key(&[7; 64]);
        let mut old_process = cid_generator(before);
        let cid = old_process.generate_cid();
        assert_eq!(key(&[7; 64]), before, "derived the same on every start");
        assert!(cid_generator(key(&[7; 64])).validate(&cid).is_ok());
        // Another key (a per-process one, as before) drops it as junk.
        assert!(cid_generator(key(&[8; 64])).validate(&cid).is_err());
    }
}
