//! The embedded store's limits and their defaults.

use std::time::Duration;

/// Most commands one group commit applies: past 256 grants per commit the
/// throughput gains under 5% while each batch's latency grows linearly
/// (~30 µs of CPU per grant), so a bigger batch only adds waiting.
pub const MAX_BATCH: usize = 256;

/// Most bytes of redo record one group commit writes: once a batch holds
/// this much it takes no more commands (a single larger command, such as a
/// bulk insert, goes alone). A full batch of grants is ~100 KiB, so this
/// never cuts one short; it bounds the bytes one `fdatasync` carries, and
/// so the latency every command of the batch waits for, at ~2 ms of
/// writing on our disk.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// How long the writer waits for more commands once it holds one and the
/// queue is empty, when the batch before carried at least [`LOADED_BATCH`]
/// commands (the gateway is under load); otherwise it takes only what is
/// queued already, so a lone write never waits. Under load a batch is what
/// piled up during the last `fdatasync`; this window lets one sync carry
/// more grants, and so fewer syncs (each ~45–50 µs of kernel CPU) per
/// grant, at the cost of this much latency. See docs/benchmarks.md for the
/// grants per sync it buys.
pub const MAX_WAIT: Duration = Duration::from_micros(100);

/// Commands in a batch that mean "under load": the next batch may wait up
/// to [`MAX_WAIT`] for more. Eight commands in one sync means they arrive
/// faster than a sync takes (~150–200 µs here), so more are on their way;
/// a quieter gateway (fewer per sync) commits at once.
pub const LOADED_BATCH: usize = 8;

/// Commands the queue holds before [`StoreError::Busy`](scangate_storage::StoreError::Busy).
/// 16 full batches: at ~30k grants/s that is ~140 ms of queueing, well inside
/// a scanner's deadline; a longer queue would only turn overload into timeouts.
pub const QUEUE_CAPACITY: usize = 16 * MAX_BATCH;

/// How long [`Store::close`](scangate_storage::Store::close) waits for the writer to
/// commit what is queued and checkpoint, before
/// [`StoreError::Timeout`](scangate_storage::StoreError::Timeout). A full queue drains in
/// well under a second; five seconds means the disk is stalling. (A write
/// waits for its answer without a deadline of its own: the writer answers
/// every command it takes, and one it holds may still land; its caller
/// decides how long to wait.)
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a clean close waits for fjall to write every memtable out to
/// table files, after the last checkpoint, so that the next start need not
/// replay fjall's journal (seconds after heavy writing). Past this the close
/// ends anyway and the next start replays what is left: slower, never less
/// safe. With the 10 s scan drain it stays inside a 30 s stop grace period.
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// How long a scan id is remembered, so a retry is answered with the first
/// decision: 48 hours covers an event day plus an offline scanner that syncs
/// the next day.
pub const SCAN_ID_RETENTION: Duration = Duration::from_secs(48 * 3600);

/// How often the writer forgets scan ids older than the retention.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Most scan ids one purge forgets (one call to
/// [`Store::purge_scan_ids`](scangate_storage::Store::purge_scan_ids) or one sweep), so a
/// purge never holds the writer for long: 4096 deletions are a few
/// milliseconds, about one full batch of grants.
pub const PURGE_MAX_PER_CALL: usize = 4096;

/// Most passes one [`Store::insert_passes`](scangate_storage::Store::insert_passes) takes,
/// all or none, in one commit: a bulk import of a large event in a few calls,
/// ~20 MB of memory at most while it is applied.
pub const INSERT_MAX_PASSES: usize = 100_000;

/// Most bytes of sealed journal files fjall keeps before it flushes the
/// keyspaces that hold the oldest one back, so it can delete it. fjall
/// begins a new journal file itself only at a flush once the current one
/// is past 64,000,000 bytes (fixed in fjall 3.1), and the store seals a
/// long one at an open (private `journal` module); what a restart after a
/// crash (or right after heavy writing) replays is the current file and
/// these, so this bounds that restart (under a second with 3M records at
/// 64 MiB, fjall's minimum; fjall's default of 512 MiB takes seconds). The
/// price: more memtable flushes, which raise the p99 at 256 grants in
/// flight, not the throughput.
pub const JOURNAL_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Largest memtable of the keyspaces written only when passes are issued
/// (`passes`, `passes_by_event`; fjall's default is 64 MiB): fjall's
/// smallest recommended size. The scan path never writes them, so only a
/// bulk issue fills them, and a smaller memtable leaves less of it in memory
/// until the journal limit forces a flush (peak RSS with 1M passes issued
/// ~130 MiB lower than at 64 MiB, the same CPU per scan). Their passes are
/// read from table files sooner, as passes issued days before are anyway.
pub const ISSUED_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;

/// Largest memtable of the keyspaces every grant writes (`pass_state`,
/// `scans`, `scan_ids`, `scan_id_times`, `event_scans`; fjall's default is
/// 64 MiB). What fjall holds in memtables and not yet in tables is what a
/// start after a crash replays from its journal (~23 MB/s here), so this
/// bounds that start: at most five of these, ~40 MB, under 2 s to ready
/// right after 10M grants (at 16 MiB a crash start replayed 66 MB in
/// 2.8 s). The price: twice the flushes of 16 MiB (8× fjall's default), and
/// more small tables to open at a start right after heavy writing; CPU per
/// scan 1.05 (0.96–1.10) of 16 MiB's, no change shown. fjall keeps the size
/// a keyspace was created with: a store created with larger keyspaces
/// keeps them.
pub const SCAN_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;

/// Nice value of fjall's flush and compaction threads (the scan path runs
/// at 0). A flush of full memtables takes ~1 core for 3–5 s on two cores,
/// which at the scan path's priority would raise its p99 to hundreds of
/// milliseconds at a gate opening. At 19 it runs in whatever CPU the scan path leaves
/// (RocksDB lowers its compaction threads' priority for the same reason).
/// If it falls behind, fjall slows its own writes, the fold lag reaches
/// `FOLD_LAG_BYTES`, and the writer, then admission, push back: `busy`, not
/// unbounded memory.
pub const BACKGROUND_NICE: i32 = 19;

/// Most fjall flush and compaction threads: one per core the process may
/// use, up to this (fjall's own default and cap, which the benchmarks ran
/// with).
pub const BACKGROUND_THREADS_MAX: usize = 4;

/// Fewest fjall flush and compaction threads, whatever the cores (fjall's
/// default is one on one CPU). A single worker, handling a memtable
/// rotation, can block sending a flush into its own full queue (fjall's
/// worker queue holds 1,000 messages; writes to a full memtable fill it with
/// rotation requests while the worker starves at [`BACKGROUND_NICE`]), and
/// nothing drains it again: flushes stop, and a stop-time flush waits
/// forever. With two, the other one drains the queue. Not more on one core: every extra
/// compaction thread shares that core with the flushes.
pub const BACKGROUND_THREADS_MIN: usize = 2;

/// fjall's block cache: the hot part of 200k passes and their state keys fits.
pub const BLOCK_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Configuration of [`EmbeddedStore`](super::EmbeddedStore). Every field has
/// a named default; the constants of this module say why that number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Most commands per group commit. Default [`MAX_BATCH`] (256).
    pub max_batch_commands: usize,
    /// Most bytes of redo record per group commit. Default
    /// [`MAX_BATCH_BYTES`] (1 MiB).
    pub max_batch_bytes: usize,
    /// Longest wait for more commands once the writer holds one, in
    /// microseconds, when the batch before carried at least
    /// `loaded_batch_commands`. Default [`MAX_WAIT`] (100 µs); 0: take only
    /// what is already queued.
    pub max_wait_us: u64,
    /// Commands in a batch that make the next batch wait up to
    /// `max_wait_us` for more. Default [`LOADED_BATCH`] (8).
    pub loaded_batch_commands: usize,
    /// Commands queued before writes answer `Busy`. Default [`QUEUE_CAPACITY`] (4096).
    pub queue_capacity_commands: usize,
    /// How long a close waits for the writer before `Timeout`, in
    /// milliseconds. Default [`CLOSE_TIMEOUT`] (5 s).
    pub close_timeout_ms: u64,
    /// Scan ids whose scan is older than this (by the record's `at_ms`,
    /// against the wall clock) are forgotten by the writer's background
    /// sweep, in milliseconds. Default [`SCAN_ID_RETENTION`] (48 h); 0 turns
    /// the sweep off. The scan records themselves are kept.
    pub scan_id_retention_ms: u64,
    /// How often the sweep runs, in milliseconds. Default [`SWEEP_INTERVAL`] (1 min).
    pub sweep_interval_ms: u64,
    /// Most scan ids forgotten per purge call or sweep. Default
    /// [`PURGE_MAX_PER_CALL`] (4096).
    pub purge_max_per_call: usize,
    /// Most passes per `insert_passes`. Default [`INSERT_MAX_PASSES`] (100 000).
    pub insert_max_passes: usize,
    /// fjall's block cache size in bytes. Default [`BLOCK_CACHE_BYTES`] (64 MiB).
    pub block_cache_bytes: u64,
    /// Fewest fjall flush and compaction threads, whatever the number of
    /// cores (see [`EmbeddedConfig::background_threads`]). Default and
    /// lowest accepted: [`BACKGROUND_THREADS_MIN`] (2).
    pub background_threads_min: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            max_batch_commands: MAX_BATCH,
            max_batch_bytes: MAX_BATCH_BYTES,
            max_wait_us: MAX_WAIT.as_micros() as u64,
            loaded_batch_commands: LOADED_BATCH,
            queue_capacity_commands: QUEUE_CAPACITY,
            close_timeout_ms: CLOSE_TIMEOUT.as_millis() as u64,
            scan_id_retention_ms: SCAN_ID_RETENTION.as_millis() as u64,
            sweep_interval_ms: SWEEP_INTERVAL.as_millis() as u64,
            purge_max_per_call: PURGE_MAX_PER_CALL,
            insert_max_passes: INSERT_MAX_PASSES,
            block_cache_bytes: BLOCK_CACHE_BYTES,
            background_threads_min: BACKGROUND_THREADS_MIN,
        }
    }
}

impl EmbeddedConfig {
    /// Checks that every limit is usable: zero would stall the writer or
    /// refuse every write.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("max_batch_commands", self.max_batch_commands as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            (
                "queue_capacity_commands",
                self.queue_capacity_commands as u64,
            ),
            ("close_timeout_ms", self.close_timeout_ms),
            ("sweep_interval_ms", self.sweep_interval_ms),
            ("purge_max_per_call", self.purge_max_per_call as u64),
            ("insert_max_passes", self.insert_max_passes as u64),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return Err(format!("embedded store config: {name} must be at least 1"));
            }
        }
        if self.background_threads_min < BACKGROUND_THREADS_MIN {
            return Err(format!(
                "embedded store config: background_threads_min must be at least {BACKGROUND_THREADS_MIN} (one fjall worker can block on its own queue)"
            ));
        }
        Ok(())
    }

    /// fjall's flush and compaction threads on a machine where the process
    /// may use `cores` cores: one per core, at most
    /// [`BACKGROUND_THREADS_MAX`], at least `background_threads_min`.
    pub fn background_threads(&self, cores: usize) -> usize {
        cores
            .min(BACKGROUND_THREADS_MAX)
            .max(self.background_threads_min)
    }
}
