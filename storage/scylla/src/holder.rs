//! Holder links on ScyllaDB: since schema 5 a pass's link is the static
//! `passes.holder_link` beside its state, its value the shared 40-byte
//! encoding ([`HolderLink::encode`]). Setting it is a LWT conditional on the
//! pass existing and not being erased, and an erase clears it in its own
//! batch: both in the pass's partition, ordered by Paxos, so no link
//! outlives an erase whichever gateways made them. Two gateways making a
//! link for the same pass at once keep the later (the other's secret then
//! gets the generic 404).
//!
//! Links made under schema 4 are in the `holder_links` table: read when the
//! pass has no static link, deleted by a new link, a removal or an erase,
//! never written again.

use super::{Lwt, ScyllaStore, read_failed};
use scangate_core::PassId;
use scangate_storage::{HolderLink, StoreError};

impl ScyllaStore {
    /// [`scangate_storage::Store::put_holder_link`]: refused for an erased
    /// pass (one erased under schema 4 included) or an unknown one.
    pub(super) async fn put_link(&self, link: HolderLink) -> Result<(), StoreError> {
        let _permit = self.permit()?;
        let id = link.pass_id;
        if self.erased_before_marker(id).await? {
            return Err(StoreError::Erased(id));
        }
        let encoded = link.encode();
        let answer = self
            .session
            .execute_unpaged(
                &self.st.holder_link_set,
                (encoded.as_slice(), id.0.as_slice()),
            )
            .await;
        match self.lwt("holder link", answer)? {
            Lwt::Applied => {}
            Lwt::NotApplied => return Err(self.refused(id).await),
            Lwt::Unknown => {
                if self.static_link_serial(id).await? != Some(link) {
                    return Err(self.still_unknown());
                }
            }
        }
        // The new link shadows a schema-4 one; remove that too, so a later
        // removal of this link does not bring it back.
        self.delete_legacy_link(id).await
    }

    /// [`scangate_storage::Store::holder_link`]: the static link, else a
    /// schema-4 one.
    pub(super) async fn read_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>,)>(&self.st.holder_link_read, (pass.0.as_slice(),))
            .await?;
        if let Some((Some(bytes),)) = row {
            return HolderLink::decode(pass, &bytes).map(Some);
        }
        let legacy = self
            .first_row::<_, (Option<Vec<u8>>,)>(&self.st.legacy_link_read, (pass.0.as_slice(),))
            .await?;
        match legacy {
            Some((Some(bytes),)) => HolderLink::decode(pass, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    /// [`scangate_storage::Store::remove_holder_link`]: whether a link was
    /// there (read first), then the schema-4 row deleted and the static
    /// link cleared.
    pub(super) async fn remove_link(&self, pass: PassId) -> Result<bool, StoreError> {
        let had = self.read_link(pass).await?.is_some();
        let _permit = self.permit()?;
        self.delete_legacy_link(pass).await?;
        let answer = self
            .session
            .execute_unpaged(&self.st.holder_link_clear, (pass.0.as_slice(),))
            .await;
        match self.lwt("clear holder link", answer)? {
            // Not applied: no such pass, so no link either.
            Lwt::Applied | Lwt::NotApplied => Ok(had),
            Lwt::Unknown => match self.static_link_serial(pass).await? {
                None => Ok(had),
                Some(_) => Err(self.still_unknown()),
            },
        }
    }

    /// Deletes pass `id`'s schema-4 link row (idempotent, retried by the
    /// driver).
    pub(super) async fn delete_legacy_link(&self, id: PassId) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.st.legacy_link_delete, (id.0.as_slice(),))
            .await
            .map(|_| ())
            .map_err(|e| read_failed(&e))
    }
}
