//! Audit records in one group commit: an admin change's, an annulment's
//! (with the annulment itself), and a guard override's (kept beside its
//! scan record, in the same commit).

use super::Batch;
use crate::layout::{self, log_key};
use crate::record::Ks;
use scangate_core::{Annulment, AuditRecord, ScanRecord};
use scangate_storage::{Annul, StoreError};

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
    /// Annuls a granted scan: the scan record marked, the use given back,
    /// the audit record kept, all in this batch.
    pub(super) fn annul(&mut self, annul: Annul) -> Result<ScanRecord, StoreError> {
        let found = self.scan_by_id(&annul.scan_id)?;
        let key = found.as_ref().map(|(key, _)| *key);
        let state = self.state(annul.audit.pass_id)?;
        let mut record = annul.check(found.map(|(_, r)| r), state.map(|s| s.uses))?;
        // `check` passes only with both the scan and the pass's state.
        let (Some(key), Some(mut state)) = (key, state) else {
            return Err(StoreError::Internal(
                "annul check passed without a scan or a pass state".into(),
            ));
        };
        let Annul { scan_id, audit, .. } = annul;
        state.uses -= 1;
        record.annulled = Some(Annulment {
            at_ms: audit.at_ms,
            who: audit.who.clone(),
        });
        self.writes.insert(Ks::Scans, key, layout::encode(&record)?);
        self.put_state(record.pass_id, state);
        self.keep_audit(&audit)?;
        self.scan_ids.insert(scan_id, Some((key, record.clone())));
        Ok(record)
    }
}
