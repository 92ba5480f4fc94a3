use super::*;
use crate::pass::tests::sample;
use proptest::prelude::*;

fn ctx(gate: &str) -> ScanContext<'_> {
    ScanContext {
        event: None,
        gate,
        token_not_after_ms: None,
        token_generation: Some(0),
        definition: None,
        direction: None,
    }
}

#[test]
fn a_token_of_another_generation_is_superseded() {
    let mut p = sample();
    p.token_generation = 2;
    let old = ScanContext {
        token_generation: Some(1),
        ..ctx("north")
    };
    assert_eq!(reason(&p, &old, 1_500), Some(Reason::Superseded));
    let current = ScanContext {
        token_generation: Some(2),
        ..ctx("north")
    };
    assert_eq!(reason(&p, &current, 1_500), None);
    let no_token = ScanContext {
        token_generation: None,
        ..ctx("north")
    };
    assert_eq!(reason(&p, &no_token, 1_500), None, "nothing to compare");
    p.status = Status::Revoked;
    assert_eq!(
        reason(&p, &old, 1_500),
        Some(Reason::Superseded),
        "before the status"
    );
}

fn reason(pass: &Pass, scan: &ScanContext<'_>, now: i64) -> Option<Reason> {
    decide(pass, scan, now).decision.reason()
}

#[test]
fn grants_and_counts_within_the_window() {
    let p = sample();
    let out = decide(&p, &ctx("A"), 1_500);
    assert_eq!(out.decision, Decision::Granted);
    assert_eq!(out.change, Change::Use { uses: 1 });
}

#[test]
fn each_rule_names_its_reason() {
    let p = sample();
    let mut scan = ctx("A");
    scan.event = Some("other");
    assert_eq!(reason(&p, &scan, 1_500), Some(Reason::WrongEvent));

    let mut r = sample();
    r.status = Status::Revoked;
    assert_eq!(reason(&r, &ctx("A"), 1_500), Some(Reason::Revoked));
    r.status = Status::Suspended;
    assert_eq!(reason(&r, &ctx("A"), 1_500), Some(Reason::Suspended));

    assert_eq!(reason(&p, &ctx("A"), 999), Some(Reason::NotYetValid));
    assert_eq!(
        reason(&p, &ctx("A"), 1_000),
        None,
        "valid_from is inclusive"
    );
    assert_eq!(reason(&p, &ctx("A"), 2_000), Some(Reason::Expired));

    let mut short = ctx("A");
    short.token_not_after_ms = Some(1_200);
    assert_eq!(reason(&p, &short, 1_200), None);
    assert_eq!(reason(&p, &short, 1_201), Some(Reason::Expired));

    let mut g = sample();
    g.gates = vec!["north".into()];
    assert_eq!(reason(&g, &ctx("south"), 1_500), Some(Reason::WrongGate));
    assert_eq!(reason(&g, &ctx("north"), 1_500), None);

    let mut u = sample();
    u.uses = 1;
    assert_eq!(reason(&u, &ctx("A"), 1_500), Some(Reason::UsedUp));
}

#[test]
fn rules_apply_in_the_documented_order() {
    // A pass failing every rule reports the first one, then the next once
    // the first is fixed, and so on down the list.
    let mut p = sample();
    p.status = Status::Revoked;
    p.gates = vec!["north".into()];
    p.uses = 1;
    let mut scan = ctx("south");
    scan.event = Some("other");
    let now = 5_000; // after valid_until
    assert_eq!(reason(&p, &scan, now), Some(Reason::WrongEvent));
    scan.event = Some("fest");
    assert_eq!(reason(&p, &scan, now), Some(Reason::Revoked));
    p.status = Status::Suspended;
    assert_eq!(reason(&p, &scan, now), Some(Reason::Suspended));
    p.status = Status::Active;
    assert_eq!(reason(&p, &scan, 0), Some(Reason::NotYetValid));
    assert_eq!(reason(&p, &scan, now), Some(Reason::Expired));
    assert_eq!(reason(&p, &scan, 1_500), Some(Reason::WrongGate));
    scan.gate = "north";
    assert_eq!(reason(&p, &scan, 1_500), Some(Reason::UsedUp));
}

#[test]
fn a_dynamic_pass_refuses_its_static_token() {
    let mut p = sample();
    p.dynamic_ttl_s = Some(60);
    assert_eq!(reason(&p, &ctx("A"), 1_500), Some(Reason::Expired));
    let mut minted = ctx("A");
    minted.token_not_after_ms = Some(1_600);
    assert_eq!(reason(&p, &minted, 1_500), None);
    assert_eq!(reason(&p, &minted, 1_601), Some(Reason::Expired));
    // A static pass takes both.
    p.dynamic_ttl_s = None;
    assert_eq!(reason(&p, &ctx("A"), 1_500), None);
    assert_eq!(reason(&p, &minted, 1_500), None);
}

#[test]
fn annul_takes_back_only_a_recent_grant_of_the_pass() {
    use crate::scan::Annulment;
    let pass = PassId([7; 16]);
    let grant = ScanRecord {
        gate: "A".into(),
        device: "d".into(),
        ..crate::testing::granted_record("s1", pass, 10_000)
    };
    assert_eq!(annul(pass, &grant, 10_500, 1_000), Ok(()));
    assert_eq!(annul(pass, &grant, 11_000, 1_000), Ok(()));
    assert_eq!(
        annul(pass, &grant, 11_001, 1_000),
        Err(AnnulRefusal::TooLate { window_ms: 1_000 })
    );
    assert_eq!(
        annul(PassId([8; 16]), &grant, 10_500, 1_000),
        Err(AnnulRefusal::OtherPass)
    );
    let denied = ScanRecord {
        decision: Decision::Denied(Reason::UsedUp),
        ..grant.clone()
    };
    assert_eq!(
        annul(pass, &denied, 10_500, 1_000),
        Err(AnnulRefusal::NotGranted)
    );
    let done = ScanRecord {
        annulled: Some(Annulment {
            at_ms: 10_100,
            who: "ops".into(),
        }),
        ..grant
    };
    assert_eq!(
        annul(pass, &done, 10_500, 1_000),
        Err(AnnulRefusal::AlreadyAnnulled)
    );
    let entry = ScanRecord {
        movement: Some(Box::new(crate::event::Movement {
            direction: crate::event::Direction::In,
            zone: crate::pass::ZoneName::new("hall").expect("zone"),
            before: Presence::Outside,
            after: Presence::Inside(crate::pass::ZoneName::new("hall").expect("zone")),
            admission: true,
        })),
        annulled: None,
        ..done
    };
    assert_eq!(
        annul(pass, &entry, 10_500, 1_000),
        Err(AnnulRefusal::Movement),
        "presence would no longer hold"
    );
}

#[test]
fn unlimited_passes_never_run_out() {
    let mut p = sample();
    p.max_uses = None;
    p.uses = u32::MAX - 1;
    assert_eq!(reason(&p, &ctx("A"), 1_500), None);
}

proptest! {
    /// However many scans arrive, in any order of gates and times, a pass
    /// is granted at most max_uses times.
    #[test]
    fn never_more_than_max_uses(max in 1u32..20, scans in proptest::collection::vec((0i64..3_000, any::<bool>()), 0..100)) {
        let mut p = sample();
        p.max_uses = Some(max);
        let mut granted = 0u32;
        for (now, north) in scans {
            let gate = if north { "north" } else { "south" };
            let out = decide(&p, &ctx(gate), now);
            if out.decision.is_granted() { granted += 1; }
            apply(&mut p, out.change);
        }
        prop_assert!(granted <= max);
        prop_assert_eq!(granted, p.uses);
    }
}
