//! Offline snapshot figures (issue 26): build time and size at 1M and 50k
//! passes, a device's lookup + decision, a delta of 1,000 changes, and a
//! device opening (verifying) the 1M snapshot.
//!
//! `cargo bench -p scangate-core --bench offline`; sizes are printed to
//! stderr as `size: ...` lines. Passes are spread over 4 profiles (ticket
//! categories), half of them restricted to one of 8 gates; one signing key.

use criterion::{Criterion, criterion_group, criterion_main};
use scangate_core::offline::{Delta, SnapshotMeta, SnapshotSigner, build};
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::{Kind, Pass, PassId, Status};
use std::hint::black_box;
use std::time::Duration;

const NOW: i64 = 1_800_000_000_000;

fn ring() -> Keyring {
    Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [1; 32],
        }],
        1,
    )
    .expect("ring")
}

fn passes(n: u32) -> Vec<Pass> {
    (0..n)
        .map(|i| {
            let mut id = [0x33; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            Pass {
                id: PassId(id),
                event: "stadium-2026".into(),
                kind: Kind::Ticket,
                status: if i % 1000 == 0 {
                    Status::Revoked
                } else {
                    Status::Active
                },
                status_reason: None,
                valid_from_ms: Some(NOW - 3_600_000 * (i % 4) as i64),
                valid_until_ms: Some(NOW + 86_400_000),
                max_uses: Some(1 + i % 2),
                uses: 0,
                gates: if i % 2 == 0 {
                    vec![format!("gate-{}", i % 8)]
                } else {
                    vec![]
                },
                display: Some(format!("Holder {i}")),
                created_ms: NOW,
                dynamic_ttl_s: None,
                status_since_ms: None,
                token_generation: 0,
                card: None,
                zones: Vec::new(),
                presence: Default::default(),
            }
        })
        .collect()
}

fn meta(version: u64) -> SnapshotMeta {
    SnapshotMeta::new("stadium-2026", version, NOW)
}

/// Builds and signs: what the gateway does for each new full version.
fn build_signed(passes: &[Pass], ring: &Keyring, signer: &SnapshotSigner) -> Vec<u8> {
    build(&meta(1), passes, |p| [ring.sign(p.id, None)], None)
        .expect("builds")
        .to_signed_bytes(signer)
}

fn builds(c: &mut Criterion) {
    let (ring, signer) = (ring(), SnapshotSigner::from_seed([9; 32]));
    let mut group = c.benchmark_group("offline_build");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in [50_000u32, 1_000_000] {
        let all = passes(n);
        let bytes = build_signed(&all, &ring, &signer);
        eprintln!("size: {n} passes -> {} bytes", bytes.len());
        group.bench_function(format!("build_and_sign_{n}"), |b| {
            b.iter(|| black_box(build_signed(&all, &ring, &signer)))
        });
    }
    group.finish();
}

fn device(c: &mut Criterion) {
    let (ring, signer) = (ring(), SnapshotSigner::from_seed([9; 32]));
    let all = passes(1_000_000);
    let bytes = build_signed(&all, &ring, &signer);
    let verifier = signer.verifier();
    let snap = verifier
        .open_snapshot(&bytes, "stadium-2026", NOW)
        .expect("opens");
    let tokens: Vec<String> = all
        .iter()
        .step_by(997)
        .map(|p| ring.sign(p.id, None))
        .collect();
    let mut group = c.benchmark_group("offline_device");
    group.bench_function("lookup_and_decide_1m", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % tokens.len();
            black_box(snap.decide(&tokens[i], "gate-2", Some("stadium-2026"), NOW, |_| 0))
        })
    });
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("open_1m", |b| {
        b.iter(|| black_box(verifier.open_snapshot(&bytes, "stadium-2026", NOW)))
    });
    group.finish();
}

fn deltas(c: &mut Criterion) {
    let (ring, signer) = (ring(), SnapshotSigner::from_seed([9; 32]));
    let mut all = passes(1_000_000);
    let v1 = build(&meta(1), &all, |p| [ring.sign(p.id, None)], None).expect("v1");
    for p in all.iter_mut().step_by(1_000) {
        p.status = Status::Revoked;
        p.uses = 1;
    }
    let v2 = build(&meta(2), &all, |p| [ring.sign(p.id, None)], Some(&v1)).expect("v2");
    let delta = Delta::between(&v1, &v2).expect("delta");
    let bytes = delta.to_signed_bytes(&signer).expect("fits");
    eprintln!(
        "size: delta of {} changes -> {} bytes",
        delta.changed().len(),
        bytes.len()
    );
    let mut group = c.benchmark_group("offline_delta");
    group.sample_size(10);
    group.bench_function("between_and_sign_1000_of_1m", |b| {
        b.iter(|| black_box(Delta::between(&v1, &v2).map(|d| d.to_signed_bytes(&signer))))
    });
    let opened = signer
        .verifier()
        .open_delta(&bytes, "stadium-2026", NOW)
        .expect("opens");
    group.bench_function("apply_1000_to_1m", |b| {
        b.iter(|| black_box(v1.apply(&opened)))
    });
    group.finish();
}

// The macro's generated function has no doc comment of its own.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(offline, builds, device, deltas);
}
criterion_main!(group::offline);
