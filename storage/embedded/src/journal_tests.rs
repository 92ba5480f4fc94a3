//! fjall's journal sealed at an open ([`crate::journal`]): on real fjall
//! directories, crashed by dropping the store without its close (fjall
//! flushes nothing then, as after a kill).

use super::*;
use crate::journal::{JOURNAL_SEAL_MIN_BYTES, JOURNAL_SUFFIX, seal_long_journal, written_bytes};
use crate::segment::numbered;
use fjall::PersistMode;
use std::path::PathBuf;
use std::time::Instant;

/// fjall's journal files in `dir`, by number.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let found = numbered(dir, JOURNAL_SUFFIX).expect("list");
    found.into_iter().map(|(_, path)| path).collect()
}

/// Bytes of journal in `dir`: what the next open reads.
fn journal_bytes(dir: &Path) -> u64 {
    journals(dir)
        .iter()
        .map(|p| written_bytes(p).expect("written"))
        .sum()
}

/// Writes `count` audit records of 1 KiB from `first` on, straight to
/// fjall, and makes its journal durable.
fn write_audit(tables: &Tables, first: usize, count: usize) {
    for i in first..first + count {
        let key = format!("written-{i:08}");
        tables
            .audit
            .insert(key.as_bytes(), [7u8; 1024])
            .expect("insert");
    }
    tables.db.persist(PersistMode::SyncAll).expect("persist");
}

/// Waits until fjall has no flush queued or under way (its flushes end
/// with its journal maintenance), at most a minute.
fn flushes_done(tables: &Tables) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tables.db.outstanding_flushes() > 0
        || tables.all().iter().any(|k| k.sealed_memtable_count() > 0)
    {
        assert!(
            Instant::now() < deadline,
            "fjall did not flush within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn only_a_long_journal_is_sealed() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        seal_long_journal(dir.path(), 1).expect("seal"),
        None,
        "no store yet"
    );
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    write_audit(&tables, 0, 64);
    drop(tables);
    let [active] = journals(dir.path()).try_into().expect("one journal");
    let len = written_bytes(&active).expect("written");
    assert!(len > 64 * 1024, "the journal holds the records: {len}");

    assert_eq!(seal_long_journal(dir.path(), len + 1).expect("seal"), None);
    assert_eq!(
        journals(dir.path()),
        std::slice::from_ref(&active),
        "a short one is left alone"
    );

    let sealed = seal_long_journal(dir.path(), len)
        .expect("seal")
        .expect("sealed");
    assert_eq!((&sealed.path, sealed.bytes), (&active, len));
    let [old, new] = journals(dir.path()).try_into().expect("two journals");
    assert_eq!(old, active);
    assert_eq!(std::fs::metadata(&new).expect("metadata").len(), 0);
    assert_eq!(written_bytes(&new).expect("written"), 0);
    assert_eq!(
        seal_long_journal(dir.path(), 1).expect("seal the empty one"),
        None,
        "an empty journal is never sealed"
    );
    let tables =
        Tables::open(Database::builder(dir.path()).open().expect("reopen")).expect("tables");
    assert_eq!(
        tables.audit.len().expect("count"),
        64,
        "the sealed journal is recovered"
    );
}

#[test]
fn a_journal_in_use_is_never_sealed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    write_audit(&tables, 0, 64);
    let before = journals(dir.path());
    assert_eq!(seal_long_journal(dir.path(), 1).expect("seal"), None);
    assert_eq!(journals(dir.path()), before, "fjall holds it open");
}

/// The crash loop's shape: every start writes a little and is killed
/// before fjall flushes. Without the sealing the journal an open reads
/// grows by every start's writes (up to fjall's 64 MB); with it, it stays
/// under the sealing length plus one start's writes.
#[test]
fn crash_after_crash_the_journal_an_open_reads_stays_bounded() {
    const STARTS: usize = 10;
    // 1 MiB of values a start, ~1.1 MiB of journal.
    const RECORDS: usize = 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut most = 0;
    for start in 0..STARTS {
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        flushes_done(&store.tables);
        write_audit(&store.tables, start * RECORDS, RECORDS);
        drop(store);
        most = most.max(journal_bytes(dir.path()));
    }
    let bound = JOURNAL_SEAL_MIN_BYTES + 2 * (RECORDS as u64 * 1024);
    assert!(
        most <= bound,
        "an open after a crash had {most} bytes of journal to read (bound {bound})"
    );
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    assert_eq!(
        store.tables.audit.len().expect("count"),
        STARTS * RECORDS,
        "nothing lost"
    );
}
