//! The conflicts of offline scans in one group commit: staged beside their
//! scan record, or alone (pass-less ones), one row per scan id and kind.

use super::Batch;
use crate::layout::{self, backend};
use crate::record::Ks;
use scangate_core::scan::Conflict;
use scangate_storage::StoreError;

impl Batch<'_> {
    /// Stages conflicts in the `conflicts` keyspace, each under its own key,
    /// and tags each with its scan id and kind in `conflict_tags`.
    pub(super) fn conflicts(&mut self, conflicts: &[Conflict]) -> Result<(), StoreError> {
        let mut encoded = Vec::with_capacity(conflicts.len());
        for c in conflicts {
            encoded.push((c.at_ms, layout::encode(c)?));
        }
        for (c, (at_ms, bytes)) in conflicts.iter().zip(encoded) {
            let seq = self.next_seq();
            let key = layout::audit_time_key(at_ms, seq);
            self.writes.insert(Ks::Conflicts, key, bytes);
            let tag = layout::conflict_tag_key(&c.scan_id, c.kind);
            self.writes.insert(Ks::ConflictTags, tag.as_slice(), key);
            self.conflict_tags.insert(tag);
        }
        Ok(())
    }

    /// [`scangate_storage::Store::record_conflicts`]: stages the conflicts
    /// whose scan id and kind no row holds yet (kept before, earlier in this
    /// batch, or earlier in this call), so a re-upload whose
    /// acknowledgement was lost adds no row, whatever its time. Reads
    /// fjall: the caller has waited for it to catch up with the log.
    pub(super) fn pass_less(&mut self, conflicts: &[Conflict]) -> Result<(), StoreError> {
        let mut fresh: Vec<Conflict> = Vec::with_capacity(conflicts.len());
        for c in conflicts {
            let tag = layout::conflict_tag_key(&c.scan_id, c.kind);
            let seen = |f: &Conflict| f.scan_id == c.scan_id && f.kind == c.kind;
            if self.conflict_tags.contains(&tag) || fresh.iter().any(seen) {
                continue;
            }
            self.reads += 1;
            let kept = self.w.tables.conflict_tags.get(&tag).map_err(backend)?;
            if kept.is_none() {
                fresh.push(c.clone());
            }
        }
        self.conflicts(&fresh)
    }
}
