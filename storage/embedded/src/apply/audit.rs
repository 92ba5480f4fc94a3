//! Audit records in one group commit: an admin change's, an annulment's,
//! and a guard override's (kept beside its scan record, in the same commit).

use super::Batch;
use crate::layout::{self, log_key};
use crate::record::Ks;
use scangate_core::AuditRecord;
use scangate_storage::StoreError;

impl Batch<'_> {
    /// Stages `audit` in the pass's audit log and the time index.
    pub(super) fn keep_audit(&mut self, audit: &AuditRecord) -> Result<(), StoreError> {
        let encoded = layout::encode(audit)?;
        let seq = self.next_seq();
        let audit_key = log_key(audit.pass_id, audit.at_ms, seq);
        self.writes.insert(Ks::Audit, audit_key, encoded);
        self.writes.insert(
            Ks::AuditTimes,
            layout::audit_time_key(audit.at_ms, seq),
            audit_key,
        );
        Ok(())
    }
}
