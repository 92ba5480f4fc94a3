//! Event definitions: one row per event in `events`, the definition as
//! MessagePack. Plain writes (the last one wins, as an operator's replace).

use super::codec;
use super::{ScyllaStore, read_failed};
use scangate_core::event::EventDefinition;
use scangate_storage::{EVENTS_MAX, StoreError};

impl ScyllaStore {
    /// [`scangate_storage::Store::put_event`].
    pub(super) async fn event_put(
        &self,
        event: &str,
        definition: &EventDefinition,
    ) -> Result<(), StoreError> {
        let _permit = self.permit()?;
        if self.event_get(event).await?.is_none() && self.events_all().await?.len() >= EVENTS_MAX {
            return Err(StoreError::TooLarge {
                what: "event definitions",
                got: EVENTS_MAX + 1,
                max: EVENTS_MAX,
            });
        }
        let body = scangate_storage::record::encode_named(definition)?;
        self.session
            .execute_unpaged(&self.st.event_put, (event, body))
            .await
            .map_err(|e| read_failed(&e))?;
        Ok(())
    }

    /// [`scangate_storage::Store::load_event`].
    pub(super) async fn event_get(
        &self,
        event: &str,
    ) -> Result<Option<EventDefinition>, StoreError> {
        let row = self
            .first_row::<_, (Option<Vec<u8>>,)>(&self.st.event_get, (event,))
            .await?;
        match row {
            Some((Some(body),)) => codec::decode(&body, "event definition").map(Some),
            _ => Ok(None),
        }
    }

    /// [`scangate_storage::Store::list_events`].
    pub(super) async fn events_all(&self) -> Result<Vec<(String, EventDefinition)>, StoreError> {
        let limit = i32::try_from(EVENTS_MAX).unwrap_or(i32::MAX);
        let rows = self
            .rows::<_, (String, Option<Vec<u8>>)>(&self.st.events_all, (limit,))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (event, body) in rows {
            let body = body.ok_or_else(|| {
                StoreError::Corrupt(format!("event {event:?}: a definition without a body"))
            })?;
            out.push((event, codec::decode(&body, "event definition")?));
        }
        Ok(out)
    }
}
