//! Erasure on disk: after an erase and a clean close, no file of the store
//! holds the pass's key or its display text; a crash replays keys from the
//! redo log (by ingestion, like a fold).

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::writer_state::WriterState;
use super::{EmbeddedConfig, EmbeddedStore};
use fjall::Database;
use scangate_core::{AdminAction, AuditRecord, Status};
use scangate_storage::Store;
use scangate_storage::conformance::{new_pass, now_ms};
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedConfig::default()).expect("open")
}

fn files_with(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .expect("read")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

fn erase(pass: &scangate_core::Pass) -> AuditRecord {
    AuditRecord {
        pass_id: pass.id,
        at_ms: now_ms(),
        who: "test".into(),
        action: AdminAction::Erase,
        reason: "holder asked".into(),
        status_before: Status::Active,
        status_after: Status::Revoked,
        scan_id: None,
        token_generation: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_key_and_display_are_in_no_file_after_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pass = new_pass(Some(1));
    let text = format!("Erase-me {}", pass.id);
    pass.display = Some(text.clone());
    let mut kept = new_pass(Some(1));
    kept.display = Some(format!("Keep-me {}", kept.id));
    let store = open(dir.path());
    store
        .insert_passes(vec![pass.clone(), kept.clone()])
        .await
        .expect("insert");
    let key = store
        .stored_key(pass.id)
        .await
        .expect("read")
        .expect("a key");
    assert_eq!(key.len(), 32);
    store.close().await.expect("close");
    drop(store);
    assert!(
        files_with(dir.path(), text.as_bytes()).is_empty(),
        "sealed at rest"
    );
    assert!(
        !files_with(dir.path(), &key).is_empty(),
        "the key is on disk"
    );

    let store = open(dir.path());
    store.commit_admin(erase(&pass)).await.expect("erase");
    store.close().await.expect("close");
    drop(store);
    // fjall deletes a compacted-away table file when its last reader lets
    // go of it, which its worker threads may do just after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !files_with(dir.path(), &key).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        files_with(dir.path(), &key),
        Vec::<PathBuf>::new(),
        "key gone"
    );
    assert!(files_with(dir.path(), text.as_bytes()).is_empty());
    let store = open(dir.path());
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!((loaded.display, loaded.status), (None, Status::Revoked));
    assert_eq!(store.load_pass(kept.id).await.expect("load"), Some(kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_replayed_from_the_redo_log_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pass = new_pass(Some(1));
    pass.display = Some("Crash survivor".into());
    {
        // A batch logged but never folded: fjall never saw its key.
        let db = Database::builder(dir.path()).open().expect("db");
        let (mut w, _folds) = WriterState::unfolded(dir.path(), Tables::open(db).expect("tables"));
        let (tx, mut rx) = oneshot::channel();
        let mut batch = Batch::new(&mut w, 0, 4);
        batch.add(Command::Insert {
            passes: vec![pass.clone()],
            reply: tx,
        });
        batch.log().answer().expect("logged");
        assert!(matches!(rx.try_recv(), Ok(Ok(()))));
    }
    let store = open(dir.path());
    assert_eq!(
        store.load_pass(pass.id).await.expect("load"),
        Some(pass.clone())
    );
    let key = store.stored_key(pass.id).await.expect("read").expect("key");
    assert_eq!(key.len(), 32, "the replay ingested the key");
}
