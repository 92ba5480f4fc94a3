//! Conflicts (flagged offline scans) on ScyllaDB. An offline record's
//! conflicts are part of its body, written in the pass's conditional batch
//! (atomic with the count); the `conflicts` table is the time-ordered index
//! the operator lists, written after the batch like the event log, and
//! rewritten (same keys) when the scan is uploaded again. Pass-less
//! conflicts are written to the index alone.

use super::codec::{self, bucket, bucket_kind};
use super::{ScyllaStore, read_failed};
use scangate_core::ScanRecord;
use scangate_core::scan::Conflict;
use scangate_storage::{RECORD_CONFLICTS_MAX, StoreError};

/// A conflict's clustering tag: scan id ‖ `/` ‖ kind (`/` is not a scan-id
/// character), one row per rule per scan, the same on every rewrite.
fn tag(c: &Conflict) -> String {
    format!("{}/{}", c.scan_id, c.kind.as_str())
}

impl ScyllaStore {
    /// [`scangate_storage::Store::record_conflicts`]: every row, or an error
    /// (rows written before it stay; writing them again is harmless).
    pub(super) async fn record(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError> {
        if conflicts.len() > RECORD_CONFLICTS_MAX {
            return Err(StoreError::TooLarge {
                what: "conflicts in one call",
                got: conflicts.len(),
                max: RECORD_CONFLICTS_MAX,
            });
        }
        let _permit = self.permit()?;
        for c in &conflicts {
            self.conflict_row(c).await?;
        }
        Ok(())
    }

    /// The index rows of a stored scan's conflicts (none for an online
    /// scan). Logged, not answered, on failure: the record holds them and a
    /// re-upload writes them again.
    pub(super) async fn conflict_side_rows(&self, record: &ScanRecord) {
        for c in Conflict::of_record(record) {
            if let Err(e) = self.conflict_row(&c).await {
                metrics::counter!("scangate_scylla_log_write_failures_total").increment(1);
                tracing::warn!(error = %e, scan_id = %record.scan_id, "a conflict's index row was not written; a re-upload rewrites it");
                return;
            }
        }
    }

    async fn conflict_row(&self, c: &Conflict) -> Result<(), StoreError> {
        let body = codec::encode(c)?;
        let b = bucket(c.at_ms, codec::AUDIT_BUCKET_MS);
        let values = (b, c.at_ms, tag(c), body);
        self.session
            .execute_unpaged(&self.st.conflict_row, values)
            .await
            .map_err(|e| read_failed(&e))?;
        self.note_bucket(bucket_kind::CONFLICTS, "", b, 0).await
    }
}
