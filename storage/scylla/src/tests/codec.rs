//! Stored values, keys, cursors and the configuration.

use crate::codec::{self, CursorKind, LogKey};
use crate::config::{Password, Replication, ScyllaConfig};
use crate::session;
use scangate_core::{PassId, Status};
use scangate_storage::conformance::new_id;
use scangate_storage::{Cursor, StoreError};
use std::time::Duration;

#[test]
fn use_limits_cover_unlimited_passes() {
    let id = new_id();
    assert_eq!(codec::use_limit(Some(3)), 3);
    assert!(codec::use_limit(None) > i64::from(u32::MAX));
    for max in [None, Some(0), Some(1), Some(u32::MAX)] {
        assert_eq!(codec::max_uses(id, codec::use_limit(max)).ok(), Some(max));
    }
    assert!(codec::max_uses(id, -1).is_err());
    assert!(codec::parse_status(id, "paused").is_err());
    for s in [Status::Active, Status::Suspended, Status::Revoked] {
        assert_eq!(codec::parse_status(id, codec::status_text(s)).ok(), Some(s));
    }
}

#[test]
fn log_keys_order_like_the_clustering_key_and_cursors_round_trip() {
    let a = LogKey::after(10, "scan-a");
    assert!(a > LogKey::at(10) && a < LogKey::at(11));
    assert!(
        a > LogKey {
            at_ms: 10,
            tag: "scan-a".into()
        }
    );
    assert!(a < LogKey::after(10, "scan-b"));
    for key in [a, LogKey::at(i64::MIN), LogKey::at(-5)] {
        let c = codec::log_cursor(CursorKind::Scans, &key);
        assert_eq!(
            codec::parse_log_cursor(CursorKind::Scans, &c).ok(),
            Some(key.clone())
        );
        assert!(matches!(
            codec::parse_log_cursor(CursorKind::Audit, &c),
            Err(StoreError::BadCursor)
        ));
    }
    let id = new_id();
    assert_eq!(
        codec::parse_pass_cursor(&Cursor(id.0.to_vec())).ok(),
        Some(id)
    );
    let foreign = [Cursor(b"\x01z".to_vec()), Cursor(vec![b'S'; 200])];
    for c in foreign {
        assert!(codec::parse_log_cursor(CursorKind::Scans, &c).is_err());
        assert!(codec::parse_pass_cursor(&c).is_err());
    }
    // A pass id is no scan cursor (the conformance suite's foreign cursor).
    let pass_cursor = Cursor(id.0.to_vec());
    assert!(codec::parse_log_cursor(CursorKind::Scans, &pass_cursor).is_err());
}

#[test]
fn buckets_and_shards_stay_in_range() {
    assert_eq!(codec::bucket(-1, codec::EVENT_BUCKET_MS), -1);
    assert_eq!(codec::bucket(0, codec::EVENT_BUCKET_MS), 0);
    assert_eq!(codec::bucket(19_999, codec::EVENT_BUCKET_MS), 1);
    assert_eq!(
        codec::event_shard(PassId([0xff; 16])),
        codec::EVENT_SHARDS - 1
    );
    assert_eq!(codec::event_shard(PassId([0; 16])), 0);
}

#[test]
fn replication_is_parsed_and_checked() {
    assert_eq!(Replication::parse("3"), Ok(Replication::Uniform(3)));
    assert_eq!(
        Replication::parse("SimpleStrategy:1"),
        Ok(Replication::Simple(1))
    );
    assert_eq!(
        Replication::parse("eu-west:3, us_east:2"),
        Ok(Replication::PerDatacenter(vec![
            ("eu-west".into(), 3),
            ("us_east".into(), 2)
        ]))
    );
    for bad in ["0", "10", "x", "dc1:3,dc1:3", "dc'1:3", "dc1", ":3"] {
        assert!(Replication::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn config_is_validated_and_never_prints_its_password() {
    let ok = ScyllaConfig {
        nodes: vec!["127.0.0.1:9042".into()],
        user: Some("gateway".into()),
        password: Some(Password("hunter2-secret".into())),
        ..ScyllaConfig::default()
    };
    assert!(ok.validate().is_ok());
    assert!(!format!("{ok:?}").contains("hunter2"));
    let bad = [
        ScyllaConfig {
            nodes: vec![],
            ..ok.clone()
        },
        ScyllaConfig {
            keyspace: "Bad-Name".into(),
            ..ok.clone()
        },
        ScyllaConfig {
            password: None,
            ..ok.clone()
        },
        ScyllaConfig {
            lwt_timeout_ms: 0,
            ..ok.clone()
        },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
    }
    // Inside the actors' default 2 s store deadline, so the store resolves
    // an unknown outcome before its caller gives up.
    assert!(ScyllaConfig::default().commit_deadline() < Duration::from_secs(2));
}

#[test]
fn a_tls_ca_must_hold_a_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    assert!(session::tls_config(&missing).is_err());
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    assert!(session::tls_config(&empty).is_err());
}
