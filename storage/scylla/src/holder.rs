//! Holder links on ScyllaDB: one row per pass in `holder_links`, its value
//! the shared 40-byte encoding ([`HolderLink::encode`]). Plain writes: a
//! link is set or removed by one operator at a time, and the last write wins
//! (two gateways making a link for the same pass at once keep one of them;
//! the other's secret then gets the generic 404).

use super::{ScyllaStore, read_failed};
use scangate_core::PassId;
use scangate_storage::{HolderLink, StoreError};

impl ScyllaStore {
    /// [`scangate_storage::Store::put_holder_link`].
    pub(super) async fn put_link(&self, link: HolderLink) -> Result<(), StoreError> {
        let _permit = self.permit()?;
        let encoded = link.encode();
        let values = (link.pass_id.0.as_slice(), encoded.as_slice());
        self.session
            .execute_unpaged(&self.st.holder_link_put, values)
            .await
            .map_err(|e| read_failed(&e))?;
        Ok(())
    }

    /// [`scangate_storage::Store::holder_link`].
    pub(super) async fn read_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>,)>(&self.st.holder_link_read, (pass.0.as_slice(),))
            .await?;
        match row {
            Some((Some(bytes),)) => HolderLink::decode(pass, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    /// [`scangate_storage::Store::remove_holder_link`]: whether a row was
    /// there (read first), then the row deleted.
    pub(super) async fn remove_link(&self, pass: PassId) -> Result<bool, StoreError> {
        let had = self.read_link(pass).await?.is_some();
        let _permit = self.permit()?;
        self.session
            .execute_unpaged(&self.st.holder_link_delete, (pass.0.as_slice(),))
            .await
            .map_err(|e| read_failed(&e))?;
        Ok(had)
    }
}
