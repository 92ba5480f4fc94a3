use super::*;
use scangate_core::ScanId;
use scangate_core::testing::pass_id;
use std::collections::HashSet;

/// The `n`th conflict recorded, of `kind`, on device `dev-N`.
fn conflict(n: u32, kind: ConflictKind) -> Conflict {
    Conflict {
        at_ms: 1_000 + i64::from(n),
        scan_id: ScanId::new(format!("s-{n}")).expect("scan id"),
        event: "fest".into(),
        pass_id: Some(pass_id(n)),
        kind,
        device: format!("dev-{n}"),
        gate: "north".into(),
        device_time_ms: 500 + i64::from(n),
    }
}

fn page(items: Vec<Conflict>, more: bool) -> Page<Conflict> {
    Page {
        items,
        next: more.then(|| Cursor(vec![7; 16])),
    }
}

fn count(panel: &Panel, kind: ConflictKind) -> u64 {
    let row = panel.kinds.iter().find(|k| k.kind == kind.as_str());
    row.expect("every kind listed").count
}

#[test]
fn a_sweep_shows_partial_counts_until_its_last_page_then_every_kind() {
    let mut board = Board::default();
    let empty = board.panel();
    assert!(!empty.complete);
    assert_eq!(empty.kinds.len(), ConflictKind::ALL.len(), "zeros included");
    assert!(empty.kinds.iter().all(|k| k.count == 0));

    board.take(
        page(vec![conflict(1, ConflictKind::OverLimit)], true),
        2_000,
    );
    assert_eq!(board.query().after, Some(Cursor(vec![7; 16])), "goes on");
    assert_eq!(board.query().limit, SWEEP_PAGE_ROWS);
    let partial = board.panel();
    assert!(!partial.complete && partial.counted_at_ms.is_none());
    assert_eq!(count(&partial, ConflictKind::OverLimit), 1, "read so far");

    let second = vec![
        conflict(2, ConflictKind::OverLimit),
        conflict(3, ConflictKind::RevokedBeforeScan),
    ];
    board.take(page(second, false), 3_000);
    assert_eq!(board.query().after, None, "the next sweep starts over");
    let done = board.panel();
    assert!(done.complete);
    assert_eq!(done.counted_at_ms, Some(3_000));
    assert_eq!(done.total, 3);
    assert_eq!(count(&done, ConflictKind::OverLimit), 2);
    assert_eq!(count(&done, ConflictKind::RevokedBeforeScan), 1);
    assert_eq!(count(&done, ConflictKind::WrongGate), 0);
    let order: Vec<&str> = done.kinds.iter().map(|k| k.kind).collect();
    assert_eq!(order, ConflictKind::ALL.map(ConflictKind::as_str));
}

#[test]
fn counts_are_replaced_whole_when_the_next_sweep_ends() {
    let mut board = Board::default();
    let first = vec![
        conflict(1, ConflictKind::Forged),
        conflict(2, ConflictKind::Forged),
    ];
    board.take(page(first, false), 2_000);
    // The next sweep's first page does not change what is shown...
    board.take(page(vec![conflict(1, ConflictKind::Forged)], true), 3_000);
    let shown = board.panel();
    assert_eq!((shown.total, shown.counted_at_ms), (2, Some(2_000)));
    // ...its end replaces it, without adding to the old counts.
    board.take(page(vec![conflict(2, ConflictKind::Forged)], false), 4_000);
    let shown = board.panel();
    assert_eq!((shown.total, shown.counted_at_ms), (2, Some(4_000)));
    assert_eq!(count(&shown, ConflictKind::Forged), 2);
}

#[test]
fn the_latest_are_the_newest_twenty_newest_first_with_short_pass_ids() {
    let mut board = Board::default();
    let n = CONFLICTS_LATEST_MAX as u32 + 5;
    let all: Vec<Conflict> = (1..=n)
        .map(|i| conflict(i, ConflictKind::WrongGate))
        .collect();
    let (head, tail) = all.split_at(10);
    board.take(page(head.to_vec(), true), 2_000);
    board.take(page(tail.to_vec(), false), 3_000);
    let panel = board.panel();
    assert_eq!(panel.total, u64::from(n));
    assert_eq!(panel.latest.len(), CONFLICTS_LATEST_MAX);
    let devices: Vec<String> = panel.latest.iter().map(|l| l.device.clone()).collect();
    let newest: Vec<String> = (6..=n).rev().map(|i| format!("dev-{i}")).collect();
    assert_eq!(devices, newest, "newest first, the oldest dropped");
    let top = &panel.latest[0];
    assert_eq!(top.pass.as_deref(), Some(pass_id(n).short().as_str()));
    assert_eq!((top.kind, top.label), ("wrong_gate", "Wrong gate"));
    assert_eq!(top.device_time_ms, 500 + i64::from(n));
    let json = board.json();
    assert!(!json.contains(&pass_id(n).to_string()), "no full pass id");
    assert!(!json.contains("s-25"), "no scan id: {json}");
}

#[test]
fn a_failed_read_keeps_the_counts_and_a_refused_cursor_starts_the_sweep_over() {
    let mut board = Board::default();
    board.take(
        page(vec![conflict(1, ConflictKind::OverLimit)], false),
        2_000,
    );
    board.take(
        page(vec![conflict(1, ConflictKind::OverLimit)], true),
        3_000,
    );

    board.failed(&StoreError::Timeout(SWEEP_READ_DEADLINE));
    let panel = board.panel();
    assert_eq!(panel.total, 1, "the last counts stay");
    let error = panel.error.expect("the failure is shown");
    assert!(
        error.starts_with("the conflicts could not be read: "),
        "{error}"
    );
    assert!(
        board.query().after.is_some(),
        "the same page is asked again"
    );

    board.failed(&StoreError::BadCursor);
    assert_eq!(board.query().after, None, "a refused cursor restarts");
    board.take(page(vec![], false), 4_000);
    let panel = board.panel();
    assert_eq!((panel.total, panel.error), (0, None));
}

#[test]
fn every_kind_has_words_of_its_own() {
    let words: HashSet<&str> = ConflictKind::ALL.into_iter().map(plain_words).collect();
    assert_eq!(words.len(), ConflictKind::ALL.len());
    for kind in ConflictKind::ALL {
        assert_ne!(plain_words(kind), kind.as_str(), "{kind:?} in words");
    }
    assert_eq!(
        plain_words(ConflictKind::OverLimit),
        "Used beyond its limit"
    );
}
