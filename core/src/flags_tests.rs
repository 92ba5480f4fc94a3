//! The flags' rules, one case at a time, with a fixed `now`.

use super::*;
use crate::Decision;
use crate::pass::PassId;
use crate::scan::ScanId;
use crate::testing::granted_record;

fn record(id: &str, at_ms: i64, gate: &str, device: &str, decision: Decision) -> ScanRecord {
    ScanRecord {
        gate: gate.into(),
        device: device.into(),
        decision,
        ..granted_record(id, PassId([3; 16]), at_ms)
    }
}

fn granted(at_ms: i64, gate: &str, device: &str) -> ScanRecord {
    record("g", at_ms, gate, device, Decision::Granted)
}

/// A scan at `gate` on `device` that admits no group member.
fn at<'a>(gate: &'a str, device: &'a str) -> Presented<'a> {
    Presented::at(gate, device)
}

/// The next admission of a group pass at `gate` on `device`.
fn member<'a>(gate: &'a str, device: &'a str) -> Presented<'a> {
    Presented {
        group_admission: true,
        ..Presented::at(gate, device)
    }
}

fn venue() -> FlagPolicy {
    FlagPolicy {
        walking: vec![WalkingTime {
            from: "north".into(),
            to: "south".into(),
            seconds: 300,
        }],
        positions: vec![
            GatePosition {
                gate: "east".into(),
                x_m: 0,
                y_m: 0,
            },
            GatePosition {
                gate: "west".into(),
                x_m: 300,
                y_m: 400,
            },
        ],
        ..FlagPolicy::default()
    }
}

#[test]
fn a_clean_history_raises_nothing() {
    let policy = FlagPolicy::default();
    assert!(
        RecentScans::default()
            .flags(&policy, &at("north", "d1"), 0)
            .is_empty()
    );
    // A grant long ago, same device and gate: nothing either.
    let recent = RecentScans::from_records([&granted(0, "north", "d1")]);
    assert!(recent.flags(&policy, &at("north", "d1"), 60_000).is_empty());
}

#[test]
fn rapid_rescan_is_a_scan_within_the_window_after_a_grant_at_any_gate() {
    let policy = FlagPolicy::default();
    let recent = RecentScans::from_records([&granted(10_000, "north", "d1")]);
    assert_eq!(
        recent.flags(&policy, &at("north", "d1"), 69_999),
        vec![Flag::RapidRescan]
    );
    assert!(
        recent.flags(&policy, &at("north", "d1"), 70_000).is_empty(),
        "60 s is outside"
    );
    // A denial does not start the window.
    let denied = record(
        "d",
        10_000,
        "north",
        "d1",
        Decision::Denied(Reason::WrongGate),
    );
    let recent = RecentScans::from_records([&denied]);
    assert!(recent.flags(&policy, &at("north", "d1"), 10_001).is_empty());
    // 0 turns it off.
    let mut off = FlagPolicy::default();
    off.thresholds.rapid_rescan_s = 0;
    let recent = RecentScans::from_records([&granted(10_000, "north", "d1")]);
    assert!(recent.flags(&off, &at("north", "d1"), 10_001).is_empty());
}

#[test]
fn a_group_pass_is_one_that_admits_several_people() {
    assert!(
        !is_group(None),
        "unlimited: one person's staff or season pass"
    );
    assert!(!is_group(Some(1)));
    assert!(is_group(Some(GROUP_ADMISSIONS_MIN)));
    assert!(is_group(Some(40)));
    assert!(group_admission(Some(4), true));
    assert!(
        !group_admission(Some(4), false),
        "a scan that admits no one"
    );
    assert!(!group_admission(None, true));
}

#[test]
fn a_group_entering_one_after_another_at_one_gate_is_no_rapid_rescan() {
    let policy = FlagPolicy::default();
    let recent = RecentScans::from_records([&granted(10_000, "north", "d1")]);
    assert!(
        recent
            .flags(&policy, &member("north", "d1"), 12_000)
            .is_empty(),
        "the next member, two seconds later"
    );
    assert_eq!(
        recent.flags(&policy, &member("north", "d2"), 12_000),
        vec![Flag::SharedCode],
        "on another lane of the gate: shared_code still says so"
    );
    // The same pass at another gate within the window: passed back out.
    assert_eq!(
        recent.flags(&policy, &member("south", "d1"), 12_000),
        vec![Flag::RapidRescan]
    );
    // A rescan that admits no one (the group is in: used_up) is flagged.
    assert_eq!(
        recent.flags(&policy, &at("north", "d1"), 12_000),
        vec![Flag::RapidRescan]
    );
    // Members keep coming: each is compared with the last grant.
    let mut recent = recent;
    recent.remember(&granted(12_000, "north", "d1"));
    assert!(
        recent
            .flags(&policy, &member("north", "d1"), 14_000)
            .is_empty()
    );
}

#[test]
fn shared_code_is_another_device_within_its_window_granted_or_not() {
    let policy = FlagPolicy::default();
    let denied = record("d", 0, "north", "d1", Decision::Denied(Reason::WrongGate));
    let recent = RecentScans::from_records([&denied]);
    assert_eq!(
        recent.flags(&policy, &at("north", "d2"), 59_999),
        vec![Flag::SharedCode]
    );
    assert!(
        recent.flags(&policy, &at("north", "d1"), 1).is_empty(),
        "the same device"
    );
    assert!(recent.flags(&policy, &at("north", "d2"), 60_000).is_empty());
}

#[test]
fn impossible_travel_uses_the_table_then_positions_either_way() {
    let policy = FlagPolicy {
        thresholds: FlagThresholds {
            rapid_rescan_s: 0,
            ..FlagThresholds::default()
        },
        ..venue()
    };
    let recent = RecentScans::from_records([&granted(0, "south", "d1")]);
    assert_eq!(
        recent.flags(&policy, &at("north", "d1"), 299_999),
        vec![Flag::ImpossibleTravel]
    );
    assert!(
        recent
            .flags(&policy, &at("north", "d1"), 300_000)
            .is_empty()
    );
    assert!(
        recent.flags(&policy, &at("south", "d1"), 1).is_empty(),
        "the same gate"
    );
    assert!(
        recent.flags(&policy, &at("east", "d1"), 1).is_empty(),
        "a pair nobody timed"
    );
    // 500 m apart at 1.5 m/s: 333.3 s.
    assert_eq!(policy.walking_ms("west", "east"), Some(333_333));
    let recent = RecentScans::from_records([&granted(0, "east", "d1")]);
    assert_eq!(
        recent.flags(&policy, &at("west", "d1"), 333_000),
        vec![Flag::ImpossibleTravel]
    );
    assert!(recent.flags(&policy, &at("west", "d1"), 333_334).is_empty());
}

#[test]
fn every_flag_at_once_in_declaration_order() {
    let recent = RecentScans::from_records([&granted(0, "north", "d1")]);
    let flags = recent.flags(&venue(), &at("south", "d2"), 1_000);
    assert_eq!(
        flags,
        vec![Flag::RapidRescan, Flag::SharedCode, Flag::ImpossibleTravel]
    );
}

#[test]
fn a_history_dated_after_now_raises_no_window_flag() {
    let recent = RecentScans::from_records([&granted(10_000, "north", "d1")]);
    assert!(recent.flags(&venue(), &at("south", "d2"), 9_999).is_empty());
}

#[test]
fn offline_transient_and_annulled_records_are_not_history() {
    let mut offline = granted(0, "north", "d1");
    offline.offline = Some(crate::scan::OfflineFacts {
        snapshot_version: 1,
        device_decision: Decision::Granted,
        conflicts: Vec::new(),
    });
    let mut annulled = granted(0, "north", "d1");
    annulled.annulled = Some(crate::scan::Annulment {
        at_ms: 1,
        who: "ops".into(),
    });
    let busy = record("b", 0, "north", "d1", Decision::Denied(Reason::Busy));
    let recent = RecentScans::from_records([&offline, &annulled, &busy]);
    assert_eq!(recent, RecentScans::default());
}

#[test]
fn the_history_is_bounded_and_keeps_the_last_grant() {
    let mut recent = RecentScans::from_records([&granted(0, "north", "d1")]);
    for i in 1..=(RECENT_SCANS_MAX as i64 * 3) {
        recent.remember(&record(
            "d",
            i,
            "north",
            "d1",
            Decision::Denied(Reason::UsedUp),
        ));
    }
    assert_eq!(recent.scans.len(), RECENT_SCANS_MAX);
    assert_eq!(recent.last_grant().map(|g| g.at_ms), Some(0));
    // Newest records win, whatever order the store lists them in.
    let (old, new) = (granted(5, "north", "d1"), granted(9, "south", "d2"));
    let recent = RecentScans::from_records([&new, &old]);
    assert_eq!(recent.last_grant().map(|g| g.gate.as_str()), Some("south"));
}

#[test]
fn a_policy_denies_only_the_flags_it_names() {
    let mut policy = FlagPolicy::default();
    assert_eq!(denial(&policy, &[Flag::RapidRescan]), None);
    policy.deny.insert(Flag::SharedCode);
    let raised = [Flag::RapidRescan, Flag::SharedCode];
    assert_eq!(denial(&policy, &raised), Some(Reason::SharedCode));
    policy.deny.insert(Flag::RapidRescan);
    assert_eq!(
        denial(&policy, &raised),
        Some(Reason::RapidRescan),
        "first in order"
    );
}

#[test]
fn a_policy_reads_from_empty_json_and_names_every_problem() {
    let policy: FlagPolicy = serde_json::from_str("{}").expect("defaults");
    assert_eq!(policy, FlagPolicy::default());
    assert!(policy.check().is_empty());
    let json = r#"{"deny": ["rapid_rescan"], "thresholds": {"rapid_rescan_s": 30}}"#;
    let policy: FlagPolicy = serde_json::from_str(json).expect("partial");
    assert_eq!(policy.thresholds.rapid_rescan_s, 30);
    assert_eq!(policy.thresholds.shared_code_s, 60);
    assert!(serde_json::from_str::<FlagPolicy>(r#"{"deny": ["nonsense"]}"#).is_err());
    let bad = FlagPolicy {
        deny: [Flag::ForgeryBurst].into(),
        walking_speed_mm_per_s: 0,
        positions: vec![
            GatePosition {
                gate: String::new(),
                x_m: 0,
                y_m: 0
            };
            WALKING_ENTRIES_MAX + 1
        ],
        ..FlagPolicy::default()
    };
    let problems = bad.check();
    assert!(
        problems.contains(&FlagPolicyError::UndeniableFlag),
        "{problems:?}"
    );
    assert!(problems.contains(&FlagPolicyError::ZeroSpeed));
    assert!(problems.contains(&FlagPolicyError::TooMany {
        field: "positions",
        got: 257
    }));
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, FlagPolicyError::BadGate { .. }))
    );
}

#[test]
fn flags_spell_as_the_contract_says() {
    for flag in Flag::ALL {
        assert_eq!(Flag::parse(flag.as_str()), Some(flag));
        let json = serde_json::to_string(&flag).expect("json");
        assert_eq!(json, format!("\"{}\"", flag.as_str()));
        assert_eq!(
            flag.index(),
            Flag::ALL.iter().position(|f| *f == flag).unwrap_or(99)
        );
        if let Some(reason) = flag.denial() {
            assert_eq!(
                reason.as_str(),
                flag.as_str(),
                "a flag's denial has its name"
            );
        }
    }
}

#[test]
fn an_old_record_without_flags_still_reads() {
    // A record as written before the field existed: the same fields, fewer of them.
    #[derive(serde::Serialize)]
    struct Old<'a>(
        &'a ScanId,
        PassId,
        i64,
        i64,
        &'a str,
        &'a str,
        Decision,
        u32,
        &'a str,
        Option<()>,
        Option<()>,
    );
    let id = ScanId::new("old").expect("id");
    let old = Old(
        &id,
        PassId([3; 16]),
        1,
        1,
        "north",
        "d1",
        Decision::Granted,
        1,
        "fest",
        None,
        None,
    );
    let bytes = rmp_serde::to_vec(&old).expect("encode");
    let read: ScanRecord = rmp_serde::from_slice(&bytes).expect("an old record reads");
    assert!(read.flags.is_empty());
    let new = granted(1, "north", "d1");
    let round: ScanRecord =
        rmp_serde::from_slice(&rmp_serde::to_vec(&new).expect("enc")).expect("dec");
    assert_eq!(round, new);
}
