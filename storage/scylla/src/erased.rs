//! The erased marker on ScyllaDB: `passes.erased_ms` (static, schema 5),
//! set by the erase's own conditional batch and never cleared. Every change
//! an erase makes final (a status change, a re-issue, a holder link) is a
//! LWT conditional on `erased_ms = null`, so the cluster, not a gateway,
//! refuses it; a refusal is told apart from an unknown pass by a serial
//! read ([`ScyllaStore::refused`]).
//!
//! A pass erased under schema 4 has no marker: its erase is known only by
//! the audit line of its last status change. Before such a change the
//! store looks for that line ([`ScyllaStore::erased_before_marker`]) and,
//! when it finds it, writes the marker, so the pass is known erased from
//! then on whatever later removes its audit lines.

use super::ScyllaStore;
use scangate_core::{AdminAction, PassId, Status};
use scangate_storage::{AuditQuery, HolderLink, StoreError};

/// Audit lines read at a schema-4 erased pass's last status change: an
/// erase and at most a few refused changes share its millisecond; the read
/// never grows with the pass's history.
const ERASE_LOOKUP_MAX: usize = 8;

/// A pass's existence, status and erasure, read serially.
struct Erasure {
    use_limit: Option<i64>,
    status: Option<String>,
    status_since: Option<i64>,
    erased_ms: Option<i64>,
    holder_link: Option<Vec<u8>>,
}

type ErasureColumns = (
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<Vec<u8>>,
);

impl ScyllaStore {
    /// Whether pass `id` carries the erased marker, or was erased under
    /// schema 4 (then the marker is written now). One serial read; an
    /// audit read only for a revoked pass without the marker.
    pub(super) async fn erased_before_marker(&self, id: PassId) -> Result<bool, StoreError> {
        let Some(row) = self.erasure_serial(id).await? else {
            return Ok(false);
        };
        if row.erased_ms.is_some() {
            return Ok(true);
        }
        let revoked = row.status.as_deref() == Some(Status::Revoked.as_str());
        let (true, Some(since)) = (revoked, row.status_since) else {
            return Ok(false);
        };
        let query = AuditQuery {
            pass: Some(id),
            from_ms: Some(since),
            until_ms: Some(since.saturating_add(1)),
            after: None,
            limit: ERASE_LOOKUP_MAX,
        };
        let page = self.audit_page(&query).await?;
        if !page.items.iter().any(|a| a.action == AdminAction::Erase) {
            return Ok(false);
        }
        let answer = self
            .session
            .execute_unpaged(&self.st.mark_erased, (since, id.0.as_slice(), since))
            .await;
        // Applied, or marked first by another gateway, or unknown: the
        // pass is erased all the same, and a later call marks it again.
        self.lwt("mark erased", answer)?;
        Ok(true)
    }

    /// Why a LWT conditional on pass `id` existing and not being erased did
    /// not apply: `Erased`, or `NotFound`.
    pub(super) async fn refused(&self, id: PassId) -> StoreError {
        match self.erasure_serial(id).await {
            Ok(Some(row)) if row.erased_ms.is_some() => StoreError::Erased(id),
            Ok(Some(row)) if row.use_limit.is_some() => StoreError::Internal(format!(
                "a change of pass {id} was refused, yet it exists and is not erased"
            )),
            Ok(_) => StoreError::NotFound(id),
            Err(e) => e,
        }
    }

    /// Pass `id`'s static holder link, read serially (to settle a link
    /// write whose outcome is unknown).
    pub(super) async fn static_link_serial(
        &self,
        id: PassId,
    ) -> Result<Option<HolderLink>, StoreError> {
        match self.erasure_serial(id).await? {
            Some(Erasure {
                holder_link: Some(bytes),
                ..
            }) => HolderLink::decode(id, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    async fn erasure_serial(&self, id: PassId) -> Result<Option<Erasure>, StoreError> {
        let row = self
            .first_row::<_, ErasureColumns>(&self.st.erased_serial, (id.0.as_slice(),))
            .await?;
        Ok(row.map(
            |(use_limit, status, status_since, erased_ms, holder_link)| Erasure {
                use_limit,
                status,
                status_since,
                erased_ms,
                holder_link,
            },
        ))
    }
}
