use super::*;

pub(crate) fn sample() -> Pass {
    Pass {
        id: PassId([7; 16]),
        event: "fest".into(),
        kind: Kind::Ticket,
        status: Status::Active,
        status_reason: None,
        valid_from_ms: Some(1_000),
        valid_until_ms: Some(2_000),
        max_uses: Some(1),
        uses: 0,
        gates: vec![],
        display: None,
        created_ms: 0,
        dynamic_ttl_s: None,
        status_since_ms: None,
        token_generation: 0,
        card: None,
        zones: vec![],
        presence: Presence::Outside,
    }
}

#[test]
fn pass_id_round_trips_through_hex() {
    let id = PassId([0xab; 16]);
    assert_eq!(id.to_string().len(), 32);
    assert_eq!(id.to_string().parse::<PassId>(), Ok(id));
    assert_eq!(id.short(), "abababab");
    assert!("abc".parse::<PassId>().is_err());
    assert!("zz".repeat(16).parse::<PassId>().is_err());
    assert_eq!("AB".repeat(16).parse::<PassId>(), Ok(id), "either case");
    assert!("ab".repeat(17).parse::<PassId>().is_err(), "too long");
    assert!(
        "\u{e9}".repeat(16).parse::<PassId>().is_err(),
        "32 bytes, not hex"
    );
}

#[test]
fn status_round_trips_through_its_spelling() {
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
    }
    assert!("paused".parse::<Status>().is_err());
    assert!("Active".parse::<Status>().is_err());
}

#[test]
fn validate_enforces_limits() {
    assert_eq!(sample().validate(), Ok(()));
    let mut p = sample();
    p.event.clear();
    assert_eq!(p.validate(), Err(PassError::Empty { field: "event" }));
    let mut p = sample();
    p.gates = vec!["g".into(); GATES_MAX + 1];
    assert_eq!(p.validate(), Err(PassError::TooManyGates));
    let mut p = sample();
    p.valid_until_ms = p.valid_from_ms;
    assert_eq!(p.validate(), Err(PassError::EmptyWindow));
    let mut p = sample();
    p.max_uses = Some(0);
    assert_eq!(p.validate(), Err(PassError::ZeroMaxUses));
    let mut p = sample();
    p.display = Some("x".repeat(DISPLAY_MAX_BYTES + 1));
    assert!(matches!(
        p.validate(),
        Err(PassError::TooLong {
            field: "display",
            ..
        })
    ));
}

#[test]
fn issuing_refuses_a_window_that_ended_and_names_the_field() {
    // sample(): valid from 1 000 until 2 000 (Unix ms).
    assert_eq!(sample().check_issue(1_999), Ok(()));
    assert_eq!(sample().check_issue(2_000), Err(PassError::EndsInPast));
    assert_eq!(PassError::EndsInPast.field(), "valid_until");
    let mut p = sample();
    p.valid_until_ms = p.valid_from_ms;
    assert_eq!(p.check_issue(0), Err(PassError::EmptyWindow));
    assert_eq!(PassError::EmptyWindow.field(), "valid_until");
    assert_eq!(PassError::Empty { field: "event" }.field(), "event");
    let mut open = sample();
    open.valid_until_ms = None;
    assert_eq!(open.check_issue(i64::MAX), Ok(()), "no end, never past");
}

#[test]
fn spent_passes_are_revoked_used_up_or_over() {
    let p = sample();
    assert!(!p.is_spent(1_500));
    assert!(p.is_spent(2_000), "past valid_until");
    let mut used = sample();
    used.uses = 1;
    assert!(used.is_spent(1_500));
    let mut revoked = sample();
    revoked.status = Status::Revoked;
    assert!(revoked.is_spent(1_500));
    let mut suspended = sample();
    suspended.status = Status::Suspended;
    assert!(!suspended.is_spent(1_500), "a suspension is usually lifted");
    let mut unlimited = sample();
    unlimited.max_uses = None;
    unlimited.uses = 10;
    assert!(!unlimited.is_spent(1_500));
}

#[test]
fn transitions_follow_the_table() {
    use AdminAction::*;
    use Status::*;
    assert_eq!(transition(Active, Revoke), Ok(Revoked));
    assert_eq!(transition(Suspended, Revoke), Ok(Revoked));
    assert!(transition(Revoked, Revoke).is_err());
    assert_eq!(transition(Active, Suspend), Ok(Suspended));
    assert!(transition(Suspended, Suspend).is_err());
    assert!(transition(Revoked, Suspend).is_err());
    assert_eq!(transition(Suspended, Reactivate), Ok(Active));
    assert_eq!(transition(Revoked, Reactivate), Ok(Active));
    assert!(transition(Active, Reactivate).is_err());
    assert!(transition(Active, Annul).is_err());
    for status in Status::ALL {
        assert_eq!(
            transition(status, Erase),
            Ok(Revoked),
            "erase from {status:?}"
        );
    }
}

#[test]
fn dynamic_ttl_is_bounded_and_defaults_to_static() {
    let mut p = sample();
    p.dynamic_ttl_s = Some(0);
    assert_eq!(p.validate(), Err(PassError::DynamicTtl));
    p.dynamic_ttl_s = Some(DYNAMIC_TTL_MAX_S + 1);
    assert_eq!(p.validate(), Err(PassError::DynamicTtl));
    p.dynamic_ttl_s = Some(DYNAMIC_TTL_DEFAULT_S);
    assert_eq!(p.validate(), Ok(()));
    // A pass serialized before the field existed reads as static.
    let mut v = serde_json::to_value(sample()).expect("json");
    v.as_object_mut().expect("object").remove("dynamic_ttl_s");
    v.as_object_mut()
        .expect("object")
        .remove("token_generation");
    let back: Pass = serde_json::from_value(v).expect("old shape");
    assert_eq!((back.dynamic_ttl_s, back.token_generation), (None, 0));
}
