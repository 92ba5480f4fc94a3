//! Serial (Paxos) reads: what the LWTs decided, read linearizably. Used to
//! learn why a conditional write did not apply and to resolve one whose
//! outcome is unknown; a serial read also completes any Paxos round in
//! progress on the partition it reads.

use super::ScyllaStore;
use super::codec::{self, FromColumns, StateColumns};
use scangate_core::{AuditRecord, PassId, ScanId, ScanRecord};
use scangate_storage::PassState;
use scangate_storage::StoreError;

/// The columns of a scan-id row as read: `uses`, `body`, `attempt`.
pub type ScanIdColumns = (Option<i64>, Option<Vec<u8>>, Option<i64>);

/// A pass's scan-id row as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanIdRow {
    /// The pass's use count (a static column); `None` when the pass has no
    /// state (a denial of an unknown pass).
    pub uses: Option<u32>,
    /// The record stored under the scan id.
    pub record: ScanRecord,
    /// The random stamp of the batch that wrote it: tells our own write from
    /// an identical record written by a concurrent attempt.
    pub attempt: Option<i64>,
}

impl ScanIdRow {
    /// Decodes `(uses, body, attempt)`; `None` when there is no row.
    pub fn decode(row: Option<ScanIdColumns>) -> Result<Option<ScanIdRow>, StoreError> {
        let Some((uses, Some(body), attempt)) = row else {
            return Ok(None);
        };
        Ok(Some(ScanIdRow {
            uses: uses.and_then(|u| u32::try_from(u).ok()),
            record: codec::decode(&body, "scan record")?,
            attempt,
        }))
    }
}

impl ScyllaStore {
    /// A pass's state; `None` when it has none.
    pub(super) async fn pass_state_serial(
        &self,
        id: PassId,
    ) -> Result<Option<PassState>, StoreError> {
        let row = self
            .first_row::<_, (Option<i64>, Option<String>, Option<i64>, Option<String>)>(
                &self.st.pass_state_serial,
                (id.0.as_slice(),),
            )
            .await?;
        match row {
            Some((Some(uses), Some(status), Some(use_limit), presence)) => PassState::from_columns(
                id,
                &StateColumns {
                    uses,
                    status,
                    use_limit,
                    presence,
                },
            )
            .map(Some),
            _ => Ok(None),
        }
    }

    /// A claim: the pass and the record its claimer meant to store.
    pub(super) async fn claim_serial(
        &self,
        scan_id: &ScanId,
    ) -> Result<Option<(PassId, ScanRecord)>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>, Option<Vec<u8>>)>(
                &self.st.claim_serial,
                (scan_id.as_str(),),
            )
            .await?;
        match row {
            Some((Some(pass), Some(body))) => Ok(Some((
                codec::pass_id(&pass)?,
                codec::decode(&body, "scan id claim")?,
            ))),
            _ => Ok(None),
        }
    }

    /// A scan-id row of a pass.
    pub(super) async fn scan_id_row_serial(
        &self,
        pass: PassId,
        scan_id: &ScanId,
    ) -> Result<Option<ScanIdRow>, StoreError> {
        let row = self
            .first_row::<_, ScanIdColumns>(
                &self.st.scan_id_row_serial,
                (pass.0.as_slice(), scan_id.as_str()),
            )
            .await?;
        ScanIdRow::decode(row)
    }

    /// The scan-id row of a scan, found through its claim; `None` when
    /// either is missing.
    pub(super) async fn scan_serial(
        &self,
        scan_id: &ScanId,
    ) -> Result<Option<ScanIdRow>, StoreError> {
        let Some((pass, _)) = self.claim_serial(scan_id).await? else {
            return Ok(None);
        };
        self.scan_id_row_serial(pass, scan_id).await
    }

    /// An audit row of a pass.
    pub(super) async fn audit_row_serial(
        &self,
        pass: PassId,
        at_ms: i64,
        tag: &str,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>,)>(
                &self.st.audit_row_serial,
                (pass.0.as_slice(), at_ms, tag),
            )
            .await?;
        match row {
            Some((Some(body),)) => codec::decode(&body, "audit record").map(Some),
            _ => Ok(None),
        }
    }
}
