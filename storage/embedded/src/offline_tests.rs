//! Offline records and their conflicts in the embedded store: both go into
//! one redo record, so a crash leaves both or neither; a data directory of
//! format 3, 4 or 5 (before the `conflicts` / `conflict_tags` / `holder_links` keyspaces) opens
//! and is upgraded; a pass-less conflict written again keeps one row.

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::segment::DIR;
use super::writer_state::WriterState;
use super::{EmbeddedConfig, EmbeddedStore, FORMAT_VERSION};
use fjall::Database;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::{Conflict, OfflineFacts};
use scangate_core::{Decision, Pass, ScanRecord};
use scangate_storage::conformance::{new_pass, now_ms, scan};
use scangate_storage::{ConflictQuery, Store};
use std::path::Path;
use tokio::sync::oneshot;

/// Logs two batches to the redo log of `dir` without folding them into
/// fjall (what a crash right after the acknowledgement leaves): a pass,
/// then an offline grant of it flagged `time_in_future`.
fn logged_but_not_folded(dir: &Path) -> (Pass, ScanRecord) {
    let tables = Tables::open(Database::builder(dir).open().expect("db")).expect("tables");
    let pass = new_pass(Some(1));
    let mut record = scan(pass.id, Decision::Granted, 1, now_ms());
    record.offline = Some(OfflineFacts {
        snapshot_version: 1,
        device_decision: Decision::Granted,
        conflicts: vec![ConflictKind::TimeInFuture],
    });
    let (mut w, _folds) = WriterState::unfolded(dir, tables);
    let mut seq = 0;
    let commands: [Box<dyn FnOnce(_) -> Command>; 2] = [
        Box::new(|reply| Command::Insert {
            passes: vec![pass.clone()],
            reply,
        }),
        Box::new(|reply| Command::Scan {
            record: Box::new(record.clone()),
            reply,
        }),
    ];
    for command in commands {
        let (tx, mut rx) = oneshot::channel();
        let mut batch = Batch::new(&mut w, seq, 1);
        batch.add(command(tx));
        seq = batch.log().answer().expect("logged");
        assert!(matches!(rx.try_recv(), Ok(Ok(()))), "acknowledged");
    }
    (pass, record)
}

async fn conflicts_of(store: &EmbeddedStore, pass: &Pass) -> Vec<Conflict> {
    let query = ConflictQuery {
        pass: Some(pass.id),
        limit: 10,
        ..ConflictQuery::default()
    };
    store.query_conflicts(query).await.expect("query").items
}

#[tokio::test]
async fn a_restart_replays_an_offline_record_with_its_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pass, record) = logged_but_not_folded(dir.path());
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    let found = store.find_scan(&record.scan_id).await.expect("find");
    assert_eq!(
        found.as_ref(),
        Some(&record),
        "the record, offline facts and all"
    );
    assert_eq!(
        conflicts_of(&store, &pass).await,
        Conflict::of_record(&record)
    );
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(loaded.uses, 1);
}

#[tokio::test]
async fn a_torn_offline_record_leaves_neither_the_scan_nor_its_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pass, record) = logged_but_not_folded(dir.path());
    // Damage the end of the second record, as a write cut off by a crash.
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join(DIR))
        .expect("redo dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segments.sort();
    let path = segments.first().expect("a segment");
    let mut bytes = std::fs::read(path).expect("read");
    let len = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        u32::from_le_bytes(b) as usize
    };
    let second = 8 + len(0);
    let end = second + 8 + len(second);
    bytes[end - 4..end].fill(0);
    std::fs::write(path, &bytes).expect("write");

    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    assert_eq!(store.find_scan(&record.scan_id).await.expect("find"), None);
    assert!(
        conflicts_of(&store, &pass).await.is_empty(),
        "no conflict alone"
    );
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(loaded.uses, 0, "the first batch replayed, the torn one not");
}

#[test]
fn older_directories_open_with_empty_conflict_and_link_keyspaces() {
    for older in [3u32, 4, 5] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = Database::builder(dir.path()).open().expect("db");
            let meta = db
                .keyspace("meta", fjall::KeyspaceCreateOptions::default)
                .expect("meta");
            meta.insert("format", older.to_be_bytes()).expect("write");
            db.persist(fjall::PersistMode::SyncAll).expect("persist");
        }
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        assert!(store.tables.conflicts.is_empty().expect("read"));
        assert!(store.tables.conflict_tags.is_empty().expect("read"));
        assert!(store.tables.holder_links.is_empty().expect("read"));
        let version = store.tables.meta.get("format").expect("read").expect("set");
        assert_eq!(
            *version,
            FORMAT_VERSION.to_be_bytes(),
            "format {older} upgraded"
        );
    }
}

/// A pass-less conflict (a forged token) uploaded again after its
/// acknowledgement was lost comes with a later time: it still lands on its
/// first row, also after a restart (the tag is read back from fjall), and
/// a conflict of another kind or scan is kept beside it.
#[tokio::test]
async fn a_pass_less_conflict_written_again_later_keeps_one_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Conflict {
        at_ms: now_ms(),
        scan_id: scangate_storage::conformance::new_scan_id(),
        event: "fest".into(),
        pass_id: None,
        kind: ConflictKind::Forged,
        device: "scanner-1".into(),
        gate: "A".into(),
        device_time_ms: now_ms() - 60_000,
    };
    let later = Conflict {
        at_ms: first.at_ms + 5_000,
        ..first.clone()
    };
    let other_kind = Conflict {
        kind: ConflictKind::UnknownPass,
        ..later.clone()
    };
    let all = ConflictQuery {
        event: Some("fest".into()),
        limit: 10,
        ..ConflictQuery::default()
    };
    {
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        store
            .record_conflicts(vec![first.clone()])
            .await
            .expect("first");
        store
            .record_conflicts(vec![later.clone(), later.clone()])
            .await
            .expect("again, twice in one call");
        let rows = store.query_conflicts(all.clone()).await.expect("query");
        assert_eq!(rows.items, vec![first.clone()], "the first row only");
        store.close().await.expect("close");
    }
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("reopen");
    store
        .record_conflicts(vec![later, other_kind.clone()])
        .await
        .expect("after a restart");
    let rows = store.query_conflicts(all).await.expect("query");
    assert_eq!(
        rows.items,
        vec![first, other_kind],
        "one row per scan and kind"
    );
}
