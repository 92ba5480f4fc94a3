//! Holder links in the embedded store: puts and a removal in one batch
//! (the removal sees the put before it), acknowledged from the redo log alone (a crash before fjall held them) are both there
//! after a restart.

use super::apply::{Batch, Command};
use super::layout::Tables;
use super::writer_state::WriterState;
use super::{EmbeddedConfig, EmbeddedStore};
use fjall::Database;
use scangate_storage::conformance::{new_pass, now_ms};
use scangate_storage::{HolderLink, Store};
use tokio::sync::oneshot;

#[tokio::test]
async fn a_restart_replays_holder_links_put_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (kept, removed) = (new_pass(Some(1)), new_pass(Some(1)));
    let link = |pass: &scangate_core::Pass, byte: u8| HolderLink {
        pass_id: pass.id,
        secret_sha256: [byte; 32],
        created_ms: now_ms(),
    };
    let (kept_link, removed_link) = (link(&kept, 1), link(&removed, 2));
    {
        let tables =
            Tables::open(Database::builder(dir.path()).open().expect("db")).expect("tables");
        let (mut w, _folds) = WriterState::unfolded(dir.path(), tables);
        let (tx, mut rx) = oneshot::channel();
        let mut batch = Batch::new(&mut w, 0, 3);
        batch.add(Command::PutLink {
            link: kept_link,
            reply: tx,
        });
        let (tx2, mut rx2) = oneshot::channel();
        batch.add(Command::PutLink {
            link: removed_link,
            reply: tx2,
        });
        let (tx3, mut rx3) = oneshot::channel();
        batch.add(Command::RemoveLink {
            pass: removed.id,
            reply: tx3,
        });
        batch.log().answer().expect("logged");
        assert!(matches!(rx.try_recv(), Ok(Ok(()))) && matches!(rx2.try_recv(), Ok(Ok(()))));
        assert!(
            matches!(rx3.try_recv(), Ok(Ok(1))),
            "the link put earlier in the batch is found"
        );
    }
    let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
    assert_eq!(
        store.holder_link(kept.id).await.expect("read"),
        Some(kept_link)
    );
    assert_eq!(store.holder_link(removed.id).await.expect("read"), None);
}
