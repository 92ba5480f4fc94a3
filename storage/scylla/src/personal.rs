//! Personal data on the cluster, as the embedded store keeps it
//! ([`scangate_storage::personal`]): a pass's display text and card fields
//! sealed under a key of its own into `passes.personal` (static), the key
//! in `pass_keys`, apart. An erase writes the record without personal
//! fields and no sealed bytes in the same conditional batch as the status
//! change and its audit line, then deletes the key row.
//!
//! What the cluster keeps afterwards (tombstones, SSTables until
//! compaction, snapshots and backups) and what an operator does about it:
//! `docs/architecture.md`, "Erasure on ScyllaDB".

use super::codec;
use super::{Lwt, ScyllaStore, read_failed};
use scangate_core::{AuditRecord, Pass, PassId};
use scangate_storage::StoreError;
use scangate_storage::personal::{self, PassKey, Personal};

impl ScyllaStore {
    /// Writes `key` for pass `id` unless a key is there: `PassExists` when
    /// one is (an id already taken), the store's error when unknown.
    pub(super) async fn put_key(&self, id: PassId, key: &PassKey) -> Result<(), StoreError> {
        let answer = self
            .session
            .execute_unpaged(
                &self.st.pass_key_put,
                (id.0.as_slice(), key.as_bytes().as_slice()),
            )
            .await;
        match self.lwt("put pass key", answer)? {
            Lwt::Applied => Ok(()),
            Lwt::NotApplied => Err(StoreError::PassExists(id)),
            Lwt::Unknown => {
                // Read it back: ours (the same bytes) went in.
                match self.read_key(id).await? {
                    Some(stored) if stored == key.as_bytes() => Ok(()),
                    Some(_) => Err(StoreError::PassExists(id)),
                    None => Err(self.still_unknown()),
                }
            }
        }
    }

    /// The key row of pass `id`, if there is one.
    pub(super) async fn read_key(&self, id: PassId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>,)>(&self.st.pass_key_read, (id.0.as_slice(),))
            .await?;
        Ok(row.and_then(|(k,)| k))
    }

    /// Deletes the key row of pass `id` (idempotent).
    pub(super) async fn delete_key(&self, id: PassId) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.st.pass_key_delete, (id.0.as_slice(),))
            .await
            .map(|_| ())
            .map_err(|e| read_failed(&e))
    }

    /// `pass` with its personal fields opened from `sealed` under its key;
    /// without them when it has no sealed bytes or no key (erased).
    pub(super) async fn with_personal(
        &self,
        pass: Option<Pass>,
        sealed: Option<Vec<u8>>,
    ) -> Result<Option<Pass>, StoreError> {
        let Some(mut pass) = pass else {
            return Ok(None);
        };
        let Some(sealed) = sealed else {
            return Ok(Some(pass));
        };
        let key = self.read_key(pass.id).await?;
        personal::reunite(&mut pass, key.as_deref(), Some(&sealed))?;
        Ok(Some(pass))
    }

    /// [`scangate_storage::Store::commit_admin`] for `AdminAction::Erase`:
    /// one conditional batch in the pass's partition (status and erased
    /// marker, the record without personal fields, no sealed bytes and no
    /// holder link, the audit line), then the key row and any schema-4
    /// link row deleted. Erasing an erased pass applies again and
    /// changes nothing more.
    pub(super) async fn erase(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let id = audit.pass_id;
        let mut pass = self.read_pass(id).await?.ok_or(StoreError::NotFound(id))?;
        let _personal = Personal::take(&mut pass);
        pass.uses = 0;
        let record = codec::encode(&pass)?;
        self.admin_batch(&audit, Some(&record)).await?;
        // The batch applied: destroy the key and any schema-4 holder link.
        // Retried by the driver (idempotent); a failure is answered, and
        // erasing again finishes it.
        self.delete_key(id).await?;
        self.delete_legacy_link(id).await
    }
}
