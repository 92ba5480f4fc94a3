//! Tests of the embedded store: the conformance suite (bare and cached),
//! reopening, same-batch checks and the format version.

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::writer_state::WriterState;
use super::{
    EmbeddedConfig, EmbeddedStore, INSERT_MAX_PASSES, ISSUED_MEMTABLE_BYTES, SCAN_MEMTABLE_BYTES,
};
use fjall::Database;
use scangate_core::{Decision, PassId, Reason};
use scangate_storage::cache::{CacheConfig, CachedStore};
use scangate_storage::conformance::{self, new_pass, now_ms, scan};
use scangate_storage::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::oneshot;

fn open(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance::run_all(Arc::new(open(&dir))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cached_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(open(&dir));
    conformance::run_all(Arc::new(CachedStore::new(inner, CacheConfig::default()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(open(&dir));
    let store = Arc::new(CachedStore::new(inner, CacheConfig::default()));
    conformance::retention_removes_old_records_and_keeps_new_ones(store).await;
}

async fn grant_some(store: &dyn Store, passes: usize, grants: u32) -> Vec<PassId> {
    let batch: Vec<_> = (0..passes).map(|_| new_pass(Some(grants))).collect();
    let ids = batch.iter().map(|p| p.id).collect();
    store.insert_passes(batch).await.expect("insert");
    for &id in &ids {
        for n in 1..=grants {
            store
                .commit_scan(scan(id, Decision::Granted, n, now_ms()))
                .await
                .expect("grant");
        }
    }
    ids
}

async fn assert_granted(store: &dyn Store, ids: &[PassId], grants: u32) {
    for &id in ids {
        let pass = store.load_pass(id).await.expect("load").expect("kept");
        assert_eq!(pass.uses, grants);
        assert_eq!(
            store.list_scans(id, 100).await.expect("list").len(),
            grants as usize
        );
    }
}

/// Waits until fjall's threads have flushed `keyspace` to a table file
/// (they do so in the background), failing after a minute with `what`.
async fn await_table_file(keyspace: &fjall::Keyspace, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while keyspace.table_count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}, still no table file for `{}`",
            keyspace.name()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The keyspaces that only issuing writes flush at `ISSUED_MEMTABLE_BYTES`
/// instead of fjall's 64 MiB: twice that many bytes of passes, issued in
/// bulk, leave table files behind, while `pass_state`, written for the
/// same passes, is still all in its memtable: each pass carries a 2 KiB
/// status reason, so its state (26 bytes plus fjall's overhead, under 100
/// per entry) fills under a tenth of `SCAN_MEMTABLE_BYTES` meanwhile. A
/// flush of every keyspace (fjall's journal or write-buffer limits) would
/// fail it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_issued_in_bulk_go_to_table_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let large_pass = || {
        let mut pass = new_pass(None);
        pass.status_reason = Some("r".repeat(2048));
        pass
    };
    let record = super::layout::encode_pass(&large_pass()).expect("encode");
    let wanted = 2 * ISSUED_MEMTABLE_BYTES as usize / (record.len() + 16);
    assert!(wanted * 100 < SCAN_MEMTABLE_BYTES as usize / 10);
    let mut last = None;
    for start in (0..wanted).step_by(INSERT_MAX_PASSES) {
        let batch: Vec<_> = (start..wanted.min(start + INSERT_MAX_PASSES))
            .map(|_| large_pass())
            .collect();
        last = batch.last().map(|p| p.id);
        store.insert_passes(batch).await.expect("insert");
    }
    // Reading the last pass waits until fjall holds every insert; its
    // flushes run on fjall's own threads after that.
    let last = last.expect("some passes");
    assert!(store.load_pass(last).await.expect("load").is_some());
    await_table_file(&store.tables.passes, &format!("{wanted} passes issued")).await;
    assert_eq!(store.tables.pass_state.table_count(), 0);
}

/// The keyspaces every scan writes get `SCAN_MEMTABLE_BYTES` memtables
/// instead of fjall's 64 MiB: twice that many bytes of scan records leave a
/// table file behind for `scans`, while `audit`, never written here, has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_records_go_to_table_files_at_the_scan_memtable_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir));
    let pass = new_pass(None);
    let id = pass.id;
    store.insert_passes(vec![pass]).await.expect("insert");
    // Denials: recorded in full, without a use to count in order.
    let denial = move || {
        let mut record = scan(id, Decision::Denied(Reason::WrongGate), 1, now_ms());
        record.device = "d".repeat(1024);
        record
    };
    let per_record = super::layout::encode(&denial()).expect("encode").len();
    let wanted = 2 * SCAN_MEMTABLE_BYTES as usize / per_record;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..wanted / 32 + 1 {
                    store.commit_scan(denial()).await.expect("commit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join");
    }
    await_table_file(&store.tables.scans, &format!("{wanted} scan records")).await;
    assert_eq!(store.tables.audit.table_count(), 0);
}

/// A clean close also has fjall write its memtables out: reopened, the
/// grants are in table files, with no journal left to replay into memtables
/// (fjall itself would keep this few in memory and in its journal).
#[tokio::test]
async fn grants_survive_close_and_reopen_in_table_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let ids = grant_some(&store, 20, 3).await;
    store.close().await.expect("close");
    drop(store);
    let store = open(&dir);
    let t = &store.tables;
    for (name, keyspace) in [
        ("pass_state", &t.pass_state),
        ("scans", &t.scans),
        ("scan_ids", &t.scan_ids),
    ] {
        assert!(keyspace.table_count() > 0, "`{name}` has no table file");
    }
    assert_granted(&store, &ids, 3).await;
    // Sequence numbers continue: new scans sort after the old ones.
    let more = grant_some(&store, 1, 2).await;
    assert_granted(&store, &more, 2).await;
}

#[tokio::test]
async fn grants_survive_drop_without_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids = {
        let store = open(&dir);
        grant_some(&store, 20, 2).await
    };
    let store = open(&dir);
    assert_granted(&store, &ids, 2).await;
    let scan_id = store.list_scans(ids[0], 1).await.expect("list")[0]
        .scan_id
        .clone();
    assert!(store.find_scan(&scan_id).await.expect("find").is_some());
}

#[test]
fn a_redo_log_it_cannot_write_fails_the_store_until_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    let (mut w, _folds) = WriterState::unfolded(dir.path(), tables);
    assert_eq!(w.progress.failure(), None, "a fresh store can write");
    w.log.fill_disk();
    for seq in 0..2 {
        let (tx, mut rx) = oneshot::channel();
        let mut batch = Batch::new(&mut w, seq, 4);
        batch.add(Command::Insert {
            passes: vec![new_pass(Some(1))],
            reply: tx,
        });
        batch.log().answer().expect_err("nothing can be logged");
        assert!(matches!(rx.try_recv(), Ok(Err(StoreError::Failed(_)))));
    }
    // The first cause is kept, with what to do about it.
    let why = w.progress.failure().expect("the store reports its failure");
    assert!(why.starts_with("cannot write the redo log"), "{why}");
    assert!(why.contains("restart the gateway"), "{why}");
    // Reads are still answered: fjall holds every acknowledged batch.
    w.progress.check().expect("reads go on");
}

#[test]
fn one_batch_sees_its_own_scan_ids_and_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    let pass = new_pass(Some(2));
    let first = scan(pass.id, Decision::Granted, 1, now_ms());
    let mut retry = first.clone();
    retry.uses_after = 2;
    let third = scan(pass.id, Decision::Granted, 3, now_ms());

    let (mut w, _folds) = WriterState::unfolded(dir.path(), tables);
    let mut batch = Batch::new(&mut w, 0, 8);
    let mut replies = Vec::new();
    let (tx, rx) = oneshot::channel();
    batch.add(Command::Insert {
        passes: vec![pass.clone()],
        reply: tx,
    });
    replies.push(rx);
    for record in [
        first.clone(),
        retry,
        scan(pass.id, Decision::Granted, 2, now_ms()),
        third,
    ] {
        let (tx, rx) = oneshot::channel();
        batch.add(Command::Scan {
            record: Box::new(record),
            reply: tx,
        });
        replies.push(rx);
    }
    assert_eq!(
        batch.log().answer().expect("commit"),
        2,
        "the two applied scans took sequence numbers"
    );
    let mut answers = replies
        .into_iter()
        .map(|mut rx| rx.try_recv().expect("answered"));
    assert!(matches!(answers.next(), Some(Ok(()))), "insert");
    assert!(matches!(answers.next(), Some(Ok(()))), "first grant");
    match answers.next() {
        Some(Err(StoreError::DuplicateScanId { existing })) => assert_eq!(*existing, first),
        other => panic!("same-batch retry must be a duplicate, got {other:?}"),
    }
    assert!(
        matches!(answers.next(), Some(Ok(()))),
        "second grant sees the first's uses"
    );
    assert!(matches!(
        answers.next(),
        Some(Err(StoreError::Conflict { stored_uses: 2, .. }))
    ));
}

/// Writes `version` as the store format of a fresh directory.
pub(super) fn with_format(dir: &std::path::Path, version: u32) {
    let db = Database::builder(dir).open().expect("db");
    let meta = db
        .keyspace("meta", fjall::KeyspaceCreateOptions::default)
        .expect("meta");
    meta.insert("format", version.to_be_bytes()).expect("write");
    db.persist(fjall::PersistMode::SyncAll).expect("persist");
}

#[test]
fn format_2_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    with_format(dir.path(), 2);
    drop(
        EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open a format-2 store"),
    );
    let db = Database::builder(dir.path()).open().expect("db");
    let meta = db
        .keyspace("meta", fjall::KeyspaceCreateOptions::default)
        .expect("meta");
    let version = meta.get("format").expect("read").expect("a format");
    assert_eq!(*version, super::FORMAT_VERSION.to_be_bytes());
}

#[test]
fn another_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    with_format(dir.path(), 999);
    match EmbeddedStore::open(dir.path(), EmbeddedConfig::default()) {
        Err(StoreError::Config(msg)) => assert!(msg.contains("format 999"), "{msg}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a store of another format must not open"),
    }
}

#[tokio::test]
async fn a_full_queue_answers_busy_and_close_drains_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedConfig {
        queue_capacity_commands: 1,
        ..EmbeddedConfig::default()
    };
    let (start, gate) = std::sync::mpsc::channel();
    let store = EmbeddedStore::open_gated(dir.path(), config, Some(gate)).expect("open");
    let pass = new_pass(None);
    // The writer has not started: one queued command fills the queue.
    let (tx, queued) = oneshot::channel();
    let sender = store.sender.as_ref().expect("sender");
    sender
        .try_send(Command::Insert {
            passes: vec![pass.clone()],
            reply: tx,
        })
        .unwrap_or_else(|_| panic!("the queue has room for one"));
    let err = store
        .commit_scan(scan(pass.id, Decision::Granted, 1, now_ms()))
        .await;
    assert!(matches!(err, Err(StoreError::Busy)), "got {err:?}");
    start.send(()).expect("start the writer");
    store.close().await.expect("close");
    assert!(
        matches!(queued.await, Ok(Ok(()))),
        "the queued insert was committed before close"
    );
    assert!(store.load_pass(pass.id).await.expect("load").is_some());
}

#[tokio::test]
async fn too_many_passes_in_one_insert_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedConfig {
        insert_max_passes: 2,
        ..EmbeddedConfig::default()
    };
    let store = EmbeddedStore::open(dir.path(), config).expect("open");
    let passes = (0..3).map(|_| new_pass(None)).collect();
    let err = store.insert_passes(passes).await;
    assert!(
        matches!(err, Err(StoreError::TooLarge { got: 3, max: 2, .. })),
        "got {err:?}"
    );
}

#[test]
fn batches_logged_but_not_yet_in_fjall_are_seen_by_the_next_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    let (mut w, folds) = WriterState::unfolded(dir.path(), tables.clone());
    let pass = new_pass(Some(1));
    let first = scan(pass.id, Decision::Granted, 1, now_ms());
    let mut seq = 0;
    for command in [
        Command::Insert {
            passes: vec![pass.clone()],
            reply: oneshot::channel().0,
        },
        Command::Scan {
            record: Box::new(first.clone()),
            reply: oneshot::channel().0,
        },
    ] {
        let mut batch = Batch::new(&mut w, seq, 4);
        batch.add(command);
        seq = batch.log().answer().expect("commit");
    }
    // Neither batch reached fjall: both wait in the fold queue.
    assert_eq!(folds.try_iter().count(), 2);
    assert!(tables.pass_state.get(pass.id.0).expect("read").is_none());
    // The retry is still a duplicate, and a second grant still conflicts.
    let retry = Box::new(first.clone());
    let (tx, mut rx) = oneshot::channel();
    let mut batch = Batch::new(&mut w, seq, 4);
    batch.add(Command::Scan {
        record: retry,
        reply: tx,
    });
    let (tx2, mut rx2) = oneshot::channel();
    batch.add(Command::Scan {
        record: Box::new(scan(pass.id, Decision::Granted, 2, now_ms())),
        reply: tx2,
    });
    batch.log().answer().expect("commit");
    match rx.try_recv().expect("answered") {
        Err(StoreError::DuplicateScanId { existing }) => assert_eq!(*existing, first),
        other => panic!("a retry of a logged scan must be a duplicate, got {other:?}"),
    }
    assert!(matches!(
        rx2.try_recv().expect("answered"),
        Err(StoreError::Conflict { stored_uses: 1, .. })
    ));
}

#[test]
fn the_writer_goes_on_while_fjall_lags_by_many_small_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tables = Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
    let (mut w, folds) = WriterState::unfolded(dir.path(), tables);
    let pass = new_pass(None);
    let mut batch = Batch::new(&mut w, 0, 1);
    batch.add(Command::Insert {
        passes: vec![pass.clone()],
        reply: oneshot::channel().0,
    });
    let mut seq = batch.log().answer().expect("commit");
    // 600 batches, far fewer bytes than `FOLD_LAG_BYTES`: with nothing
    // folded, none of them waits (the lag is bounded in bytes, not count).
    for uses in 1..=600 {
        let (tx, mut rx) = oneshot::channel();
        let mut batch = Batch::new(&mut w, seq, 1);
        batch.add(Command::Scan {
            record: Box::new(scan(pass.id, Decision::Granted, uses, now_ms())),
            reply: tx,
        });
        seq = batch.log().answer().expect("commit");
        assert!(matches!(rx.try_recv(), Ok(Ok(()))), "grant {uses}");
    }
    assert_eq!(
        folds.try_iter().count(),
        601,
        "every batch is queued, none folded"
    );
}

#[test]
fn threads_started_at_low_priority_inherit_it() {
    let nice = || rustix::process::getpriority_process(None).expect("getpriority");
    let normal = nice();
    let (own, spawned) = super::open::at_low_priority(super::BACKGROUND_NICE, || {
        let child = std::thread::spawn(nice).join().expect("child");
        (nice(), child)
    });
    assert_eq!(own, super::BACKGROUND_NICE);
    assert_eq!(spawned, super::BACKGROUND_NICE, "as fjall's workers do");
    assert_eq!(nice(), normal, "the caller's own priority is left alone");
}

/// fjall's workers die (here: a flush cannot create its table file, as on a
/// full disk) while nothing is written: the store still reports the failure
/// within the health check's interval, so `/readyz` stops answering ready.
#[tokio::test]
async fn a_dead_fjall_worker_fails_the_store_even_when_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .insert_passes(vec![new_pass(None)])
        .await
        .expect("insert");
    store.progress.caught_up().await.expect("folded");
    assert_eq!(store.failure(), None);
    // Each keyspace's table folder becomes a file: a flush cannot write.
    for keyspace in std::fs::read_dir(dir.path().join("keyspaces")).expect("keyspaces") {
        let tables = keyspace.expect("entry").path().join("tables");
        if tables.is_dir() {
            std::fs::remove_dir_all(&tables).expect("remove tables");
            std::fs::write(&tables, b"not a folder").expect("block tables");
        }
    }
    store.tables.passes.rotate_memtable().expect("rotate");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let failure = loop {
        if let Some(why) = store.failure() {
            break why;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure reported after fjall's flush failed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(failure.contains("can take no more writes"), "{failure}");
    let refused = store.insert_passes(vec![new_pass(None)]).await;
    assert!(refused.is_err(), "a failed store takes no writes");
}

#[test]
fn one_fjall_worker_is_refused() {
    let config = EmbeddedConfig {
        background_threads_min: 1,
        ..EmbeddedConfig::default()
    };
    let err = config
        .validate()
        .expect_err("one worker can block on its own queue");
    assert!(err.contains("background_threads_min"), "{err}");
    let config = EmbeddedConfig::default();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.background_threads(1), 2, "one core: two workers");
    assert_eq!(config.background_threads(2), 2);
    assert_eq!(config.background_threads(3), 3);
    assert_eq!(config.background_threads(64), 4, "fjall's cap");
}
