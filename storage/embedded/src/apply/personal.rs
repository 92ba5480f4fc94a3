//! Personal data in one group commit: sealed apart from the pass record at
//! issue, erased by an `erase` admin change (see
//! [`scangate_storage::personal`]).

use super::Batch;
use crate::layout;
use crate::record::Ks;
use scangate_core::Pass;
use scangate_storage::StoreError;
use scangate_storage::personal::{self, Personal, Split};

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

    /// Stages the erasure of a pass's personal data: its key replaced by the
    /// empty erased marker, its sealed bytes removed, and any field a record
    /// written before sealing kept in the clear taken out of `pass` (whose
    /// record the caller rewrites). The key's old bytes leave the disk when
    /// `pass_keys` is compacted (at the next clean close: see the writer).
    pub(super) fn stage_erasure(&mut self, pass: &mut Pass) {
        if Personal::in_clear(pass) {
            // A record from before sealing: its old versions are in
            // `passes`, which the close compacts too.
            self.w.erased_in_clear = true;
        }
        drop(Personal::take(pass));
        self.writes.insert(Ks::PassKeys, pass.id.0, []);
        self.writes.remove(Ks::Personal, pass.id.0);
        self.w.erased = true;
    }
}
