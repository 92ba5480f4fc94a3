//! The embedded default backend: [`EmbeddedStore`], on fjall.
//!
//! One job: keep one gateway's passes, scans and admin changes in a local
//! data directory, behind the [`scangate_storage::Store`] trait. It must
//! never acknowledge a write before its redo-log record is synced, never
//! change the on-disk format without bumping [`FORMAT_VERSION`], never hold
//! an unbounded queue (a full one answers `Busy`), and never reach past the
//! trait crate (no other backend, no actor, no gateway code).
//!
//! Writes go to one writer thread over a bounded queue (full: `Busy`); the
//! writer checks up to [`MAX_BATCH`] of them, appends their writes to a redo
//! log as one record per `fdatasync` and answers each caller only after its
//! batch is durable there (a batch closes at [`MAX_BATCH`] commands,
//! [`MAX_BATCH_BYTES`], or an empty queue, waited on for up to [`MAX_WAIT`]
//! when the batch before was loaded). A fold thread then applies the batch
//! to fjall (no sync), decoded from its redo record and merged with the
//! batches queued behind it into one fjall commit (private `merge` module),
//! so fjall's CPU-heavy memtable work overlaps the next batch's checks and
//! sync. fjall is synced and the log trimmed at checkpoints, by
//! the fold thread when a segment is full and at a clean close, which then
//! has fjall write its memtables out to tables; opening replays what a
//! crash left (see the private `redo` and `fold` modules).
//!
//! Reads go straight to fjall from the caller, after waiting until fjall
//! holds what the read needs of the batches acknowledged before it: loading
//! a pass waits only for unfolded batches that changed that pass (usually
//! none), the operator plane's reads for every acknowledged batch (at most
//! the fold queue). A read after an acknowledged write sees it.
//!
//! Layout on disk: see the private `layout` module (its table is the format, versioned
//! by `FORMAT_VERSION` and checked at open). Scan ids are forgotten after
//! [`EmbeddedConfig::scan_id_retention_ms`] by a sweep in the writer thread,
//! every [`EmbeddedConfig::sweep_interval_ms`], a bounded chunk at a time.

mod apply;
mod config;
mod fold;
mod journal;
mod layout;
mod load;
mod log_owner;
mod merge;
mod open;
mod prepare;
mod progress;
mod read;
mod record;
mod redo;
mod replay;
mod segment;
mod states;
mod writer;
mod writer_state;

#[cfg(test)]
mod damaged_tests;
#[cfg(test)]
mod erased_tests;
#[cfg(test)]
mod floor_tests;
#[cfg(test)]
mod holder_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod log_owner_tests;
#[cfg(test)]
mod offline_tests;
#[cfg(test)]
mod personal_tests;
#[cfg(test)]
mod states_tests;
#[cfg(test)]
mod tests;

pub use config::{
    BACKGROUND_NICE, BACKGROUND_THREADS_MAX, BACKGROUND_THREADS_MIN, BLOCK_CACHE_BYTES,
    CLOSE_FLUSH_LIMIT, CLOSE_TIMEOUT, EmbeddedConfig, INSERT_MAX_PASSES, ISSUED_MEMTABLE_BYTES,
    JOURNAL_MAX_BYTES, LOADED_BATCH, MAX_BATCH, MAX_BATCH_BYTES, MAX_WAIT, PURGE_MAX_PER_CALL,
    QUEUE_CAPACITY, SCAN_ID_RETENTION, SCAN_MEMTABLE_BYTES, SWEEP_INTERVAL,
};
pub use layout::FORMAT_VERSION;

use apply::{Command, Reply};
use async_trait::async_trait;
use fjall::Database;
use layout::{Tables, backend};
use progress::Progress;
use redo::RedoLog;
use scangate_core::event::EventDefinition;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord};
use scangate_storage::{
    Annul, AuditQuery, Page, PassQuery, ScanQuery, ScanScope, Store, StoreError,
};
use scangate_storage::{ConflictQuery, EVENTS_MAX, HolderLink, LIST_MAX, RECORD_CONFLICTS_MAX};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// The embedded, group-committed store. Share it as `Arc<dyn Store>`.
///
/// Dropping it without [`Store::close`] loses nothing acknowledged (every
/// acknowledged write was already synced); the drop waits for the writer to
/// commit what is queued and stop, so the directory can be reopened at once.
pub struct EmbeddedStore {
    tables: Tables,
    /// How far fjall has caught up with the acknowledged writes.
    progress: Arc<Progress>,
    /// `None` only while dropping.
    sender: Option<SyncSender<Command>>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
    close_timeout: Duration,
    insert_max_passes: usize,
    purge_max: usize,
}

impl EmbeddedStore {
    /// The personal-data key stored for a pass, as raw bytes (empty once
    /// erased; `None` when it never had personal data). For checks that an
    /// erased key is gone from every file (the erasure tests, an audit of a
    /// data directory); nothing in the gateway reads it.
    pub async fn stored_key(&self, id: PassId) -> Result<Option<Vec<u8>>, StoreError> {
        self.progress.pass_caught_up(id).await?;
        let key = self.tables.pass_keys.get(id.0).map_err(backend)?;
        Ok(key.map(|k| k.to_vec()))
    }

    /// Queues a command built around a fresh reply channel and waits for its
    /// answer. No deadline here: once queued, the command may still be
    /// committed however long the disk stalls, so a `Timeout` would only
    /// hide an outcome the writer will decide; the writer answers every
    /// command it takes (committed, failed, or closed). Callers bound their
    /// own wait (the pass actor answers its scanner at the store deadline and
    /// keeps waiting for the outcome).
    async fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let sender = self.sender.as_ref().ok_or(StoreError::Closed)?;
        let (tx, rx) = oneshot::channel();
        match sender.try_send(make(tx)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        // A dropped reply: the writer stopped (closed) before taking this command.
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Runs a read that may touch many records off the async workers.
    async fn blocking_read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Tables) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || read(&tables))
            .await
            .map_err(|e| StoreError::Internal(format!("a store read task failed: {e}")))?
    }
}

fn count_read(op: &'static str) {
    metrics::counter!("scangate_store_reads_total", "op" => op).increment(1);
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn load_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError> {
        // Point reads from memory, the memtable or the block cache take
        // microseconds, so they run on the caller's task.
        count_read("load_pass");
        self.progress.pass_caught_up(id).await?;
        load::load_pass(&self.tables, &self.progress, id).await
    }

    async fn insert_passes(&self, passes: Vec<Pass>) -> Result<(), StoreError> {
        if passes.len() > self.insert_max_passes {
            return Err(StoreError::TooLarge {
                what: "passes in one insert",
                got: passes.len(),
                max: self.insert_max_passes,
            });
        }
        if passes.is_empty() {
            return Ok(());
        }
        self.submit(|reply| Command::Insert { passes, reply }).await
    }

    async fn commit_scan(&self, record: ScanRecord) -> Result<(), StoreError> {
        let record = Box::new(record);
        self.submit(|reply| Command::Scan { record, reply }).await
    }

    async fn commit_admin(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let audit = Box::new(audit);
        self.submit(|reply| Command::Admin { audit, reply }).await
    }

    async fn record_conflicts(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError> {
        if conflicts.len() > RECORD_CONFLICTS_MAX {
            return Err(StoreError::TooLarge {
                what: "conflicts in one call",
                got: conflicts.len(),
                max: RECORD_CONFLICTS_MAX,
            });
        }
        if conflicts.is_empty() {
            return Ok(());
        }
        self.submit(|reply| Command::Conflicts { conflicts, reply })
            .await
    }

    async fn query_conflicts(&self, query: ConflictQuery) -> Result<Page<Conflict>, StoreError> {
        count_read("query_conflicts");
        self.progress.caught_up().await?;
        self.blocking_read(move |t| read::conflicts(t, &query))
            .await
    }

    async fn put_event(&self, event: &str, definition: &EventDefinition) -> Result<(), StoreError> {
        let definition = scangate_storage::record::encode_named(definition)?;
        let event = event.to_owned();
        self.submit(|reply| Command::Event {
            event,
            definition,
            reply,
        })
        .await
    }

    async fn load_event(&self, event: &str) -> Result<Option<EventDefinition>, StoreError> {
        count_read("load_event");
        self.progress.caught_up().await?;
        match self.tables.events.get(event).map_err(backend)? {
            Some(bytes) => layout::decode(&bytes, "event definition").map(Some),
            None => Ok(None),
        }
    }

    async fn list_events(&self) -> Result<Vec<(String, EventDefinition)>, StoreError> {
        count_read("list_events");
        self.progress.caught_up().await?;
        self.blocking_read(|t| {
            let mut out = Vec::new();
            for guard in t.events.iter().take(EVENTS_MAX) {
                let (key, value) = guard.into_inner().map_err(backend)?;
                let name = String::from_utf8(key.to_vec())
                    .map_err(|_| StoreError::Corrupt("event name not UTF-8".into()))?;
                out.push((name, layout::decode(&value, "event definition")?));
            }
            Ok(out)
        })
        .await
    }

    async fn find_scan(&self, scan_id: &ScanId) -> Result<Option<ScanRecord>, StoreError> {
        count_read("find_scan");
        self.progress.caught_up().await?;
        apply::find_scan(&self.tables, scan_id)
    }

    async fn list_scans(&self, pass: PassId, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
        count_read("list_scans");
        self.progress.pass_caught_up(pass).await?;
        let limit = limit.min(LIST_MAX);
        self.blocking_read(move |t| {
            let mut out = Vec::with_capacity(limit.min(64));
            for guard in t.scans.prefix(pass.0).take(limit) {
                let (_, value) = guard.into_inner().map_err(backend)?;
                out.push(layout::decode_scan(&value)?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_audit(&self, pass: PassId, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        count_read("list_audit");
        self.progress.pass_caught_up(pass).await?;
        let limit = limit.min(LIST_MAX);
        self.blocking_read(move |t| {
            let mut out = Vec::with_capacity(limit.min(64));
            for guard in t.audit.prefix(pass.0).take(limit) {
                let (_, value) = guard.into_inner().map_err(backend)?;
                out.push(layout::decode_audit(&value)?);
            }
            Ok(out)
        })
        .await
    }

    async fn query_passes(&self, query: PassQuery) -> Result<Page<Pass>, StoreError> {
        count_read("query_passes");
        self.progress.caught_up().await?;
        // The walk goes over fjall's `pass_state`: the fold thread's held
        // states are written out first (at most `DIRTY_STATES_MAX`, usually
        // the few changed since the last write-out, at most a second ago).
        let progress = Arc::clone(&self.progress);
        self.blocking_read(move |t| {
            progress.states.write_out(t).map_err(StoreError::Failed)?;
            read::passes(t, &query)
        })
        .await
    }

    async fn query_scans(&self, query: ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
        count_read("query_scans");
        match &query.scope {
            ScanScope::Pass(id) => self.progress.pass_caught_up(*id).await?,
            ScanScope::Event(_) => self.progress.caught_up().await?,
        }
        self.blocking_read(move |t| read::scans(t, &query)).await
    }

    async fn query_audit(&self, query: AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        count_read("query_audit");
        match query.pass {
            Some(id) => self.progress.pass_caught_up(id).await?,
            None => self.progress.caught_up().await?,
        }
        self.blocking_read(move |t| read::audit(t, &query)).await
    }

    async fn commit_annul(&self, annul: Annul) -> Result<ScanRecord, StoreError> {
        let annul = Box::new(annul);
        self.submit(|reply| Command::Annul { annul, reply }).await
    }

    async fn purge_scan_ids(&self, before_ms: i64) -> Result<u64, StoreError> {
        let max = self.purge_max;
        self.submit(|reply| Command::Purge {
            before_ms,
            max,
            reply: Some(reply),
        })
        .await
    }

    async fn put_holder_link(&self, link: HolderLink) -> Result<(), StoreError> {
        self.submit(|reply| Command::PutLink { link, reply }).await
    }

    async fn holder_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        count_read("holder_link");
        self.progress.caught_up().await?;
        match self.tables.holder_links.get(pass.0).map_err(backend)? {
            Some(bytes) => HolderLink::decode(pass, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn remove_holder_link(&self, pass: PassId) -> Result<bool, StoreError> {
        let removed = self
            .submit(|reply| Command::RemoveLink { pass, reply })
            .await?;
        Ok(removed > 0)
    }

    fn failure(&self) -> Option<String> {
        self.progress.failure()
    }

    async fn purge_records(
        &self,
        step: scangate_storage::retention::RetentionStep,
    ) -> Result<scangate_storage::retention::Retained, StoreError> {
        self.submit(|reply| Command::Retain {
            step: Box::new(step),
            reply,
        })
        .await
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let Some(sender) = self.sender.clone() else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        // A blocking send: the close must get in even behind a full queue,
        // which the writer keeps draining.
        let queued =
            tokio::task::spawn_blocking(move || sender.send(Command::Close { reply: tx }).is_ok())
                .await
                .unwrap_or(false);
        let outcome = if queued {
            match tokio::time::timeout(self.close_timeout, rx).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Ok(()),
                // Do not wait on a join that may never come: the writer stops
                // by itself once its stalled commit ends.
                Err(_) => return Err(StoreError::Timeout(self.close_timeout)),
            }
        } else {
            Ok(())
        };
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let joined = tokio::task::spawn_blocking(move || handle.join().is_ok()).await;
            if !matches!(joined, Ok(true)) {
                return Err(StoreError::Internal(
                    "the store writer thread panicked".into(),
                ));
            }
        }
        outcome
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Without a sender the writer commits what is queued and stops; wait
        // for it so the database (and its directory lock) is released.
        drop(self.sender.take());
        let handle = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}
