//! The snapshot service over a real embedded store in a temp directory:
//! the pass bound, one build for many first requests, versions dropped
//! beyond the bound, and the byte bound on what is held.

use super::*;
use scangate_core::offline::SnapshotSigner;
use scangate_core::token::SigningKey;
use scangate_core::{Pass, PassId};
use scangate_storage_embedded::{EmbeddedConfig, EmbeddedStore};

fn pass(n: u32) -> Pass {
    let mut id = [7u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    scangate_core::testing::pass(PassId(id), Some(1))
}

async fn service(passes: u32, limits: SnapshotLimits) -> (tempfile::TempDir, Arc<Snapshots>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    store
        .insert_passes((0..passes).map(pass).collect())
        .await
        .expect("insert");
    let keyring = Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [9; 32],
        }],
        1,
    )
    .expect("keyring");
    let snapshots = Snapshots::new(
        SnapshotSigner::from_seed([3; 32]),
        Arc::new(keyring),
        Arc::new(store),
        limits,
    );
    (dir, Arc::new(snapshots))
}

fn first(have: Option<u64>) -> SnapshotFetch {
    SnapshotFetch {
        event: "fest".into(),
        have_version: have,
        version: None,
        offset: 0,
    }
}

/// `(base_version, version)` of the answer to a first request.
async fn fetch(s: &Snapshots, have: Option<u64>) -> (Option<u64>, u64) {
    match s.answer(&first(have)).await {
        ResponseBody::Snapshot(c) => (c.base_version, c.version),
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[tokio::test]
async fn an_event_over_the_pass_bound_is_refused() {
    let limits = SnapshotLimits {
        max_passes: 5,
        ..SnapshotLimits::default()
    };
    let (_dir, s) = service(6, limits).await;
    match s.answer(&first(None)).await {
        ResponseBody::Error(e) => {
            assert_eq!(e.code, ErrorCode::SnapshotUnavailable);
            assert!(
                e.message().contains("more than 5 passes"),
                "{}",
                e.message()
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(s.held_bytes(), 0, "nothing built");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_first_requests_at_once_share_one_build() {
    let (_dir, s) = service(50, SnapshotLimits::default()).await;
    let asks: Vec<_> = (0..32)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { fetch(&s, None).await })
        })
        .collect();
    let mut versions = Vec::new();
    for ask in asks {
        versions.push(ask.await.expect("task").1);
    }
    versions.dedup();
    // Each build takes a new, higher version: one version is one build.
    assert_eq!(versions.len(), 1, "{versions:?}");
}

#[tokio::test]
async fn a_device_behind_the_kept_versions_gets_the_whole_snapshot() {
    let limits = SnapshotLimits {
        reuse_ms: 0,
        versions_per_event: 2,
        ..SnapshotLimits::default()
    };
    let (_dir, s) = service(20, limits).await;
    let (_, v1) = fetch(&s, None).await;
    let (_, v2) = fetch(&s, None).await;
    let (base, v3) = fetch(&s, Some(v2)).await;
    assert!(v1 < v2 && v2 < v3, "{v1} {v2} {v3}");
    assert_eq!(base, Some(v2), "a delta from a kept version");
    let (base, v4) = fetch(&s, Some(v1)).await;
    assert_eq!(base, None, "v1 is no longer kept: the whole snapshot");
    // A download of a dropped version starts over.
    let dropped = SnapshotFetch {
        version: Some(v1),
        offset: 0,
        ..first(None)
    };
    match s.answer_now(&dropped) {
        Some(ResponseBody::Error(e)) => assert_eq!(e.code, ErrorCode::SnapshotUnavailable),
        other => panic!("expected snapshot_unavailable, got {other:?}"),
    }
    let (base, version) = fetch(&s, Some(v4)).await;
    assert!(version > v4 && base == Some(v4));
}

#[tokio::test]
async fn what_is_held_stays_under_the_byte_bound() {
    let (_dir, probe) = service(200, SnapshotLimits::default()).await;
    fetch(&probe, None).await;
    let one = probe.held_bytes();
    assert!(one > 0);
    let limits = SnapshotLimits {
        reuse_ms: 0,
        versions_per_event: 100,
        held_bytes: one * 3,
        ..SnapshotLimits::default()
    };
    let (_dir, s) = service(200, limits).await;
    for _ in 0..10 {
        fetch(&s, None).await;
        assert!(
            s.held_bytes() <= one * 3,
            "{} > {}",
            s.held_bytes(),
            one * 3
        );
    }
}
