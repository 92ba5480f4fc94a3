//! Pass states written out apart from the rest (`states`): what a restart
//! replays when fjall's two marks differ, and the damaged-log rule's new
//! bound (real files: a redo log, fjall, a reopen).

use super::layout::{self, Tables};
use super::merge::Merged;
use super::record::{self, Ks, Staged};
use super::redo::RedoLog;
use super::replay::Replayed;
use super::segment;
use super::states::DirtyStates;
use fjall::Database;
use scangate_storage::StoreError;
use std::fs;
use std::path::{Path, PathBuf};

fn open(dir: &Path) -> Tables {
    let db = Database::builder(dir.join("db")).open().expect("db");
    Tables::open(db).expect("tables")
}

/// Logs batches 1..=5, each writing record `k` = `v{n}` and state `s` =
/// `u{n}`, and folds all five into fjall as the fold thread would, writing
/// the held states out after batch `written_out` (0: never). Returns the
/// store directory and its one segment: a crash at that point.
fn folded_five(written_out: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = open(dir.path());
    let (mut log, _) = RedoLog::recover(dir.path(), &tables).expect("recover");
    let dirty = DirtyStates::default();
    for batch in 1..=5u64 {
        let mut staged = Staged::new(2);
        staged.insert(Ks::Passes, b"k", format!("v{batch}"));
        staged.insert(Ks::PassState, b"s", format!("u{batch}"));
        log.append(batch, &mut staged).expect("append");
        let mut group = Merged::new(&tables);
        group.add(batch, &staged.into_record()).expect("decode");
        group.commit(&dirty).expect("fold");
        if batch == written_out {
            dirty.write_out(&tables).expect("write out");
        }
    }
    let segment = fs::read_dir(dir.path().join(segment::DIR))
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a segment");
    (dir, segment)
}

/// Where record `n` (1-based) of `path` starts.
fn offset_of(path: &Path, n: usize) -> usize {
    let bytes = fs::read(path).expect("read");
    let mut at = 0;
    for _ in 1..n {
        at = record::record_at(&bytes, at).expect("record").next;
    }
    at
}

/// Reopens: what the recovery said, and the stored record and state.
fn reopen(dir: &Path) -> (Result<Replayed, StoreError>, [Option<Vec<u8>>; 2]) {
    let tables = open(dir);
    let outcome = RedoLog::recover(dir, &tables).map(|(_, r)| r);
    let get = |ks: &fjall::Keyspace, k: &[u8]| ks.get(k).expect("get").map(|v| v.to_vec());
    let stored = [get(&tables.passes, b"k"), get(&tables.pass_state, b"s")];
    (outcome, stored)
}

#[test]
fn states_above_their_mark_are_replayed_and_nothing_else_rolls_back() {
    let (dir, _) = folded_five(2);
    {
        let tables = open(dir.path());
        assert_eq!(tables.load_logged().expect("logged"), 5);
        assert_eq!(tables.load_states().expect("states"), Some(2));
        let state = tables.pass_state.get(b"s").expect("get");
        assert_eq!(state.as_deref(), Some(&b"u2"[..]), "3 to 5 were held");
    }
    let (outcome, [record, state]) = reopen(dir.path());
    let replayed = outcome.expect("replay");
    assert_eq!(replayed.last, 5);
    assert_eq!(replayed.batches, 3, "records 3 to 5, for their states");
    assert_eq!(record.as_deref(), Some(&b"v5"[..]));
    assert_eq!(state.as_deref(), Some(&b"u5"[..]), "the acknowledged state");
    let tables = open(dir.path());
    assert_eq!(tables.load_states().expect("states"), Some(5));
}

#[test]
fn a_crash_after_a_checkpoints_write_out_before_its_deletion_replays_nothing() {
    // Written out after the last batch (and synced by the recovery):
    // the segment is still there, as when a crash falls between a
    // checkpoint's sync and its deletion of segments.
    let (dir, _) = folded_five(5);
    let (outcome, [record, state]) = reopen(dir.path());
    assert_eq!(
        outcome.expect("replay"),
        Replayed {
            batches: 0,
            last: 5
        }
    );
    assert_eq!(record.as_deref(), Some(&b"v5"[..]));
    assert_eq!(state.as_deref(), Some(&b"u5"[..]));
}

#[test]
fn damage_to_a_record_whose_states_fjall_lacks_is_corruption_though_it_holds_the_rest() {
    // Under one mark (`logged` = 5) this damage would be harmless.
    let (dir, segment) = folded_five(2);
    let at = offset_of(&segment, 3);
    let mut bytes = fs::read(&segment).expect("read");
    bytes[at + record::HEADER + 1] ^= 0x5a;
    fs::write(&segment, bytes).expect("write");
    let (outcome, [_, state]) = reopen(dir.path());
    let err = outcome.expect_err("record 3's state is lost");
    assert!(
        matches!(&err, StoreError::CorruptLog { offset, .. } if *offset == at as u64),
        "{err}"
    );
    assert!(err.to_string().contains("records 3 to 3 are lost"), "{err}");
    assert_eq!(
        state.as_deref(),
        Some(&b"u2"[..]),
        "nothing applied past it"
    );
}

#[test]
fn a_log_that_ends_below_the_higher_mark_is_corruption() {
    let (dir, segment) = folded_five(2);
    let cut = offset_of(&segment, 4) + 5;
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open");
    file.set_len(cut as u64).expect("truncate");
    let (outcome, [record, _]) = reopen(dir.path());
    let err = outcome.expect_err("records 4 and 5 hold states fjall lacks");
    assert!(err.to_string().contains("records 4 to 5 are lost"), "{err}");
    assert_eq!(record.as_deref(), Some(&b"v5"[..]), "not rolled back");
}

#[test]
fn a_store_written_before_the_states_mark_replays_as_before() {
    // The previous format: states folded with everything, one mark.
    let (dir, _) = folded_five(0);
    {
        let tables = open(dir.path());
        tables.meta.remove(layout::states_key()).expect("no mark");
        tables
            .pass_state
            .insert(b"s", b"u5")
            .expect("as the old fold");
    }
    let (outcome, [record, state]) = reopen(dir.path());
    assert_eq!(outcome.expect("replay").batches, 0, "logged = 5 covers it");
    assert_eq!(record.as_deref(), Some(&b"v5"[..]));
    assert_eq!(state.as_deref(), Some(&b"u5"[..]));
    let tables = open(dir.path());
    assert_eq!(
        tables.load_states().expect("states"),
        Some(5),
        "the open wrote the mark the old format implied"
    );
}

#[test]
fn a_new_store_that_crashes_before_its_first_write_out_replays_its_states() {
    // Its first open wrote `states` = 0, so a missing write-out is not
    // mistaken for the old format's single mark.
    let (dir, _) = folded_five(0);
    let (outcome, [_, state]) = reopen(dir.path());
    assert_eq!(outcome.expect("replay").batches, 5);
    assert_eq!(state.as_deref(), Some(&b"u5"[..]));
}
