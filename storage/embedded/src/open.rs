//! Opening the store: fjall with its background threads at low priority,
//! the redo log recovered into it, what fjall recovered into memtables
//! written out, then the fold and writer threads started.

use super::*;

/// Memtable bytes fjall may bring back from its journal at an open (and the
/// redo log's replay add) and keep in memory; above this the open has fjall
/// write them out to table files in the background, so the next open
/// replays only what came after. A crash never flushes, and at a gate's
/// pace (100 scans/s) the memtables do not fill between two crashes, so
/// without this each open replays everything since the last flush into
/// memory (fjall's journal: see the private `journal` module). 1 MiB
/// replays in milliseconds; below it a flush (up to one small table file
/// per keyspace, each to be compacted later) costs more than the replay it
/// saves.
pub const RECOVERED_FLUSH_MIN_BYTES: u64 = 1024 * 1024;

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir` and starts its writer thread.
    /// Reopening replays fjall's journal, which takes up to a few seconds for
    /// hundreds of megabytes: call it from a blocking context.
    pub fn open(dir: &Path, config: EmbeddedConfig) -> Result<EmbeddedStore, StoreError> {
        Self::open_gated(dir, config, None)
    }

    /// [`EmbeddedStore::open`], with a writer that waits for `start_gate` (a
    /// message or its sender dropped) before taking its first command: lets
    /// tests fill the queue deterministically.
    pub(crate) fn open_gated(
        dir: &Path,
        config: EmbeddedConfig,
        start_gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> Result<EmbeddedStore, StoreError> {
        config.validate().map_err(StoreError::Config)?;
        let (db, background_threads, sealed) = open_fjall(dir, &config)?;
        let tables = Tables::open(db)?;
        let (log, replayed) = RedoLog::recover(dir, &tables)?;
        write_out_recovered(&tables)?;
        if let Some(sealed) = &sealed {
            journal::evict_sealed(&tables)?;
            tracing::info!(
                journal = %sealed.path.display(),
                bytes = sealed.bytes,
                "store journal sealed at the open; fjall deletes it once its tables hold it"
            );
        }
        let seq = tables.load_seq()?;
        let progress = Progress::new(replayed.last);
        let (sender, rx) = sync_channel(config.queue_capacity_commands);
        let settings = writer_settings(&config);
        let (folds, fold_rx) = sync_channel(fold::FOLD_QUEUE);
        let folder_progress = Arc::clone(&progress);
        let folder = std::thread::Builder::new()
            .name("scangate-store-fold".into())
            .spawn({
                let tables = tables.clone();
                move || fold::run(fold_rx, folder_progress, tables)
            })
            .map_err(|e| StoreError::unavailable("cannot start the store fold thread", e))?;
        let writer_tables = tables.clone();
        let writer_progress = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name("scangate-store-writer".into())
            .spawn(move || {
                if let Some(gate) = start_gate {
                    let _ = gate.recv();
                }
                writer::run(
                    writer_tables,
                    log,
                    writer_progress,
                    (folds, folder),
                    rx,
                    settings,
                    seq,
                )
            })
            .map_err(|e| StoreError::unavailable("cannot start the store writer thread", e))?;
        tracing::info!(dir = %dir.display(), ?config, background_threads, format = FORMAT_VERSION, "embedded store opened");
        Ok(EmbeddedStore {
            tables,
            progress,
            sender: Some(sender),
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(handle)),
            close_timeout: Duration::from_millis(config.close_timeout_ms),
            insert_max_passes: config.insert_max_passes,
            purge_max: config.purge_max_per_call,
        })
    }
}

/// Opens fjall in `dir` with its background threads at low priority, its
/// active journal sealed first when long ([`journal::seal_long_journal`]).
/// Returns the database, its number of background threads and the journal
/// sealed, if any.
fn open_fjall(
    dir: &Path,
    config: &EmbeddedConfig,
) -> Result<(Database, usize, Option<journal::Sealed>), StoreError> {
    let sealed = journal::seal_long_journal(dir, journal::JOURNAL_SEAL_MIN_BYTES)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let background_threads = config.background_threads(cores);
    let builder = Database::builder(dir)
        .cache_size(config.block_cache_bytes)
        // Never fjall's default alone (one under a one-CPU limit): see
        // `BACKGROUND_THREADS_MIN`.
        .worker_threads(background_threads)
        // The redo log is what makes a write durable; fjall's own journal
        // reaches the disk at checkpoints (`persist`), not per fold.
        .manual_journal_persist(true)
        .max_journaling_size(JOURNAL_MAX_BYTES);
    // fjall starts its flush and compaction threads inside `open`; they
    // inherit the lowered priority of the thread that opens it.
    let db = at_low_priority(BACKGROUND_NICE, || builder.open()).map_err(|e| {
        StoreError::unavailable(format!("cannot open the store in {}", dir.display()), e)
    })?;
    Ok((db, background_threads, sealed))
}

/// Has fjall write out the memtables an open brought back, when they hold
/// at least [`RECOVERED_FLUSH_MIN_BYTES`]: asks for the flush (a zero
/// limit: [`Tables::flush_memtables`] rotates every memtable and returns
/// without waiting), which fjall's threads do at their low priority while
/// the gateway serves.
fn write_out_recovered(tables: &Tables) -> Result<(), StoreError> {
    let recovered = tables.db.write_buffer_size();
    if recovered < RECOVERED_FLUSH_MIN_BYTES {
        return Ok(());
    }
    tables.flush_memtables(Duration::ZERO)?;
    tracing::info!(
        recovered_bytes = recovered,
        "store memtables recovered from fjall's journal; writing them out"
    );
    Ok(())
}

/// The writer thread's batching, scan-id retention and sweep, from the
/// store's configuration.
fn writer_settings(config: &EmbeddedConfig) -> writer::Settings {
    writer::Settings {
        max_batch: config.max_batch_commands,
        max_batch_bytes: config.max_batch_bytes,
        max_wait: Duration::from_micros(config.max_wait_us),
        loaded_batch: config.loaded_batch_commands,
        retention_ms: match config.scan_id_retention_ms {
            0 => None,
            ms => Some(i64::try_from(ms).unwrap_or(i64::MAX)),
        },
        sweep_interval: Duration::from_millis(config.sweep_interval_ms),
        purge_max: config.purge_max_per_call,
    }
}

/// Runs `f` on a thread of its own at nice value `nice`, so that every
/// thread `f` starts inherits that priority (Linux keeps nice values per
/// thread), and returns what `f` returns. If the priority cannot be lowered
/// (a sandbox may forbid it), `f` runs anyway, at normal priority, and that
/// is logged.
pub(crate) fn at_low_priority<T: Send>(nice: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("scangate-store-open".into())
            .spawn_scoped(scope, || {
                if let Err(e) = rustix::process::setpriority_process(None, nice) {
                    tracing::warn!(error = %e, nice, "cannot lower the priority of the store's background threads");
                }
                f()
            })
            .expect("spawn the store's opening thread");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjall::PersistMode;
    use std::time::Instant;

    /// A store whose fjall journal holds `bytes` of `audit` records that
    /// never reached a table file (fjall closed without a flush, as a crash
    /// leaves it).
    fn crashed_with(dir: &Path, bytes: usize) {
        let tables = Tables::open(Database::builder(dir).open().expect("db")).expect("tables");
        let value = [7u8; 1024];
        for i in 0..bytes / value.len() {
            let key = format!("recovered-{i:08}");
            tables.audit.insert(key.as_bytes(), value).expect("insert");
        }
        tables.db.persist(PersistMode::SyncAll).expect("persist");
        assert_eq!(tables.audit.table_count(), 0, "fjall flushed by itself");
    }

    #[test]
    fn an_open_that_recovers_memtables_has_them_written_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        crashed_with(dir.path(), 2 * RECOVERED_FLUSH_MIN_BYTES as usize);
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        let deadline = Instant::now() + Duration::from_secs(60);
        let audit = &store.tables.audit;
        while audit.table_count() == 0 || audit.sealed_memtable_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the recovered memtable was not written out within a minute"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(audit.len().expect("count"), 2 * 1024, "nothing lost");
    }

    #[test]
    fn an_open_that_recovers_little_keeps_it_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        crashed_with(dir.path(), RECOVERED_FLUSH_MIN_BYTES as usize / 4);
        let store = EmbeddedStore::open(dir.path(), EmbeddedConfig::default()).expect("open");
        // The rotation would be done by the time `open` returns.
        let audit = &store.tables.audit;
        assert_eq!(
            (audit.table_count(), audit.sealed_memtable_count()),
            (0, 0),
            "a small recovery was flushed"
        );
        assert_eq!(audit.len().expect("count"), 256);
    }
}
