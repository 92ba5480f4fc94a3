use super::*;

#[test]
fn time_bytes_keep_order_and_round_trip() {
    let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
    for w in times.windows(2) {
        assert!(time_bytes(w[0]) < time_bytes(w[1]));
    }
    for t in times {
        assert_eq!(time_from_bytes(time_bytes(t)), t);
    }
}

#[test]
fn pass_state_round_trips_and_rejects_garbage() {
    let id = PassId([7; 16]);
    for s in [
        PassState {
            uses: 3,
            status: Status::Active,
            max_uses: Some(5),
            presence: Presence::Outside,
        },
        PassState {
            uses: u32::MAX,
            status: Status::Revoked,
            max_uses: None,
            presence: Presence::Left,
        },
        PassState {
            uses: 1,
            status: Status::Active,
            max_uses: Some(1),
            presence: Presence::Inside(ZoneName::new("Halle Süd").expect("zone")),
        },
    ] {
        assert_eq!(PassState::decode(id, &s.encode()).ok(), Some(s));
    }
    // A format-5 state (10 bytes) reads as outside.
    let old = PassState {
        uses: 2,
        status: Status::Active,
        max_uses: Some(3),
        presence: Presence::Outside,
    }
    .encode();
    assert_eq!(old.len(), 10);
    let mut bad = old.clone();
    bad.extend_from_slice(&[2, 9, b'x']);
    assert!(matches!(
        PassState::decode(id, &bad),
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        PassState::decode(id, &[0; 9]),
        Err(StoreError::Corrupt(_))
    ));
    let mut bad = PassState {
        uses: 0,
        status: Status::Active,
        max_uses: None,
        presence: Presence::Outside,
    }
    .encode();
    bad[4] = 9;
    assert!(matches!(
        PassState::decode(id, &bad),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn time_index_keys_round_trip() {
    let id = ScanId::new("scan-1").expect("valid");
    let k = time_index_key(-42, &id);
    let (at, back) = parse_time_index_key(&k).expect("parses");
    assert_eq!((at, back), (-42, id));
    assert!(parse_time_index_key(&k[..8]).is_err());
}
