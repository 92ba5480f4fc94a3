//! Feeds arbitrary text to token verification. Must never panic, and must
//! never accept a token that a fixed keyring did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate_core::token::{Keyring, SigningKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ring = Keyring::new(&[SigningKey { id: 1, secret: [0x11; 32] }], 1).expect("ring");
    if let Ok(claims) = ring.verify(text) {
        // Only a token this ring signed verifies: re-signing what it claims
        // (key, pass, not-after, generation) must reproduce it.
        let not_after = claims.not_after_ms.map(|ms| (ms / 1000) as u32);
        let again =
            ring.sign_generation(claims.key_id, claims.pass_id, not_after, claims.generation);
        assert_eq!(again.as_deref(), Some(text));
    }
});
