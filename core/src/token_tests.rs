use super::*;
use proptest::prelude::*;

use crate::testing::rotated_keyring as ring;

const ID: PassId = PassId([0x5a; 16]);

#[test]
fn signs_and_verifies_qr_alphanumeric_tokens() {
    let r = ring();
    let t = r.sign(ID, None);
    assert_eq!(t.len(), 56);
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    let c = r.verify(&t).expect("verifies");
    assert_eq!(
        c,
        Claims {
            pass_id: ID,
            key_id: 2,
            not_after_ms: None,
            generation: 0,
        }
    );

    let t = r.sign(ID, Some(1_800_000_000));
    assert_eq!(t.len(), 63);
    assert!(t.len() <= TOKEN_MAX_CHARS);
    assert_eq!(
        r.verify(&t).expect("verifies").not_after_ms,
        Some(1_800_000_000_000)
    );
}

#[test]
fn a_fixed_vector_stays_stable() {
    // Guards the format: a change here breaks every printed ticket.
    let r = Keyring::new(
        &[SigningKey {
            id: 7,
            secret: [0x42; 32],
        }],
        7,
    )
    .expect("ring");
    let t = r.sign(PassId([0; 16]), None);
    assert_eq!(&t[..8], "AEDQAAAA");
    assert_eq!(r.verify(&t).map(|c| c.key_id), Ok(7));
}

#[test]
fn a_generation_is_bound_into_the_token_and_zero_writes_no_byte() {
    let r = ring();
    let plain = r.sign(ID, None);
    assert_eq!(
        r.sign_generation(2, ID, None, 0).as_deref(),
        Some(plain.as_str())
    );
    let second = r.sign_generation(2, ID, None, 1).expect("key 2");
    assert_eq!(second.len(), 58);
    let c = r.verify(&second).expect("verifies");
    assert_eq!((c.pass_id, c.generation, c.not_after_ms), (ID, 1, None));
    let both = r
        .sign_generation(2, ID, Some(1_800_000_000), 255)
        .expect("key 2");
    assert_eq!(both.len(), TOKEN_MAX_CHARS, "the longest token fits");
    let c = r.verify(&both).expect("verifies");
    assert_eq!(
        (c.generation, c.not_after_ms),
        (255, Some(1_800_000_000_000))
    );
    assert_eq!(
        RawToken::parse(&both).map(|t| t.generation()).ok(),
        Some(255)
    );
    // A generation byte changed by hand breaks the tag.
    let mut raw = BASE32_NOPAD.decode(second.as_bytes()).expect("decode");
    raw[19] = 2;
    let forged = BASE32_NOPAD.encode(&raw);
    assert_eq!(r.verify(&forged), Err(TokenError::BadSignature));
    raw[19] = 0;
    let zero = BASE32_NOPAD.encode(&raw);
    assert_eq!(
        r.verify(&zero),
        Err(TokenError::Malformed),
        "0 is never written"
    );
}

#[test]
fn old_keys_still_verify_after_rotation() {
    let old = crate::testing::one_key_keyring(1);
    let t = old.sign(ID, None);
    assert_eq!(ring().verify(&t).map(|c| c.key_id), Ok(1));
}

#[test]
fn every_tamper_is_refused() {
    let r = ring();
    let t = r.sign(ID, Some(1_800_000_000));
    let raw = BASE32_NOPAD.decode(t.as_bytes()).expect("decode");
    for i in 0..raw.len() {
        for bit in 0..8 {
            let mut bad = raw.clone();
            bad[i] ^= 1 << bit;
            let err = r.verify(&BASE32_NOPAD.encode(&bad)).expect_err("tampered");
            let expect_forged = i != 0 && i != 2;
            assert_eq!(
                err.reason() == crate::Reason::Forged,
                expect_forged,
                "byte {i} bit {bit}: {err:?}"
            );
        }
    }
}

#[test]
fn sign_with_reaches_every_key_of_the_ring() {
    let r = ring();
    assert_eq!(r.key_ids().collect::<Vec<_>>(), vec![1, 2]);
    let old = r.sign_with(1, ID, None).expect("key 1");
    assert_eq!(r.verify(&old).map(|c| c.key_id), Ok(1));
    assert_eq!(r.sign_with(2, ID, None), Some(r.sign(ID, None)));
    assert_eq!(r.sign_with(3, ID, None), None);
    let raw = RawToken::parse(&old).expect("well-formed");
    assert_eq!((raw.key_id(), raw.has_not_after()), (1, false));
    assert_eq!(BASE32_NOPAD.encode(raw.as_bytes()), old);
    assert!(
        !format!("{raw:?}").contains(&old[..8]),
        "Debug hides the token"
    );
}

#[test]
fn malformed_inputs_are_named() {
    let r = ring();
    let t = r.sign(ID, None);
    assert_eq!(r.verify(""), Err(TokenError::Malformed));
    assert_eq!(r.verify(&"A".repeat(65)), Err(TokenError::Malformed));
    assert_eq!(r.verify(&t[..t.len() - 1]), Err(TokenError::Malformed));
    assert_eq!(r.verify(&t.to_lowercase()), Err(TokenError::Malformed));
    let mut raw = BASE32_NOPAD.decode(t.as_bytes()).expect("decode");
    raw[0] = 9;
    assert_eq!(
        r.verify(&BASE32_NOPAD.encode(&raw)),
        Err(TokenError::UnsupportedVersion(9))
    );
    let other = crate::testing::one_key_keyring(9);
    assert_eq!(r.verify(&other.sign(ID, None)), Err(TokenError::UnknownKey));
}

#[test]
fn keyring_rejects_bad_sets() {
    let k = SigningKey {
        id: 1,
        secret: [0; 32],
    };
    assert_eq!(Keyring::new(&[], 1).err(), Some(KeyringError::Empty));
    assert_eq!(
        Keyring::new(&[k.clone(), k.clone()], 1).err(),
        Some(KeyringError::DuplicateId(1))
    );
    assert_eq!(
        Keyring::new(&[k], 2).err(),
        Some(KeyringError::MissingActive(2))
    );
    assert!(
        !format!(
            "{:?}",
            SigningKey {
                id: 1,
                secret: [0xee; 32]
            }
        )
        .contains("238")
    );
}

#[test]
fn redact_never_shows_the_whole_token() {
    let t = ring().sign(ID, None);
    let shown = redact(&t);
    assert!(!shown.contains(&t[6..]));
    assert!(shown.starts_with(&t[..6]));
}

proptest! {
    #[test]
    fn verify_never_panics(s in "\\PC{0,80}") {
        let _ = ring().verify(&s);
    }

    #[test]
    fn sign_verify_round_trips(
        id in any::<[u8; 16]>(),
        na in proptest::option::of(any::<u32>()),
        generation in any::<u8>(),
    ) {
        let r = ring();
        let token = r.sign_generation(2, PassId(id), na, generation).expect("key 2");
        let c = r.verify(&token).expect("verifies");
        prop_assert_eq!(c.pass_id, PassId(id));
        prop_assert_eq!(c.not_after_ms, na.map(|s| i64::from(s) * 1000));
        prop_assert_eq!(c.generation, generation);
    }
}
