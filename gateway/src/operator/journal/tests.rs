use super::*;
use scangate_storage::Cursor;
use std::fs::OpenOptions;
use std::io::Write;

fn rec(at_ms: i64, action: OperatorAction, subject: &str) -> OperatorRecord {
    OperatorRecord::new(at_ms, "lead", action, subject)
}

fn all(j: &Journal, mut q: JournalQuery) -> Vec<OperatorRecord> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = j.read(&q).expect("read");
        out.extend(page.items);
        match page.next {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
    panic!("no end");
}

fn q(limit: usize) -> JournalQuery {
    JournalQuery {
        limit,
        ..JournalQuery::default()
    }
}

#[test]
fn appends_and_pages_through_with_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::new(dir.path().join("operator-audit.jsonl"));
    assert_eq!(j.read(&q(10)).expect("empty").items, vec![]);
    let written: Vec<_> = (0..7)
        .map(|i| rec(i, OperatorAction::TokenCreate, &format!("t{i}")))
        .collect();
    for r in &written {
        j.append(r).expect("append");
    }
    let first = j.read(&q(3)).expect("page");
    assert_eq!(first.items, written[..3]);
    let next = first.next.expect("more");
    let second = j
        .read(&JournalQuery {
            after: Some(next),
            ..q(3)
        })
        .expect("page");
    assert_eq!(second.items, written[3..6]);
    assert_eq!(all(&j, q(2)), written);
    let last = j
        .read(&JournalQuery {
            after: second.next,
            ..q(3)
        })
        .expect("page");
    assert_eq!(last.items, written[6..]);
    assert_eq!(last.next, None, "the end");
    // A cursor that is not a line start, or past the end, is refused.
    for bad in [vec![0, 0, 0, 0, 0, 0, 0, 5], vec![0xff; 8], vec![1, 2]] {
        let got = j.read(&JournalQuery {
            after: Some(Cursor(bad)),
            ..q(3)
        });
        assert!(matches!(got, Err(JournalError::BadCursor)), "{got:?}");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(j.path()).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn filters_by_action_who_subject_and_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::new(dir.path().join("j.jsonl"));
    j.append(&rec(10, OperatorAction::PassesIssue, "fest"))
        .expect("a");
    j.append(&OperatorRecord::new(
        20,
        "cli:ada",
        OperatorAction::TokenRevoke,
        "gate-lead",
    ))
    .expect("b");
    j.append(&rec(30, OperatorAction::DeviceRevoke, "lost-phone"))
        .expect("c");
    j.append(&rec(40, OperatorAction::TokenRevoke, "other"))
        .expect("d");
    let subjects =
        |q: JournalQuery| -> Vec<String> { all(&j, q).into_iter().map(|r| r.subject).collect() };
    assert_eq!(
        subjects(JournalQuery {
            action: Some(OperatorAction::TokenRevoke),
            ..q(10)
        }),
        ["gate-lead", "other"]
    );
    assert_eq!(
        subjects(JournalQuery {
            who: Some("cli:ada".into()),
            ..q(10)
        }),
        ["gate-lead"]
    );
    assert_eq!(
        subjects(JournalQuery {
            subject: Some("lost-phone".into()),
            ..q(10)
        }),
        ["lost-phone"]
    );
    assert_eq!(
        subjects(JournalQuery {
            from_ms: Some(20),
            until_ms: Some(40),
            ..q(1)
        }),
        ["gate-lead", "lost-phone"]
    );
}

#[test]
fn a_torn_last_line_is_skipped_and_the_next_append_starts_fresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::new(dir.path().join("j.jsonl"));
    j.append(&rec(1, OperatorAction::TokenCreate, "a"))
        .expect("a");
    // A crash mid-append: half a line, no newline.
    let mut f = OpenOptions::new()
        .append(true)
        .open(j.path())
        .expect("open");
    f.write_all(br#"{"at_ms":2,"who":"lead","act"#)
        .expect("torn");
    drop(f);
    let page = j.read(&q(10)).expect("read");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next, None, "nothing more to read");
    j.append(&rec(3, OperatorAction::TokenRevoke, "a"))
        .expect("after the crash");
    let got = all(&j, q(10));
    assert_eq!(
        got.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [1, 3],
        "the torn line is skipped, the next one is whole"
    );
}

#[test]
fn lines_are_capped_and_over_long_lines_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::new(dir.path().join("j.jsonl"));
    let huge = "é".repeat(10_000);
    let r = rec(1, OperatorAction::DeviceRevoke, &huge)
        .reason(Some(&huge))
        .detail(huge.clone());
    j.append(&r).expect("append");
    let text = std::fs::read_to_string(j.path()).expect("read");
    assert!(text.len() <= LINE_MAX_BYTES, "{}", text.len());
    let back = all(&j, q(10));
    assert_eq!(back[0].subject.len(), SUBJECT_MAX_BYTES);
    assert!(back[0].reason.as_ref().expect("reason").len() <= REASON_MAX_BYTES);
    // JSON escaping cannot push a line over the cap either.
    let control = "\u{1}".repeat(4096);
    j.append(
        &rec(1, OperatorAction::DeviceRevoke, "x")
            .reason(Some(&control))
            .detail(control.clone()),
    )
    .expect("append");
    for l in std::fs::read_to_string(j.path()).expect("read").lines() {
        assert!(l.len() < LINE_MAX_BYTES, "{}", l.len());
    }
    // Someone else's over-long garbage line does not stop the reader.
    let mut f = OpenOptions::new()
        .append(true)
        .open(j.path())
        .expect("open");
    f.write_all(&vec![b'x'; 3 * LINE_MAX_BYTES]).expect("junk");
    f.write_all(b"\nnot json\n\n").expect("junk");
    drop(f);
    j.append(&rec(2, OperatorAction::TokenCreate, "b"))
        .expect("append");
    let got = all(&j, q(1));
    assert_eq!(got.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [1, 1, 2]);
}

#[test]
fn concurrent_appenders_never_interleave_within_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::new(dir.path().join("j.jsonl"));
    std::thread::scope(|s| {
        for t in 0..4 {
            let j = j.clone();
            s.spawn(move || {
                for i in 0..50 {
                    let r = rec(t * 1000 + i, OperatorAction::TokenCreate, &"s".repeat(200));
                    j.append(&r).expect("append");
                }
            });
        }
    });
    let mut got: Vec<i64> = all(&j, q(7)).iter().map(|r| r.at_ms).collect();
    got.sort_unstable();
    let want: Vec<i64> = (0..4)
        .flat_map(|t| (0..50).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn batches_name_events_count_and_first_and_last_pass() {
    let ids: Vec<_> = (1u8..=3).map(|i| scangate_core::PassId([i; 16])).collect();
    let r = OperatorRecord::passes(
        5,
        "lead",
        OperatorAction::PassesIssue,
        ["fest", "fest", "expo"],
        &ids,
    );
    assert_eq!(r.subject, "fest, expo");
    assert_eq!(r.count, Some(3));
    assert_eq!(r.first_pass.as_deref(), Some(&*ids[0].to_string()));
    assert_eq!(r.last_pass.as_deref(), Some(&*ids[2].to_string()));
    let many: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
    let r = OperatorRecord::passes(
        5,
        "lead",
        OperatorAction::PassesImport,
        many.iter().map(String::as_str),
        &ids,
    );
    assert!(r.subject.ends_with(", ...") && r.subject.starts_with("e0, e1"));
}

#[test]
fn actions_round_trip_and_the_cli_who_is_safe() {
    for a in OperatorAction::ALL {
        assert_eq!(a.as_str().parse::<OperatorAction>(), Ok(a));
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, format!("\"{}\"", a.as_str()));
    }
    assert!("token.eat".parse::<OperatorAction>().is_err());
    let who = cli_who();
    assert!(
        who.starts_with("cli:") && who.len() <= WHO_MAX_BYTES,
        "{who}"
    );
}

#[test]
fn several_records_go_in_one_append_each_on_its_line_after_a_torn_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("operator-audit.jsonl");
    let j = Journal::new(&path);
    j.append_all(&[]).expect("nothing to write");
    assert!(!path.exists(), "an empty append creates no file");
    j.append(&rec(1, OperatorAction::TokenCreate, "t1"))
        .expect("append");
    // A crash mid-append leaves a torn last line.
    let mut f = OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(b"{\"at_ms\": 2, \"who\"").expect("tear");
    let batch: Vec<_> = (3..6)
        .map(|i| rec(i, OperatorAction::OfflineConflict, &format!("scan-{i}")))
        .collect();
    j.append_all(&batch).expect("append all");
    let mut want = vec![rec(1, OperatorAction::TokenCreate, "t1")];
    want.extend(batch);
    assert_eq!(
        all(&j, q(10)),
        want,
        "the torn line skipped, the three kept"
    );
}
