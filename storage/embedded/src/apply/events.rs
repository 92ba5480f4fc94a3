//! Event definitions in one group commit ([`scangate_storage::Store::put_event`]).

use super::Batch;
use crate::layout::backend;
use crate::record::Ks;
use scangate_storage::{EVENTS_MAX, StoreError};

impl Batch<'_> {
    /// Stages an event's definition (after the writer caught up, so the
    /// count of stored definitions is fjall's).
    pub(super) fn event(&mut self, event: &str, definition: Vec<u8>) -> Result<(), StoreError> {
        let events = &self.w.tables.events;
        self.reads += 1;
        if !events.contains_key(event).map_err(backend)? {
            let held = events.len().map_err(backend)?;
            if held >= EVENTS_MAX {
                return Err(StoreError::TooLarge {
                    what: "event definitions",
                    got: held + 1,
                    max: EVENTS_MAX,
                });
            }
        }
        self.writes.insert(Ks::Events, event.as_bytes(), definition);
        Ok(())
    }
}
