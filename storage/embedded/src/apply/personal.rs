//! Personal data in one group commit: sealed apart from the pass record at
//! issue, erased by an `erase` admin change (see
//! [`scangate_storage::personal`]).

use super::Batch;
use crate::layout::{self, backend};
use crate::record::Ks;
use scangate_core::{AdminAction, AuditRecord, Pass, PassId};
use scangate_storage::StoreError;
use scangate_storage::personal::{self, Personal, Split};

/// What an erased pass's `pass_keys` entry holds: no key. A live key is
/// [`personal::KEY_BYTES`] long, so the two are never confused.
const ERASED_MARKER: &[u8] = &[];

impl Batch<'_> {
    /// Splits and encodes new passes, every fallible step before anything
    /// is staged (an insert is all or none within its batch).
    pub(super) fn seal_passes(passes: Vec<Pass>) -> Result<Vec<(Split, Vec<u8>)>, StoreError> {
        let mut out = Vec::with_capacity(passes.len());
        for pass in passes {
            let split = personal::split(pass)?;
            let record = layout::encode_pass(&split.public)?;
            out.push((split, record));
        }
        Ok(out)
    }

    /// Stages a new pass's record without its personal fields, and those
    /// sealed under its own key. Returns the public record.
    pub(super) fn stage_pass(&mut self, (split, record): (Split, Vec<u8>)) -> Pass {
        let Split { public, sealed } = split;
        if let Some((key, bytes)) = sealed {
            self.writes
                .insert(Ks::PassKeys, public.id.0, key.as_bytes().as_slice());
            self.writes.insert(Ks::Personal, public.id.0, bytes);
        }
        self.writes.insert(Ks::Passes, public.id.0, record);
        public
    }

    /// Stages the erasure of a pass: its key replaced by the empty erased
    /// marker, its sealed bytes and its holder link removed, and any field
    /// a record written before sealing kept in the clear taken out of
    /// `pass` (whose record the caller rewrites). The key's old bytes leave
    /// the disk when `pass_keys` is compacted (at the next clean close: see
    /// the writer).
    ///
    /// The empty key is the pass's durable erased marker ([`Self::erased`]):
    /// in the erase's own redo record, replayed with it, never removed by
    /// retention (which touches scans, audit and conflicts only). Every
    /// erase has written it since erasure exists (format 6), so a data
    /// directory of the previous build needs no migration.
    pub(super) fn stage_erasure(&mut self, pass: &mut Pass) {
        if Personal::in_clear(pass) {
            // A record from before sealing: its old versions are in
            // `passes`, which the close compacts too.
            self.w.erased_in_clear = true;
        }
        drop(Personal::take(pass));
        self.writes.insert(Ks::PassKeys, pass.id.0, ERASED_MARKER);
        self.writes.remove(Ks::Personal, pass.id.0);
        self.writes.remove(Ks::HolderLinks, pass.id.0);
        self.holder_links.insert(pass.id, false);
        self.erasures.insert(pass.id);
        self.w.erased = true;
    }

    /// An admin change of an erased pass other than another erase: refused
    /// here, in the writer's order, so no change made anywhere slips in
    /// after the erase.
    pub(super) fn refuse_if_erased(&mut self, audit: &AuditRecord) -> Result<(), StoreError> {
        let id = audit.pass_id;
        if audit.action != AdminAction::Erase && self.erased(id)? {
            return Err(StoreError::Erased(id));
        }
        Ok(())
    }

    /// Whether pass `id` is erased, as of this point in the batch: erased
    /// earlier in it, or its `pass_keys` entry is the empty marker. Reads
    /// fjall, so the caller has waited for it to catch up with the log.
    pub(super) fn erased(&mut self, id: PassId) -> Result<bool, StoreError> {
        if self.erasures.contains(&id) {
            return Ok(true);
        }
        self.reads += 1;
        let key = self.w.tables.pass_keys.get(id.0).map_err(backend)?;
        Ok(key.is_some_and(|k| &*k == ERASED_MARKER))
    }
}
