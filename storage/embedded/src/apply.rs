//! One group commit: each command is checked against the store plus what the
//! commands before it in the same batch changed, staged as one batch of
//! writes, and answered only after that batch's redo record is durable.
//!
//! What the checks read: the batch's own changes first, then the writer's
//! memory of batches logged but not yet folded into fjall (scan ids in
//! [`Pending`](super::writer_state::Pending), pass states in
//! [`StateCache`](super::writer_state::StateCache)), then (pass states) the
//! fold thread's held states (`states`), then fjall. Commands
//! that read anything else (an admin change reads the pass record and the
//! erased marker, a purge the time index) first wait until fjall has caught
//! up with the log.

use super::layout::{self, StateBytes, backend, log_key};
use super::progress::Changed;
use super::record::{Ks, Staged};
use super::writer_state::{LogKey, ScanEntry, WriterState};
use scangate_core::scan::Conflict;
use scangate_core::{AdminAction, AuditRecord, Pass, PassId, ScanId, ScanRecord};
use scangate_storage::{HolderLink, PassState, StoreError};
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;

mod audit;
mod conflicts;
mod events;
mod holder;
mod lookup;
mod personal;
mod retain;

pub use lookup::find_scan;
use lookup::find_scan_keyed;

/// Where a command's answer goes.
pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write, sent to the writer thread.
pub enum Command {
    /// [`scangate_storage::Store::insert_passes`].
    Insert { passes: Vec<Pass>, reply: Reply<()> },
    /// [`scangate_storage::Store::commit_scan`].
    Scan {
        record: Box<ScanRecord>,
        reply: Reply<()>,
    },
    /// [`scangate_storage::Store::commit_admin`].
    Admin {
        audit: Box<AuditRecord>,
        reply: Reply<()>,
    },
    /// [`scangate_storage::Store::record_conflicts`].
    Conflicts {
        conflicts: Vec<Conflict>,
        reply: Reply<()>,
    },
    /// [`scangate_storage::Store::commit_annul`].
    Annul {
        annul: Box<scangate_storage::Annul>,
        reply: Reply<ScanRecord>,
    },
    /// [`scangate_storage::Store::purge_scan_ids`]; no reply for the background sweep.
    Purge {
        before_ms: i64,
        max: usize,
        reply: Option<Reply<u64>>,
    },
    /// [`scangate_storage::Store::put_holder_link`].
    PutLink { link: HolderLink, reply: Reply<()> },
    /// [`scangate_storage::Store::remove_holder_link`]: answers 1 if there was one.
    RemoveLink { pass: PassId, reply: Reply<u64> },
    /// [`scangate_storage::Store::purge_records`].
    Retain {
        step: Box<scangate_storage::retention::RetentionStep>,
        reply: Reply<scangate_storage::retention::Retained>,
    },
    /// [`scangate_storage::Store::put_event`]: the event's name and its
    /// encoded definition.
    Event {
        event: String,
        definition: Vec<u8>,
        reply: Reply<()>,
    },
    /// [`scangate_storage::Store::close`]: commit what came before, then stop.
    Close { reply: Reply<()> },
}

/// An outcome waiting for the batch to be durable.
enum Answer {
    Unit(Reply<()>, Result<(), StoreError>),
    Record(Reply<ScanRecord>, Result<ScanRecord, StoreError>),
    Count(Option<Reply<u64>>, Result<u64, StoreError>),
    Retained(
        Reply<scangate_storage::retention::Retained>,
        Result<scangate_storage::retention::Retained, StoreError>,
    ),
}

/// A batch that was logged (or failed to be), its commands not yet answered.
pub struct Logged {
    /// The next free sequence number, or the failure.
    outcome: Result<u64, String>,
    answers: Vec<Answer>,
    /// Whether the batch wrote a redo record (a batch that changed nothing,
    /// such as a sweep with nothing to forget, writes and syncs nothing).
    wrote: bool,
}

impl Logged {
    /// Whether the batch is durable.
    pub fn is_durable(&self) -> bool {
        self.outcome.is_ok()
    }

    /// Whether the batch was written and synced to the redo log.
    pub fn synced(&self) -> bool {
        self.wrote && self.is_durable()
    }

    /// Answers every command: with its own outcome if the batch is durable,
    /// with the failure if not. Returns the next free sequence number, or
    /// the failure.
    pub fn answer(self) -> Result<u64, String> {
        let Logged {
            outcome, answers, ..
        } = self;
        let logged = || {
            outcome
                .as_ref()
                .map(|_| ())
                .map_err(|e| StoreError::Failed(e.clone()))
        };
        for answer in answers {
            match answer {
                Answer::Unit(reply, r) => {
                    let _ = reply.send(logged().and(r));
                }
                Answer::Record(reply, r) => {
                    let _ = reply.send(logged().and(r));
                }
                Answer::Retained(reply, r) => {
                    let _ = reply.send(logged().and(r));
                }
                Answer::Count(reply, r) => {
                    let r = logged().and(r);
                    if let Some(reply) = reply {
                        let _ = reply.send(r);
                    } else if let Err(e) = r {
                        tracing::warn!(error = %e, "scan-id sweep failed");
                    }
                }
            }
        }
        outcome
    }
}

/// A batch being assembled. Its maps hold only what this batch touched, so
/// they are bounded by the batch size (and one insert's pass limit).
pub struct Batch<'t> {
    w: &'t mut WriterState,
    writes: Staged,
    /// Pass states read or changed in this batch (`None`: no such pass).
    states: HashMap<PassId, Option<PassState>>,
    /// Passes whose state, record, scans or audit this batch changed.
    changed: Changed,
    /// Pass records changed in this batch.
    records: HashMap<PassId, Pass>,
    /// Scan ids recorded or changed (`Some`, with the record's `scans` key)
    /// or forgotten (`None`) in this batch.
    scan_ids: HashMap<ScanId, ScanEntry>,
    /// `conflict_tags` keys written in this batch.
    conflict_tags: HashSet<Vec<u8>>,
    /// Passes whose holder link this batch put (`true`) or removed.
    holder_links: HashMap<PassId, bool>,
    /// Passes this batch erased (their marker staged, not yet in fjall).
    erasures: HashSet<PassId>,
    seq: u64,
    seq_changed: bool,
    answers: Vec<Answer>,
    /// Backend reads made while checking, for the reads counter.
    pub reads: u64,
}

impl<'t> Batch<'t> {
    /// An empty batch; `seq` is the next free sequence number.
    pub fn new(w: &'t mut WriterState, seq: u64, capacity: usize) -> Batch<'t> {
        w.pending.prune(w.progress.folded());
        Batch {
            writes: Staged::new(capacity * 5),
            w,
            states: HashMap::with_capacity(capacity),
            changed: Changed::with_capacity(capacity),
            records: HashMap::new(),
            scan_ids: HashMap::with_capacity(capacity),
            conflict_tags: HashSet::new(),
            holder_links: HashMap::new(),
            erasures: HashSet::new(),
            seq,
            seq_changed: false,
            answers: Vec::with_capacity(capacity),
            reads: 0,
        }
    }

    /// Number of commands in the batch.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Bytes of redo record staged so far.
    pub fn bytes(&self) -> usize {
        self.writes.len()
    }

    /// Checks and stages one command.
    pub fn add(&mut self, command: Command) {
        match command {
            Command::Insert { passes, reply } => {
                let r = self.insert(passes);
                self.answers.push(Answer::Unit(reply, r));
            }
            Command::Scan { record, reply } => {
                let r = self.scan(*record);
                self.answers.push(Answer::Unit(reply, r));
            }
            Command::Conflicts { conflicts, reply } => {
                let r = self.w.catch_up().and_then(|()| self.pass_less(&conflicts));
                self.answers.push(Answer::Unit(reply, r));
            }
            Command::Admin { audit, reply } => {
                let r = self.w.catch_up().and_then(|()| self.admin(*audit));
                self.answers.push(Answer::Unit(reply, r));
            }
            Command::Annul { annul, reply } => {
                let r = self.annul(*annul);
                self.answers.push(Answer::Record(reply, r));
            }
            Command::Purge {
                before_ms,
                max,
                reply,
            } => {
                self.changed.every();
                let r = self.w.catch_up().and_then(|()| self.purge(before_ms, max));
                self.answers.push(Answer::Count(reply, r));
            }
            Command::PutLink { link, reply } => self.put_link(link, reply),
            Command::RemoveLink { pass, reply } => self.remove_link(pass, reply),
            Command::Retain { step, reply } => {
                self.changed.every();
                let r = self.w.catch_up().and_then(|()| self.retain(&step));
                self.answers.push(Answer::Retained(reply, r));
            }
            Command::Event {
                event,
                definition,
                reply,
            } => {
                let r = self
                    .w
                    .catch_up()
                    .and_then(|()| self.event(&event, definition));
                self.answers.push(Answer::Unit(reply, r));
            }
            Command::Close { reply } => {
                // Answered with the batch, so `close` returns once everything
                // queued before it is durable.
                self.answers.push(Answer::Unit(reply, Ok(())));
            }
        }
    }

    /// Logs the batch with one `fdatasync` and hands it to the folder. Its
    /// commands are answered only by [`Logged::answer`], so whatever the
    /// writer records about the batch is in place before any sender sees
    /// its outcome.
    pub fn log(mut self) -> Logged {
        if self.seq_changed {
            self.writes
                .insert(Ks::Meta, layout::seq_key(), self.seq.to_be_bytes());
        }
        let Batch {
            w,
            writes,
            states,
            changed,
            scan_ids,
            answers,
            seq,
            ..
        } = self;
        let wrote = !writes.is_empty();
        let outcome = if wrote {
            w.log_and_fold(writes, states, changed, scan_ids)
        } else {
            Ok(())
        };
        Logged {
            outcome: outcome.map(|()| seq),
            answers,
            wrote,
        }
    }

    fn next_seq(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        self.seq_changed = true;
        s
    }

    /// The pass's state as of this point in the batch.
    fn state(&mut self, id: PassId) -> Result<Option<PassState>, StoreError> {
        if let Some(s) = self.states.get(&id) {
            return Ok(*s);
        }
        if let Some(s) = self.w.cache.get(id) {
            self.states.insert(id, s);
            return Ok(s);
        }
        let (s, from_fjall) = self.w.progress.states.read(&self.w.tables, &id.0)?;
        self.reads += u64::from(from_fjall);
        let s = s.map(|bytes| PassState::decode(id, &bytes)).transpose()?;
        self.states.insert(id, s);
        Ok(s)
    }

    /// Stages a pass's new state.
    fn put_state(&mut self, id: PassId, state: PassState) {
        self.writes.insert(Ks::PassState, id.0, state.encode());
        self.states.insert(id, Some(state));
        self.changed.push(id);
    }

    /// The record stored under a scan id, with its `scans` key, as of this
    /// point in the batch.
    fn scan_by_id(&mut self, id: &ScanId) -> Result<Option<(LogKey, ScanRecord)>, StoreError> {
        if let Some(r) = self.scan_ids.get(id) {
            return Ok(r.clone());
        }
        if let Some((_, r)) = self.w.pending.get(id) {
            return Ok(r.clone());
        }
        self.reads += 1;
        find_scan_keyed(&self.w.tables, id)
    }

    fn insert(&mut self, passes: Vec<Pass>) -> Result<(), StoreError> {
        let mut seen = HashSet::with_capacity(passes.len());
        for pass in &passes {
            if !seen.insert(pass.id) || self.state(pass.id)?.is_some() {
                return Err(StoreError::PassExists(pass.id));
            }
        }
        for sealed in Self::seal_passes(passes)? {
            let state = PassState::of(&sealed.0.public);
            let pass = self.stage_pass(sealed);
            self.writes.insert(
                Ks::PassesByEvent,
                layout::pass_event_key(&pass.event, pass.id),
                [],
            );
            self.put_state(pass.id, state);
            self.records.insert(pass.id, pass);
        }
        Ok(())
    }

    fn scan(&mut self, record: ScanRecord) -> Result<(), StoreError> {
        if let Some((_, existing)) = self.scan_by_id(&record.scan_id)? {
            return Err(StoreError::DuplicateScanId {
                existing: Box::new(existing),
            });
        }
        let encoded = layout::encode(&record)?;
        if record.decision.is_granted() {
            let id = record.pass_id;
            let state = self.state(id)?;
            let conflict = |stored_uses| StoreError::Conflict {
                pass: id,
                stored_uses,
            };
            let Some(state) = state else {
                return Err(conflict(0));
            };
            // Online: active, the count (and presence) as decided, within
            // the limit (a guard's override may pass it); an offline fact on
            // the count alone.
            let Some(after) = state.grant(&record) else {
                return Err(conflict(state.uses));
            };
            debug_assert!(
                record.offline.is_some()
                    || record.guard_override.is_some()
                    || after.max_uses.is_none_or(|max| after.uses <= max)
            );
            self.put_state(id, after);
        } else {
            self.changed.push(record.pass_id);
        }
        // In the same redo record as the scan: both durable, or neither.
        self.conflicts(&Conflict::of_record(&record))?;
        if let Some(audit) = AuditRecord::of_override(&record) {
            self.keep_audit(&audit)?;
        }
        let seq = self.next_seq();
        let key = log_key(record.pass_id, record.at_ms, seq);
        self.writes.insert(Ks::Scans, key, encoded);
        self.writes
            .insert(Ks::ScanIds, record.scan_id.as_str().as_bytes(), key);
        self.writes.insert(
            Ks::ScanIdTimes,
            layout::time_index_key(record.at_ms, &record.scan_id),
            [],
        );
        if !record.event.is_empty() {
            self.writes.insert(
                Ks::EventScans,
                layout::event_scan_key(&record.event, record.at_ms, seq),
                key,
            );
        }
        self.scan_ids
            .insert(record.scan_id.clone(), Some((key, record)));
        Ok(())
    }

    fn admin(&mut self, audit: AuditRecord) -> Result<(), StoreError> {
        let id = audit.pass_id;
        let Some(mut state) = self.state(id)? else {
            return Err(StoreError::NotFound(id));
        };
        self.refuse_if_erased(&audit)?;
        let mut pass = match self.records.get(&id) {
            Some(p) => p.clone(),
            None => {
                self.reads += 1;
                let bytes = self
                    .w
                    .tables
                    .passes
                    .get(id.0)
                    .map_err(backend)?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("pass {id} has a state but no record"))
                    })?;
                layout::merge_pass(id, &bytes, state)?
            }
        };
        match audit.token_generation {
            // A re-issue: a new token, the status and its reason untouched.
            Some(generation) => pass.token_generation = generation,
            None => {
                pass.status = audit.status_after;
                pass.status_since_ms = Some(audit.at_ms);
                pass.status_reason = Some(audit.reason.clone());
            }
        }
        if audit.action == AdminAction::Erase {
            self.stage_erasure(&mut pass);
        }
        state.status = audit.status_after;
        let record = layout::encode_pass(&pass)?;
        self.keep_audit(&audit)?;
        self.writes.insert(Ks::Passes, id.0, record);
        self.put_state(id, state);
        self.records.insert(id, pass);
        Ok(())
    }
}
