//! A redo log directory on another file system (`log_owner`): the log
//! replays through a link, and a directory that is another store's, or
//! missing its file after the store has logged, stops the open before any
//! replay (real files: fjall, a redo log, links).

use super::layout::{self, Tables};
use super::log_owner::OWNER_FILE;
use super::record::{Ks, Staged};
use super::redo::RedoLog;
use fjall::Database;
use scangate_storage::StoreError;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn tables(dir: &Path) -> Tables {
    Tables::open(Database::builder(dir.join("db")).open().expect("db")).expect("tables")
}

/// Two scratch directories: a store's and another (a second disk, another
/// store).
fn two_dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    let dir = || tempfile::tempdir().expect("tempdir");
    (dir(), dir())
}

/// A store directory whose `redo` is a link to `target`.
fn linked(store: &Path, target: &Path) {
    fs::create_dir_all(target).expect("target");
    symlink(target, store.join("redo")).expect("link");
}

fn refused(outcome: Result<impl Sized, StoreError>) -> String {
    match outcome {
        Err(StoreError::Config(why)) => why,
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("expected a refusal, the log was taken"),
    }
}

#[test]
fn a_log_through_a_link_replays_what_a_crash_left_and_names_its_store() {
    let (store, disk) = two_dirs();
    linked(store.path(), &disk.path().join("log"));
    {
        let tables = tables(store.path());
        let (mut log, _) = RedoLog::recover(store.path(), &tables).expect("recover");
        let mut staged = Staged::new(1);
        staged.insert(Ks::Passes, b"k", "v1");
        log.append(1, &mut staged).expect("append");
        // A crash: logged and synced, never folded into fjall.
    }
    assert!(disk.path().join("log").join(OWNER_FILE).is_file());
    let tables = tables(store.path());
    let (_, replayed) = RedoLog::recover(store.path(), &tables).expect("reopen");
    assert_eq!((replayed.batches, replayed.last), (1, 1));
    let record = tables.passes.get(b"k").expect("get");
    assert_eq!(record.as_deref(), Some(&b"v1"[..]));
}

#[test]
fn another_stores_log_directory_is_refused_before_it_is_read() {
    let (ours, theirs) = two_dirs();
    let shared = theirs.path().join("redo");
    RedoLog::recover(theirs.path(), &tables(theirs.path())).expect("theirs claims its log");
    linked(ours.path(), &shared);
    let why = refused(RedoLog::recover(ours.path(), &tables(ours.path())));
    assert!(why.contains("belongs to another store"), "{why}");
    assert!(
        why.contains(&ours.path().join("redo").display().to_string()),
        "{why}"
    );
    assert!(
        why.contains(&format!("a link to {}", shared.display())),
        "{why}"
    );
    // Not claimed by the refusal: the owner opens its log as before.
    RedoLog::recover(theirs.path(), &tables(theirs.path())).expect("theirs again");
}

#[test]
fn a_missing_log_directory_is_refused_once_the_store_has_logged_until_its_id_is_written() {
    let (store, disk) = two_dirs();
    let log_dir = disk.path().join("log");
    linked(store.path(), &log_dir);
    let tables = tables(store.path());
    RedoLog::recover(store.path(), &tables).expect("claims");
    let id = fs::read_to_string(log_dir.join(OWNER_FILE)).expect("id");
    // Nothing logged yet: an empty directory in its place is claimed again.
    fs::remove_dir_all(&log_dir).expect("unmounted");
    fs::create_dir(&log_dir).expect("empty mount point");
    RedoLog::recover(store.path(), &tables).expect("nothing could be lost");
    // Once a batch is logged, an empty directory is a log gone missing.
    for key in [layout::logged_key(), layout::states_key()] {
        tables
            .meta
            .insert(key, layout::encode_logged(7))
            .expect("logged");
    }
    fs::remove_dir_all(&log_dir).expect("unmounted");
    fs::create_dir(&log_dir).expect("empty mount point");
    let why = refused(RedoLog::recover(store.path(), &tables));
    assert!(why.contains("has no STORE file"), "{why}");
    assert!(
        why.contains(id.trim()),
        "the message names the id to write: {why}"
    );
    // The operator's step after a clean stop: write the id.
    fs::write(log_dir.join(OWNER_FILE), &id).expect("write the id");
    RedoLog::recover(store.path(), &tables).expect("the operator said so");
}

#[test]
fn a_store_of_an_earlier_build_claims_its_log_and_a_damaged_file_is_named() {
    let store = tempfile::tempdir().expect("store");
    let tables = tables(store.path());
    // An earlier build: batches logged, no id on either side.
    let logged = layout::encode_logged(7);
    tables
        .meta
        .insert(layout::logged_key(), logged)
        .expect("logged");
    let (log, _) = RedoLog::recover(store.path(), &tables).expect("claims");
    drop(log);
    let file = store.path().join("redo").join(OWNER_FILE);
    assert!(file.is_file());
    fs::write(&file, "not an id\n").expect("damage");
    let why = refused(RedoLog::recover(store.path(), &tables));
    assert!(why.contains(&file.display().to_string()), "{why}");
}
