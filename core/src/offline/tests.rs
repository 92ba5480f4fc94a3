//! The snapshot's contract: what it holds and hides, what a device refuses,
//! deltas, and the offline decision against the online one.

use super::key::KEY_BYTES;
use super::*;
use crate::decision::{Decision, Reason};
use crate::pass::tests::sample;
use crate::pass::{Pass, Status};
use crate::rules::{self, ScanContext};
use crate::token::{Keyring, SigningKey};
use proptest::prelude::*;

pub(crate) const NOW: i64 = 1_800_000_000_000;

pub(crate) use crate::testing::rotated_keyring as ring;

pub(crate) fn signer() -> SnapshotSigner {
    SnapshotSigner::from_seed([7; KEY_BYTES])
}

/// Pass `n` of event "fest": single use, valid around [`NOW`].
pub(crate) fn pass(n: u32) -> Pass {
    Pass {
        id: crate::testing::pass_id(n),
        valid_from_ms: Some(NOW - 3_600_000),
        valid_until_ms: Some(NOW + 3_600_000),
        display: Some(format!("Jane Doe {n}, row 7 seat 12")),
        ..sample()
    }
}

/// Every key's static token of the pass (the gateway's rule).
pub(crate) fn tokens(ring: &Keyring) -> impl FnMut(&Pass) -> Vec<String> + '_ {
    |p| {
        ring.key_ids()
            .filter_map(|k| ring.sign_with(k, p.id, None))
            .collect()
    }
}

pub(crate) fn snapshot_of(passes: &[Pass], version: u64) -> Snapshot {
    let ring = ring();
    build(
        &SnapshotMeta::new("fest", version, NOW - 1_000),
        passes,
        tokens(&ring),
        None,
    )
    .expect("builds")
}

fn opened(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    signer().verifier().open_snapshot(bytes, "fest", NOW)
}

fn decide(s: &Snapshot, token: &str, gate: &str, local: u32) -> Decision {
    s.decide(token, gate, Some("fest"), NOW, |_| local)
        .expect("decides")
        .decision
}

#[test]
fn a_signed_snapshot_opens_to_what_was_built() {
    let passes: Vec<Pass> = (0..20).map(pass).collect();
    let built = snapshot_of(&passes, 3);
    assert_eq!(built.entries().len(), 40, "one entry per pass and key");
    let bytes = built.to_signed_bytes(&signer());
    let snap = opened(&bytes).expect("opens");
    assert_eq!(snap, built);
    assert_eq!((snap.version(), snap.event()), (3, "fest"));
    assert_eq!(snap.expires_ms(), NOW - 1_000 + SNAPSHOT_TTL_DEFAULT_MS);
    assert!(
        snap.entries().windows(2).all(|w| w[0].index < w[1].index),
        "sorted for binary search"
    );
}

#[test]
fn offline_decisions_follow_the_rules() {
    let r = ring();
    let mut passes: Vec<Pass> = (0..4).map(pass).collect();
    passes[1].status = Status::Revoked;
    passes[2].gates = vec!["north".into()];
    passes[3].dynamic_ttl_s = Some(60);
    let snap = snapshot_of(&passes, 1);
    let t = |n: usize| r.sign(passes[n].id, None);
    assert_eq!(decide(&snap, &t(0), "A", 0), Decision::Granted);
    assert_eq!(
        decide(&snap, &t(0), "A", 1),
        Decision::Denied(Reason::UsedUp)
    );
    assert_eq!(
        decide(&snap, &t(1), "A", 0),
        Decision::Denied(Reason::Revoked)
    );
    assert_eq!(
        decide(&snap, &t(2), "south", 0),
        Decision::Denied(Reason::WrongGate)
    );
    assert_eq!(decide(&snap, &t(2), "north", 0), Decision::Granted);
    assert_eq!(
        decide(&snap, &t(3), "A", 0),
        Decision::Denied(Reason::Expired)
    );
    let short = r.sign(passes[3].id, Some((NOW / 1000) as u32 + 60));
    assert_eq!(
        decide(&snap, &short, "A", 0),
        Decision::Denied(Reason::NeedsNetwork)
    );
    assert_eq!(
        decide(&snap, "not a token", "A", 0),
        Decision::Denied(Reason::Malformed)
    );
    let absent = r.sign(pass(99).id, None);
    assert_eq!(
        decide(&snap, &absent, "A", 0),
        Decision::Denied(Reason::Unknown)
    );
    let forged = Keyring::new(
        &[SigningKey {
            id: 2,
            secret: [9; 32],
        }],
        2,
    )
    .expect("ring")
    .sign(passes[0].id, None);
    assert_eq!(
        decide(&snap, &forged, "A", 0),
        Decision::Denied(Reason::Unknown)
    );
    // A token signed by the older key finds the pass too (key rotation).
    let old = r.sign_with(1, passes[0].id, None).expect("key 1");
    assert_eq!(decide(&snap, &old, "A", 0), Decision::Granted);
}

#[test]
fn a_grant_reports_its_entry_and_the_uses_after_it() {
    let mut p = pass(1);
    p.max_uses = Some(3);
    p.uses = 1;
    let snap = snapshot_of(std::slice::from_ref(&p), 1);
    let token = ring().sign(p.id, None);
    let out = snap.decide(&token, "A", None, NOW, |_| 1).expect("decides");
    assert_eq!(out.decision, Decision::Granted);
    assert_eq!(
        (out.uses, out.max_uses, out.snapshot_version),
        (Some(3), Some(3), 1)
    );
    assert_eq!(
        snap.entry(&out.entry.expect("entry")).map(|e| e.uses),
        Some(1)
    );
}

#[test]
fn a_device_refuses_to_decide_from_an_expired_or_foreign_snapshot() {
    let snap = snapshot_of(&[pass(1)], 1);
    let token = ring().sign(pass(1).id, None);
    let expires = snap.expires_ms();
    assert!(snap.decide(&token, "A", None, expires - 1, |_| 0).is_ok());
    assert_eq!(
        snap.decide(&token, "A", None, expires, |_| 0),
        Err(SnapshotError::Expired {
            expires_ms: expires,
            now_ms: expires
        })
    );
    assert!(matches!(
        snap.decide(&token, "A", Some("other"), NOW, |_| 0),
        Err(SnapshotError::WrongEvent { .. })
    ));
}

#[test]
fn every_flipped_byte_is_refused() {
    let bytes = snapshot_of(&[pass(1), pass(2)], 1).to_signed_bytes(&signer());
    for at in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            assert!(opened(&bad).is_err(), "byte {at} ^ {flip:#x} was accepted");
        }
    }
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(opened(&bad), Err(SnapshotError::BadSignature));
}

#[test]
fn expired_and_other_keys_are_refused_with_their_reason() {
    let snap = snapshot_of(&[pass(1)], 1);
    let bytes = snap.to_signed_bytes(&signer());
    let v = signer().verifier();
    assert!(
        v.open_snapshot(&bytes, "fest", snap.expires_ms() - 1)
            .is_ok()
    );
    assert!(matches!(
        v.open_snapshot(&bytes, "fest", snap.expires_ms()),
        Err(SnapshotError::Expired { .. })
    ));
    assert!(matches!(
        v.open_snapshot(&bytes, "other", NOW),
        Err(SnapshotError::WrongEvent { .. })
    ));
    let other = SnapshotSigner::from_seed([8; KEY_BYTES]);
    let foreign = snap.to_signed_bytes(&other);
    assert_eq!(
        opened(&foreign),
        Err(SnapshotError::WrongKey {
            expected: v.fingerprint(),
            found: other.verifier().fingerprint()
        })
    );
    // Another key's signature under this key's fingerprint: not a key
    // mix-up but a forgery.
    let mut posing = foreign.clone();
    posing[10..18].copy_from_slice(&v.fingerprint().0);
    assert_eq!(opened(&posing), Err(SnapshotError::BadSignature));
    let message = SnapshotError::WrongKey {
        expected: v.fingerprint(),
        found: other.verifier().fingerprint(),
    }
    .to_string();
    assert!(message.contains(&v.fingerprint().to_string()), "{message}");
}

#[test]
fn truncated_oversized_and_padded_bytes_are_refused() {
    let bytes = snapshot_of(&[pass(1), pass(2)], 1).to_signed_bytes(&signer());
    for len in 0..bytes.len() {
        assert!(
            matches!(opened(&bytes[..len]), Err(SnapshotError::Truncated { .. })),
            "a prefix of {len} bytes: {:?}",
            opened(&bytes[..len])
        );
    }
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(matches!(opened(&padded), Err(SnapshotError::Malformed(_))));
    let huge = vec![0u8; SNAPSHOT_MAX_BYTES + 1];
    assert_eq!(
        opened(&huge),
        Err(SnapshotError::Oversized {
            len: SNAPSHOT_MAX_BYTES + 1,
            max: SNAPSHOT_MAX_BYTES
        })
    );
    let v = signer().verifier();
    assert!(matches!(
        v.open_delta(&vec![0u8; DELTA_MAX_BYTES + 1], "fest", NOW),
        Err(SnapshotError::Oversized { .. })
    ));
    assert!(matches!(
        v.open_delta(&bytes, "fest", NOW),
        Err(SnapshotError::WrongKind { .. })
    ));
}

/// `needle` occurs in `hay` as a contiguous run of bytes.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_bytes_hold_no_display_text_no_pass_id_and_no_token() {
    let r = ring();
    let passes: Vec<Pass> = (0..50).map(pass).collect();
    let bytes = snapshot_of(&passes, 1).to_signed_bytes(&signer());
    for p in &passes {
        let display = p.display.as_deref().expect("display");
        assert!(!contains(&bytes, display.as_bytes()), "display text");
        assert!(!contains(&bytes, b"Jane Doe"), "part of a display text");
        assert!(!contains(&bytes, &p.id.0), "raw pass id");
        assert!(
            !contains(&bytes, p.id.to_string().as_bytes()),
            "hex pass id"
        );
        for k in r.key_ids() {
            let token = r.sign_with(k, p.id, None).expect("token");
            let raw = data_encoding::BASE32_NOPAD
                .decode(token.as_bytes())
                .expect("base32");
            assert!(!contains(&bytes, token.as_bytes()), "token text");
            assert!(!contains(&bytes, &raw[19..]), "token tag");
            assert!(!contains(&bytes, &raw[3..11]), "half a pass id");
        }
    }
}

/// v1 of 30 passes; v2 with one revoked, one used, one removed, one added.
fn two_versions() -> (Snapshot, Snapshot) {
    let ring = ring();
    let mut passes: Vec<Pass> = (0..30).map(pass).collect();
    let v1 = snapshot_of(&passes, 1);
    passes[3].status = Status::Revoked;
    passes[4].uses = 1;
    passes.remove(5);
    let mut added = pass(100);
    added.gates = vec!["vip".into()];
    passes.push(added);
    let meta = SnapshotMeta::new("fest", 2, NOW);
    let v2 = build(&meta, &passes, tokens(&ring), Some(&v1)).expect("v2");
    (v1, v2)
}

#[test]
fn a_delta_takes_a_device_from_one_version_to_the_next() {
    let (v1, v2) = two_versions();
    let delta = Delta::between(&v1, &v2).expect("delta");
    assert_eq!(
        (delta.changed().len(), delta.removed().len()),
        (6, 2),
        "3 passes × 2 keys, 1 × 2"
    );
    let bytes = delta.to_signed_bytes(&signer()).expect("fits");
    let v = signer().verifier();
    let opened = v.open_delta(&bytes, "fest", NOW).expect("opens");
    assert_eq!(v1.apply(&opened), Ok(v2.clone()));
    // A revocation reaches the device with the delta.
    let token = ring().sign(pass(3).id, None);
    assert_eq!(decide(&v1, &token, "A", 0), Decision::Granted);
    assert_eq!(
        decide(&v2, &token, "A", 0),
        Decision::Denied(Reason::Revoked)
    );
    // Applied to the wrong version, or opened as a snapshot: refused.
    assert_eq!(
        v2.apply(&opened),
        Err(SnapshotError::BaseMismatch { have: 2, base: 1 })
    );
    assert!(matches!(
        v.open_snapshot(&bytes, "fest", NOW),
        Err(SnapshotError::WrongKind { .. })
    ));
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        assert!(v.open_delta(&bad, "fest", NOW).is_err(), "byte {at}");
    }
}

#[test]
fn a_new_snapshot_that_does_not_extend_the_old_one_gets_no_delta() {
    let (v1, v2) = two_versions();
    assert_eq!(Delta::between(&v2, &v1), Err(BuildError::NotAnExtension));
    let mut unseeded: Vec<Pass> = (0..3).map(pass).collect();
    unseeded[0].gates = vec!["zzz".into()];
    let fresh = snapshot_of(&unseeded, 5);
    assert_eq!(Delta::between(&v2, &fresh), Err(BuildError::NotAnExtension));
}

#[test]
fn the_builder_refuses_what_it_cannot_index() {
    let ring = ring();
    let meta = SnapshotMeta::new("fest", 1, NOW);
    let mut other = pass(1);
    other.event = "other".into();
    assert!(matches!(
        build(&meta, [&other], tokens(&ring), None),
        Err(BuildError::OtherEvent { .. })
    ));
    let short = |p: &Pass| ring.sign(p.id, Some(1));
    assert_eq!(
        build(&meta, [&pass(1)], |p| [short(p)], None),
        Err(BuildError::NotStatic)
    );
    let mut unchecked = pass(1);
    unchecked.gates = vec!["g".repeat(300)];
    assert!(matches!(
        build(&meta, [&unchecked], tokens(&ring), None),
        Err(BuildError::InvalidName(_))
    ));
    let twice = |p: &Pass| [ring.sign(p.id, None), ring.sign(p.id, None)];
    assert_eq!(
        build(&meta, [&pass(1)], twice, None),
        Err(BuildError::DuplicateIndex)
    );
}

fn arb_pass() -> impl Strategy<Value = (Pass, i64, bool)> {
    (
        0usize..3,
        proptest::option::of(-2i64..2),
        proptest::option::of(-2i64..2),
        proptest::option::of(1u32..4),
        0u32..4,
        prop_oneof![Just(vec![]), Just(vec!["north".to_string()])],
        any::<bool>(),
        -3i64..3,
        any::<bool>(),
    )
        .prop_map(|(st, from, until, max, uses, gates, dynamic, now, north)| {
            let hour = 3_600_000;
            let p = Pass {
                status: Status::ALL[st],
                valid_from_ms: from.map(|h| NOW + h * hour),
                valid_until_ms: until.map(|h| NOW + h * hour),
                max_uses: max,
                uses,
                gates,
                dynamic_ttl_s: dynamic.then_some(60),
                ..pass(1)
            };
            (p, NOW + now * hour / 2, north)
        })
}

proptest! {
    /// The offline decision is the online one, for any pass state, time and gate.
    #[test]
    fn offline_decides_as_the_gateway_does((p, now, north) in arb_pass(), local in 0u32..3) {
        let gate = if north { "north" } else { "south" };
        let mut snap = snapshot_of(std::slice::from_ref(&p), 1);
        snap.expires_ms = i64::MAX;
        let token = ring().sign(p.id, None);
        let offline = snap.decide(&token, gate, Some("fest"), now, |_| local).expect("decides");
        let mut online = p.clone();
        online.uses += local;
        let ctx = ScanContext { event: Some("fest"), gate, token_not_after_ms: None, token_generation: None, definition: None, direction: None };
        prop_assert_eq!(offline.decision, rules::decide(&online, &ctx, now).decision);
    }

    /// A delta between any two versions applies to exactly the newer one.
    #[test]
    fn deltas_apply_to_the_newer_version(
        changes in proptest::collection::vec((0u32..40, 0usize..4), 0..30),
    ) {
        let ring = ring();
        let mut passes: Vec<Pass> = (0..20).map(pass).collect();
        let v1 = snapshot_of(&passes, 1);
        for (n, what) in changes {
            match what {
                0 => passes.retain(|p| p.id != pass(n).id),
                1 if !passes.iter().any(|p| p.id == pass(n).id) => passes.push(pass(n)),
                2 => passes.iter_mut().for_each(|p| if p.id == pass(n).id { p.status = Status::Suspended }),
                _ => passes.iter_mut().for_each(|p| if p.id == pass(n).id { p.gates = vec![format!("g{n}")] }),
            }
        }
        let v2 = build(&SnapshotMeta::new("fest", 2, NOW), &passes, tokens(&ring), Some(&v1)).expect("v2");
        let bytes = Delta::between(&v1, &v2).expect("delta").to_signed_bytes(&signer()).expect("fits");
        let delta = signer().verifier().open_delta(&bytes, "fest", NOW).expect("opens");
        prop_assert_eq!(v1.apply(&delta), Ok(v2));
    }

    /// Arbitrary bytes, or a real snapshot with bytes overwritten, never panic.
    #[test]
    fn opening_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..300), at in any::<usize>()) {
        let v = signer().verifier();
        let _ = v.open_snapshot(&junk, "fest", NOW);
        let _ = v.open_delta(&junk, "fest", NOW);
        let mut bytes = snapshot_of(&[pass(1)], 1).to_signed_bytes(&signer());
        let at = at % bytes.len();
        let end = (at + junk.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&junk[..end - at]);
        let _ = v.open_snapshot(&bytes, "fest", NOW);
    }
}
